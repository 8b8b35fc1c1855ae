"""Parsed certificates with the facts OpenSSL derives, and the store of a run that parses each one once."""
from __future__ import annotations

import copy
import logging
from typing import Iterable, Optional

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, padding, rsa
from cryptography.x509.oid import ExtensionOID, NameOID, SignatureAlgorithmOID

from ..algs import ML_DSA_OIDS
from ..der import children
from ..protection import _pq_key_type_of_class, _signature_params
from .options import ANY_POLICY

log = logging.getLogger("cmpkit.verify")

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
    from ..der import children, oid_text, read_tlv
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
    from ..der import children
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
# ML-DSA (RFC 9881): the family is the parameter set, which the signature OID names
_SIG_FAMILIES.update({x509.ObjectIdentifier(oid): kind for kind, oid in ML_DSA_OIDS.items()})


def _key_family(key) -> Optional[str]:
    for cls, fam in ((rsa.RSAPublicKey, "rsa"), (ec.EllipticCurvePublicKey, "ec"),
                     (dsa.DSAPublicKey, "dsa"), (ed25519.Ed25519PublicKey, "ed25519"),
                     (ed448.Ed448PublicKey, "ed448")):
        if isinstance(key, cls):
            return fam
    return _pq_key_type_of_class(type(key)) if key is not None else None


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
    from ..der import children, content
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


def _subject_values(c: _Cert, oid) -> list:
    return [a.value for a in c.cert.subject.get_attributes_for_oid(oid) if isinstance(a.value, str)]


def _san_values(c: _Cert, kind) -> Optional[list]:
    """Values of SAN entries of ``kind``, or None when the SAN has no entry of that kind."""
    if c.san is None:
        return None
    values = c.san.get_values_for_type(kind)
    return values if values else None


def _signature_valid(subject: _Cert, issuer: _Cert) -> bool:
    """Whether ``issuer``'s public key verifies ``subject``'s signature (cryptography does it)."""
    key, c = issuer.key, subject.cert
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
        elif issuer.key_family in ML_DSA_OIDS and subject.sig_family == issuer.key_family:
            # cryptography's verify_directly_issued_by refuses ML-DSA: the signature over the TBS
            # (parameters must be absent: _signature_params checks that)
            _signature_params(children(subject.der)[1])
            key.verify(c.signature, c.tbs_certificate_bytes)
        else:
            return False
    except Exception:  # noqa: BLE001 - InvalidSignature, unsupported algorithm, type mismatch
        return False
    return True


# --------------------------------------------------------------------------- the store of a run
class CertStore:
    """The certificates of one run (one verification policy): each parsed once, each signature
    checked once, and successful chain verdicts remembered.

    Everything here is a pure function of DER bytes, except the verdicts, which also depend on
    the options (dropped when another options object is used) and on the time (the caller puts
    the second into the key). A run checks the same chain for every message: parsing and
    signature checks happen for the first message only. Each table is bounded; a full one is
    emptied.
    """

    MAX_CERTS = 256
    MAX_SIGNATURES = 256
    MAX_VERDICTS = 64

    def __init__(self):
        self._certs: dict = {}
        self._signatures: dict = {}
        self._verdicts: dict = {}
        self._verdict_options = None

    def parsed(self, der: bytes) -> _Cert:
        """The _Cert of ``der``, shared: only read it. Raises whatever parsing raises."""
        c = self._certs.get(der)
        if c is None:
            c = _Cert(der)
            if len(self._certs) >= self.MAX_CERTS:
                self._certs.clear()
            self._certs[der] = c
        return c

    def cert(self, der: bytes) -> _Cert:
        """A _Cert of ``der`` of its own: a (shallow) copy of the parsed one. A _Cert is never
        changed after construction, but chain building tells certificates apart by identity
        (a certificate in the chain twice is two objects)."""
        return copy.copy(self.parsed(der))

    def pool(self, ders: Iterable) -> list:
        """_Certs of DER bytes (or cryptography certificates), without duplicates; unparsable
        entries are left out (they cannot be issuers)."""
        out, seen = [], set()
        for item in ders or ():
            try:
                if isinstance(item, x509.Certificate):
                    from cryptography.hazmat.primitives.serialization import Encoding
                    c = self.cert(item.public_bytes(Encoding.DER))
                else:
                    c = self.cert(bytes(item))
            except Exception as exc:  # noqa: BLE001 - unparsable pool entries cannot be issuers
                log.debug("ignoring unparsable certificate: %s", exc)
                continue
            if c.der not in seen:
                seen.add(c.der)
                out.append(c)
        return out

    def signature_ok(self, subject: _Cert, issuer: _Cert) -> bool:
        """Whether ``issuer``'s public key verifies ``subject``'s signature, checked once."""
        key = (subject.der, issuer.der)
        verdict = self._signatures.get(key)
        if verdict is None:
            verdict = _signature_valid(subject, issuer)
            if len(self._signatures) >= self.MAX_SIGNATURES:
                self._signatures.clear()
            self._signatures[key] = verdict
        return verdict

    def verdict(self, options, key) -> Optional[list]:
        """The chain remembered for ``key`` under ``options`` (the same object), or None."""
        if options is not self._verdict_options:  # other options: earlier verdicts no longer hold
            self._verdicts, self._verdict_options = {}, options
        return self._verdicts.get(key)

    def remember(self, options, key, chain: list) -> None:
        """Remember a successful verdict (the validated chain) for ``key`` under ``options``."""
        if options is not self._verdict_options:
            self._verdicts, self._verdict_options = {}, options
        if len(self._verdicts) >= self.MAX_VERDICTS:
            self._verdicts.clear()
        self._verdicts[key] = chain
