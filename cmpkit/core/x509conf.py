"""Builds X.509 extensions from openssl x509v3_config sections and from -sans / -policy_oids text.

Follows OpenSSL's crypto/x509/v3_*.c as `openssl cmp -reqexts/-policies` uses them (see
x509v3_config(5)): a section line ``name = [critical,] value`` per extension, lists of
``type:value`` items separated by commas, ``@section`` for values kept in another section.

Supported: basicConstraints, keyUsage, extendedKeyUsage, subjectAltName, issuerAltName,
certificatePolicies (OIDs, ``@section`` with policyIdentifier, CPS.n, userNotice), nameConstraints,
subjectKeyIdentifier (``hash`` needs the public key, ``none``, or hex), crlDistributionPoints
and authorityInfoAccess (plain general-name items), nsComment, and ``OID = DER:hex``.
General names: ``email:``, ``URI:``, ``DNS:``, ``RID:``, ``IP:``, ``dirName:section`` and
``otherName:OID;UTF8:text``.
"""
from __future__ import annotations

import ipaddress
import re
from typing import List, Optional, Tuple

from ..errors import ConfigError
from .names import attribute_oid, name_attribute

# OpenSSL's short and long names of extended key usages and other OIDs values may name
_EKU = (
    ("serverAuth", "TLS Web Server Authentication", "1.3.6.1.5.5.7.3.1"),
    ("clientAuth", "TLS Web Client Authentication", "1.3.6.1.5.5.7.3.2"),
    ("codeSigning", "Code Signing", "1.3.6.1.5.5.7.3.3"),
    ("emailProtection", "E-mail Protection", "1.3.6.1.5.5.7.3.4"),
    ("ipsecEndSystem", "IPSec End System", "1.3.6.1.5.5.7.3.5"),
    ("ipsecTunnel", "IPSec Tunnel", "1.3.6.1.5.5.7.3.6"),
    ("ipsecUser", "IPSec User", "1.3.6.1.5.5.7.3.7"),
    ("timeStamping", "Time Stamping", "1.3.6.1.5.5.7.3.8"),
    ("OCSPSigning", "OCSP Signing", "1.3.6.1.5.5.7.3.9"),
    ("DVCS", "dvcs", "1.3.6.1.5.5.7.3.10"),
    ("ipsecIKE", "ipsec Internet Key Exchange", "1.3.6.1.5.5.7.3.17"),
    ("secureShellClient", "SSH Client", "1.3.6.1.5.5.7.3.21"),
    ("secureShellServer", "SSH Server", "1.3.6.1.5.5.7.3.22"),
    ("cmcCA", "CMC Certificate Authority", "1.3.6.1.5.5.7.3.27"),
    ("cmcRA", "CMC Registration Authority", "1.3.6.1.5.5.7.3.28"),
    ("cmKGA", "Certificate Management Key Generation Authority", "1.3.6.1.5.5.7.3.32"),
    ("anyExtendedKeyUsage", "Any Extended Key Usage", "2.5.29.37.0"),
    ("msCodeInd", "Microsoft Individual Code Signing", "1.3.6.1.4.1.311.2.1.21"),
    ("msCodeCom", "Microsoft Commercial Code Signing", "1.3.6.1.4.1.311.2.1.22"),
    ("msCTLSign", "Microsoft Trust List Signing", "1.3.6.1.4.1.311.10.3.1"),
    ("msSGC", "Microsoft Server Gated Crypto", "1.3.6.1.4.1.311.10.3.3"),
    ("msEFS", "Microsoft Encrypted File System", "1.3.6.1.4.1.311.10.3.4"),
    ("msSmartcardLogin", "Microsoft Smartcard Login", "1.3.6.1.4.1.311.20.2.2"),
    ("nsSGC", "Netscape Server Gated Crypto", "2.16.840.1.113730.4.1"),
    ("anyPolicy", "X509v3 Any Policy", "2.5.29.32.0"),
    ("OCSP", "OCSP", "1.3.6.1.5.5.7.48.1"),
    ("caIssuers", "CA Issuers", "1.3.6.1.5.5.7.48.2"),
)
_OID_NAMES = {}
for _sn, _ln, _oid in _EKU:
    _OID_NAMES[_sn] = _OID_NAMES[_ln] = _oid

# keyUsage bits: (short name, long name), in bit order
_KEY_USAGE = (("digitalSignature", "Digital Signature"), ("nonRepudiation", "Non Repudiation"),
              ("keyEncipherment", "Key Encipherment"), ("dataEncipherment", "Data Encipherment"),
              ("keyAgreement", "Key Agreement"), ("keyCertSign", "Certificate Sign"),
              ("cRLSign", "CRL Sign"), ("encipherOnly", "Encipher Only"), ("decipherOnly", "Decipher Only"))
_KU_ARGS = ("digital_signature", "content_commitment", "key_encipherment", "data_encipherment",
            "key_agreement", "key_cert_sign", "crl_sign", "encipher_only", "decipher_only")

_TRUE = ("TRUE", "true", "Y", "y", "YES", "yes")
_FALSE = ("FALSE", "false", "N", "n", "NO", "no")


class _Bad(Exception):
    """A problem in one extension value; becomes a ConfigError naming option and section."""


# ---------------------------------------------------------------- public API

def extensions_from_section(conf, section: str, what: str, public_key=None) -> list:
    """The extensions an x509v3_config ``section`` of ``conf`` (a ConfFile) defines, in order;
    a later extension with the same OID replaces an earlier one (X509V3_CTX_REPLACE).

    :param what: the option for messages, e.g. ``"-reqexts"``.
    :param public_key: the subject's public key, for ``subjectKeyIdentifier = hash``
        (that extension is left out when it is None).
    :raises ConfigError: ``<what>: error in section [S]: <reason>``, or a missing section.
    """
    if not conf.has_section(section):
        raise ConfigError(f"{what}: section [{section}] not found in config file '{conf.path}'")
    out = {}
    for name, value in conf.section(section):
        try:
            ext = _extension(conf, name, value, public_key)
        except _Bad as exc:
            raise ConfigError(f"{what}: error in section [{section}]: {name}: {exc}") from None
        if ext is not None:
            out.pop(ext.oid.dotted_string, None)
            out[ext.oid.dotted_string] = ext
    return list(out.values())


def parse_sans(spec: str) -> Tuple[list, bool]:
    """The general names of ``-sans`` and whether "critical" was among them.

    Items are separated by commas and/or whitespace; each is tried as an IP address, then
    taken as an email address if it has "@", a URI if it has ":", else a DNS name (as
    apps/cmp.c set_gennames does).

    :raises ConfigError: ``-sans: bad syntax of Subject Alternative Name '<item>'``.
    """
    from cryptography import x509

    names, critical = [], False
    for item in _items(spec):
        if item == "critical":
            critical = True
            continue
        ip = _ip_address(item)
        try:
            if ip is not None:
                names.append(x509.IPAddress(ip))
            elif "@" in item:
                names.append(x509.RFC822Name(item))
            elif ":" in item:
                names.append(x509.UniformResourceIdentifier(item))
            else:
                names.append(x509.DNSName(item))
        except (ValueError, TypeError):
            raise ConfigError(f"-sans: bad syntax of Subject Alternative Name '{item}'") from None
    return names, critical


def policy_oids_extension(text: str, critical: bool):
    """The certificatePolicies extension for ``-policy_oids`` (OIDs in dotted form separated by
    commas and/or whitespace), flagged critical if ``critical``.

    :raises ConfigError: ``invalid -policy_oids arg '<item>'``.
    """
    from cryptography import x509

    items = _items(text)
    if not items:
        raise ConfigError(f"invalid -policy_oids arg '{text}': no OID given")
    infos = []
    for item in items:
        oid = _dotted(item)
        if oid is None:
            raise ConfigError(f"invalid -policy_oids arg '{item}': not an OID in dotted form")
        infos.append(x509.PolicyInformation(x509.ObjectIdentifier(oid), None))
    return x509.Extension(x509.CertificatePolicies.oid, bool(critical), x509.CertificatePolicies(infos))


# ---------------------------------------------------------------- helpers

def _items(text: str) -> List[str]:
    """apps' next_item: split on commas and whitespace; empty items are dropped."""
    return [t for t in re.split(r"[,\s]+", text) if t]


def _dotted(text: str) -> Optional[str]:
    parts = text.split(".")
    if len(parts) < 2 or not all(p.isdigit() for p in parts):
        return None
    first, second = int(parts[0]), int(parts[1])
    if first > 2 or (first < 2 and second >= 40):
        return None
    return ".".join(str(int(p)) for p in parts)


def _oid(text: str, kind: str):
    """An OID given by dotted form or a name OpenSSL knows (OBJ_txt2obj)."""
    from cryptography import x509
    oid = _dotted(text) or _OID_NAMES.get(text) or (attribute_oid(text) if "." not in text else None)
    if oid is None:
        raise _Bad(f"invalid {kind} '{text}'")
    return x509.ObjectIdentifier(oid)


def _name_is(name: str, wanted: str) -> bool:
    """ossl_v3_name_cmp: ``wanted`` optionally followed by ".suffix" (DNS.1, CPS.2)."""
    return name == wanted or name.startswith(wanted + ".")


def _parse_list(value: str) -> List[Tuple[str, Optional[str]]]:
    """X509V3_parse_list: "name[:value], ..." with whitespace around names and values stripped."""
    value = re.split(r"[\r\n]", value, maxsplit=1)[0]
    out = []
    for item in value.split(","):
        name, sep, val = item.partition(":")
        name = name.strip()
        if not name:
            raise _Bad(f"empty name in '{value}'")
        if sep:
            val = val.strip()
            if not val:
                raise _Bad(f"missing value for '{name}' in '{value}'")
            out.append((name, val))
        else:
            out.append((name, None))
    return out


def _section(conf, name: str) -> list:
    if not conf.has_section(name):
        raise _Bad(f"section [{name}] not found")
    return conf.section(name)


def _values(conf, value: str) -> list:
    """The (name, value) items of a v2i extension: '@section' or a list."""
    if value.startswith("@"):
        items = _section(conf, value[1:])
        if not items:
            raise _Bad(f"section [{value[1:]}] is empty")
        return items
    return _parse_list(value)


def _ip_address(text: str):
    """a2i_IPADDRESS: a dotted quad (leading zeros allowed) or an IPv6 address; else None."""
    if ":" in text:
        if "%" in text:
            return None
        try:
            return ipaddress.IPv6Address(text)
        except ValueError:
            return None
    m = re.fullmatch(r"(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})", text)
    if m is None or any(int(g) > 255 for g in m.groups()):
        return None
    return ipaddress.IPv4Address(bytes(int(g) for g in m.groups()))


def _ip_network(text: str):
    """a2i_IPADDRESS_NC: address/mask, e.g. 192.168.0.0/255.255.0.0 (as nameConstraints)."""
    addr, sep, mask = text.partition("/")
    a, m = _ip_address(addr), _ip_address(mask)
    if not sep or a is None or m is None or a.version != m.version:
        raise _Bad(f"bad IP address with mask '{text}'")
    bits = int(m)
    prefix = bin(bits).count("1")
    if bits != ((1 << m.max_prefixlen) - 1) ^ ((1 << (m.max_prefixlen - prefix)) - 1):
        raise _Bad(f"bad IP address mask '{mask}'")
    try:
        return ipaddress.ip_network(f"{a}/{prefix}")
    except ValueError:
        raise _Bad(f"IP address '{addr}' has bits outside mask '{mask}'") from None


def _dir_name(conf, section: str):
    """X509V3_NAME_from_section: 'type = value' lines; a prefix up to '.', ',' or ':' is
    dropped ("1.OU" -> "OU") and a leading '+' adds to the previous RDN."""
    from cryptography import x509
    rdns: list = []
    for key, value in _section(conf, section):
        m = re.search(r"[.,:]", key)
        if m and m.end() < len(key):
            key = key[m.end():]
        multi = key.startswith("+")
        if multi:
            key = key[1:]
        try:
            attr = name_attribute(key, value, f"section [{section}]")
        except ConfigError as exc:
            raise _Bad(str(exc)) from None
        if multi and rdns:
            rdns[-1].append(attr)
        else:
            rdns.append([attr])
    try:
        return x509.Name([x509.RelativeDistinguishedName(r) for r in rdns])
    except ValueError as exc:
        raise _Bad(f"bad name in section [{section}]: {exc}") from None


def _general_name(conf, name: str, value: Optional[str], nc: bool = False):
    """v2i_GENERAL_NAME_ex for one ``type:value`` item."""
    from cryptography import x509
    if value is None:
        raise _Bad(f"missing value for '{name}'")
    try:
        if _name_is(name, "email"):
            if value in ("copy", "move"):
                raise _Bad(f"email:{value} is not supported here (no subject to copy from)")
            return x509.RFC822Name(value)
        if _name_is(name, "URI"):
            return x509.UniformResourceIdentifier(value)
        if _name_is(name, "DNS"):
            return x509.DNSName(value)
        if _name_is(name, "RID"):
            return x509.RegisteredID(_oid(value, "object identifier"))
        if _name_is(name, "IP"):
            if nc:
                return x509.IPAddress(_ip_network(value))
            ip = _ip_address(value)
            if ip is None:
                raise _Bad(f"bad IP address '{value}'")
            return x509.IPAddress(ip)
        if _name_is(name, "dirName"):
            return x509.DirectoryName(_dir_name(conf, value))
        if _name_is(name, "otherName"):
            return _other_name(value)
    except ValueError as exc:
        raise _Bad(f"bad value '{value}' for {name}: {exc}") from None
    raise _Bad(f"unsupported option '{name}'")


def _other_name(value: str):
    """otherName:OID;UTF8:text (also UTF8String, IA5, IA5STRING)."""
    from cryptography import x509

    from . import der
    oid_text, sep, typed = value.partition(";")
    kind, sep2, text = typed.partition(":")
    tags = {"UTF8": 0x0C, "UTF8STRING": 0x0C, "IA5": 0x16, "IA5STRING": 0x16}
    if not sep or not sep2 or kind.upper() not in tags:
        raise _Bad(f"unsupported otherName '{value}' (use OID;UTF8:text)")
    return x509.OtherName(_oid(oid_text.strip(), "object identifier"),
                          der.tlv(tags[kind.upper()], text.encode("utf-8")))


def _bool(value: Optional[str]) -> bool:
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise _Bad(f"invalid boolean string '{value}'")


def _int(value: Optional[str]) -> int:
    try:
        text = (value or "").strip()
        neg = text.startswith("-")
        body = text[1:] if neg else text
        n = int(body, 16) if body[:2].lower() == "0x" else int(body, 10)
        return -n if neg else n
    except ValueError:
        raise _Bad(f"invalid integer '{value}'") from None


# ---------------------------------------------------------------- extensions

def _extension(conf, name: str, value: str, public_key):
    from cryptography import x509
    critical = False
    if value.startswith("critical,"):
        critical = True
        value = value[len("critical,"):].lstrip()
    if value.startswith("DER:"):
        oid = _EXT_OIDS.get(name) or _dotted(name)
        if oid is None:
            raise _Bad("unknown extension name")
        try:
            data = bytes.fromhex(value[4:].replace(":", ""))
        except ValueError:
            raise _Bad(f"bad hex in '{value}'") from None
        return x509.Extension(x509.ObjectIdentifier(oid), critical,
                              x509.UnrecognizedExtension(x509.ObjectIdentifier(oid), data))
    builder = _BUILDERS.get(name)
    if builder is None:
        raise _Bad("unknown or unsupported extension name")
    try:
        ext_value = builder(conf, value, public_key)
    except ValueError as exc:  # cryptography's own consistency checks
        raise _Bad(str(exc)) from None
    if ext_value is None:
        return None
    return x509.Extension(ext_value.oid, critical, ext_value)


def _basic_constraints(conf, value, _pk):
    from cryptography import x509
    ca, pathlen = False, None
    for n, v in _values(conf, value):
        if n == "CA":
            ca = _bool(v)
        elif n == "pathlen":
            pathlen = _int(v)
            if pathlen < 0:
                raise _Bad(f"invalid pathlen '{v}'")
        else:
            raise _Bad(f"invalid name '{n}'")
    return x509.BasicConstraints(ca=ca, path_length=pathlen)


def _key_usage(conf, value, _pk):
    from cryptography import x509
    flags = dict.fromkeys(_KU_ARGS, False)
    for n, _v in _values(conf, value):
        for arg, names in zip(_KU_ARGS, _KEY_USAGE):
            if n in names:
                flags[arg] = True
                break
        else:
            raise _Bad(f"unknown bit string argument '{n}'")
    return x509.KeyUsage(**flags)


def _extended_key_usage(conf, value, _pk):
    from cryptography import x509
    return x509.ExtendedKeyUsage([_oid(v if v is not None else n, "object identifier")
                                  for n, v in _values(conf, value)])


def _alt_names(conf, value):
    names = []
    for n, v in _values(conf, value):
        names.append(_general_name(conf, n, v))
    return names


def _subject_alt_name(conf, value, _pk):
    from cryptography import x509
    return x509.SubjectAlternativeName(_alt_names(conf, value))


def _issuer_alt_name(conf, value, _pk):
    from cryptography import x509
    return x509.IssuerAlternativeName(_alt_names(conf, value))


def _certificate_policies(conf, value, _pk):
    from cryptography import x509
    infos = []
    for n, v in _parse_list(value):
        if v is not None:
            raise _Bad(f"invalid policy identifier '{n}:{v}'")
        if n == "ia5org":
            continue  # organization encoding is chosen by cryptography
        if n.startswith("@"):
            infos.append(_policy_section(conf, n[1:]))
        else:
            infos.append(x509.PolicyInformation(_oid(n, "policy identifier"), None))
    return x509.CertificatePolicies(infos)


def _policy_section(conf, section):
    from cryptography import x509
    oid, qualifiers = None, []
    for n, v in _section(conf, section):
        if n == "policyIdentifier":
            oid = _oid(v, "policy identifier")
        elif _name_is(n, "CPS"):
            qualifiers.append(v)
        elif _name_is(n, "userNotice"):
            if not v.startswith("@"):
                raise _Bad(f"userNotice in section [{section}] must be @section")
            qualifiers.append(_user_notice(conf, v[1:]))
        else:
            raise _Bad(f"invalid option '{n}' in section [{section}]")
    if oid is None:
        raise _Bad(f"no policyIdentifier in section [{section}]")
    return x509.PolicyInformation(oid, qualifiers or None)


def _user_notice(conf, section):
    from cryptography import x509
    text, org, numbers = None, None, None
    for n, v in _section(conf, section):
        if n == "explicitText":
            text = re.sub(r"^(UTF8|UTF8String|BMP|BMPSTRING|VISIBLE|VISIBLESTRING):", "", v)
        elif n == "organization":
            org = v
        elif n == "noticeNumbers":
            numbers = [_int(x) for x in v.split(",")]
        else:
            raise _Bad(f"invalid option '{n}' in section [{section}]")
    if (org is None) != (numbers is None):
        raise _Bad(f"userNotice section [{section}] needs both organization and noticeNumbers")
    ref = x509.NoticeReference(org, numbers) if org is not None else None
    return x509.UserNotice(ref, text)


def _subject_key_identifier(conf, value, public_key):
    from cryptography import x509
    if value == "none":
        return None
    if value == "hash":
        if public_key is None:
            return None
        return x509.SubjectKeyIdentifier.from_public_key(public_key)
    try:
        return x509.SubjectKeyIdentifier(bytes.fromhex(value.replace(":", "")))
    except ValueError:
        raise _Bad(f"invalid hex key identifier '{value}'") from None


def _name_constraints(conf, value, _pk):
    from cryptography import x509
    permitted, excluded = [], []
    for n, v in _values(conf, value):
        if n.startswith("permitted") and len(n) > 10:
            target, rest = permitted, n[10:]
        elif n.startswith("excluded") and len(n) > 9:
            target, rest = excluded, n[9:]
        else:
            raise _Bad(f"invalid syntax '{n}'")
        target.append(_general_name(conf, rest, v, nc=True))
    return x509.NameConstraints(permitted or None, excluded or None)


def _crl_distribution_points(conf, value, _pk):
    from cryptography import x509
    points = []
    for n, v in _values(conf, value):
        if v is None:
            raise _Bad(f"distribution point sections ('{n}') are not supported")
        points.append(x509.DistributionPoint([_general_name(conf, n, v)], None, None, None))
    return x509.CRLDistributionPoints(points)


def _authority_info_access(conf, value, _pk):
    from cryptography import x509
    descriptions = []
    for n, v in _values(conf, value):
        method, sep, gn_type = n.partition(";")
        if not sep:
            raise _Bad(f"invalid syntax '{n}' (expected method;type:value)")
        descriptions.append(x509.AccessDescription(_oid(method.strip(), "access method"),
                                                   _general_name(conf, gn_type.strip(), v)))
    return x509.AuthorityInformationAccess(descriptions)


def _ns_comment(conf, value, _pk):
    from cryptography import x509

    from . import der
    if not value.isascii():
        raise _Bad("nsComment must be ASCII (IA5String)")
    oid = x509.ObjectIdentifier("2.16.840.1.113730.1.13")
    return x509.UnrecognizedExtension(oid, der.tlv(0x16, value.encode("ascii")))


_BUILDERS = {
    "basicConstraints": _basic_constraints,
    "keyUsage": _key_usage,
    "extendedKeyUsage": _extended_key_usage,
    "subjectAltName": _subject_alt_name,
    "issuerAltName": _issuer_alt_name,
    "certificatePolicies": _certificate_policies,
    "subjectKeyIdentifier": _subject_key_identifier,
    "nameConstraints": _name_constraints,
    "crlDistributionPoints": _crl_distribution_points,
    "authorityInfoAccess": _authority_info_access,
    "nsComment": _ns_comment,
}
_EXT_OIDS = {
    "basicConstraints": "2.5.29.19", "keyUsage": "2.5.29.15", "extendedKeyUsage": "2.5.29.37",
    "subjectAltName": "2.5.29.17", "issuerAltName": "2.5.29.18", "certificatePolicies": "2.5.29.32",
    "subjectKeyIdentifier": "2.5.29.14", "authorityKeyIdentifier": "2.5.29.35",
    "nameConstraints": "2.5.29.30", "crlDistributionPoints": "2.5.29.31",
    "authorityInfoAccess": "1.3.6.1.5.5.7.1.1", "nsComment": "2.16.840.1.113730.1.13",
    "policyConstraints": "2.5.29.36", "inhibitAnyPolicy": "2.5.29.54", "tlsfeature": "1.3.6.1.5.5.7.1.24",
}
