"""Issuance for the CA mode: a certificate from a request's template (or PKCS#10) and key, signed
by the CA key with ``cryptography``'s CertificateBuilder (RSA, EC, Ed25519 and Ed448 keys), or
assembled by :mod:`cmpkit.core.certbuild` when the subject or the CA key is ML-DSA.

What the CA takes from the request is bounded by :class:`IssuePolicy`: validity within
``max_days`` (and the CA certificate's own), keyUsage / extendedKeyUsage within the allowed
sets, basicConstraints CA:TRUE only when ``allow_ca``; the subjectAltName is copied; the CA adds
subjectKeyIdentifier and authorityKeyIdentifier. Violations raise
:class:`cmpkit.core.ca.checks.Reject` with badCertTemplate, badAlg or unacceptedExtension.
"""
from __future__ import annotations

import datetime
import os
from dataclasses import dataclass, field
from typing import Optional

from cmpkit.core import der
from cmpkit.core.ca.checks import BAD_ALG, BAD_CERT_TEMPLATE, UNACCEPTED_EXTENSION, Reject
from cmpkit.errors import CmpError

OID_KEY_USAGE, OID_EKU, OID_BASIC_CONSTRAINTS, OID_SAN = "2.5.29.15", "2.5.29.37", "2.5.29.19", "2.5.29.17"
OID_SKI, OID_AKI = "2.5.29.14", "2.5.29.35"
KU_NAMES = ("digital_signature", "content_commitment", "key_encipherment", "data_encipherment",
            "key_agreement", "key_cert_sign", "crl_sign", "encipher_only", "decipher_only")   # bit order
EE_KEY_USAGE = frozenset(KU_NAMES[:5] + KU_NAMES[7:])
CA_KEY_USAGE = frozenset(("key_cert_sign", "crl_sign"))
DEFAULT_EKUS = frozenset((
    "1.3.6.1.5.5.7.3.1", "1.3.6.1.5.5.7.3.2", "1.3.6.1.5.5.7.3.3", "1.3.6.1.5.5.7.3.4",  # server, client, code, email
    "1.3.6.1.5.5.7.3.8", "1.3.6.1.5.5.7.3.9",                                          # timeStamping, OCSPSigning
    "1.3.6.1.5.5.7.3.27", "1.3.6.1.5.5.7.3.28", "1.3.6.1.5.5.7.3.32",                  # cmcCA, cmcRA, cmKGA
))
EC_CURVES = frozenset(("secp256r1", "secp384r1", "secp521r1", "brainpoolP256r1", "brainpoolP384r1",
                       "brainpoolP512r1"))
SERIAL_BITS = 159   # random positive serials below 2**159: at most 20 octets (RFC 5280 4.1.2.2)


@dataclass
class IssuePolicy:
    """What the CA grants."""

    max_days: int = 365
    allow_ca: bool = False
    allowed_eku: frozenset = DEFAULT_EKUS
    min_rsa_bits: int = 2048
    ec_curves: frozenset = EC_CURVES
    extra_key_usage: frozenset = field(default_factory=frozenset)   # beyond EE_KEY_USAGE (e.g. when allow_ca)


def random_serial() -> int:
    """A random positive serial number of at most 159 bits."""
    return (int.from_bytes(os.urandom(20), "big") >> (160 - SERIAL_BITS)) or 1


def check_public_key(spki: Optional[bytes], policy: IssuePolicy):
    """The ``cryptography`` public key of ``spki`` if the CA issues for it; Reject otherwise."""
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
    from cryptography.hazmat.primitives.serialization import load_der_public_key
    if spki is None:
        # (central key generation, RFC 9483 4.1.6, supplies the key before: cmpkit.core.ca.keygen)
        raise Reject(BAD_CERT_TEMPLATE, "publicKey missing in the certificate template")
    try:
        key = load_der_public_key(spki)
    except UnsupportedAlgorithm:
        raise Reject(BAD_ALG, "public key type not supported") from None
    except (ValueError, TypeError):
        raise Reject(BAD_CERT_TEMPLATE, "malformed public key") from None
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < policy.min_rsa_bits:
            raise Reject(BAD_CERT_TEMPLATE, f"RSA key of {key.key_size} bits (at least {policy.min_rsa_bits})")
    elif isinstance(key, ec.EllipticCurvePublicKey):
        if key.curve.name not in policy.ec_curves:
            raise Reject(BAD_ALG, f"elliptic curve {key.curve.name} not supported")
    elif not isinstance(key, (ed25519.Ed25519PublicKey, ed448.Ed448PublicKey)) and not is_ml_dsa(key):
        raise Reject(BAD_ALG, f"public key type {type(key).__name__} not supported")
    return key


# ---------------------------------------------------------------------- extensions

def _key_usage(value: bytes) -> set:
    try:
        bits = der.read_bits(value)
    except CmpError:
        raise Reject(BAD_CERT_TEMPLATE, "malformed keyUsage") from None
    if any(b >= len(KU_NAMES) for b in bits):
        raise Reject(BAD_CERT_TEMPLATE, "unknown keyUsage bit")
    return {KU_NAMES[b] for b in bits}


def _ekus(value: bytes) -> list:
    try:
        return [der.read_oid(o) for o in der.parts(value, 0x30, "extendedKeyUsage")]
    except CmpError:
        raise Reject(BAD_CERT_TEMPLATE, "malformed extendedKeyUsage") from None


def _basic_constraints(value: bytes) -> tuple:
    try:
        fields = der.parts(value, 0x30, "basicConstraints")
        ca = bool(fields) and fields[0] == b"\x01\x01\xff"
        if fields and fields[0][:1] == b"\x01":
            fields = fields[1:]
        path_len = der.read_integer(fields[0], "pathLenConstraint") if fields else None
    except CmpError:
        raise Reject(BAD_CERT_TEMPLATE, "malformed basicConstraints") from None
    return ca, path_len


def _default_key_usage(key) -> set:
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    if isinstance(key, rsa.RSAPublicKey):
        return {"digital_signature", "key_encipherment"}
    if isinstance(key, ec.EllipticCurvePublicKey):
        return {"digital_signature", "key_agreement"}
    return {"digital_signature"}


def requested_extensions(extensions: list, key, policy: IssuePolicy, ca_path_len: Optional[int]) -> list:
    """The (cryptography extension, critical) pairs to issue from the template's (oid, critical,
    value) extensions, checked against ``policy``."""
    from cryptography import x509
    out, seen = [], set()
    ku = None
    for oid, critical, value in extensions:
        if oid in seen:
            raise Reject(BAD_CERT_TEMPLATE, f"extension {oid} requested twice")
        seen.add(oid)
        if oid == OID_KEY_USAGE:
            ku = _key_usage(value)
            allowed = EE_KEY_USAGE | policy.extra_key_usage | (CA_KEY_USAGE if policy.allow_ca else frozenset())
            if not ku or not ku <= allowed:
                raise Reject(BAD_CERT_TEMPLATE, "keyUsage not allowed: " + ", ".join(sorted(ku - allowed)))
        elif oid == OID_EKU:
            ekus = _ekus(value)
            bad = [e for e in ekus if e not in policy.allowed_eku]
            if bad or not ekus:
                raise Reject(BAD_CERT_TEMPLATE, "extendedKeyUsage not allowed: " + ", ".join(bad))
            out.append((x509.ExtendedKeyUsage([x509.ObjectIdentifier(e) for e in ekus]), critical))
        elif oid == OID_BASIC_CONSTRAINTS:
            ca, path_len = _basic_constraints(value)
            if ca and not policy.allow_ca:
                raise Reject(BAD_CERT_TEMPLATE, "basicConstraints CA:TRUE not allowed")
            if path_len is not None and (not ca or path_len < 0
                                         or (ca_path_len is not None and path_len >= ca_path_len)):
                raise Reject(BAD_CERT_TEMPLATE, f"bad pathLenConstraint {path_len}")
            if ca:
                out.append((x509.BasicConstraints(ca=True, path_length=path_len), True))
        elif oid == OID_SAN:
            try:
                der.check_bounds(value, "subjectAltName")
                der.parts(value, 0x30, "subjectAltName")
            except CmpError:
                raise Reject(BAD_CERT_TEMPLATE, "malformed subjectAltName") from None
            out.append((x509.UnrecognizedExtension(x509.ObjectIdentifier(oid), value), critical))
        elif oid in (OID_SKI, OID_AKI):
            continue  # the CA sets these
        elif critical:
            raise Reject(UNACCEPTED_EXTENSION, f"critical extension {oid} not supported")
    if not any(isinstance(e, x509.BasicConstraints) for e, _ in out):
        out.append((x509.BasicConstraints(ca=False, path_length=None), True))
    ku = ku or _default_key_usage(key)
    out.append((x509.KeyUsage(**{n: n in ku for n in KU_NAMES}), True))
    return out


# ---------------------------------------------------------------------- the certificate

def validity(now: float, not_before: Optional[datetime.datetime], not_after: Optional[datetime.datetime],
             max_days: int, ca_not_after: datetime.datetime) -> tuple:
    """(notBefore, notAfter): from the template, not before now, at most ``max_days`` long and not
    beyond the CA certificate's notAfter."""
    start = datetime.datetime.fromtimestamp(int(now), datetime.timezone.utc)
    nb = max(start, not_before) if not_before is not None else start
    limit = min(nb + datetime.timedelta(days=max_days), ca_not_after)
    na = min(not_after, limit) if not_after is not None else limit
    if na <= nb:
        raise Reject(BAD_CERT_TEMPLATE, "validity period empty or outside what the CA grants")
    return nb, na


def build_certificate(ca_cert_der: bytes, ca_key, subject_der: bytes, public_key, extensions: list,
                      not_before: datetime.datetime, not_after: datetime.datetime, serial: int) -> bytes:
    """The DER certificate: ``extensions`` (from :func:`requested_extensions`) plus SKI and AKI,
    signed by ``ca_key`` (a cryptography private key; SHA-256 for RSA and EC)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ed448, ed25519

    from cmpkit.core.names import name_from_der
    ca = x509.load_der_x509_certificate(ca_cert_der)
    try:
        subject = name_from_der(subject_der)
    except CmpError:
        raise Reject(BAD_CERT_TEMPLATE, "malformed subject") from None
    if is_ml_dsa(public_key) or is_ml_dsa(ca_key):
        return _build_with_certbuild(ca, ca_key, subject_der, public_key, extensions, not_before, not_after, serial)
    b = (x509.CertificateBuilder().subject_name(subject).issuer_name(ca.subject).public_key(public_key)
         .serial_number(serial).not_valid_before(not_before).not_valid_after(not_after))
    for ext, critical in extensions:
        b = b.add_extension(ext, critical)
    b = b.add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), False)
    try:
        ski = ca.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
        aki = x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski)
    except x509.ExtensionNotFound:
        aki = x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.public_key())
    b = b.add_extension(aki, False)
    digest = None if isinstance(ca_key, (ed25519.Ed25519PrivateKey, ed448.Ed448PrivateKey)) else hashes.SHA256()
    try:
        return b.sign(ca_key, digest).public_bytes(serialization.Encoding.DER)
    except ValueError as exc:
        raise Reject(BAD_CERT_TEMPLATE, f"certificate not issued: {str(exc)[:100]}") from None


def is_ml_dsa(key) -> bool:
    """Is ``key`` (public or private, cryptography) an ML-DSA key?"""
    from cmpkit.core.protection import key_type
    try:
        return key_type(key).startswith("ml-dsa")
    except Exception:  # noqa: BLE001 - key_type raises for types it does not sign with
        return False


def _build_with_certbuild(ca, ca_key, subject_der: bytes, public_key, extensions: list, not_before, not_after,
                          serial: int) -> bytes:
    """ML-DSA subject or CA key: ``cryptography``'s CertificateBuilder takes neither, so the DER is
    assembled by :func:`cmpkit.core.certbuild.build_certificate` (the same extensions: basic
    constraints, key usage, SKI, AKI from the CA key, and the others of ``extensions``)."""
    from cryptography import x509

    from cmpkit.core import certbuild
    ca_flag, path_len, usages, others = False, None, None, []
    for ext, critical in extensions:
        if isinstance(ext, x509.BasicConstraints):
            ca_flag, path_len = ext.ca, ext.path_length
        elif isinstance(ext, x509.KeyUsage):
            usages = [n for n in KU_NAMES if n not in ("encipher_only", "decipher_only") and getattr(ext, n)]
            if ext.key_agreement:
                usages += [n for n in ("encipher_only", "decipher_only") if getattr(ext, n)]
        else:
            others.append(certbuild.extension(ext.oid.dotted_string, critical, ext.public_bytes()))
    try:
        ca_ski = ca.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    except x509.ExtensionNotFound:
        ca_ski = None
    try:
        return certbuild.build_certificate(ca_key, subject=subject_der, issuer=ca.subject,
                                           subject_public_key=public_key,
                                           serial=serial, not_before=not_before, not_after=not_after, ca=ca_flag,
                                           path_len=path_len, key_usages=usages or ("digital_signature",),
                                           issuer_public_key=ca.public_key(), extra_extensions=others,
                                           authority_key_id=ca_ski)
    except (ValueError, CmpError) as exc:
        raise Reject(BAD_CERT_TEMPLATE, f"certificate not issued: {str(exc)[:100]}") from None


def ca_path_len(ca_cert_der: bytes) -> Optional[int]:
    from cryptography import x509
    try:
        bc = x509.load_der_x509_certificate(ca_cert_der).extensions.get_extension_for_class(x509.BasicConstraints)
        return bc.value.path_length
    except x509.ExtensionNotFound:
        return None
