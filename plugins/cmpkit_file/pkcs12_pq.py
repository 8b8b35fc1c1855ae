"""PKCS#12 files with an ML-DSA key, which cryptography's PKCS#12 loader cannot read.

cryptography (48) reads ML-DSA keys from PKCS#8 (plain or encrypted) but not from PKCS#12.
This reader walks the PFX (RFC 7292) with cmpkit's bounded DER reader and hands every key to
cryptography: plain keyBags and pkcs8ShroudedKeyBags (cryptography decrypts the
EncryptedPrivateKeyInfo), certBags in plain or PBES2-encrypted contents (PBKDF2 and AES-CBC
from cryptography's primitives, the pass phrase as UTF-8 octets as OpenSSL writes PBES2).
It is only used when cryptography's loader failed, and only a result with an ML-DSA key is
taken; the PFX MAC (PKCS#12 key derivation, which cryptography does not offer) is not checked:
a wrong pass phrase still shows, as the decryption fails.
"""
from __future__ import annotations

from typing import Optional

from cmpkit.core import der
from cmpkit.errors import DecodeError

_DATA, _ENCRYPTED_DATA = "1.2.840.113549.1.7.1", "1.2.840.113549.1.7.6"
_KEY_BAG, _SHROUDED_KEY_BAG, _CERT_BAG = ("1.2.840.113549.1.12.10.1.1", "1.2.840.113549.1.12.10.1.2",
                                          "1.2.840.113549.1.12.10.1.3")
_X509_CERT = "1.2.840.113549.1.9.22.1"
_PBES2, _PBKDF2 = "1.2.840.113549.1.5.13", "1.2.840.113549.1.5.12"
_AES_CBC = {"2.16.840.1.101.3.4.1.2": 16, "2.16.840.1.101.3.4.1.22": 24, "2.16.840.1.101.3.4.1.42": 32}
_PRF_HASHES = {"1.2.840.113549.2.7": "sha1", "1.2.840.113549.2.9": "sha256", "1.2.840.113549.2.10": "sha384",
               "1.2.840.113549.2.11": "sha512"}
_MAX_ITERATIONS = 10_000_000  # PBKDF2 of a local file: bounded, generously (OpenSSL 3 writes 2048)


class WrongPassword(Exception):
    """The encrypted contents do not decrypt with the pass phrase given."""


def _octets_of_explicit(item: bytes) -> bytes:
    """The OCTET STRING inside an [0] EXPLICIT (ContentInfo content of type data)."""
    return der.read_octets(der.content(item))


def _pbes2_decrypt(alg: bytes, ciphertext: bytes, password: bytes) -> bytes:
    from cryptography.hazmat.primitives import padding
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
    from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

    from cmpkit.core.algs import hash_object
    oid, params = der.children(alg)
    if der.read_oid(oid) != _PBES2:
        raise DecodeError("unsupported PKCS#12 encryption (only PBES2 is read here)")
    kdf, scheme = der.children(params)
    kdf_oid, kdf_params = der.children(kdf)
    enc_oid, iv = der.children(scheme)
    key_length = _AES_CBC.get(der.read_oid(enc_oid))
    if der.read_oid(kdf_oid) != _PBKDF2 or key_length is None:
        raise DecodeError("unsupported PBES2 algorithms in the PKCS#12 file")
    fields = der.children(kdf_params)
    salt, iterations, prf = der.read_octets(fields[0]), der.read_integer(fields[1], "iterationCount"), "sha1"
    for extra in fields[2:]:
        if extra[0] == 0x30:
            prf = _PRF_HASHES.get(der.read_oid(der.children(extra)[0]))
            if prf is None:
                raise DecodeError("unsupported PBKDF2 PRF in the PKCS#12 file")
    if not 1 <= iterations <= _MAX_ITERATIONS:
        raise DecodeError("PBKDF2 iteration count out of range in the PKCS#12 file")
    key = PBKDF2HMAC(hash_object(prf), key_length, salt, iterations).derive(password)
    dec = Cipher(algorithms.AES(key), modes.CBC(der.read_octets(iv))).decryptor()
    padded = dec.update(ciphertext) + dec.finalize()
    unpad = padding.PKCS7(128).unpadder()
    try:
        return unpad.update(padded) + unpad.finalize()
    except ValueError:
        raise WrongPassword() from None


def _safe_contents(content_info: bytes, password: Optional[bytes]) -> Optional[bytes]:
    oid, content = der.children(content_info)
    kind = der.read_oid(oid)
    if kind == _DATA:
        return _octets_of_explicit(content)
    if kind == _ENCRYPTED_DATA:
        if password is None:
            raise WrongPassword()
        _version, eci = der.children(der.content(content))
        _type, alg, ciphertext = der.children(eci)
        if ciphertext[0] != 0x80:
            raise DecodeError("unsupported encrypted PKCS#12 contents")
        return _pbes2_decrypt(alg, der.content(ciphertext), password)
    return None


def load(data: bytes, password: Optional[bytes]):
    """(ML-DSA private key, [certificate DER]) of a PFX, None if it holds no ML-DSA key.

    DecodeError for a malformed file, WrongPassword when the pass phrase does not fit.
    """
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import load_der_private_key

    from cmpkit.core.protection import _pq_key_type_of_class
    der.check_bounds(data, "PKCS#12 file")
    _version, auth_safe, *_mac = der.children(data)
    oid, content = der.children(auth_safe)
    if der.read_oid(oid) != _DATA:
        raise DecodeError("unsupported PKCS#12 file (public-key integrity mode)")
    key, certs = None, []
    for content_info in der.children(_octets_of_explicit(content)):
        safe = _safe_contents(content_info, password)
        for bag in der.children(safe) if safe else ():
            bag_id, value, *_attrs = der.children(bag)
            kind, inner = der.read_oid(bag_id), der.content(value)
            try:
                if kind == _KEY_BAG and key is None:
                    key = load_der_private_key(inner, None)
                elif kind == _SHROUDED_KEY_BAG and key is None:
                    if password is None:
                        raise WrongPassword()
                    key = load_der_private_key(inner, password)
                elif kind == _CERT_BAG:
                    cert_type, cert_value = der.children(inner)
                    if der.read_oid(cert_type) == _X509_CERT:
                        cert = der.read_octets(der.content(cert_value))
                        x509.load_der_x509_certificate(cert)
                        certs.append(cert)
            except (ValueError, TypeError):
                if kind == _SHROUDED_KEY_BAG:
                    raise WrongPassword() from None
                raise DecodeError("a bag of the PKCS#12 file does not parse") from None
    if key is None or _pq_key_type_of_class(type(key)) is None:
        return None
    from cryptography.hazmat.primitives import serialization
    spki = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    own = key.public_key().public_bytes(*spki)
    parsed = [x509.load_der_x509_certificate(c) for c in certs]
    # the key's certificate first, as cryptography's loader returns it
    parsed.sort(key=lambda c: _public_bytes(c, spki) != own)
    return key, parsed


def _public_bytes(cert, spki) -> Optional[bytes]:
    try:
        return cert.public_key().public_bytes(*spki)
    except Exception:  # noqa: BLE001 - a key type cryptography cannot read
        return None
