"""CMS for central key generation (RFC 9483 4.1.6): EnvelopedData, SignedData, AsymmetricKeyPackage.

A centrally generated private key travels in CertifiedKeyPair.privateKey as EncryptedKey
``[0] EnvelopedData`` (RFC 5652 6) whose content is a SignedData (RFC 5652 5) signed by the key
generation authority, whose content is an AsymmetricKeyPackage (RFC 5958 2). This module
assembles and reads these structures (DER through :mod:`cmpkit.core.der`, every read bounded)
and does the cryptography with ``cryptography``'s primitives only:

- recipients (RFC 9483 4.1.6.1-3, algorithms of RFC 9481 4): key transport (ktri: RSA,
  RSAES-PKCS1-v1_5 or RSAES-OAEP), key agreement (kari: ECDH with the X9.63 KDF of the
  dhSinglePass-stdDH-sha*kdf-scheme identifiers, then AES key wrap) and password-based (pwri:
  PBKDF2, then AES key wrap as RFC 9481 4.4 says, or id-alg-PWRI-KEK of RFC 3211 over AES-CBC,
  which ``openssl cms -pwri_password`` writes);
- content encryption with AES-CBC.

No I/O, no clock: the caller passes keys, certificates and secrets. Errors are
:class:`cmpkit.errors.DecodeError` for malformed input and :class:`ProtectionError` for what
fails cryptographically (wrong key or password, bad signature); messages never carry secrets.
"""
from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from typing import Optional

from ..errors import DecodeError, ProtectionError
from . import der
from .algs import HASH_BY_OID, HASH_OIDS, HMAC_BY_OID, HMAC_ALGS, PBKDF2_OID, hash_object

ID_DATA = "1.2.840.113549.1.7.1"
ID_SIGNED_DATA = "1.2.840.113549.1.7.2"
ID_ENVELOPED_DATA = "1.2.840.113549.1.7.3"
ID_CT_KP_AKEYPACKAGE = "2.16.840.1.101.2.1.2.78.5"   # RFC 5958
ID_CONTENT_TYPE = "1.2.840.113549.1.9.3"
ID_MESSAGE_DIGEST = "1.2.840.113549.1.9.4"
RSA_ENCRYPTION = "1.2.840.113549.1.1.1"
RSAES_OAEP = "1.2.840.113549.1.1.7"
MGF1 = "1.2.840.113549.1.1.8"
EC_PUBLIC_KEY = "1.2.840.10045.2.1"
PWRI_KEK = "1.2.840.113549.1.9.16.3.9"               # RFC 3211
AES_CBC = {"2.16.840.1.101.3.4.1.2": 16, "2.16.840.1.101.3.4.1.22": 24, "2.16.840.1.101.3.4.1.42": 32}
AES_WRAP = {"2.16.840.1.101.3.4.1.5": 16, "2.16.840.1.101.3.4.1.25": 24, "2.16.840.1.101.3.4.1.45": 32}
AES_CBC_BY_LEN = {n: oid for oid, n in AES_CBC.items()}
AES_WRAP_BY_LEN = {n: oid for oid, n in AES_WRAP.items()}
# ECDH key agreement schemes with their X9.63 KDF hash (RFC 5753 7.1.4, RFC 8418; RFC 9481 4.1.1)
ECDH_KDF = {
    "1.3.133.16.840.63.0.2": "sha1",      # dhSinglePass-stdDH-sha1kdf-scheme
    "1.3.132.1.11.0": "sha224",           # dhSinglePass-stdDH-sha224kdf-scheme
    "1.3.132.1.11.1": "sha256",
    "1.3.132.1.11.2": "sha384",
    "1.3.132.1.11.3": "sha512",
}
ECDH_BY_HASH = {h: oid for oid, h in ECDH_KDF.items()}
MAX_KEY_PACKAGE = 1 << 20   # a private key package larger than this is refused
PBKDF2_MIN_ITERATIONS, PBKDF2_MAX_ITERATIONS = 1, 10_000_000


def _malformed_is_decode_error(what: str):
    """Decorator: what a library raises on malformed input inside (a garbled certificate, an
    invalid point, an index past a short SEQUENCE) becomes one DecodeError naming ``what``."""
    def wrap(fn):
        @functools.wraps(fn)
        def inner(*args, **kw):
            from cryptography import x509
            from cryptography.exceptions import UnsupportedAlgorithm
            try:
                return fn(*args, **kw)
            except (ValueError, TypeError, IndexError, UnsupportedAlgorithm, x509.InvalidVersion,
                    x509.DuplicateExtension) as exc:
                raise DecodeError(f"malformed {what}: {type(exc).__name__}: {exc}") from None
        return inner
    return wrap


def _alg(oid: str, params: Optional[bytes] = None) -> bytes:
    return der.sequence(der.oid(oid), *(() if params is None else (params,)))


def _read_alg(item: bytes, what: str) -> tuple[str, Optional[bytes]]:
    f = der.parts(item, 0x30, what)
    if not 1 <= len(f) <= 2:
        raise DecodeError(f"malformed {what}")
    return der.read_oid(f[0]), (f[1] if len(f) == 2 else None)


def _digest(hash_name: str, data: bytes) -> bytes:
    from cryptography.hazmat.primitives import hashes
    h = hashes.Hash(hash_object(hash_name))
    h.update(data)
    return h.finalize()


def _set_of(items) -> bytes:
    """DER SET OF: the encodings sorted (X.690 11.6)."""
    return der.tlv(0x31, b"".join(sorted(items)))


def _octets(b: bytes) -> bytes:
    return der.tlv(0x04, b)


# ================================================================ AsymmetricKeyPackage (RFC 5958)

def key_package_der(private_key) -> bytes:
    """AsymmetricKeyPackage with one OneAsymmetricKey (PKCS#8 PrivateKeyInfo, version 0/1) of ``private_key``."""
    from cryptography.hazmat.primitives import serialization
    pkcs8 = private_key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption())
    return der.sequence(pkcs8)


@_malformed_is_decode_error("AsymmetricKeyPackage")
def read_key_package(data: bytes):
    """The private key of an AsymmetricKeyPackage (exactly one key), or of a bare OneAsymmetricKey
    (what OpenSSL 3.5 reads and writes there); DecodeError if malformed or unsupported."""
    from cryptography.hazmat.primitives import serialization
    if len(data) > MAX_KEY_PACKAGE:
        raise DecodeError("malformed AsymmetricKeyPackage: too large")
    der.check_bounds(data, "AsymmetricKeyPackage")
    items = der.parts(data, 0x30, "AsymmetricKeyPackage")
    if items and items[0][0] == 0x30:   # SEQUENCE OF OneAsymmetricKey
        if len(items) != 1:
            raise DecodeError(f"AsymmetricKeyPackage holds {len(items)} keys, expected one")
        one = items[0]
    else:
        one = data
    try:
        return serialization.load_der_private_key(one, password=None)
    except (ValueError, TypeError) as exc:
        raise DecodeError(f"malformed private key in AsymmetricKeyPackage: {exc}") from None


# ================================================================ recipient identifiers

def issuer_and_serial(cert_der: bytes) -> bytes:
    from cryptography import x509
    cert = x509.load_der_x509_certificate(cert_der)
    return der.sequence(cert.issuer.public_bytes(), der.integer(cert.serial_number))


def _ski(cert_der: bytes) -> Optional[bytes]:
    from .protection import subject_key_id
    return subject_key_id(cert_der)


def _rid_matches(rid: bytes, cert_der: Optional[bytes]) -> bool:
    """Whether a RecipientIdentifier / SignerIdentifier (issuerAndSerialNumber or [0] SKI) names ``cert_der``."""
    if cert_der is None:
        return False
    if rid[0] == 0x30:
        return _same_ias(rid, issuer_and_serial(cert_der))
    if rid[0] == 0x80:
        return der.content(rid) == _ski(cert_der)
    return False


def _same_ias(a: bytes, b: bytes) -> bool:
    from .message import same_name
    fa, fb = der.parts(a, 0x30, "IssuerAndSerialNumber"), der.parts(b, 0x30, "IssuerAndSerialNumber")
    return len(fa) == len(fb) == 2 and fa[1] == fb[1] and same_name(fa[0], fb[0])


def _rid_for(cert_der: bytes) -> tuple[int, bytes]:
    """(version, rid): subjectKeyIdentifier [0] if the certificate has one, else issuerAndSerialNumber."""
    ski = _ski(cert_der)
    if ski is not None:
        return 2, der.tlv(0x80, ski)
    return 0, issuer_and_serial(cert_der)


# ================================================================ key wrapping helpers

def _aes_cbc(key: bytes, iv: bytes, data: bytes, encrypt: bool) -> bytes:
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
    c = Cipher(algorithms.AES(key), modes.CBC(iv))
    ctx = c.encryptor() if encrypt else c.decryptor()
    return ctx.update(data) + ctx.finalize()


def _pad(data: bytes) -> bytes:
    n = 16 - len(data) % 16
    return data + bytes([n]) * n


def _unpad(data: bytes) -> bytes:
    if not data or len(data) % 16 or not 1 <= data[-1] <= 16 or data[-data[-1]:] != bytes([data[-1]]) * data[-1]:
        raise ProtectionError("decryption of the centrally generated key failed: bad padding (wrong key?)")
    return data[:-data[-1]]


def _unwrap(kek: bytes, wrapped: bytes, what: str) -> bytes:
    from cryptography.hazmat.primitives.keywrap import InvalidUnwrap, aes_key_unwrap
    try:
        return aes_key_unwrap(kek, wrapped)
    except (InvalidUnwrap, ValueError):
        raise ProtectionError(f"cannot unwrap the content-encryption key ({what}): wrong key or password") from None


def _pwri_kek_unwrap(kek: bytes, iv: bytes, wrapped: bytes) -> bytes:
    """RFC 3211 2.3.2 with AES-CBC: the inverse of the double CBC encryption."""
    n = len(wrapped)
    if n < 32 or n % 16:
        raise ProtectionError("cannot unwrap the content-encryption key (id-alg-PWRI-KEK): bad length")
    last = _aes_cbc(kek, wrapped[-32:-16], wrapped[-16:], False)
    inner = _aes_cbc(kek, last, wrapped[:-16], False) + last
    out = _aes_cbc(kek, iv, inner, False)
    length = out[0]
    if bytes(b ^ 0xFF for b in out[1:4]) != out[4:7] or length < 1 or 4 + length > n:
        raise ProtectionError("cannot unwrap the content-encryption key (id-alg-PWRI-KEK): wrong password")
    return out[4:4 + length]


def _pwri_kek_wrap(kek: bytes, iv: bytes, cek: bytes) -> bytes:
    """RFC 3211 2.3.1 with AES-CBC: length, check bytes, key, random padding, encrypted twice."""
    block = bytes([len(cek)]) + bytes(b ^ 0xFF for b in cek[:3]) + cek
    size = max(32, -(-len(block) // 16) * 16)
    block += os.urandom(size - len(block))
    first = _aes_cbc(kek, iv, block, True)
    return _aes_cbc(kek, first[-16:], first, True)


def _pbkdf2(password: bytes, params: Optional[bytes], key_len: int) -> bytes:
    from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC
    if params is None:
        raise DecodeError("malformed PBKDF2 parameters")
    f = der.parts(params, 0x30, "PBKDF2-params")
    if not 2 <= len(f) <= 4:
        raise DecodeError("malformed PBKDF2-params")
    salt = der.read_octets(f[0])
    iterations = der.read_integer(f[1], "PBKDF2 iterationCount")
    if not PBKDF2_MIN_ITERATIONS <= iterations <= PBKDF2_MAX_ITERATIONS:
        raise DecodeError(f"PBKDF2 iterationCount {iterations} out of range")
    prf_hash = "sha1"
    for item in f[2:]:
        if item[0] == 0x02:
            if der.read_integer(item, "PBKDF2 keyLength") != key_len:
                raise DecodeError("PBKDF2 keyLength does not fit the key-encryption algorithm")
        else:
            oid, _ = _read_alg(item, "PBKDF2 prf")
            if oid not in HMAC_BY_OID:
                raise ProtectionError(f"unsupported PBKDF2 prf {oid}")
            prf_hash = HMAC_BY_OID[oid][1]
    return PBKDF2HMAC(hash_object(prf_hash), key_len, salt, iterations).derive(password)


def _x963_kek(hash_name: str, shared: bytes, wrap_alg: bytes, ukm: Optional[bytes], key_len: int) -> bytes:
    from cryptography.hazmat.primitives.kdf.x963kdf import X963KDF
    info = [wrap_alg]
    if ukm is not None:
        info.append(der.tlv(0xA0, _octets(ukm)))
    info.append(der.tlv(0xA2, _octets((8 * key_len).to_bytes(4, "big"))))
    return X963KDF(hash_object(hash_name), key_len, der.sequence(*info)).derive(shared)


# ================================================================ EnvelopedData: building

@dataclass
class Recipient:
    """Who may open an EnvelopedData: a certificate (RSA: ktri, EC: kari) or a password (pwri)."""

    cert: Optional[bytes] = None        # DER certificate of the recipient
    password: Optional[bytes] = None    # the shared secret (pwri)
    oaep: bool = False                  # RSAES-OAEP (SHA-256) instead of PKCS#1 v1.5
    kdf_hash: str = "sha256"            # hash of the X9.63 KDF (kari) and PBKDF2's HMAC (pwri)
    iterations: int = 10000             # PBKDF2 iterations (pwri)
    pwri_kek: bool = False              # pwri: id-alg-PWRI-KEK (RFC 3211, what OpenSSL's CMS reads)
                                        # instead of AES key wrap (RFC 9481 4.3)


def _ktri(cert_der: bytes, cek: bytes, oaep: bool) -> tuple[int, bytes]:
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import padding
    pub = x509.load_der_x509_certificate(cert_der).public_key()
    version, rid = _rid_for(cert_der)
    if oaep:
        h = hash_object("sha256")
        enc = pub.encrypt(cek, padding.OAEP(mgf=padding.MGF1(h), algorithm=h, label=None))
        sha256 = _alg(HASH_OIDS["sha256"])
        params = der.sequence(der.tlv(0xA0, sha256), der.tlv(0xA1, _alg(MGF1, sha256)))
        alg = _alg(RSAES_OAEP, params)
    else:
        enc = pub.encrypt(cek, padding.PKCS1v15())
        alg = _alg(RSA_ENCRYPTION, b"\x05\x00")
    return version, der.sequence(der.integer(version), rid, alg, _octets(enc))


def _kari(cert_der: bytes, cek: bytes, hash_name: str) -> bytes:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.keywrap import aes_key_wrap
    pub = x509.load_der_x509_certificate(cert_der).public_key()
    eph = ec.generate_private_key(pub.curve)
    shared = eph.exchange(ec.ECDH(), pub)
    wrap = _alg(AES_WRAP_BY_LEN[32])
    kek = _x963_kek(hash_name, shared, wrap, None, 32)
    point = eph.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    originator = der.tlv(0xA0, der.tlv(0xA1, _alg(EC_PUBLIC_KEY) + der.tlv(0x03, b"\x00" + point)))
    ski = _ski(cert_der)
    rid = der.tlv(0xA0, _octets(ski)) if ski is not None else issuer_and_serial(cert_der)
    rek = der.sequence(der.sequence(rid, _octets(aes_key_wrap(kek, cek))))
    return der.tlv(0xA1, der.integer(3) + originator + _alg(ECDH_BY_HASH[hash_name], wrap) + rek)


def _pwri(password: bytes, cek: bytes, hash_name: str, iterations: int, pwri_kek: bool = False) -> bytes:
    from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC
    from cryptography.hazmat.primitives.keywrap import aes_key_wrap
    salt = os.urandom(16)
    prf = {"sha1": "hmacWithSHA1", "sha256": "hmacWithSHA256", "sha384": "hmacWithSHA384",
           "sha512": "hmacWithSHA512"}[hash_name]
    kek = PBKDF2HMAC(hash_object(hash_name), 32, salt, iterations).derive(password)
    params = der.sequence(_octets(salt), der.integer(iterations), der.integer(32), _alg(HMAC_ALGS[prf][0]))
    kdf = der.tlv(0xA0, der.oid(PBKDF2_OID) + params)
    if pwri_kek:
        iv = os.urandom(16)
        alg = _alg(PWRI_KEK, _alg(AES_CBC_BY_LEN[32], _octets(iv)))
        wrapped = _pwri_kek_wrap(kek, iv, cek)
    else:
        alg, wrapped = _alg(AES_WRAP_BY_LEN[32]), aes_key_wrap(kek, cek)
    return der.tlv(0xA3, der.integer(0) + kdf + alg + _octets(wrapped))


def enveloped_data_der(content: bytes, recipient: Recipient, content_type: str = ID_SIGNED_DATA) -> bytes:
    """EnvelopedData (the SEQUENCE, no ContentInfo) of ``content`` for one recipient, AES-256-CBC."""
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    cek, iv = os.urandom(32), os.urandom(16)
    if recipient.password is not None:
        ri = _pwri(recipient.password, cek, recipient.kdf_hash, recipient.iterations, recipient.pwri_kek)
        version = 3
    else:
        pub = x509.load_der_x509_certificate(recipient.cert).public_key()
        if isinstance(pub, rsa.RSAPublicKey):
            ri_version, ri = _ktri(recipient.cert, cek, recipient.oaep)
            version = 0 if ri_version == 0 else 2   # RFC 5652 6.1
        elif isinstance(pub, ec.EllipticCurvePublicKey):
            ri, version = _kari(recipient.cert, cek, recipient.kdf_hash), 2
        else:
            raise ProtectionError(f"cannot encrypt a key for a recipient with a {type(pub).__name__}")
    eci = der.sequence(der.oid(content_type), _alg(AES_CBC_BY_LEN[32], _octets(iv)),
                       der.tlv(0x80, _aes_cbc(cek, iv, _pad(content), True)))
    return der.sequence(der.integer(version), _set_of([ri]), eci)


# ================================================================ EnvelopedData: reading

@dataclass
class Decryptor:
    """What the recipient has to open an EnvelopedData: its key and certificate, and/or the password.

    ``originator_certs`` are certificates that may hold a static ECDH originator key (kari with
    issuerAndSerialNumber or subjectKeyIdentifier as originator: RFC 9483 4.1.6.2 names the
    server's CMP protection certificate)."""

    private_key: object = None          # cryptography private key (RSA or EC)
    cert: Optional[bytes] = None
    password: Optional[bytes] = None
    originator_certs: tuple = ()


def _open_ktri(fields: list, d: Decryptor) -> Optional[bytes]:
    from cryptography.hazmat.primitives.asymmetric import padding, rsa
    if len(fields) != 4:
        raise DecodeError("malformed KeyTransRecipientInfo")
    if not isinstance(d.private_key, rsa.RSAPrivateKey):
        return None
    if d.cert is not None and not _rid_matches(fields[1], d.cert):
        return None
    oid, params = _read_alg(fields[2], "KeyTransRecipientInfo keyEncryptionAlgorithm")
    enc = der.read_octets(fields[3])
    if oid == RSA_ENCRYPTION:
        pad = padding.PKCS1v15()
    elif oid == RSAES_OAEP:
        h, mgf_h = "sha1", "sha1"
        for item in (der.parts(params, 0x30, "RSAES-OAEP-params") if params is not None else []):
            if item[0] == 0xA0:
                h = HASH_BY_OID.get(_read_alg(der.content(item), "OAEP hashFunc")[0])
            elif item[0] == 0xA1:
                moid, mparams = _read_alg(der.content(item), "OAEP maskGenFunc")
                if moid != MGF1 or mparams is None:
                    raise ProtectionError("unsupported OAEP mask generation function")
                mgf_h = HASH_BY_OID.get(_read_alg(mparams, "MGF1 hash")[0])
            elif item[0] == 0xA2:
                raise ProtectionError("unsupported OAEP pSourceFunc")
        if h is None or mgf_h is None:
            raise ProtectionError("unsupported OAEP hash")
        pad = padding.OAEP(mgf=padding.MGF1(hash_object(mgf_h)), algorithm=hash_object(h), label=None)
    else:
        raise ProtectionError(f"unsupported key transport algorithm {oid}")
    try:
        return d.private_key.decrypt(enc, pad)
    except ValueError:
        raise ProtectionError("cannot decrypt the content-encryption key (key transport): wrong key") from None


def _open_kari(item: bytes, d: Decryptor) -> Optional[bytes]:
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import ec
    fields = der.children(item)
    if not 4 <= len(fields) <= 5 or fields[1][0] != 0xA0:
        raise DecodeError("malformed KeyAgreeRecipientInfo")
    if not isinstance(d.private_key, ec.EllipticCurvePrivateKey):
        return None
    orig = der.content(fields[1])
    rest = fields[2:]
    ukm = None
    if rest[0][0] == 0xA1:
        ukm = der.read_octets(der.content(rest.pop(0)))
    if len(rest) != 2:
        raise DecodeError("malformed KeyAgreeRecipientInfo")
    oid, wrap = _read_alg(rest[0], "KeyAgreeRecipientInfo keyEncryptionAlgorithm")
    if oid not in ECDH_KDF:
        raise ProtectionError(f"unsupported key agreement algorithm {oid}")
    if wrap is None:
        raise DecodeError("malformed KeyAgreeRecipientInfo: no key wrap algorithm")
    wrap_oid, _ = _read_alg(wrap, "key wrap algorithm")
    if wrap_oid not in AES_WRAP:
        raise ProtectionError(f"unsupported key wrap algorithm {wrap_oid}")
    curve = d.private_key.curve
    if orig[0] == 0xA1:   # originatorKey: ephemeral-static ECDH
        okf = der.children(orig)
        if len(okf) != 2 or okf[1][0] != 0x03:
            raise DecodeError("malformed OriginatorPublicKey")
        bits = der.content(okf[1])
        if not bits or bits[0] != 0:
            raise DecodeError("malformed OriginatorPublicKey publicKey")
        try:
            opub = ec.EllipticCurvePublicKey.from_encoded_point(curve, bits[1:])
        except ValueError:
            raise ProtectionError("invalid originator public key for key agreement") from None
    else:                 # issuerAndSerialNumber or [0] subjectKeyIdentifier of a static key
        rid = orig       # issuerAndSerialNumber, or [0] IMPLICIT subjectKeyIdentifier (0x80)
        for c in d.originator_certs:
            if _rid_matches(rid, c):
                opub = x509.load_der_x509_certificate(c).public_key()
                break
        else:
            raise ProtectionError("key agreement originator certificate not found")
        if not isinstance(opub, ec.EllipticCurvePublicKey) or opub.curve.name != curve.name:
            raise ProtectionError("key agreement originator key does not fit the recipient key")
    for rek in der.parts(rest[1], 0x30, "RecipientEncryptedKeys"):
        rf = der.parts(rek, 0x30, "RecipientEncryptedKey")
        if len(rf) != 2:
            raise DecodeError("malformed RecipientEncryptedKey")
        rid = rf[0]
        if rid[0] == 0xA0:    # rKeyId [0] RecipientKeyIdentifier: its first field is the SKI
            rid = der.tlv(0x80, der.read_octets(der.children(rid)[0]))
        if d.cert is not None and not _rid_matches(rid, d.cert):
            continue
        try:
            shared = d.private_key.exchange(ec.ECDH(), opub)
        except ValueError:
            raise ProtectionError("key agreement failed") from None
        kek = _x963_kek(ECDH_KDF[oid], shared, wrap, ukm, AES_WRAP[wrap_oid])
        return _unwrap(kek, der.read_octets(rf[1]), "key agreement")
    return None


def _open_pwri(item: bytes, d: Decryptor) -> Optional[bytes]:
    fields = der.children(item)
    if d.password is None:
        return None
    if len(fields) != 4 or fields[1][0] != 0xA0:
        raise DecodeError("malformed PasswordRecipientInfo")
    kdf_oid, kdf_params = _read_alg(b"\x30" + fields[1][1:], "keyDerivationAlgorithm")
    if kdf_oid != PBKDF2_OID:
        raise ProtectionError(f"unsupported key derivation algorithm {kdf_oid}")
    oid, params = _read_alg(fields[2], "PasswordRecipientInfo keyEncryptionAlgorithm")
    wrapped = der.read_octets(fields[3])
    if oid in AES_WRAP:
        return _unwrap(_pbkdf2(d.password, kdf_params, AES_WRAP[oid]), wrapped, "password")
    if oid == PWRI_KEK and params is not None:
        inner, iv = _read_alg(params, "id-alg-PWRI-KEK parameters")
        if inner not in AES_CBC or iv is None or len(der.read_octets(iv)) != 16:
            raise ProtectionError(f"unsupported id-alg-PWRI-KEK cipher {inner}")
        return _pwri_kek_unwrap(_pbkdf2(d.password, kdf_params, AES_CBC[inner]), der.read_octets(iv), wrapped)
    raise ProtectionError(f"unsupported password-based key encryption algorithm {oid}")


@_malformed_is_decode_error("EnvelopedData")
def open_enveloped_data(data: bytes, d: Decryptor) -> tuple[str, bytes]:
    """(contentType, content) of the EnvelopedData SEQUENCE (or a ContentInfo holding one)."""
    der.check_bounds(data, "EnvelopedData")
    fields = der.parts(data, 0x30, "EnvelopedData")
    if len(fields) == 2 and fields[0][0] == 0x06:  # ContentInfo
        if der.read_oid(fields[0]) != ID_ENVELOPED_DATA or fields[1][0] != 0xA0:
            raise DecodeError("malformed ContentInfo: not EnvelopedData")
        return open_enveloped_data(der.content(fields[1]), d)
    if len(fields) < 3:
        raise DecodeError("malformed EnvelopedData")
    der.read_integer(fields[0], "EnvelopedData version")
    rest = fields[1:]
    if rest[0][0] == 0xA0:   # originatorInfo
        rest.pop(0)
    if len(rest) < 2 or rest[0][0] != 0x31:
        raise DecodeError("malformed EnvelopedData recipientInfos")
    cek = None
    for ri in der.children(rest[0]):
        if ri[0] == 0x30:
            cek = _open_ktri(der.children(ri), d)
        elif ri[0] == 0xA1:
            cek = _open_kari(ri, d)
        elif ri[0] == 0xA3:
            cek = _open_pwri(ri, d)
        if cek is not None:
            break
    if cek is None:
        raise ProtectionError("no recipient of the EnvelopedData fits our key, certificate or secret")
    eci = der.parts(rest[1], 0x30, "EncryptedContentInfo")
    if len(eci) != 3 or eci[2][0] not in (0x80, 0xA0):
        raise DecodeError("malformed EncryptedContentInfo")
    ctype = der.read_oid(eci[0])
    alg, params = _read_alg(eci[1], "contentEncryptionAlgorithm")
    if alg not in AES_CBC:
        raise ProtectionError(f"unsupported content-encryption algorithm {alg}")
    if len(cek) != AES_CBC[alg]:
        raise ProtectionError("decryption of the centrally generated key failed: wrong key length (wrong key?)")
    iv = der.read_octets(params) if params is not None else b""
    if len(iv) != 16:
        raise DecodeError("malformed AES-CBC IV")
    enc = der.content(eci[2]) if eci[2][0] == 0x80 else b"".join(der.read_octets(c) for c in der.children(eci[2]))
    if not enc or len(enc) % 16:
        raise DecodeError("malformed encryptedContent")
    return ctype, _unpad(_aes_cbc(cek, iv, enc, False))


# ================================================================ SignedData

def signed_data_der(content: bytes, signer, signer_cert: bytes, certs=(), digest: str = "sha256",
                    content_type: str = ID_CT_KP_AKEYPACKAGE) -> bytes:
    """SignedData (the SEQUENCE) of ``content`` signed by ``signer`` (a Signer) with signed
    attributes contentType and messageDigest; ``signer_cert`` and ``certs`` go into certificates."""
    from . import protection
    pub = signer.public_key()
    kind = protection.key_type(pub)
    h = "sha512" if kind == "ed448" else ("sha256" if kind == "ed25519" else digest)
    md = _digest(h, content)
    attrs = [der.sequence(der.oid(ID_CONTENT_TYPE), der.tlv(0x31, der.oid(content_type))),
             der.sequence(der.oid(ID_MESSAGE_DIGEST), der.tlv(0x31, _octets(md)))]
    signed_attrs = _set_of(attrs)
    sig_alg = protection.signature_algorithm(pub, digest)
    signature = protection.sign(signer, sig_alg, signed_attrs)
    version, sid = _rid_for(signer_cert)
    si = der.sequence(der.integer(1 if version == 0 else 3), sid, _alg(HASH_OIDS[h]),
                      b"\xA0" + signed_attrs[1:], sig_alg, _octets(signature))
    all_certs = [signer_cert] + [c for c in certs if c != signer_cert]
    return der.sequence(der.integer(3), _set_of([_alg(HASH_OIDS[h])]),
                        der.sequence(der.oid(content_type), der.tlv(0xA0, _octets(content))),
                        der.tlv(0xA0, b"".join(all_certs)), _set_of([si]))


@dataclass
class SignedContent:
    content_type: str
    content: bytes
    signer_cert: bytes        # the certificate whose key made the (checked) signature
    certs: list               # the certificates field


def _attr_values(attrs: bytes) -> dict:
    out = {}
    for a in der.children(attrs):
        f = der.parts(a, 0x30, "Attribute")
        if len(f) != 2 or f[1][0] != 0x31:
            raise DecodeError("malformed Attribute")
        oid = der.read_oid(f[0])
        vals = der.children(f[1])
        if oid in out or len(vals) != 1:
            raise DecodeError(f"malformed signed attribute {oid}")
        out[oid] = vals[0]
    return out


@_malformed_is_decode_error("SignedData")
def open_signed_data(data: bytes) -> SignedContent:
    """The content of a SignedData (or a ContentInfo holding one) whose one SignerInfo's signature
    is valid under a certificate of its certificates field. The caller still has to check that
    this certificate is trusted (RFC 9483 4.1.6: the KGA's)."""
    from cryptography import x509
    from . import protection
    der.check_bounds(data, "SignedData")
    fields = der.parts(data, 0x30, "SignedData")
    if len(fields) == 2 and fields[0][0] == 0x06:
        if der.read_oid(fields[0]) != ID_SIGNED_DATA or fields[1][0] != 0xA0:
            raise DecodeError("malformed ContentInfo: not SignedData")
        return open_signed_data(der.content(fields[1]))
    if len(fields) < 4:
        raise DecodeError("malformed SignedData")
    eci = der.parts(fields[2], 0x30, "EncapsulatedContentInfo")
    if len(eci) != 2 or eci[1][0] != 0xA0:
        raise DecodeError("SignedData without content")
    ctype = der.read_oid(eci[0])
    inner = der.content(eci[1])
    content = der.read_octets(inner) if inner[:1] == b"\x04" else b"".join(
        der.read_octets(c) for c in der.parts(inner, 0x24, "eContent"))
    certs = []
    rest = fields[3:]
    if rest and rest[0][0] == 0xA0:
        certs = [c for c in der.children(rest.pop(0)) if c[0] == 0x30]
    if rest and rest[0][0] == 0xA1:
        rest.pop(0)
    if len(rest) != 1 or rest[0][0] != 0x31:
        raise DecodeError("malformed SignedData signerInfos")
    infos = der.children(rest[0])
    if len(infos) != 1:
        raise ProtectionError(f"SignedData has {len(infos)} signers, expected one")
    sf = der.parts(infos[0], 0x30, "SignerInfo")
    if len(sf) < 5:
        raise DecodeError("malformed SignerInfo")
    sid, dalg = sf[1], _read_alg(sf[2], "SignerInfo digestAlgorithm")[0]
    rest = sf[3:]
    attrs = rest.pop(0) if rest[0][0] == 0xA0 else None
    if len(rest) < 2:
        raise DecodeError("malformed SignerInfo")
    sig_alg, signature = rest[0], der.read_octets(rest[1])
    signer_cert = next((c for c in certs if _rid_matches(sid, c)), None)
    if signer_cert is None:
        raise ProtectionError("signer certificate of the SignedData not found in its certificates")
    pub = x509.load_der_x509_certificate(signer_cert).public_key()
    if attrs is not None:
        values = _attr_values(attrs)
        if ID_CONTENT_TYPE not in values or der.read_oid(values[ID_CONTENT_TYPE]) != ctype:
            raise ProtectionError("SignedData contentType attribute missing or wrong")
        h = HASH_BY_OID.get(dalg)
        if h is None:
            raise ProtectionError(f"unsupported digest algorithm {dalg}")
        md = values.get(ID_MESSAGE_DIGEST)
        if md is None or der.read_octets(md) != _digest(h, content):
            raise ProtectionError("SignedData messageDigest does not match the content")
        signed = b"\x31" + attrs[1:]
    elif ctype != ID_DATA:
        raise ProtectionError("SignedData without signed attributes")
    else:
        signed = content
    try:
        protection.verify_signature(pub, sig_alg, signed, signature)
    except ProtectionError as exc:
        raise ProtectionError(f"invalid signature of the centrally generated key's SignedData: {exc}") from None
    return SignedContent(ctype, content, signer_cert, certs)


# ================================================================ the whole: EncryptedKey [0]

def encrypted_key_der(private_key, recipient: Recipient, signer, signer_cert: bytes, certs=(),
                      digest: str = "sha256") -> bytes:
    """EncryptedKey ``[0] EnvelopedData`` (the tagged item) carrying ``private_key`` signed by ``signer``."""
    sd = signed_data_der(key_package_der(private_key), signer, signer_cert, certs, digest)
    env = enveloped_data_der(sd, recipient)
    return b"\xA0" + env[1:]


def open_encrypted_key(item: bytes, d: Decryptor) -> tuple[object, SignedContent]:
    """(private key, the SignedData's signer data) of an EncryptedKey ``[0] EnvelopedData``.
    EncryptedValue (the deprecated alternative) is refused."""
    if not item or item[0] != 0xA0:
        raise ProtectionError("unsupported EncryptedKey: only envelopedData is supported")
    ctype, content = open_enveloped_data(b"\x30" + item[1:], d)
    if ctype != ID_SIGNED_DATA:
        raise ProtectionError("the EnvelopedData of the centrally generated key does not hold a SignedData")
    signed = open_signed_data(content)
    if signed.content_type not in (ID_CT_KP_AKEYPACKAGE, ID_DATA):
        raise ProtectionError(f"unexpected SignedData content type {signed.content_type}")
    return read_key_package(signed.content), signed
