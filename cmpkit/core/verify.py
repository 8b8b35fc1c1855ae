"""Certificate path validation with every openssl-verification-options option, as OpenSSL does it.

Engine choice (deliberate): ``cryptography.x509.verification`` is strict and fast, but it has no
CRLs, no policy processing (-policy_check, -explicit_policy, -inhibit_any, -inhibit_map), no
partial chains, no way to switch time checks off (-no_check_time) and no ``-x509_strict``-style
relaxations, so it cannot honour the option set ``openssl cmp`` documents. This module is
therefore an RFC 5280 section 6 path validation written the way OpenSSL 3.0's
``X509_verify_cert()`` walks it (chain building with trusted-first, check order, error wording),
built only on cryptography's primitives: certificate/CRL parsing, public-key signature checks
and ``CertificateRevocationList.is_signature_valid``. No cryptography is hand-rolled here.

Check order (as OpenSSL): leaf key strength, chain building, extensions/CA/purpose/path length,
authentication level, host/email/IP, revocation (CRLs), Suite B, signatures and validity times
(from the anchor down), name constraints, certificate policies.

Public API: :class:`VerifyOptions`, :func:`verify_chain`, :func:`check_signer_key_usage`,
:class:`DefaultVerificationPolicy`. Failures raise :class:`cmpkit.errors.VerifyError` whose
message is one line naming the certificate (``/CN=...``), its depth and OpenSSL's reason text;
the exception also carries ``code`` (OpenSSL's X509_V_ERR number), ``reason``, ``depth`` and
``subject``.
"""
from __future__ import annotations

import copy
import dataclasses
import functools
import ipaddress
import logging
import math
import re
import time
from dataclasses import dataclass, field
from typing import Iterable, Optional, Sequence

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, padding, rsa
from cryptography.x509.oid import ExtensionOID, NameOID, SignatureAlgorithmOID

from ..errors import ConfigError, CredentialError, VerifyError

log = logging.getLogger("cmpkit")

ANY_POLICY = "2.5.29.32.0"
#: ``purpose`` value a caller passes for the -out_trusted check of a newly enrolled certificate;
#: only then do -verify_hostname, -verify_ip and -verify_email apply (openssl-cmp(1)).
ENROLLED = "enrolled"

# --------------------------------------------------------------------------- error codes
# OpenSSL 3.0 X509_V_ERR_* numbers and X509_verify_cert_error_string() texts (as of 3.0.22).
_REASONS = {
    1: "unspecified certificate verification error",
    2: "unable to get issuer certificate",
    3: "unable to get certificate CRL",
    6: "unable to decode issuer public key",
    7: "certificate signature failure",
    8: "CRL signature failure",
    9: "certificate is not yet valid",
    10: "certificate has expired",
    11: "CRL is not yet valid",
    12: "CRL has expired",
    18: "self-signed certificate",
    19: "self-signed certificate in certificate chain",
    20: "unable to get local issuer certificate",
    21: "unable to verify the first certificate",
    22: "certificate chain too long",
    23: "certificate revoked",
    25: "path length constraint exceeded",
    26: "unsuitable certificate purpose",
    32: "key usage does not include certificate signing",
    33: "unable to get CRL issuer certificate",
    34: "unhandled critical extension",
    35: "key usage does not include CRL signing",
    36: "unhandled critical CRL extension",
    37: "invalid non-CA certificate (has CA markings)",
    38: "proxy path length constraint exceeded",
    39: "key usage does not include digital signature",
    40: "proxy certificates not allowed, please set the appropriate flag",
    41: "invalid or inconsistent certificate extension",
    42: "invalid or inconsistent certificate policy extension",
    43: "no explicit policy",
    44: "different CRL scope",
    47: "permitted subtree violation",
    48: "excluded subtree violation",
    51: "unsupported name constraint type",
    53: "unsupported or invalid name syntax",
    54: "CRL path validation error",
    56: "Suite B: certificate version invalid",
    57: "Suite B: invalid public key algorithm",
    58: "Suite B: invalid ECC curve",
    59: "Suite B: invalid signature algorithm",
    60: "Suite B: curve not allowed for this LOS",
    61: "Suite B: cannot sign P-384 with P-256",
    62: "hostname mismatch",
    63: "email address mismatch",
    64: "IP address mismatch",
    66: "EE certificate key too weak",
    67: "CA certificate key too weak",
    68: "CA signature digest algorithm too weak",
    78: "cert info signature and signature algorithm mismatch",
    79: "invalid CA certificate",
    80: "Path length invalid for non-CA cert",
    81: "Path length given without key usage keyCertSign",
    82: "Key usage keyCertSign invalid for non-CA cert",
    83: "Issuer name empty",
    84: "Subject name empty",
    85: "Missing Authority Key Identifier",
    86: "Missing Subject Key Identifier",
    87: "Empty Subject Alternative Name extension",
    88: "Subject empty and Subject Alt Name extension not critical",
    89: "Basic Constraints of CA cert not marked critical",
    90: "Authority Key Identifier marked critical",
    91: "Subject Key Identifier marked critical",
    92: "CA cert does not include key usage extension",
    93: "Using cert extension requires at least X509v3",
    94: "Certificate public key has explicit ECC parameters",
}
(E_ISSUER, E_NO_CRL, E_SIG, E_CRL_SIG, E_NOT_YET, E_EXPIRED, E_CRL_NOT_YET, E_CRL_EXPIRED,
 E_SS_LEAF, E_SS_CHAIN, E_LOCAL_ISSUER, E_LEAF_SIG, E_TOO_LONG, E_REVOKED, E_PATHLEN, E_PURPOSE,
 E_NO_CERTSIGN, E_CRL_ISSUER, E_CRITICAL, E_NO_CRLSIGN, E_CRL_CRITICAL, E_NON_CA, E_PROXY_PATHLEN,
 E_NO_DIGSIG, E_PROXY, E_EXTENSION, E_POLICY_EXT, E_EXPLICIT, E_CRL_SCOPE, E_PERMITTED, E_EXCLUDED,
 E_NC_TYPE, E_NAME_SYNTAX, E_CRL_PATH, E_HOST, E_EMAIL, E_IP, E_EE_KEY, E_CA_KEY, E_CA_MD,
 E_INVALID_CA, E_EC_EXPLICIT) = (
    2, 3, 7, 8, 9, 10, 11, 12, 18, 19, 20, 21, 22, 23, 25, 26, 32, 33, 34, 35, 36, 37, 38, 39, 40,
    41, 42, 43, 44, 47, 48, 51, 53, 54, 62, 63, 64, 66, 67, 68, 79, 94)


class _Fail(Exception):
    """Internal: the first verification error (code, certificate, depth)."""

    def __init__(self, code: int, cert: "Optional[_Cert]", depth: Optional[int]):
        super().__init__(code)
        self.code, self.cert, self.depth = code, cert, depth


# --------------------------------------------------------------------------- options
PURPOSES = ("sslclient", "sslserver", "nssslserver", "smimesign", "smimeencrypt", "crlsign",
            "any", "ocsphelper", "timestampsign")
#: -verify_name tables of OpenSSL 3.0 (only their purpose matters for verification).
VERIFY_NAMES = {"default": None, "pkcs7": "smimesign", "smime_sign": "smimesign",
                "ssl_client": "sslclient", "ssl_server": "sslserver"}
_FLAGS = ("allow_proxy_certs", "no_check_time", "check_ss_sig", "crl_check", "crl_check_all",
          "explicit_policy", "extended_crl", "ignore_critical", "inhibit_any", "inhibit_map",
          "partial_chain", "policy_check", "policy_print", "suiteB_128_only", "suiteB_128",
          "suiteB_192", "trusted_first", "no_alt_chains", "use_deltas", "x509_strict",
          "issuer_checks")


@dataclass(frozen=True)
class VerifyOptions:
    """Every certificate verification option of ``openssl cmp`` (openssl-verification-options(1)).

    ``trusted_first`` (always on since OpenSSL 1.1.0), ``no_alt_chains`` and ``issuer_checks``
    are accepted and have no effect, as documented for OpenSSL 3.0. ``crls`` holds DER CRLs
    (cmpkit's ``-crls``) used by ``crl_check``/``crl_check_all``.
    """

    allow_proxy_certs: bool = False
    attime: Optional[int] = None
    no_check_time: bool = False
    check_ss_sig: bool = False
    crl_check: bool = False
    crl_check_all: bool = False
    explicit_policy: bool = False
    extended_crl: bool = False
    ignore_critical: bool = False
    inhibit_any: bool = False
    inhibit_map: bool = False
    partial_chain: bool = False
    policy: tuple = ()
    policy_check: bool = False
    policy_print: bool = False
    purpose: Optional[str] = None
    suiteB_128_only: bool = False
    suiteB_128: bool = False
    suiteB_192: bool = False
    trusted_first: bool = False
    no_alt_chains: bool = False
    use_deltas: bool = False
    auth_level: Optional[int] = None
    verify_depth: Optional[int] = None
    verify_email: Optional[str] = None
    verify_hostname: Optional[str] = None
    verify_ip: Optional[str] = None
    verify_name: Optional[str] = None
    x509_strict: bool = False
    issuer_checks: bool = False
    crls: tuple = field(default=(), repr=False)

    def __post_init__(self):
        if self.purpose is not None and self.purpose not in PURPOSES:
            raise ConfigError(f"unknown -purpose '{self.purpose}' (known: {', '.join(PURPOSES)})")
        if self.verify_name is not None and self.verify_name not in VERIFY_NAMES:
            raise ConfigError(f"invalid -verify_name '{self.verify_name}' "
                              f"(known: {', '.join(VERIFY_NAMES)})")
        policies = tuple(_policy_oid(p) for p in _as_list(self.policy))
        object.__setattr__(self, "policy", policies)
        object.__setattr__(self, "crls", tuple(self.crls))
        if self.verify_ip is not None:
            try:
                ipaddress.ip_address(self.verify_ip)
            except ValueError:
                raise ConfigError(f"invalid -verify_ip '{self.verify_ip}': not an IP address") from None

    @property
    def effective_purpose(self) -> Optional[str]:
        """-purpose, else the purpose implied by -verify_name."""
        return self.purpose or VERIFY_NAMES.get(self.verify_name or "default")

    @property
    def policy_checking(self) -> bool:
        """OpenSSL sets X509_V_FLAG_POLICY_CHECK with any of the policy flags."""
        return self.policy_check or self.explicit_policy or self.inhibit_any or self.inhibit_map

    def without_status_checks(self) -> "VerifyOptions":
        """The options OpenSSL keeps when validating a newly enrolled certificate (certConf
        callback): time, partial-chain and policy-check flags; all other flags are cleared."""
        keep = {"no_check_time", "partial_chain", "policy_check"}
        cleared = {f: False for f in _FLAGS if f not in keep}
        return dataclasses.replace(self, **cleared, policy_check=self.policy_checking)

    @classmethod
    def from_config(cls, cfg) -> "VerifyOptions":
        """Options from a cmpkit Config (``get(name)``; names without the leading dash)."""
        kw = {}
        for name in _FLAGS:
            kw[name] = bool(cfg.get(name))
        for name in ("attime", "auth_level", "verify_depth"):
            value = cfg.get(name)
            if value is not None:
                try:
                    kw[name] = int(value)
                except (TypeError, ValueError):
                    raise ConfigError(f"invalid -{name} '{value}': not an integer") from None
        for name in ("purpose", "verify_email", "verify_hostname", "verify_ip", "verify_name"):
            value = cfg.get(name)
            if value is not None:
                kw[name] = str(value)
        kw["policy"] = tuple(_config_list(cfg, "policy"))
        kw["crls"] = tuple(der for source in _config_list(cfg, "crls") for der in load_crls(source))
        return cls(**kw)


def _as_list(value) -> list:
    if value is None:
        return []
    if isinstance(value, str):
        return [v for v in re.split(r"[,\s]+", value) if v]
    return [v for item in value for v in _as_list(item)]


def _config_list(cfg, name: str) -> list:
    getter = getattr(cfg, "get_list", None)
    if getter is not None:
        return _as_list(getter(name))
    return _as_list(cfg.get(name))


def _policy_oid(text: str) -> str:
    if text in ("anyPolicy", "X509v3 Any Policy"):
        return ANY_POLICY
    if not re.fullmatch(r"[0-2](\.\d+)+", text):
        raise ConfigError(f"invalid -policy '{text}': not an object identifier")
    return text


def load_crls(source: str) -> list:
    """The CRLs (as DER) in one PEM or DER file named by ``-crls``."""
    try:
        with open(source, "rb") as fh:
            data = fh.read()
    except OSError as exc:
        raise CredentialError(f"cannot read CRL file '{source}' (-crls): {exc.strerror or exc}") from None
    from cryptography.hazmat.primitives.serialization import Encoding
    blocks = re.findall(rb"-----BEGIN X509 CRL-----.*?-----END X509 CRL-----", data, re.S)
    try:
        crls = [x509.load_pem_x509_crl(b) for b in blocks] if blocks else [x509.load_der_x509_crl(data)]
    except ValueError:
        raise CredentialError(f"cannot load CRL from '{source}' (-crls): not a PEM or DER CRL") from None
    return [c.public_bytes(Encoding.DER) for c in crls]


# --------------------------------------------------------------------------- names
_SHORT_NAMES = {
    NameOID.COMMON_NAME: "CN", NameOID.COUNTRY_NAME: "C", NameOID.LOCALITY_NAME: "L",
    NameOID.STATE_OR_PROVINCE_NAME: "ST", NameOID.ORGANIZATION_NAME: "O",
    NameOID.ORGANIZATIONAL_UNIT_NAME: "OU", NameOID.EMAIL_ADDRESS: "emailAddress",
    NameOID.SERIAL_NUMBER: "serialNumber", NameOID.SURNAME: "SN", NameOID.GIVEN_NAME: "GN",
    NameOID.TITLE: "title", NameOID.DOMAIN_COMPONENT: "DC", NameOID.USER_ID: "UID",
    NameOID.STREET_ADDRESS: "street", NameOID.POSTAL_CODE: "postalCode",
    NameOID.PSEUDONYM: "pseudonym", NameOID.BUSINESS_CATEGORY: "businessCategory",
    NameOID.DN_QUALIFIER: "dnQualifier", NameOID.GENERATION_QUALIFIER: "generationQualifier",
    NameOID.INITIALS: "initials", NameOID.ORGANIZATION_IDENTIFIER: "organizationIdentifier",
}


def name_oneline(name: x509.Name) -> str:
    """OpenSSL's one-line form of a DN, e.g. ``/C=DE/O=Example/CN=Leaf``."""
    parts = []
    for rdn in name.rdns:
        for attr in rdn:
            value = attr.value if isinstance(attr.value, str) else attr.value.hex()
            value = "".join(c if c.isprintable() else f"\\x{ord(c):02X}" for c in value)
            parts.append(f"/{_SHORT_NAMES.get(attr.oid, attr.oid.dotted_string)}={value}")
    return "".join(parts) or "<empty name>"


def _name_key(name: x509.Name) -> tuple:
    """A comparison key like OpenSSL's canonical DN encoding (case and whitespace folded)."""
    key = []
    for rdn in name.rdns:
        items = []
        for attr in rdn:
            value = attr.value
            if isinstance(value, str):
                value = " ".join(value.split()).lower()
            items.append((attr.oid.dotted_string, value))
        key.append(tuple(sorted(items, key=repr)))
    return tuple(key)


# --------------------------------------------------------------------------- DER helpers
def _parse_policy_mappings(der: bytes) -> list:
    from .der import children, oid_text, read_tlv
    out = []
    for pair in children(der):
        items = children(pair)
        if len(items) != 2:
            raise ValueError("bad PolicyMapping")
        oids = []
        for item in items:
            tag, start, end = read_tlv(item)
            if tag != 0x06:
                raise ValueError("bad PolicyMapping")
            oids.append(oid_text(item[start:end]))
        out.append((oids[0], oids[1]))
    return out


def _tbs_fields(der: bytes):
    """(inner signature AlgorithmIdentifier DER, outer one, SPKI DER) of a certificate."""
    from .der import children
    cert_items = children(der)
    tbs = children(cert_items[0])
    idx = 1 if tbs[0][0] == 0xA0 else 0
    return tbs[idx + 1], cert_items[1], tbs[idx + 5]


# --------------------------------------------------------------------------- certificates
_SUPPORTED_CRITICAL = {
    "2.16.840.1.113730.1.1",  # netscape cert type
    ExtensionOID.KEY_USAGE.dotted_string, ExtensionOID.SUBJECT_ALTERNATIVE_NAME.dotted_string,
    ExtensionOID.BASIC_CONSTRAINTS.dotted_string, ExtensionOID.CERTIFICATE_POLICIES.dotted_string,
    ExtensionOID.CRL_DISTRIBUTION_POINTS.dotted_string, ExtensionOID.EXTENDED_KEY_USAGE.dotted_string,
    ExtensionOID.OCSP_NO_CHECK.dotted_string, ExtensionOID.POLICY_CONSTRAINTS.dotted_string,
    "1.3.6.1.5.5.7.1.14",  # proxyCertInfo
    ExtensionOID.NAME_CONSTRAINTS.dotted_string, ExtensionOID.POLICY_MAPPINGS.dotted_string,
    ExtensionOID.INHIBIT_ANY_POLICY.dotted_string,
    # RFC 3779 ipAddrBlock/autonomousSysNum are handled by OpenSSL but not here: rejected if critical.
}
_KU_NAMES = ("digital_signature", "content_commitment", "key_encipherment", "data_encipherment",
             "key_agreement", "key_cert_sign", "crl_sign")
_EKU = {"1.3.6.1.5.5.7.3.1": "server", "1.3.6.1.5.5.7.3.2": "client", "1.3.6.1.5.5.7.3.4": "smime",
        "1.3.6.1.5.5.7.3.3": "code", "1.3.6.1.4.1.311.10.3.3": "sgc", "2.16.840.1.113730.4.1": "sgc",
        "1.3.6.1.5.5.7.3.9": "ocsp", "1.3.6.1.5.5.7.3.8": "timestamp", "1.3.6.1.5.5.7.3.10": "dvcs",
        "2.5.29.37.0": "anyeku"}
# netscape cert type bits
NS_SSL_CLIENT, NS_SSL_SERVER, NS_SMIME, NS_SSL_CA, NS_SMIME_CA, NS_ANY_CA = 0x80, 0x40, 0x20, 0x04, 0x02, 0x07


def _family_of(attr: str) -> Optional[str]:
    for prefix, fam in (("RSA", "rsa"), ("ECDSA", "ec"), ("DSA", "dsa"), ("ED25519", "ed25519"),
                        ("ED448", "ed448")):
        if attr.startswith(prefix):
            return fam
    return None


#: signature algorithm OID -> the key type that can have made it (check_sig_alg_match)
_SIG_FAMILIES = {oid: _family_of(attr) for attr, oid in vars(SignatureAlgorithmOID).items()
                 if isinstance(oid, x509.ObjectIdentifier) and _family_of(attr)}


def _key_family(key) -> Optional[str]:
    for cls, fam in ((rsa.RSAPublicKey, "rsa"), (ec.EllipticCurvePublicKey, "ec"),
                     (dsa.DSAPublicKey, "dsa"), (ed25519.Ed25519PublicKey, "ed25519"),
                     (ed448.Ed448PublicKey, "ed448")):
        if isinstance(key, cls):
            return fam
    return None


def _parsed(der: bytes) -> "_Cert":
    """A _Cert of DER bytes, parsed once per process. Each call gets its own (shallow) copy:
    a _Cert is never changed after construction, but chain building tells certificates
    apart by identity (a certificate in the chain twice is two objects)."""
    return copy.copy(_parse_once(der))


@functools.lru_cache(maxsize=256)
def _parse_once(der: bytes) -> "_Cert":
    return _Cert(der)


class _Cert:
    """A parsed certificate with the derived facts OpenSSL caches (x509v3_cache_extensions)."""

    def __init__(self, der: bytes, cert: Optional[x509.Certificate] = None):
        self.der = der
        self.cert = cert if cert is not None else x509.load_der_x509_certificate(der)
        c = self.cert
        self.subject_key = _name_key(c.subject)
        self.issuer_key = _name_key(c.issuer)
        self.serial = c.serial_number
        self.not_before = int(c.not_valid_before_utc.timestamp())
        self.not_after = int(c.not_valid_after_utc.timestamp())
        self.v1 = c.version == x509.Version.v1
        self.invalid = None  # text of an extension that could not be parsed
        self.invalid_policy = False
        try:
            exts = list(c.extensions)
        except Exception as exc:  # noqa: BLE001 - malformed or duplicate extension
            exts, self.invalid = [], str(exc) or type(exc).__name__
        self.ext = {e.oid.dotted_string: e for e in exts}
        bc = self._value(ExtensionOID.BASIC_CONSTRAINTS)
        self.bcons = bc is not None
        self.ca = bool(bc and bc.ca)
        self.pathlen = bc.path_length if bc is not None and bc.path_length is not None else -1
        ku = self._value(ExtensionOID.KEY_USAGE)
        self.ku = None
        if ku is not None:
            self.ku = {n for n in _KU_NAMES if getattr(ku, n)}
            if ku.key_agreement:
                self.ku |= {n for n in ("encipher_only", "decipher_only") if getattr(ku, n)}
        eku = self._value(ExtensionOID.EXTENDED_KEY_USAGE)
        self.eku = None if eku is None else {_EKU.get(o.dotted_string, "other") for o in eku}
        self.eku_known = None if eku is None else {_EKU[o.dotted_string] for o in eku
                                                   if o.dotted_string in _EKU}
        self.nscert = None
        ns = self.ext.get("2.16.840.1.113730.1.1")
        if ns is not None:
            raw = ns.value.value
            self.nscert = raw[3] if len(raw) > 3 else 0
        self.skid = None
        skid = self._value(ExtensionOID.SUBJECT_KEY_IDENTIFIER)
        if skid is not None:
            self.skid = skid.digest
        self.akid = self._value(ExtensionOID.AUTHORITY_KEY_IDENTIFIER)
        self.san = self._value(ExtensionOID.SUBJECT_ALTERNATIVE_NAME)
        self.proxy = "1.3.6.1.5.5.7.1.14" in self.ext
        self.pcpathlen = -1
        if self.proxy:
            self.pcpathlen = _proxy_pathlen(self.ext["1.3.6.1.5.5.7.1.14"].value.value)
        self.critical_unhandled = any(e.critical and oid not in _SUPPORTED_CRITICAL
                                      for oid, e in self.ext.items())
        self.nc = self._value(ExtensionOID.NAME_CONSTRAINTS)
        self.crldp = self._value(ExtensionOID.CRL_DISTRIBUTION_POINTS)
        self.freshest = ExtensionOID.FRESHEST_CRL.dotted_string in self.ext
        try:
            self.key = c.public_key()
        except Exception:  # noqa: BLE001 - unsupported or malformed key
            self.key = None
        self.key_family = _key_family(self.key)
        self.sig_family = _SIG_FAMILIES.get(c.signature_algorithm_oid)
        self.si = self.subject_key == self.issuer_key
        self.ss = self.si and _check_akid(self, self.akid) and self.key_family is not None \
            and _sig_alg_match(self, self)
        self._parse_policies()

    def _value(self, oid):
        ext = self.ext.get(oid.dotted_string)
        return None if ext is None else ext.value

    def _parse_policies(self):
        cp = self._value(ExtensionOID.CERTIFICATE_POLICIES)
        self.policies = None if cp is None else [p.policy_identifier.dotted_string for p in cp]
        if self.policies is not None and len(set(self.policies)) != len(self.policies):
            self.invalid_policy = True
        pc = self._value(ExtensionOID.POLICY_CONSTRAINTS)
        self.require_explicit = pc.require_explicit_policy if pc is not None else None
        self.inhibit_mapping = pc.inhibit_policy_mapping if pc is not None else None
        ia = self._value(ExtensionOID.INHIBIT_ANY_POLICY)
        self.inhibit_any_skip = ia.skip_certs if ia is not None else None
        self.mappings = None
        pm = self.ext.get(ExtensionOID.POLICY_MAPPINGS.dotted_string)
        if pm is not None:
            try:
                self.mappings = _parse_policy_mappings(pm.value.value)
            except Exception:  # noqa: BLE001 - any decoding problem makes the extension invalid
                self.invalid_policy = True
                self.mappings = []
            if any(ANY_POLICY in pair for pair in self.mappings):
                self.invalid_policy = True

    @property
    def name(self) -> str:
        return name_oneline(self.cert.subject)


def _proxy_pathlen(der: bytes) -> int:
    from .der import children, content
    try:
        items = children(der)
        if items and items[0][0] == 0x02:
            return int.from_bytes(content(items[0]), "big", signed=True)
    except Exception:  # noqa: BLE001
        pass
    return -1


def _check_akid(issuer: _Cert, akid) -> bool:
    """X509_check_akid: any key identifier, serial and issuer name in ``akid`` fit ``issuer``."""
    if akid is None:
        return True
    if akid.key_identifier is not None and issuer.skid is not None \
            and akid.key_identifier != issuer.skid:
        return False
    if akid.authority_cert_serial_number is not None \
            and akid.authority_cert_serial_number != issuer.serial:
        return False
    for gn in akid.authority_cert_issuer or ():
        if isinstance(gn, x509.DirectoryName):
            return _name_key(gn.value) == issuer.issuer_key
    return True


def _sig_alg_match(issuer: _Cert, subject: _Cert) -> bool:
    return issuer.key_family is not None and issuer.key_family == subject.sig_family


def _likely_issued(issuer: _Cert, subject: _Cert) -> bool:
    """ossl_x509_likely_issued: names chain, AKID fits, key type fits the signature algorithm."""
    return (issuer.subject_key == subject.issuer_key and _check_akid(issuer, subject.akid)
            and _sig_alg_match(issuer, subject))


def _signature_ok(subject: _Cert, issuer: _Cert) -> bool:
    """Whether ``issuer``'s public key verifies ``subject``'s signature (cryptography does it).

    A pure function of the two certificates, so the verdict is memoised (chains are checked
    again and again: every signed message of a transaction, every -repeat)."""
    return _signature_verdict(subject.der, issuer.der)


@functools.lru_cache(maxsize=256)
def _signature_verdict(subject_der: bytes, issuer_der: bytes) -> bool:
    key, c = _parse_once(issuer_der).key, _parse_once(subject_der).cert
    if key is None:
        return False
    try:
        if isinstance(key, rsa.RSAPublicKey):
            pad = c.signature_algorithm_parameters
            if not isinstance(pad, (padding.PKCS1v15, padding.PSS)):
                pad = padding.PKCS1v15()
            key.verify(c.signature, c.tbs_certificate_bytes, pad, c.signature_hash_algorithm)
        elif isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(c.signature, c.tbs_certificate_bytes, ec.ECDSA(c.signature_hash_algorithm))
        elif isinstance(key, dsa.DSAPublicKey):
            key.verify(c.signature, c.tbs_certificate_bytes, c.signature_hash_algorithm)
        elif isinstance(key, (ed25519.Ed25519PublicKey, ed448.Ed448PublicKey)):
            key.verify(c.signature, c.tbs_certificate_bytes)
        else:
            return False
    except Exception:  # noqa: BLE001 - InvalidSignature, unsupported algorithm, type mismatch
        return False
    return True


# --------------------------------------------------------------------------- purposes
def _ku_reject(c: _Cert, *usages: str) -> bool:
    return c.ku is not None and not (c.ku & set(usages))


def _xku_reject(c: _Cert, *usages: str) -> bool:
    return c.eku is not None and not (c.eku & set(usages))


def _ns_reject(c: _Cert, bits: int) -> bool:
    return c.nscert is not None and not (c.nscert & bits)


def _check_ca(c: _Cert) -> int:
    """OpenSSL's check_ca(): 0 not a CA, 1 CA, 3 v1 self-signed root, 4 keyCertSign w/o BC, 5 NS CA."""
    if _ku_reject(c, "key_cert_sign"):
        return 0
    if c.bcons:
        return 1 if c.ca else 0
    if c.v1 and c.ss:
        return 3
    if c.ku is not None:
        return 4
    if c.nscert is not None and c.nscert & NS_ANY_CA:
        return 5
    return 0


def _check_purpose(c: _Cert, purpose: str, require_ca: bool) -> int:
    """X509_check_purpose() for the OpenSSL 3.0 purposes: 1 (or 2..5) ok, 0 rejected."""
    if purpose == "any":
        return 1
    if purpose in ("sslclient", "sslserver", "nssslserver"):
        client = purpose == "sslclient"
        if _xku_reject(c, "client") if client else _xku_reject(c, "server", "sgc"):
            return 0
        if require_ca:
            ret = _check_ca(c)
            return ret if ret and (ret != 5 or c.nscert & NS_SSL_CA) else 0
        if client:
            return 0 if (_ku_reject(c, "digital_signature", "key_agreement")
                         or _ns_reject(c, NS_SSL_CLIENT)) else 1
        if _ns_reject(c, NS_SSL_SERVER) or _ku_reject(c, "digital_signature", "key_encipherment",
                                                      "key_agreement"):
            return 0
        return 0 if purpose == "nssslserver" and _ku_reject(c, "key_encipherment") else 1
    if purpose in ("smimesign", "smimeencrypt"):
        if _xku_reject(c, "smime"):
            return 0
        if require_ca:
            ret = _check_ca(c)
            return ret if ret and (ret != 5 or c.nscert & NS_SMIME_CA) else 0
        ret = 1
        if c.nscert is not None:
            ret = 1 if c.nscert & NS_SMIME else 2 if c.nscert & NS_SSL_CLIENT else 0
        if not ret:
            return 0
        if purpose == "smimesign":
            return 0 if _ku_reject(c, "digital_signature", "content_commitment") else ret
        return 0 if _ku_reject(c, "key_encipherment") else ret
    if purpose == "crlsign":
        if require_ca:
            ret = _check_ca(c)
            return 0 if ret == 2 else ret
        return 0 if _ku_reject(c, "crl_sign") else 1
    if purpose == "ocsphelper":
        return _check_ca(c) if require_ca else 1
    if purpose == "timestampsign":
        if require_ca:
            return _check_ca(c)
        if c.ku is not None and (c.ku - {"digital_signature", "content_commitment"}
                                 or not c.ku & {"digital_signature", "content_commitment"}):
            return 0
        if c.eku_known != {"timestamp"}:
            return 0
        return 1 if c.ext[ExtensionOID.EXTENDED_KEY_USAGE.dotted_string].critical else 0
    return 0


# --------------------------------------------------------------------------- key strength
_MINBITS = (80, 112, 128, 192, 256)


def _ifc_security_bits(n: int) -> int:
    """ossl_ifc_ffc_compute_security_bits: NIST SP 800-56B strength of an RSA/DH modulus."""
    table = {2048: 112, 3072: 128, 4096: 152, 6144: 176, 7680: 192, 8192: 200, 15360: 256}
    if n in table:
        return table[n]
    if n < 8:
        return 0
    cap = 192 if n <= 7680 else 256 if n <= 15360 else 1200
    x = n * math.log(2)
    y = (1.923 * (x * math.log(x) ** 2) ** (1 / 3) - 4.69) / math.log(2)
    return min((int(y) + 4) & ~7, cap)


def _key_security_bits(key) -> int:
    if isinstance(key, rsa.RSAPublicKey):
        return _ifc_security_bits(key.key_size)
    if isinstance(key, dsa.DSAPublicKey):
        L, N = key.key_size, key.parameters().parameter_numbers().q.bit_length()
        sec = next((b for lim, b in ((15360, 256), (7680, 192), (3072, 128), (2048, 112), (1024, 80))
                    if L >= lim), 0)
        return 0 if not sec or N // 2 < 80 else min(sec, N // 2)
    if isinstance(key, ec.EllipticCurvePublicKey):
        bits = key.curve.key_size
        return next((b for lim, b in ((512, 256), (384, 192), (256, 128), (224, 112), (160, 80))
                     if bits >= lim), bits // 2)
    if isinstance(key, ed25519.Ed25519PublicKey):
        return 128
    if isinstance(key, ed448.Ed448PublicKey):
        return 224
    return 0


def _sig_security_bits(c: _Cert) -> int:
    if c.sig_family == "ed25519":
        return 128
    if c.sig_family == "ed448":
        return 224
    try:
        h = c.cert.signature_hash_algorithm
    except Exception:  # noqa: BLE001 - unsupported algorithm
        return 0
    if h is None:
        return 0
    return {"md5": 39, "sha1": 63}.get(h.name, h.digest_size * 4)  # OpenSSL's x509_sig_info_init


def _level_bits(level: int) -> int:
    return _MINBITS[min(level, len(_MINBITS)) - 1]


# --------------------------------------------------------------------------- host/email/IP
_LABEL_CHARS = re.compile(r"[A-Za-z0-9-]*\Z")


def _valid_star(pattern: str) -> Optional[int]:
    """Index of the one wildcard OpenSSL accepts in ``pattern`` (left-most label), else None."""
    star, dots, at_label_start, hyphen, idna = None, 0, True, False, False
    for i, ch in enumerate(pattern):
        if ch == "*":
            atend = i == len(pattern) - 1 or pattern[i + 1] == "."
            if star is not None or idna or dots or (not at_label_start and not atend):
                return None
            star, at_label_start = i, False
        elif ch.isascii() and ch.isalnum():
            if at_label_start and pattern[i:i + 4].lower() == "xn--":
                idna = True
            at_label_start, hyphen = False, False
        elif ch == ".":
            if hyphen or at_label_start:
                return None
            at_label_start, hyphen, idna = True, False, idna
            dots += 1
        elif ch == "-":
            if at_label_start:
                return None
            hyphen = True
        else:
            return None
    if at_label_start or hyphen or dots < 2:
        return None
    return star


def _host_match(pattern: str, host: str) -> bool:
    if host.startswith(".") and len(host) > 1:  # any sub-domain of host
        return len(pattern) > len(host) and pattern.lower().endswith(host.lower())
    star = _valid_star(pattern)
    if star is None:
        return pattern.lower() == host.lower()
    prefix, suffix = pattern[:star], pattern[star + 1:]
    if len(host) < len(prefix) + len(suffix):
        return False
    if host[:len(prefix)].lower() != prefix.lower() or not host.lower().endswith(suffix.lower()):
        return False
    middle = host[len(prefix):len(host) - len(suffix)]
    allow_idna = False
    if not prefix and suffix.startswith("."):
        if not middle:
            return False
        allow_idna = True
    if not allow_idna and host[:4].lower() == "xn--":
        return False
    return middle == "*" or bool(_LABEL_CHARS.match(middle))


def _email_match(a: str, b: str) -> bool:
    if len(a) != len(b):
        return False
    at = max(a.rfind("@"), b.rfind("@"))
    if at < 0:
        return a == b
    return a[:at] == b[:at] and a[at:].lower() == b[at:].lower()


def _subject_values(c: _Cert, oid) -> list:
    return [a.value for a in c.cert.subject.get_attributes_for_oid(oid) if isinstance(a.value, str)]


def _san_values(c: _Cert, kind) -> Optional[list]:
    """Values of SAN entries of ``kind``, or None when the SAN has no entry of that kind."""
    if c.san is None:
        return None
    values = c.san.get_values_for_type(kind)
    return values if values else None


def _check_id(c: _Cert, opts: VerifyOptions) -> None:
    if opts.verify_hostname:
        names = _san_values(c, x509.DNSName)
        if names is None:
            names = _subject_values(c, NameOID.COMMON_NAME)
        if not any(_host_match(n, opts.verify_hostname) for n in names):
            raise _Fail(E_HOST, c, 0)
    if opts.verify_email:
        names = _san_values(c, x509.RFC822Name)
        if names is None:
            names = _subject_values(c, NameOID.EMAIL_ADDRESS)
        if not any(_email_match(n, opts.verify_email) for n in names):
            raise _Fail(E_EMAIL, c, 0)
    if opts.verify_ip:
        want = ipaddress.ip_address(opts.verify_ip)
        if not any(ip == want for ip in (_san_values(c, x509.IPAddress) or ())):
            raise _Fail(E_IP, c, 0)


# --------------------------------------------------------------------------- the engine
class _Ctx:
    """State of one verification (X509_STORE_CTX)."""

    def __init__(self, opts: VerifyOptions, purpose: Optional[str], untrusted, trusted):
        self.opts = opts
        self.purpose = purpose
        self.untrusted = untrusted
        self.trusted = trusted
        self.vtime = None if opts.no_check_time else (
            int(opts.attime) if opts.attime is not None else int(time.time()))
        depth = opts.verify_depth if opts.verify_depth is not None and opts.verify_depth >= 0 else 100
        self.max_depth = depth + 1
        self.chain: list = []
        self.num_untrusted = 0
        self._crls = None

    # ---- times
    def time_error(self, c: _Cert) -> int:
        if self.vtime is None:
            return 0
        if self.vtime < c.not_before:
            return E_NOT_YET
        if self.vtime >= c.not_after:
            return E_EXPIRED
        return 0

    # ---- chain building (build_chain with trusted-first)
    def _best_issuer(self, pool, x: _Cert, no_dup: bool) -> Optional[_Cert]:
        best = None
        for cand in pool:
            if no_dup and not (x.si and len(self.chain) == 1) and any(cand.der == c.der for c in self.chain):
                continue
            if _likely_issued(cand, x):
                if not self.time_error(cand):
                    return cand
                if best is None or cand.not_after > best.not_after:
                    best = cand
        return best

    def _check_trust(self, num_untrusted: int) -> bool:
        chain = self.chain
        if any(c.ss for c in chain[num_untrusted:]):
            return True
        if num_untrusted < len(chain):
            return self.opts.partial_chain
        if self.opts.partial_chain:  # a leaf that is itself in the trust store
            match = next((t for t in self.trusted if t.der == chain[0].der), None)
            if match is not None:
                chain[0] = match
                self.num_untrusted = 0
                return True
        return False

    def build_chain(self, leaf: _Cert) -> None:
        self.chain = [leaf]
        self.num_untrusted = 1
        pool = list(self.untrusted)
        search_untrusted, trusted_ok = bool(pool), False
        while True:
            num = len(self.chain)
            curr = self.chain[-1]
            issuer = None
            if num <= self.max_depth:
                exact = [t for t in self.trusted if t.der == curr.der] if curr.ss else []
                issuer = exact[0] if exact else self._best_issuer(self.trusted, curr, False)
            if issuer is not None:
                extended = True
                if not curr.ss:
                    self.chain.append(issuer)
                elif curr.der == issuer.der:
                    self.chain[-1] = issuer
                    num -= 1
                    self.num_untrusted = num
                else:  # self-signed untrusted mimic of a trust anchor
                    extended = False
                if extended:
                    search_untrusted = False
                    if self._check_trust(num):
                        trusted_ok = True
                        break
                    if not self.chain[-1].ss:
                        continue
            if not search_untrusted:
                break
            issuer = None if curr.ss or num > self.max_depth else self._best_issuer(pool, curr, True)
            if issuer is None:
                search_untrusted = False
                continue
            pool.remove(issuer)
            self.chain.append(issuer)
            self.num_untrusted += 1
        num = len(self.chain)
        if not trusted_ok and num <= self.max_depth and num == self.num_untrusted:
            trusted_ok = self._check_trust(num)
        if trusted_ok:
            return
        top = self.chain[-1]
        if num > self.max_depth:
            raise _Fail(E_TOO_LONG, top, num - 1)
        if top.ss:
            raise _Fail(E_SS_LEAF if num == 1 else E_SS_CHAIN, top, num - 1)
        raise _Fail(E_ISSUER if self.num_untrusted < num else E_LOCAL_ISSUER, top, num - 1)

    # ---- extensions, CA flags, purpose, path length (check_extensions)
    def check_extensions(self) -> None:
        opts, chain = self.opts, self.chain
        num, plen, proxy_plen, must_be_ca = len(chain), 0, 0, -1
        strict = opts.x509_strict
        for i, x in enumerate(chain):
            if x.invalid:
                raise _Fail(E_EXTENSION, x, i)
            if not opts.ignore_critical and x.critical_unhandled:
                raise _Fail(E_CRITICAL, x, i)
            if not opts.allow_proxy_certs and x.proxy:
                raise _Fail(E_PROXY, x, i)
            ret = _check_ca(x)
            if must_be_ca == -1:
                if strict and ret not in (0, 1):
                    raise _Fail(E_INVALID_CA, x, i)
            elif must_be_ca == 0:
                if ret != 0:
                    raise _Fail(E_NON_CA, x, i)
            elif ret == 0 or ((i + 1 < num or strict) and ret != 1):
                raise _Fail(E_INVALID_CA, x, i)
            if num > 1 and x.key is None and _explicit_ec_params(x):
                raise _Fail(E_EC_EXPLICIT, x, i)
            if strict and num > 1:
                self._strict_checks(x, i, num)
            if self.purpose is not None and _check_purpose(x, self.purpose, must_be_ca > 0) == 0:
                raise _Fail(E_PURPOSE, x, i)
            if i > 1 and x.pathlen != -1 and plen > x.pathlen + proxy_plen:
                raise _Fail(E_PATHLEN, x, i)
            if i > 0 and not x.si:
                plen += 1
            if x.proxy:
                if x.pcpathlen != -1:
                    if proxy_plen > x.pcpathlen:
                        raise _Fail(E_PROXY_PATHLEN, x, i)
                    proxy_plen = x.pcpathlen
                proxy_plen += 1
                must_be_ca = 0
            else:
                must_be_ca = 1

    def _strict_checks(self, x: _Cert, i: int, num: int) -> None:
        ext = x.ext
        def fail_if(cond, code):
            if cond:
                raise _Fail(code, x, i)
        if x.pathlen != -1:
            fail_if(not x.ca, 80)
            fail_if(x.ku is None or "key_cert_sign" not in x.ku, 81)
        bc = ext.get(ExtensionOID.BASIC_CONSTRAINTS.dotted_string)
        fail_if(x.ca and bc is not None and not bc.critical, 89)
        if x.ca:
            fail_if(x.ku is None, 92)
        else:
            fail_if(x.ku is not None and "key_cert_sign" in x.ku, 82)
        fail_if(not x.cert.issuer.rdns, 83)
        fail_if((x.ca or (x.ku and "crl_sign" in x.ku) or x.san is None) and not x.cert.subject.rdns, 84)
        san = ext.get(ExtensionOID.SUBJECT_ALTERNATIVE_NAME.dotted_string)
        fail_if(not x.cert.subject.rdns and san is not None and not san.critical, 88)
        fail_if(x.san is not None and len(x.san) == 0, 87)
        try:
            inner, outer, _spki = _tbs_fields(x.der)
        except Exception:  # noqa: BLE001 - malformed DER was already rejected by cryptography
            inner = outer = None
        fail_if(inner != outer, 78)
        akid = ext.get(ExtensionOID.AUTHORITY_KEY_IDENTIFIER.dotted_string)
        skid = ext.get(ExtensionOID.SUBJECT_KEY_IDENTIFIER.dotted_string)
        fail_if(akid is not None and akid.critical, 90)
        fail_if(skid is not None and skid.critical, 91)
        if not x.v1:
            fail_if(i + 1 < num and (x.akid is None or x.akid.key_identifier is None), 85)
            fail_if(x.ca and x.skid is None, 86)
        else:
            fail_if(bool(ext), 93)

    # ---- authentication level
    def check_auth_level(self) -> None:
        level = self.opts.auth_level
        if level is None or level <= 0:
            return
        need = _level_bits(level)
        num = len(self.chain)
        for i, c in enumerate(self.chain):
            if i > 0 and _key_security_bits(c.key) < need:
                raise _Fail(E_CA_KEY, c, i)
            if i < num - 1 and _sig_security_bits(c) < need:
                raise _Fail(E_CA_MD, c, i)

    # ---- Suite B (X509_chain_check_suiteb)
    def check_suiteb(self) -> None:
        o = self.opts
        flags = (LOS_128 if o.suiteB_128_only else 0) | (LOS_128 | LOS_192 if o.suiteB_128 else 0) \
            | (LOS_192 if o.suiteB_192 else 0)
        if not flags:
            return
        tflags = [flags]

        def check(key, sign_oid) -> int:
            if not isinstance(key, ec.EllipticCurvePublicKey):
                return 57
            if isinstance(key.curve, ec.SECP384R1):
                if sign_oid is not None and sign_oid != SignatureAlgorithmOID.ECDSA_WITH_SHA384:
                    return 59
                if not tflags[0] & LOS_192:
                    return 60
                tflags[0] &= ~LOS_128  # after a P-384 key, P-256 may not follow
            elif isinstance(key.curve, ec.SECP256R1):
                if sign_oid is not None and sign_oid != SignatureAlgorithmOID.ECDSA_WITH_SHA256:
                    return 59
                if not tflags[0] & LOS_128:
                    return 60
            else:
                return 58
            return 0

        chain = self.chain
        x, i = chain[0], 0
        rv = 56 if x.cert.version != x509.Version.v3 else check(x.key, None)
        if not rv:
            for i in range(1, len(chain) + 1):
                if i == len(chain):  # finally the anchor's own signature
                    rv = check(x.key, x.cert.signature_algorithm_oid)
                    break
                sign_oid = x.cert.signature_algorithm_oid
                x = chain[i]
                rv = 56 if x.cert.version != x509.Version.v3 else check(x.key, sign_oid)
                if rv:
                    break
        if rv:
            if rv in (59, 60) and i:
                i -= 1  # signature and level errors belong to the subject certificate
            if rv == 60 and tflags[0] != flags:
                rv = 61
            i = min(i, len(chain) - 1)
            raise _Fail(rv, chain[i], i)

    # ---- signatures and validity (internal_verify)
    def internal_verify(self) -> None:
        chain = self.chain
        n = len(chain) - 1
        xi = xs = chain[n]
        if not _likely_issued(xi, xi) and not self.opts.partial_chain:
            if n > 0:
                n -= 1
                xs = chain[n]
            else:
                raise _Fail(E_LEAF_SIG, xi, 0)
        while n >= 0:
            if xs is not xi or (self.opts.check_ss_sig and xi.ss):
                issuer_depth = n + (0 if xs is xi else 1)
                if not (xs is xi and not xi.ca):
                    if xs.proxy and _ku_reject(xi, "digital_signature"):
                        raise _Fail(E_NO_DIGSIG, xi, issuer_depth)
                    if not xs.proxy and _ku_reject(xi, "key_cert_sign"):
                        raise _Fail(E_NO_CERTSIGN, xi, issuer_depth)
                if xi.key is None:
                    raise _Fail(6, xi, issuer_depth)
                if not _signature_ok(xs, xi):
                    raise _Fail(E_SIG, xs, n)
            err = self.time_error(xs)
            if err:
                raise _Fail(err, xs, n)
            n -= 1
            if n >= 0:
                xi, xs = xs, chain[n]

    # ---- revocation (check_revocation with CRLs)
    @property
    def crls(self) -> list:
        if self._crls is None:
            self._crls = []
            for der in self.opts.crls:
                try:
                    self._crls.append(_Crl(der))
                except ValueError as exc:
                    log.warning("ignoring unparsable CRL: %s", exc)
        return self._crls

    def check_revocation(self) -> None:
        o = self.opts
        if not (o.crl_check or o.crl_check_all):
            return
        last = len(self.chain) - 1 if o.crl_check_all else 0
        for depth in range(last + 1):
            x = self.chain[depth]
            if x.proxy:
                continue
            self._check_cert_crl(x, depth)

    def _check_cert_crl(self, x: _Cert, depth: int) -> None:
        reasons: set = set()
        while reasons != ALL_REASONS:
            found = self._get_crl(x, depth, reasons)
            if found is None:
                raise _Fail(E_NO_CRL, x, depth)
            crl, issuer, score, new_reasons, delta = found
            before = set(reasons)
            reasons |= new_reasons
            self._check_crl(crl, x, depth, issuer, score, is_delta=False)
            result = 1
            if delta is not None:
                self._check_crl(delta, x, depth, issuer, score, is_delta=True)
                result = self._cert_crl(delta, x, depth)
            if result != 2:
                self._cert_crl(crl, x, depth)
            if reasons == before:
                raise _Fail(E_NO_CRL, x, depth)

    def _crl_time_ok(self, crl: "_Crl", delta_ok: bool = False) -> int:
        if self.vtime is None:
            return 0
        if self.vtime < crl.last_update:
            return E_CRL_NOT_YET
        if crl.next_update is not None and self.vtime >= crl.next_update and not delta_ok:
            return E_CRL_EXPIRED
        return 0

    def _crl_score(self, crl: "_Crl", x: _Cert, depth: int, reasons: set):
        o = self.opts
        if crl.idp_invalid or crl.is_delta:
            return 0, None, set()
        if not o.extended_crl:
            if crl.indirect or crl.idp_reasons is not None:
                return 0, None, set()
        elif crl.idp_reasons is not None and not (crl.idp_reasons - reasons):
            return 0, None, set()
        score = 0
        if crl.issuer_key == x.issuer_key:
            score |= CRL_ISSUER_NAME
        elif not crl.indirect:
            return 0, None, set()
        if not crl.critical:
            score |= CRL_NOCRITICAL
        if not self._crl_time_ok(crl):
            score |= CRL_TIME
        issuer, extra = self._crl_akid_check(crl, depth, score)
        if issuer is None:
            return 0, None, set()
        score |= extra
        scope, crl_reasons = _crl_crldp_check(x, crl, score)
        if scope:
            if not (crl_reasons - reasons):
                return 0, None, set()
            reasons = reasons | crl_reasons
            score |= CRL_SCOPE
        return score, issuer, reasons

    def _crl_akid_check(self, crl: "_Crl", depth: int, score: int):
        chain = self.chain
        cidx = depth if depth == len(chain) - 1 else depth + 1
        cand = chain[cidx]
        if cand.subject_key == crl.issuer_key and _check_akid(cand, crl.akid) \
                and score & CRL_ISSUER_NAME:
            return cand, CRL_AKID | CRL_ISSUER_CERT
        for cand in chain[cidx + 1:]:
            if cand.subject_key == crl.issuer_key and _check_akid(cand, crl.akid):
                return cand, CRL_AKID | CRL_SAME_PATH
        if not self.opts.extended_crl:
            return None, 0
        for cand in self.untrusted:
            if cand.subject_key == crl.issuer_key and _check_akid(cand, crl.akid):
                return cand, CRL_AKID
        return None, 0

    def _get_crl(self, x: _Cert, depth: int, reasons: set):
        best = None
        for crl in self.crls:
            score, issuer, new_reasons = self._crl_score(crl, x, depth, reasons)
            if score == 0:
                continue
            if best is not None and (score < best[2] or (
                    score == best[2] and crl.last_update <= best[0].last_update)):
                continue
            best = (crl, issuer, score, new_reasons)
        if best is None:
            return None
        crl, issuer, score, new_reasons = best
        delta = None
        if self.opts.use_deltas and (x.freshest or crl.freshest):
            for d in self.crls:
                if _delta_fits(d, crl):
                    delta = d
                    if not self._crl_time_ok(d):
                        score |= CRL_TIME_DELTA
                    break
        return crl, issuer, score, new_reasons, delta

    def _check_crl(self, crl: "_Crl", x: _Cert, depth: int, issuer: Optional[_Cert], score: int,
                   is_delta: bool) -> None:
        chain = self.chain
        if issuer is None:
            if depth < len(chain) - 1:
                issuer = chain[depth + 1]
            else:
                issuer = chain[-1]
                if not _likely_issued(issuer, issuer):
                    raise _Fail(E_CRL_ISSUER, x, depth)
        if not is_delta:
            if _ku_reject(issuer, "crl_sign"):
                raise _Fail(E_NO_CRLSIGN, x, depth)
            if not score & CRL_SCOPE:
                raise _Fail(E_CRL_SCOPE, x, depth)
            if not score & CRL_SAME_PATH and not self._crl_path_ok(issuer):
                raise _Fail(E_CRL_PATH, x, depth)
        if is_delta or not score & CRL_TIME:
            err = self._crl_time_ok(crl, delta_ok=bool(score & CRL_TIME_DELTA) and not is_delta)
            if err:
                raise _Fail(err, x, depth)
        if issuer.key is None:
            raise _Fail(6, x, depth)
        if not crl.signature_ok(issuer.key):
            raise _Fail(E_CRL_SIG, x, depth)

    def _crl_path_ok(self, issuer: _Cert) -> bool:
        """An indirect CRL issuer outside the path must chain to the same trust anchor."""
        sub = _Ctx(dataclasses.replace(self.opts, crl_check=False, crl_check_all=False,
                                       verify_hostname=None, verify_email=None, verify_ip=None),
                   "crlsign", self.untrusted, self.trusted)
        try:
            sub_chain = sub.run(issuer)
        except _Fail:
            return False
        return sub_chain[-1].der == self.chain[-1].der

    def _cert_crl(self, crl: "_Crl", x: _Cert, depth: int) -> int:
        if not self.opts.ignore_critical and crl.critical:
            raise _Fail(E_CRL_CRITICAL, x, depth)
        reason = crl.revoked_reason(x)
        if reason is False:
            return 1
        if reason == x509.ReasonFlags.remove_from_crl:
            return 2
        raise _Fail(E_REVOKED, x, depth)

    # ---- name constraints
    def check_name_constraints(self) -> None:
        chain = self.chain
        for i in range(len(chain) - 1, -1, -1):
            x = chain[i]
            if i != 0 and x.si:
                continue
            for j in range(len(chain) - 1, i, -1):
                nc = chain[j].nc
                if nc is None:
                    continue
                err = _nc_check(x, nc)
                if not err and i == 0 and _san_values(x, x509.DNSName) is None:
                    err = _nc_check_cn(x, nc)
                if err:
                    raise _Fail(err, x, i)

    # ---- policies
    def check_policy(self) -> None:
        chain = self.chain
        path = list(reversed(chain[:-1]))  # without the trust anchor, top down
        for depth in range(len(chain) - 1):
            if chain[depth].invalid_policy:
                raise _Fail(E_POLICY_EXT, chain[depth], depth)
        o = self.opts
        user = set(o.policy) or {ANY_POLICY}
        ok, explicit, auth, users = _policy_tree(path, user, o.explicit_policy, o.inhibit_any,
                                                 o.inhibit_map)
        if o.policy_print:
            log.info("Require explicit Policy: %s", "True" if explicit else "False")
            log.info("Authority Policies: %s", ", ".join(sorted(auth)) or "<empty>")
            log.info("User Policies: %s", ", ".join(sorted(users)) or "<empty>")
        if not ok:
            raise _Fail(E_EXPLICIT, chain[0], None)

    # ---- the whole run
    def run(self, leaf: _Cert) -> list:
        level = self.opts.auth_level
        if level is not None and level > 0 and _key_security_bits(leaf.key) < _level_bits(level):
            raise _Fail(E_EE_KEY, leaf, 0)
        self.build_chain(leaf)
        self.check_extensions()
        self.check_auth_level()
        _check_id(leaf, self.opts)
        self.check_revocation()
        self.check_suiteb()
        self.internal_verify()
        self.check_name_constraints()
        if self.opts.policy_checking:
            self.check_policy()
        return self.chain


def _explicit_ec_params(c: _Cert) -> bool:
    """Whether the SPKI is id-ecPublicKey with explicit (SEQUENCE) curve parameters."""
    from .der import children
    try:
        _inner, _outer, spki = _tbs_fields(c.der)
        alg = children(children(spki)[0])
        return alg[0] == b"\x06\x07\x2a\x86\x48\xce\x3d\x02\x01" and len(alg) > 1 and alg[1][0] == 0x30
    except Exception:  # noqa: BLE001
        return False


# --------------------------------------------------------------------------- CRLs
LOS_128, LOS_192 = 0x10000, 0x20000  # X509_V_FLAG_SUITEB_128_LOS_ONLY, _192_LOS
CRL_NOCRITICAL, CRL_SCOPE, CRL_TIME, CRL_ISSUER_NAME = 0x100, 0x080, 0x040, 0x020
CRL_ISSUER_CERT, CRL_SAME_PATH, CRL_AKID, CRL_TIME_DELTA = 0x018, 0x008, 0x004, 0x002
ALL_REASONS = frozenset(r for r in x509.ReasonFlags
                        if r not in (x509.ReasonFlags.unspecified, x509.ReasonFlags.remove_from_crl))
_CRL_HANDLED = {ExtensionOID.ISSUING_DISTRIBUTION_POINT.dotted_string,
                ExtensionOID.AUTHORITY_KEY_IDENTIFIER.dotted_string,
                ExtensionOID.DELTA_CRL_INDICATOR.dotted_string}
_ENTRY_HANDLED = {"2.5.29.21", "2.5.29.24", "2.5.29.29"}  # reason, invalidity date, cert issuer


class _Crl:
    def __init__(self, der: bytes):
        self.crl = crl = x509.load_der_x509_crl(der)
        self.issuer_key = _name_key(crl.issuer)
        self.last_update = int(crl.last_update_utc.timestamp())
        nu = crl.next_update_utc
        self.next_update = int(nu.timestamp()) if nu is not None else None
        self.idp_invalid = False
        try:
            exts = {e.oid.dotted_string: e for e in crl.extensions}
        except Exception:  # noqa: BLE001
            exts, self.idp_invalid = {}, True
        self.critical = any(e.critical and oid not in _CRL_HANDLED for oid, e in exts.items())
        self.akid = exts[ExtensionOID.AUTHORITY_KEY_IDENTIFIER.dotted_string].value \
            if ExtensionOID.AUTHORITY_KEY_IDENTIFIER.dotted_string in exts else None
        idp = exts.get(ExtensionOID.ISSUING_DISTRIBUTION_POINT.dotted_string)
        self.idp = idp.value if idp is not None else None
        self.indirect = bool(self.idp and self.idp.indirect_crl)
        self.idp_reasons = None
        if self.idp is not None and self.idp.only_some_reasons:
            self.idp_reasons = set(self.idp.only_some_reasons)
        delta = exts.get(ExtensionOID.DELTA_CRL_INDICATOR.dotted_string)
        self.is_delta = delta is not None
        self.base_number = delta.value.crl_number if delta is not None else None
        number = exts.get(ExtensionOID.CRL_NUMBER.dotted_string)
        self.number = number.value.crl_number if number is not None else None
        self.freshest = ExtensionOID.FRESHEST_CRL.dotted_string in exts
        if not self.critical:
            try:
                for entry in crl:
                    if any(e.critical and e.oid.dotted_string not in _ENTRY_HANDLED
                           for e in entry.extensions):
                        self.critical = True
                        break
            except Exception:  # noqa: BLE001
                self.idp_invalid = True
        self._sig = {}

    def signature_ok(self, key) -> bool:
        kid = id(key)
        if kid not in self._sig:
            try:
                self._sig[kid] = self.crl.is_signature_valid(key)
            except Exception:  # noqa: BLE001 - unsupported key/algorithm
                self._sig[kid] = False
        return self._sig[kid]

    def revoked_reason(self, x: _Cert):
        """False if ``x`` is not listed, else its reason (None when the entry has none)."""
        entry = self.crl.get_revoked_certificate_by_serial_number(x.serial)
        if entry is None:
            return False
        if self.indirect:
            issuer = self.crl.issuer
            for e in self.crl:  # the certificateIssuer entry extension carries over to later entries
                try:
                    ci = e.extensions.get_extension_for_class(x509.CertificateIssuer).value
                    names = [g.value for g in ci if isinstance(g, x509.DirectoryName)]
                    if names:
                        issuer = names[0]
                except x509.ExtensionNotFound:
                    pass
                if e.serial_number == x.serial:
                    break
            if _name_key(issuer) != x.issuer_key:
                return False
        try:
            return entry.extensions.get_extension_for_class(x509.CRLReason).value.reason
        except x509.ExtensionNotFound:
            return None


def _delta_fits(delta: _Crl, base: _Crl) -> bool:
    return (delta.is_delta and base.number is not None and delta.issuer_key == base.issuer_key
            and delta.akid == base.akid
            and (delta.idp == base.idp)
            and delta.base_number <= base.number
            and delta.number is not None and delta.number > base.number)


def _dp_full_names(dp_full, dp_relative, issuer: x509.Name):
    """A distribution point name as ('dn', key) or ('gn', [GeneralName]) or None."""
    if dp_full:
        return ("gn", list(dp_full))
    if dp_relative is not None:
        return ("dn", _name_key(x509.Name(list(issuer.rdns) + [dp_relative])))
    return None


def _idp_check_dp(a, b) -> bool:
    if a is None or b is None:
        return True
    if a[0] == "dn" and b[0] == "dn":
        return a[1] == b[1]
    if a[0] == "dn" or b[0] == "dn":
        dn, gens = (a[1], b[1]) if a[0] == "dn" else (b[1], a[1])
        return any(isinstance(g, x509.DirectoryName) and _name_key(g.value) == dn for g in gens)
    return any(ga == gb for ga in a[1] for gb in b[1])


def _crl_crldp_check(x: _Cert, crl: _Crl, score: int):
    idp = crl.idp
    if idp is not None:
        if idp.only_contains_attribute_certs:
            return False, set()
        if x.ca and idp.only_contains_user_certs:
            return False, set()
        if not x.ca and idp.only_contains_ca_certs:
            return False, set()
    reasons = set(crl.idp_reasons) if crl.idp_reasons is not None else set(ALL_REASONS)
    idp_name = None if idp is None else _dp_full_names(idp.full_name, idp.relative_name, crl.crl.issuer)
    for dp in x.crldp or ():
        if dp.crl_issuer is None:
            issuer_ok = bool(score & CRL_ISSUER_NAME)
        else:
            issuer_ok = any(isinstance(g, x509.DirectoryName) and _name_key(g.value) == crl.issuer_key
                            for g in dp.crl_issuer)
        if not issuer_ok:
            continue
        dp_issuer = next((g.value for g in dp.crl_issuer or () if isinstance(g, x509.DirectoryName)),
                         x.cert.issuer)
        if idp is None or _idp_check_dp(_dp_full_names(dp.full_name, dp.relative_name, dp_issuer),
                                        idp_name):
            if dp.reasons:
                reasons &= set(dp.reasons)
            return True, reasons
    ok = (idp is None or (not idp.full_name and idp.relative_name is None)) \
        and bool(score & CRL_ISSUER_NAME)
    return ok, reasons


# --------------------------------------------------------------------------- name constraints
def _nc_dns(name: str, base: str) -> bool:
    if not base:
        return True
    if len(name) < len(base):
        return False
    if len(name) > len(base) and not base.startswith(".") and name[len(name) - len(base) - 1] != ".":
        return False
    return name[len(name) - len(base):].lower() == base.lower()


def _nc_email(email: str, base: str) -> Optional[bool]:
    if "@" not in email:
        return None
    local, _, domain = email.rpartition("@")
    if "@" not in base and base.startswith("."):
        return len(email) > len(base) and email[-len(base):].lower() == base.lower()
    if "@" in base:
        blocal, _, bdomain = base.rpartition("@")
        if blocal and blocal != local:
            return False
        base = bdomain
    return domain.lower() == base.lower()


def _nc_uri(uri: str, base: str) -> Optional[bool]:
    m = re.match(r"[^:]*://([^:/]*)", uri)
    if m is None or not m.group(1):
        return None
    host = m.group(1)
    if base.startswith("."):
        return len(host) > len(base) and host[-len(base):].lower() == base.lower()
    return host.lower() == base.lower()


def _nc_single(gn, base) -> Optional[bool]:
    """True if ``gn`` is within ``base``, False if not, None for bad syntax."""
    if isinstance(base, x509.DirectoryName):
        b, n = _name_key(base.value), _name_key(gn.value)
        return n[:len(b)] == b
    if isinstance(base, x509.DNSName):
        return _nc_dns(gn.value, base.value)
    if isinstance(base, x509.RFC822Name):
        return _nc_email(gn.value, base.value)
    if isinstance(base, x509.UniformResourceIdentifier):
        return _nc_uri(gn.value, base.value)
    if isinstance(base, x509.IPAddress):
        net, ip = base.value, gn.value
        return isinstance(net, (ipaddress.IPv4Network, ipaddress.IPv6Network)) \
            and ip.version == net.version and ip in net
    raise _NcUnsupported()


class _NcUnsupported(Exception):
    pass


def _nc_match(gn, nc) -> int:
    def same_type(base):
        if type(base) is not type(gn):
            return False
        return not isinstance(gn, x509.OtherName) or base.type_id == gn.type_id
    try:
        permitted = [b for b in nc.permitted_subtrees or () if same_type(b)]
        if permitted:
            results = [_nc_single(gn, b) for b in permitted]
            if None in results and True not in results:
                return E_NAME_SYNTAX
            if True not in results:
                return E_PERMITTED
        for b in nc.excluded_subtrees or ():
            if same_type(b):
                r = _nc_single(gn, b)
                if r is None:
                    return E_NAME_SYNTAX
                if r:
                    return E_EXCLUDED
    except _NcUnsupported:
        return E_NC_TYPE
    return 0


def _nc_check(x: _Cert, nc) -> int:
    names = []
    if x.cert.subject.rdns:
        names.append(x509.DirectoryName(x.cert.subject))
    names += [x509.RFC822Name(v) for v in _subject_values(x, NameOID.EMAIL_ADDRESS)]
    names += list(x.san or ())
    for gn in names:
        err = _nc_match(gn, nc)
        if err:
            return err
    return 0


_DNS_ID = re.compile(r"(?=.{1,253}\Z)([A-Za-z0-9_]([A-Za-z0-9_-]*[A-Za-z0-9_])?\.)+"
                     r"[A-Za-z0-9_]([A-Za-z0-9_-]*[A-Za-z0-9_])?\.?\Z")


def _nc_check_cn(x: _Cert, nc) -> int:
    """DNS constraints also apply to a leaf CN that looks like a host name (no DNS SAN)."""
    for cn in _subject_values(x, NameOID.COMMON_NAME):
        if _DNS_ID.match(cn):
            err = _nc_match(x509.DNSName(cn.rstrip(".")), nc)
            if err:
                return err
    return 0


# --------------------------------------------------------------------------- policy tree
class _Node:
    __slots__ = ("policy", "parent", "expected", "children")

    def __init__(self, policy: str, parent: "Optional[_Node]", expected: set):
        self.policy, self.parent, self.expected, self.children = policy, parent, set(expected), []
        if parent is not None:
            parent.children.append(self)


def _delete(levels: list, node: _Node) -> None:
    """Remove ``node`` and its descendants from the tree."""
    for child in list(node.children):
        _delete(levels, child)
    for lvl in levels:
        if node in lvl:
            lvl.remove(node)
            break
    if node.parent is not None:
        node.parent.children.remove(node)


def _prune(levels: list) -> None:
    """Delete childless nodes above the last level, repeatedly (RFC 5280 6.1.3 (d)(3))."""
    for depth in range(len(levels) - 2, -1, -1):
        for nd in [nd for nd in levels[depth] if not nd.children]:
            _delete(levels, nd)


def _policy_tree(path: list, user: set, initial_explicit: bool, initial_inhibit_any: bool,
                 initial_inhibit_map: bool):
    """RFC 5280 6.1 policy processing over ``path`` (certificates from the anchor's child to the
    leaf). Returns (ok, explicit_required, authority_policies, user_policies)."""
    n = len(path)
    if n == 0:
        return True, False, set(), set()
    explicit = 0 if initial_explicit else n + 1
    inhibit_any = 0 if initial_inhibit_any else n + 1
    mapping = 0 if initial_inhibit_map else n + 1
    root = _Node(ANY_POLICY, None, {ANY_POLICY})
    levels = [[root]]
    tree = True
    for i, c in enumerate(path, 1):
        if tree and c.policies is not None:
            prev, new = levels[-1], []
            for p in c.policies:
                if p == ANY_POLICY:
                    continue
                parents = [nd for nd in prev if p in nd.expected] or \
                    [nd for nd in prev if nd.policy == ANY_POLICY]
                new += [_Node(p, nd, {p}) for nd in parents]
            if ANY_POLICY in c.policies and (inhibit_any > 0 or (i < n and c.si)):
                for nd in prev:
                    have = {ch.policy for ch in nd.children}
                    new += [_Node(p, nd, {p}) for p in sorted(nd.expected) if p not in have]
            levels.append(new)
            _prune(levels)
            tree = bool(levels[0])
        else:
            tree = False
        if i != n:
            if tree and c.mappings:
                level = levels[i]
                mapped: dict = {}
                for idp, sdp in c.mappings:
                    mapped.setdefault(idp, set()).add(sdp)
                for idp, sdps in mapped.items():
                    if mapping > 0:
                        hits = [nd for nd in level if nd.policy == idp]
                        for nd in hits:
                            nd.expected = set(sdps)
                        if not hits:
                            anyn = next((nd for nd in level if nd.policy == ANY_POLICY), None)
                            if anyn is not None:
                                level.append(_Node(idp, anyn.parent, sdps))
                    else:
                        for nd in [nd for nd in level if nd.policy == idp]:
                            _delete(levels, nd)
                        _prune(levels)
                        tree = bool(levels[0])
                        if not tree:
                            break
            if not c.si:
                explicit = max(explicit - 1, 0)
                mapping = max(mapping - 1, 0)
                inhibit_any = max(inhibit_any - 1, 0)
            if c.require_explicit is not None and c.require_explicit < explicit:
                explicit = c.require_explicit
            if c.inhibit_mapping is not None and c.inhibit_mapping < mapping:
                mapping = c.inhibit_mapping
            if c.inhibit_any_skip is not None and c.inhibit_any_skip < inhibit_any:
                inhibit_any = c.inhibit_any_skip
    leaf = path[-1]
    if explicit > 0 and not leaf.si:
        explicit -= 1
    if leaf.require_explicit is not None and leaf.require_explicit < explicit:
        explicit = leaf.require_explicit
    authority = {nd.policy for nd in levels[-1]} if tree and len(levels) == n + 1 else set()
    if not tree or len(levels) != n + 1:
        users: set = set()
    elif ANY_POLICY in user:
        users = set(authority)
    else:
        node_set = [nd for lvl in levels[1:] for nd in lvl
                    if nd.parent is not None and nd.parent.policy == ANY_POLICY and nd.policy != ANY_POLICY]
        for nd in node_set:
            if nd.policy not in user:
                _delete(levels, nd)
        leaf_any = next((nd for nd in levels[n] if nd.policy == ANY_POLICY), None)
        if leaf_any is not None:
            present = {nd.policy for nd in node_set}
            for p in sorted(user - present):
                levels[n].append(_Node(p, leaf_any.parent, {p}))
            _delete(levels, leaf_any)
        _prune(levels)
        users = {nd.policy for nd in levels[n]} if levels[0] else set()
    required = explicit == 0
    return (not required or bool(users)), required, authority, users


# --------------------------------------------------------------------------- public API
def _parse_pool(ders: Iterable) -> list:
    out, seen = [], set()
    for item in ders or ():
        try:
            if isinstance(item, x509.Certificate):
                from cryptography.hazmat.primitives.serialization import Encoding
                c = _parsed(item.public_bytes(Encoding.DER))
            else:
                c = _parsed(bytes(item))
        except Exception as exc:  # noqa: BLE001 - unparsable pool entries cannot be issuers
            log.debug("ignoring unparsable certificate: %s", exc)
            continue
        if c.der not in seen:
            seen.add(c.der)
            out.append(c)
    return out


def _error(fail: _Fail, leaf: _Cert) -> VerifyError:
    reason = _REASONS.get(fail.code, f"certificate verification error {fail.code}")
    cert = fail.cert or leaf
    where = f" at depth {fail.depth}" if fail.depth is not None else ""
    exc = VerifyError(f"certificate verification failed for {cert.name}{where}: {reason}")
    exc.code, exc.reason, exc.depth, exc.subject = fail.code, reason, fail.depth, cert.name
    return exc


def verify_chain(cert_der: bytes, untrusted: Sequence[bytes], trusted: Sequence[bytes],
                 opts: Optional[VerifyOptions] = None, purpose: Optional[str] = None,
                 check_status: bool = True) -> list:
    """Validate ``cert_der`` against the ``trusted`` anchors with help of ``untrusted`` certs.

    :param purpose: an OpenSSL purpose name overriding ``opts``' -purpose/-verify_name, or None.
    :param check_status: False drops the revocation and most other flags, as OpenSSL does for
        a newly enrolled certificate (time, -partial_chain and -policy_check stay).
    :return: the chain as DER, from ``cert_der`` up to and including the trust anchor.
    :raises VerifyError: one line: subject, depth and OpenSSL's reason for the first failure.
    """
    opts = opts or VerifyOptions()
    if not check_status:
        opts = opts.without_status_checks()
    if purpose is not None and purpose not in PURPOSES:
        raise ConfigError(f"unknown certificate purpose '{purpose}'")
    try:
        leaf = _parsed(bytes(cert_der))
    except Exception as exc:  # noqa: BLE001 - garbage instead of a certificate
        raise VerifyError(f"cannot parse the certificate to verify: {exc}") from None
    ctx = _Ctx(opts, purpose or opts.effective_purpose, _parse_pool(untrusted), _parse_pool(trusted))
    try:
        chain = ctx.run(leaf)
    except _Fail as fail:
        raise _error(fail, leaf) from None
    except Exception as exc:  # noqa: BLE001 - a certificate this engine cannot handle: no traceback
        log.debug("verification of %s aborted", leaf.name, exc_info=True)
        raise VerifyError(f"certificate verification failed for {leaf.name}: cannot process "
                          f"certificates ({type(exc).__name__}: {exc})") from None
    return [c.der for c in chain]


def check_signer_key_usage(cert_der: bytes, ignore_keyusage: bool) -> None:
    """A CMP protection certificate with keyUsage must allow digitalSignature (RFC 4210 5.1.3.3),
    unless ``-ignore_keyusage`` is given."""
    if ignore_keyusage:
        return
    try:
        c = _parse_once(bytes(cert_der))  # only read
    except Exception as exc:  # noqa: BLE001
        raise VerifyError(f"cannot parse the CMP signer certificate: {exc}") from None
    if c.ku is not None and "digital_signature" not in c.ku:
        raise VerifyError(f"CMP signer certificate {c.name} has keyUsage without digitalSignature "
                          "(use -ignore_keyusage to accept it)")


class DefaultVerificationPolicy:
    """The bundled verification policy: OpenSSL's rules with the run's verification options.

    Returned when no plugin answers ``cmpkit_verification_policy``. As in ``openssl cmp``,
    -verify_hostname/-verify_ip/-verify_email apply only to the newly enrolled certificate
    (``purpose=ENROLLED``, the -out_trusted check), and -attime does not apply to it (apps/cmp.c
    clears X509_V_FLAG_USE_CHECK_TIME on the -out_trusted store: new certs are current anyway);
    other purposes are OpenSSL purpose names.
    """

    MEMO_SIZE = 64

    def __init__(self, options: Optional[VerifyOptions] = None):
        self.options = options or VerifyOptions()
        self._memo: dict = {}
        self._memo_options = self.options

    def verify_chain(self, cert_der: bytes, untrusted: Sequence[bytes], trusted: Sequence[bytes],
                     purpose: Optional[str] = None, check_status: bool = True) -> list:
        """The validated chain (leaf first), or VerifyError.

        Successful verdicts are remembered for the rest of the current second: with fixed
        options the result depends only on the certificates and on the time, which OpenSSL's
        checks read in whole seconds. A transaction checks the same chain for every message.
        """
        key = (bytes(cert_der), tuple(map(bytes, untrusted)), tuple(map(bytes, trusted)), purpose, check_status,
               int(time.time()))
        if self._memo_options is not self.options:  # options replaced: earlier verdicts no longer hold
            self._memo, self._memo_options = {}, self.options
        chain = self._memo.get(key)
        if chain is None:
            opts = self.options
            if purpose == ENROLLED:
                opts = dataclasses.replace(opts, attime=None)
            else:
                opts = dataclasses.replace(opts, verify_hostname=None, verify_email=None, verify_ip=None)
            chain = verify_chain(cert_der, untrusted, trusted, opts, purpose=None if purpose == ENROLLED else purpose,
                                 check_status=check_status)
            if len(self._memo) >= self.MEMO_SIZE:
                self._memo.clear()
            self._memo[key] = chain
        return list(chain)
