"""Distinguished names: parses openssl's "/type=value/..." syntax, formats names for logs, decodes DER names.

:func:`parse_dn` follows apps' ``parse_name`` as ``openssl cmp`` calls it for -subject, -issuer,
-recipient, -expect_sender (UTF-8 input, ``+`` joins multi-valued RDNs, ``\\`` escapes), and
encodes each value as OpenSSL's string table does (countryName, serialNumber, dnQualifier:
PrintableString; emailAddress, mail, domainComponent: IA5String; others: UTF8String), with
the same size limits (e.g. at most 64 characters for CN, O, OU).
"""
from __future__ import annotations

import logging
from typing import Dict, Optional, Tuple

from ..errors import ConfigError, DecodeError

log = logging.getLogger("cmpkit.config")

# OpenSSL's short name, long name and OID of the attribute types a DN may use (objects.txt)
ATTRIBUTE_TYPES = (
    ("CN", "commonName", "2.5.4.3"),
    ("SN", "surname", "2.5.4.4"),
    ("serialNumber", "serialNumber", "2.5.4.5"),
    ("C", "countryName", "2.5.4.6"),
    ("L", "localityName", "2.5.4.7"),
    ("ST", "stateOrProvinceName", "2.5.4.8"),
    ("street", "streetAddress", "2.5.4.9"),
    ("O", "organizationName", "2.5.4.10"),
    ("OU", "organizationalUnitName", "2.5.4.11"),
    ("title", "title", "2.5.4.12"),
    ("description", "description", "2.5.4.13"),
    ("businessCategory", "businessCategory", "2.5.4.15"),
    ("postalAddress", "postalAddress", "2.5.4.16"),
    ("postalCode", "postalCode", "2.5.4.17"),
    ("postOfficeBox", "postOfficeBox", "2.5.4.18"),
    ("physicalDeliveryOfficeName", "physicalDeliveryOfficeName", "2.5.4.19"),
    ("telephoneNumber", "telephoneNumber", "2.5.4.20"),
    ("telexNumber", "telexNumber", "2.5.4.21"),
    ("facsimileTelephoneNumber", "facsimileTelephoneNumber", "2.5.4.23"),
    ("x121Address", "x121Address", "2.5.4.24"),
    ("internationaliSDNNumber", "internationaliSDNNumber", "2.5.4.25"),
    ("registeredAddress", "registeredAddress", "2.5.4.26"),
    ("destinationIndicator", "destinationIndicator", "2.5.4.27"),
    ("preferredDeliveryMethod", "preferredDeliveryMethod", "2.5.4.28"),
    ("name", "name", "2.5.4.41"),
    ("GN", "givenName", "2.5.4.42"),
    ("initials", "initials", "2.5.4.43"),
    ("generationQualifier", "generationQualifier", "2.5.4.44"),
    ("dnQualifier", "dnQualifier", "2.5.4.46"),
    ("houseIdentifier", "houseIdentifier", "2.5.4.51"),
    ("dmdName", "dmdName", "2.5.4.54"),
    ("pseudonym", "pseudonym", "2.5.4.65"),
    ("role", "role", "2.5.4.72"),
    ("organizationIdentifier", "organizationIdentifier", "2.5.4.97"),
    ("c3", "countryCode3c", "2.5.4.98"),
    ("n3", "countryCode3n", "2.5.4.99"),
    ("dnsName", "dnsName", "2.5.4.100"),
    ("emailAddress", "emailAddress", "1.2.840.113549.1.9.1"),
    ("unstructuredName", "unstructuredName", "1.2.840.113549.1.9.2"),
    ("unstructuredAddress", "unstructuredAddress", "1.2.840.113549.1.9.8"),
    ("UID", "userId", "0.9.2342.19200300.100.1.1"),
    ("mail", "rfc822Mailbox", "0.9.2342.19200300.100.1.3"),
    ("DC", "domainComponent", "0.9.2342.19200300.100.1.25"),
    ("jurisdictionL", "jurisdictionLocalityName", "1.3.6.1.4.1.311.60.2.1.1"),
    ("jurisdictionST", "jurisdictionStateOrProvinceName", "1.3.6.1.4.1.311.60.2.1.2"),
    ("jurisdictionC", "jurisdictionCountryName", "1.3.6.1.4.1.311.60.2.1.3"),
    ("INN", "INN", "1.2.643.3.131.1.1"),
    ("OGRN", "OGRN", "1.2.643.100.1"),
    ("SNILS", "SNILS", "1.2.643.100.3"),
)

_BY_NAME: Dict[str, str] = {}
for _sn, _ln, _oid in ATTRIBUTE_TYPES:
    _BY_NAME[_sn] = _BY_NAME[_ln] = _oid
_SHORT_NAME = {oid: sn for sn, _ln, oid in ATTRIBUTE_TYPES}

# OpenSSL's ASN1 string table (crypto/asn1/a_strnid.c): OID -> (string type, min, max chars);
# attributes not listed are UTF8String without limits (the default string_mask utf8only)
_UTF8, _PRINTABLE, _IA5, _NUMERIC = "UTF8String", "PrintableString", "IA5String", "NumericString"
STRING_TABLE: Dict[str, Tuple[str, int, int]] = {
    "2.5.4.3": (_UTF8, 1, 64),
    "2.5.4.6": (_PRINTABLE, 2, 2),
    "2.5.4.7": (_UTF8, 1, 128),
    "2.5.4.8": (_UTF8, 1, 128),
    "2.5.4.10": (_UTF8, 1, 64),
    "2.5.4.11": (_UTF8, 1, 64),
    "1.2.840.113549.1.9.1": (_IA5, 1, 128),
    "1.2.840.113549.1.9.2": (_UTF8, 1, -1),
    "1.2.840.113549.1.9.8": (_UTF8, 1, -1),
    "2.5.4.42": (_UTF8, 1, 32768),
    "2.5.4.4": (_UTF8, 1, 32768),
    "2.5.4.43": (_UTF8, 1, 32768),
    "2.5.4.5": (_PRINTABLE, 1, 64),
    "2.5.4.41": (_UTF8, 1, 32768),
    "2.5.4.46": (_PRINTABLE, -1, -1),
    "0.9.2342.19200300.100.1.25": (_IA5, 1, -1),
    "0.9.2342.19200300.100.1.3": (_IA5, 1, 256),
    "1.2.643.3.131.1.1": (_NUMERIC, 1, 12),
    "1.2.643.100.1": (_NUMERIC, 1, 13),
    "1.2.643.100.3": (_NUMERIC, 1, 11),
    "2.5.4.98": (_PRINTABLE, 3, 3),
    "2.5.4.99": (_NUMERIC, 3, 3),
    "2.5.4.100": (_UTF8, 0, -1),
}
_PRINTABLE_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 '()+,-./:=?")
_NUMERIC_CHARS = frozenset("0123456789 ")


def attribute_oid(type_name: str) -> Optional[str]:
    """The dotted OID for an attribute type given by OpenSSL short or long name or as a dotted
    OID (names are case-sensitive, as in OpenSSL); None if unknown."""
    oid = _BY_NAME.get(type_name)
    if oid is not None:
        return oid
    parts = type_name.split(".")
    if len(parts) >= 2 and all(p.isdigit() for p in parts) and int(parts[0]) <= 2 \
            and (int(parts[0]) == 2 or int(parts[1]) < 40):
        return ".".join(str(int(p)) for p in parts)
    return None


def name_attribute(type_name: str, value: str, what: str):
    """One ``x509.NameAttribute`` encoded as OpenSSL would encode ``type_name=value``.

    :raises ConfigError: ``<what>: ...`` for an unknown type or a value the type does not allow.
    """
    from cryptography import x509
    from cryptography.x509.name import _ASN1Type

    oid, kind = _checked_attribute(type_name, value, what)
    try:
        return x509.NameAttribute(x509.ObjectIdentifier(oid), value, _type=getattr(_ASN1Type, kind))
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"{what}: bad value for {type_name}: {exc}") from None


def _checked_attribute(type_name: str, value: str, what: str) -> tuple:
    """(dotted OID, string kind) of ``type_name=value`` after OpenSSL's checks of type and value."""
    oid = attribute_oid(type_name)
    if oid is None:
        hint = ""
        for known in _BY_NAME:
            if known.lower() == type_name.lower():
                hint = f" (did you mean '{known}'?)"
                break
        raise ConfigError(f"{what}: unknown attribute type '{type_name}' in name{hint}")
    kind, low, high = STRING_TABLE.get(oid, (_UTF8, -1, -1))
    if low >= 0 and len(value) < low:
        raise ConfigError(f"{what}: value of {type_name} too short: '{value}' (at least {low} characters)")
    if high >= 0 and len(value) > high:
        raise ConfigError(f"{what}: value of {type_name} too long ({len(value)} characters, at most {high})")
    allowed = {_PRINTABLE: _PRINTABLE_CHARS, _NUMERIC: _NUMERIC_CHARS}.get(kind)
    if (allowed is not None and not set(value) <= allowed) or (kind == _IA5 and not value.isascii()):
        raise ConfigError(f"{what}: illegal characters for a {kind} in the value of {type_name}: '{value}'")
    return oid, kind


MULTI_VALUE_HINT = ("a '+' in a value string needs be escaped using '\\' else a new member of a "
                    "multi-valued RDN is expected")


def parse_dn(text: str, what: str, desc: Optional[str] = None):
    """The ``x509.Name`` written as ``/type0=value0/type1=value1+type2=value2`` ("/" = empty name).

    Types are OpenSSL short or long names (CN, commonName, O, emailAddress, ...) or dotted
    OIDs; a backslash escapes the next character; ``+`` starts another member of the same
    RDN; an attribute with an empty value is left out (with a warning), as openssl does.
    An attribute of an unknown type is left out with openssl's warning (apps' parse_name)
    ``Skipping unknown <desc> name attribute "<type>"`` (one line, with its hint about '+').

    :param what: the option for messages, e.g. ``"-subject"``.
    :param desc: what openssl calls the name in that warning ("subject", "expected sender" ...);
        by default ``what`` without its dash.
    :raises ConfigError: a one-line message naming ``what`` and the problem.
    """
    from cryptography import x509

    rdns = _parse_rdns(text, what, desc, name_attribute)
    try:
        return x509.Name([x509.RelativeDistinguishedName(rdn) for rdn in rdns])
    except ValueError as exc:
        raise ConfigError(f"{what}: bad name '{text}': {exc}") from None


def _parse_rdns(text: str, what: str, desc: Optional[str], attribute) -> list:
    """The RDNs of :func:`parse_dn`'s syntax as lists of ``attribute(type, value, what)``."""
    if not text.startswith("/"):
        raise ConfigError(f"{what}: name '{text}' is not in the format /type0=value0/type1=value1/... "
                          "(characters may be escaped by '\\')")
    rdns: list = []
    i, n = 1, len(text)
    next_is_multi = False
    while i < n:
        is_multi, next_is_multi = next_is_multi, False
        eq = text.find("=", i)
        if eq < 0:
            raise ConfigError(f"{what}: missing '=' after RDN type '{text[i:]}' in name '{text}'")
        type_name = text[i:eq]
        i = eq + 1
        value = []
        while i < n and text[i] != "/":
            c = text[i]
            if c == "+":
                next_is_multi = True
                break
            if c == "\\":
                i += 1
                if i >= n:
                    raise ConfigError(f"{what}: escape character at end of name '{text}'")
                c = text[i]
            value.append(c)
            i += 1
        i += 1  # the '/' or '+'
        if attribute_oid(type_name) is None:  # openssl checks the type first, then the value
            log.warning('Skipping unknown %s name attribute "%s"%s', desc or what.lstrip("-"), type_name,
                        f"; hint: {MULTI_VALUE_HINT}" if is_multi else "")
            continue
        if not value:
            log.warning("%s: no value given for name attribute '%s'; skipped", what, type_name)
            continue
        attr = attribute(type_name, "".join(value), what)
        if is_multi and rdns:
            rdns[-1].append(attr)
        else:
            rdns.append([attr])
    return rdns


# ---- parse_dn(...).public_bytes() without cryptography.x509 (start-up cost of a one-shot run)
_DER_TAGS = {_UTF8: 0x0C, _PRINTABLE: 0x13, _IA5: 0x16, _NUMERIC: 0x12}
_X509_CHECKED = {"2.5.4.6", "1.3.6.1.4.1.311.60.2.1.3"}  # country names: cryptography's own checks apply


def _plain_attribute(type_name: str, value: str, what: str):
    """OpenSSL's checks, then (oid, kind, value) where encoding it needs no cryptography, else
    the ``x509.NameAttribute`` (whose own checks raise here, in parse order, as in parse_dn)."""
    oid, kind = _checked_attribute(type_name, value, what)
    if kind in _DER_TAGS and oid not in _X509_CHECKED and max(len(a) for a in oid.split(".")) <= 18:
        try:
            value.encode("utf-8" if kind == _UTF8 else "ascii")
            return oid, kind, value
        except UnicodeEncodeError:
            pass
    return name_attribute(type_name, value, what)


def parse_dn_der(text: str, what: str, desc: Optional[str] = None) -> bytes:
    """``parse_dn(text, what, desc).public_bytes()``: the same checks, warnings and DER, encoded
    here (core.der) unless an attribute needs cryptography's checks: a run with ``-subject``
    then need not import cryptography.x509."""
    rdns = _parse_rdns(text, what, desc, _plain_attribute)
    if any(not isinstance(a, tuple) for rdn in rdns for a in rdn):
        from cryptography import x509
        from cryptography.x509.name import _ASN1Type

        def full(a):
            if not isinstance(a, tuple):
                return a
            return x509.NameAttribute(x509.ObjectIdentifier(a[0]), a[2], _type=getattr(_ASN1Type, a[1]))
        try:
            return x509.Name([x509.RelativeDistinguishedName([full(a) for a in rdn]) for rdn in rdns]).public_bytes()
        except ValueError as exc:
            raise ConfigError(f"{what}: bad name '{text}': {exc}") from None
    from . import der
    encoded = []
    for rdn in rdns:
        members = {der.sequence(der.oid(oid), der.tlv(_DER_TAGS[kind], value.encode(
            "utf-8" if kind == _UTF8 else "ascii"))) for oid, kind, value in rdn}
        if len(members) != len(rdn):  # x509.RelativeDistinguishedName refuses duplicate attributes
            raise ConfigError(f"{what}: bad name '{text}': duplicate attributes are not allowed")
        encoded.append(der.tlv(0x31, b"".join(sorted(members))))  # DER: SET OF members in order
    return der.sequence(*encoded)


def _escape(value: str) -> str:
    out = []
    for c in value:
        if c in "/+\\":
            out.append("\\" + c)
        elif c < " " or c == "\x7f":
            out.append(f"\\x{ord(c):02X}")
        else:
            out.append(c)
    return "".join(out)


def format_dn(name) -> str:
    """One-line text of a name (an ``x509.Name`` or DER) in openssl's "/CN=x/O=y" style,
    members of a multi-valued RDN joined by "+"; "/" for the empty name. Special characters
    (/ + \\) are escaped so that :func:`parse_dn` reads the text back; control characters
    appear as \\xHH, other non-ASCII characters as they are."""
    if name is None:
        return "(none)"
    if isinstance(name, (bytes, bytearray)):
        name = name_from_der(bytes(name))
    parts = []
    for rdn in name.rdns:
        members = []
        for attr in rdn:
            oid = attr.oid.dotted_string
            value = attr.value if isinstance(attr.value, str) else attr.value.hex()
            members.append(f"{_SHORT_NAME.get(oid, oid)}={_escape(value)}")
        parts.append("+".join(members))
    return "/" + "/".join(parts)


def name_to_der(name) -> bytes:
    """The DER encoding of an ``x509.Name``."""
    return name.public_bytes()


# ---------------------------------------------------------------- DER decoding

_STRING_TAGS = {0x0C: ("UTF8String", "utf-8"), 0x13: ("PrintableString", "ascii"),
                0x16: ("IA5String", "ascii"), 0x12: ("NumericString", "ascii"),
                0x1A: ("VisibleString", "ascii"), 0x14: ("T61String", "latin-1"),
                0x1E: ("BMPString", "utf-16-be"), 0x1C: ("UniversalString", "utf-32-be")}


def name_from_der(der_bytes: bytes):
    """The ``x509.Name`` in DER ``der_bytes``.

    :raises DecodeError: for anything that is not a well-formed Name with string values.
    """
    from cryptography import x509
    from cryptography.x509.name import _ASN1Type

    from . import der

    try:
        tag, _start, end = der.read_tlv(der_bytes)
        if tag != 0x30 or end != len(der_bytes):
            raise DecodeError("not a DER Name: expected one SEQUENCE")
        rdns = []
        for rdn in der.children(der_bytes):
            if rdn[0] != 0x31:
                raise DecodeError("bad Name: an RDN is not a SET")
            attrs = []
            for atv in der.children(rdn):
                items = der.children(atv) if atv[0] == 0x30 else []
                if len(items) != 2 or items[0][0] != 0x06:
                    raise DecodeError("bad Name: an attribute is not SEQUENCE {OID, value}")
                oid = der.oid_text(der.content(items[0]))
                vtag = items[1][0]
                if vtag not in _STRING_TAGS:
                    raise DecodeError(f"unsupported value type (tag 0x{vtag:02X}) of name attribute {oid}")
                kind, codec = _STRING_TAGS[vtag]
                value = der.content(items[1]).decode(codec)
                attrs.append(x509.NameAttribute(x509.ObjectIdentifier(oid), value,
                                                _type=getattr(_ASN1Type, kind)))
            if not attrs:
                raise DecodeError("bad Name: empty RDN")
            rdns.append(x509.RelativeDistinguishedName(attrs))
        return x509.Name(rdns)
    except DecodeError:
        raise
    except (ValueError, UnicodeDecodeError, IndexError, TypeError) as exc:
        raise DecodeError(f"bad DER Name: {exc}") from None
