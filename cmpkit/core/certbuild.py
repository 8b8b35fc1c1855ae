"""X.509 certificates assembled in DER and signed with any signing key cmpkit supports.

``cryptography``'s CertificateBuilder refuses ML-DSA subject keys and cannot sign with
ML-DSA; this module assembles the TBSCertificate itself (RFC 5280 4.1) and has the key
(a ``cryptography`` private key or a :class:`cmpkit.types.Signer`) sign it: RSA (PKCS#1 v1.5 or
RSASSA-PSS), ECDSA, Ed25519, Ed448, ML-DSA. DER assembly is cmpkit's, signing is
``cryptography``'s. Pure: the caller gives the validity period and the serial number.
"""
from __future__ import annotations

import datetime
import hashlib

from . import der
from .protection import sign, signature_algorithm

#: keyUsage bit numbers (RFC 5280 4.2.1.3), by cryptography's KeyUsage attribute names
KEY_USAGE_BITS = {"digital_signature": 0, "content_commitment": 1, "key_encipherment": 2,
                  "data_encipherment": 3, "key_agreement": 4, "key_cert_sign": 5, "crl_sign": 6,
                  "encipher_only": 7, "decipher_only": 8}
_BASIC_CONSTRAINTS, _KEY_USAGE = "2.5.29.19", "2.5.29.15"
_SKI, _AKI, _EKU, _SAN = "2.5.29.14", "2.5.29.35", "2.5.29.37", "2.5.29.17"


def _spki_der(public_key) -> bytes:
    from cryptography.hazmat.primitives import serialization
    return public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def key_identifier(public_key) -> bytes:
    """RFC 5280 4.2.1.2 method (1): SHA-1 of the subjectPublicKey BIT STRING value (as OpenSSL)."""
    bits = der.children(_spki_der(public_key))[1]
    return hashlib.sha1(der.content(bits)[1:]).digest()  # noqa: S324 - an identifier, not security


def _time(t: datetime.datetime) -> bytes:
    """UTCTime through 2049, GeneralizedTime from 2050 (RFC 5280 4.1.2.5), always in UTC, no fraction."""
    if t.tzinfo is None:
        t = t.replace(tzinfo=datetime.timezone.utc)
    t = t.astimezone(datetime.timezone.utc)
    if 1950 <= t.year < 2050:
        return der.tlv(0x17, t.strftime("%y%m%d%H%M%SZ").encode())
    return der.tlv(0x18, t.strftime("%Y%m%d%H%M%SZ").encode())


def _name(value) -> bytes:
    """Name DER from an ``x509.Name`` or DER bytes."""
    return bytes(value) if isinstance(value, (bytes, bytearray)) else value.public_bytes()


def extension(oid: str, critical: bool, value_der: bytes) -> bytes:
    """Extension ::= SEQUENCE { extnID, critical BOOLEAN DEFAULT FALSE, extnValue OCTET STRING }."""
    return der.sequence(der.oid(oid), b"\x01\x01\xff" if critical else b"", der.tlv(0x04, value_der))


def basic_constraints(ca: bool, path_len: int | None = None) -> bytes:
    """The basicConstraints extension (critical), as cryptography and OpenSSL write it."""
    body = (b"\x01\x01\xff" if ca else b"") + (der.integer(path_len) if ca and path_len is not None else b"")
    return extension(_BASIC_CONSTRAINTS, True, der.tlv(0x30, body))


def key_usage(*names: str) -> bytes:
    """The keyUsage extension (critical) with the named bits (cryptography's attribute names)."""
    return extension(_KEY_USAGE, True, der.bit_string(KEY_USAGE_BITS[n] for n in names))


def build_certificate(signing_key, *, subject, issuer, subject_public_key, serial: int,
                      not_before: datetime.datetime, not_after: datetime.datetime,
                      ca: bool = False, path_len: int | None = None, key_usages=None,
                      issuer_public_key=None, extra_extensions=(), digest: str | None = "sha256",
                      pss: bool = False, authority_key_id: bytes | None = None) -> bytes:
    """A DER certificate (v3) signed with ``signing_key``.

    :param signing_key: a cryptography private key or a Signer (anything with ``sign`` and
        ``public_key``); the signature algorithm follows its type (``digest``/``pss`` for RSA/EC).
    :param subject, issuer: ``x509.Name`` or Name DER.
    :param issuer_public_key: for the authorityKeyIdentifier; default: the signing key's (None
        in a self-signed certificate, which gets no AKI, as cryptography's builder does by default).
    :param authority_key_id: the keyIdentifier of the AKI, when the issuer's certificate has a
        subjectKeyIdentifier (RFC 5280 4.2.1.1: the AKI repeats it); default: computed from the key.
    :param key_usages: keyUsage bit names; default keyCertSign+cRLSign+digitalSignature for a CA,
        digitalSignature for an end entity.
    :param extra_extensions: complete Extension DERs (see :func:`extension`).
    """
    from .keys import SoftwareKey, as_signer

    signer = as_signer(signing_key) or SoftwareKey(signing_key)
    if not 0 < serial < 1 << 159:
        raise ValueError("serial must be positive and at most 20 octets (RFC 5280 4.1.2.2)")
    sig_alg = signature_algorithm(signer.public_key(), digest, pss)
    if key_usages is None:
        key_usages = ("digital_signature", "key_cert_sign", "crl_sign") if ca else ("digital_signature",)
    self_signed = _name(subject) == _name(issuer) and issuer_public_key is None
    exts = [basic_constraints(ca, path_len), key_usage(*key_usages),
            extension(_SKI, False, der.tlv(0x04, key_identifier(subject_public_key)))]
    if not self_signed:
        aki = authority_key_id or key_identifier(issuer_public_key or signer.public_key())
        exts.append(extension(_AKI, False, der.sequence(der.tlv(0x80, aki))))
    exts.extend(extra_extensions)
    tbs = der.sequence(
        der.tlv(0xA0, der.integer(2)),                    # version v3
        der.integer(serial),
        sig_alg,
        _name(issuer),
        der.sequence(_time(not_before), _time(not_after)),
        _name(subject),
        _spki_der(subject_public_key),
        der.tlv(0xA3, der.sequence(*exts)))
    signature = sign(signer, sig_alg, tbs)
    return der.sequence(tbs, sig_alg, der.tlv(0x03, b"\x00" + signature))
