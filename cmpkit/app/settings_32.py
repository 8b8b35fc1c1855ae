"""The client options of openssl cmp 3.2/3.3 (3.4 man page) as apps/cmp.c reads them: -geninfo as a
list, -profile, -issuer with -serial for rr, -srvcertout and -reqout_only checks.

:func:`build_client_settings <cmpkit.app.settings.build_client_settings>` calls these; the
messages are openssl 3.4's.
"""
from __future__ import annotations

import logging
import re
from typing import Optional

from ..errors import ConfigError

log = logging.getLogger("cmpkit")

OID_CERT_PROFILE = "1.3.6.1.5.5.7.4.21"   # id-it-certProfile (RFC 9483 section 3.1)
# OID names -geninfo takes besides the dotted form (OpenSSL's OBJ_txt2obj knows many more;
# these are the CMP ones and their arcs)
_GENINFO_NAMES = {"id-pkix": "1.3.6.1.5.5.7", "id-kp": "1.3.6.1.5.5.7.3", "id-it": "1.3.6.1.5.5.7.4",
                  "id-pkip": "1.3.6.1.5.5.7.5", "id-regCtrl": "1.3.6.1.5.5.7.5.1",
                  "id-regInfo": "1.3.6.1.5.5.7.5.2"}
LONG_MIN, LONG_MAX = -2 ** 63, 2 ** 63 - 1   # strtol's range (LP64)


def _known_oids(infotypes: dict) -> dict:
    names = dict(_GENINFO_NAMES)
    names.update({"id-it-" + k: v for k, v in infotypes.items()})
    return names


def _geninfo_oid(text: str, known: dict) -> Optional[str]:
    """The dotted OID of a -geninfo OID (dotted form or a name), None if there is none."""
    from ..core.x509conf import _dotted, _OID_NAMES
    return _dotted(text) or known.get(text) or _OID_NAMES.get(text)


def _named(oid: str) -> bool:
    """Has OpenSSL a name for ``oid`` as far as cmpkit knows (extended key usages, policies)?"""
    from ..core.x509conf import _OID_NAMES
    return oid in _OID_NAMES.values()


def parse_geninfo(text: str, infotypes: dict) -> list:
    """[(dotted OID, value DER)] of -geninfo ``OID:int:N`` / ``OID:str:text`` items separated by
    commas, as apps/cmp.c's handle_opt_geninfo() reads them (an int as strtol does: decimal,
    clamped to the range of a long; a string up to the next comma). ``infotypes``: the
    id-it-<name> OIDs by name (known, so not warned about)."""
    from ..core import der
    known = _known_oids(infotypes)
    out = []
    rest = text
    while True:
        rest = rest.lstrip()
        if rest == "" and out:
            return out
        oid_text, sep, after = rest.partition(":")
        if not sep:
            raise ConfigError(f"Missing ':' in -geninfo arg {rest[:40]}")
        oid = _geninfo_oid(oid_text, known)
        if oid is None:
            raise ConfigError(f"Invalid OID in -geninfo arg {oid_text[:40]}")
        if oid not in infotypes.values() and oid not in known.values() and not _named(oid):
            log.warning("Unknown OID in -geninfo arg: %s", oid_text[:40])
        if after.startswith("int:"):
            number = after[4:]
            m = re.match(r"\s*([+-]?)(\d+)", number)
            if m is None:
                raise ConfigError(f"Cannot parse int in -geninfo arg {number[:40]}")
            value = int(m.group(2)) * (-1 if m.group(1) == "-" else 1)
            value = max(LONG_MIN, min(LONG_MAX, value))
            rest = number[m.end():]
            if rest and not rest.startswith(","):
                raise ConfigError(f"Missing ',' or end of -geninfo arg after int at {rest[:40]}")
            out.append((oid, der.integer(value)))
        elif after.startswith("str:"):
            value, _, rest = after[4:].partition(",")
            rest = "," + rest if _ else ""
            out.append((oid, der.tlv(0x0C, value.encode("utf-8"))))
        else:
            raise ConfigError(f"Missing 'int:' or 'str:' in -geninfo arg {after[:40]}")
        if not rest:
            return out
        rest = rest[1:]  # the comma


def profile_itav(name: str) -> tuple:
    """The generalInfo ITAV of -profile: id-it-certProfile with a SEQUENCE OF UTF8String."""
    from ..core import der
    return OID_CERT_PROFILE, der.sequence(der.tlv(0x0C, name.encode("utf-8")))


def parse_serial(text: str) -> int:
    """-serial: decimal, or hex after "0x" (s2i_ASN1_INTEGER), optionally negative."""
    t = text.strip()
    negative = t.startswith("-")
    digits = t[1:] if negative else t
    try:
        if digits[:2].lower() == "0x":
            if not re.fullmatch(r"[0-9A-Fa-f]+", digits[2:]):
                raise ValueError
            value = int(digits[2:], 16)
        else:
            if not re.fullmatch(r"[0-9]+", digits):
                raise ValueError
            value = int(digits)
    except ValueError:
        raise ConfigError(f"cannot read serial number: '{text}'") from None
    return -value if negative else value


def apply_rr_serial(cfg, s, template_dn) -> None:
    """-issuer and -serial (openssl 3.2+): for rr both or neither; given, they name the certificate
    to revoke and -oldcert and -csr are ignored; -serial is ignored for other commands.
    ``template_dn(cfg, name)``: the DER of a DN option (settings._dn); "/" gives an empty issuer
    name in the template, as openssl 3.4 sends it."""
    serial = cfg.get("serial")
    if serial == "":
        serial = None
    if s.cmd != "rr":
        if serial is not None:
            log.warning("Ignoring -serial for command other than 'rr'")
        return
    issuer_given = cfg.get("issuer") is not None
    if issuer_given != (serial is not None):
        raise ConfigError("Must give both -issuer and -serial options or neither")
    if serial is None:
        return
    if s.old_cert is not None and cfg.get("oldcert") is not None:
        log.warning("Ignoring -oldcert since -issuer and -serial is given for command 'rr'")
    if s.csr is not None:
        log.warning("Ignoring -csr since -issuer and -serial is given for command 'rr'")
    s.old_cert, s.csr = None, None
    s.rev_serial = parse_serial(serial)
    s.rev_issuer = template_dn(cfg, "issuer")


REQOUT_ONLY_IGNORES = ("server", "use_mock_srv", "reqout", "rspin", "rspout")


def warn_reqout_only(cfg, plugin_option) -> None:
    """-reqout_only: the options for contacting a server and its responses are ignored
    (``plugin_option``: settings.plugin_option)."""
    for name in REQOUT_ONLY_IGNORES:
        value = plugin_option(cfg, name)
        if value is not None and value is not False:
            log.warning("-%s option is ignored since -reqout_only option is given", name)
