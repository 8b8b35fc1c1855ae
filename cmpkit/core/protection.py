"""CMP message protection: PBM and PBMAC1 MACs, signatures, and the certConf certHash, over DER bytes.

Protection covers the DER of ``ProtectedPart ::= SEQUENCE { header, body }``
(:func:`protected_part`); algorithms travel as AlgorithmIdentifier DER. MAC-based:
PasswordBasedMac (RFC 4210 5.1.3.1, OpenSSL's only MAC) and PBMAC1 with PBKDF2 (RFC 8018,
RFC 9481 6.1). Signature-based: RSA PKCS#1 v1.5, RSASSA-PSS, ECDSA, Ed25519, Ed448, ML-DSA
(FIPS 204, RFC 9881; SLH-DSA is recognised and refused: cryptography lacks it).
Parameters received from a peer are bounded (:data:`MAX_ITERATIONS`) so that a message
cannot make us compute for long. All cryptography is ``cryptography``'s.
"""
from __future__ import annotations

import functools
import os

from .memo import MAX_CACHED_CERT, memo
from . import algs, der
from ..errors import ConfigError, DecodeError, ProtectionError

# Upper bound on iteration counts, for PBM (hash iterations) and PBKDF2 (PRF iterations),
# whether we create the parameters or a peer sends them: larger values let a peer make us
# burn CPU. OpenSSL's OSSL_CRMF_PBM_MAX_ITERATION_COUNT is 100000, but other implementations
# send 262144 (2**18); the bound is twice that, 2**19 (some 0.4 s of PBM hashing at most). A
# count above it is refused before any hashing.
MAX_ITERATIONS = 1 << 19
# RFC 4210 5.1.3.1: the PBM iterationCount MUST be at least 100 (OpenSSL enforces it too).
MIN_PBM_ITERATIONS = 100
# PBKDF2 cost is iterationCount x number of PRF output blocks in the derived key; a long
# keyLength multiplies the work, so the product is bounded as well (two blocks at the maximum
# iteration count, e.g. a 64-octet key with HMAC-SHA256).
MAX_PBKDF2_WORK = 2 * MAX_ITERATIONS

# Upper bound on the salt of PBM and PBKDF2 parameters a peer sends (RFC 9481 asks for at
# least 16 octets; nothing needs more than a few dozen): a longer one is refused before any work.
MAX_SALT_LENGTH = 1024

# OpenSSL's defaults (OSSL_CMP_CTX_new): pbm_slen 16, pbm_owf sha256, pbm_itercnt 500,
# pbm_mac hmac-sha1 (1.3.6.1.5.5.8.1.2), digest sha256.
DEFAULT_SALT_LENGTH = 16
DEFAULT_PBM_OWF = "sha256"
DEFAULT_PBM_ITERATIONS = 500
DEFAULT_PBM_MAC = "hmac-sha1"
DEFAULT_DIGEST = "sha256"
# PBMAC1 (not offered by OpenSSL 3.0's CMP): HMAC-SHA256 for PRF and MAC as in RFC 9481 6.1.
DEFAULT_PBMAC1_PRF = "hmacWithSHA256"
DEFAULT_PBMAC1_MAC = "hmacWithSHA256"
DEFAULT_PBMAC1_ITERATIONS = 10_000

_XOFS = frozenset(algs.XOF_LENGTHS)


def protected_part(header_der: bytes, body_der: bytes) -> bytes:
    """DER of ProtectedPart ::= SEQUENCE { header PKIHeader, body PKIBody }: what protection covers.

    ``header_der`` and ``body_der`` are the complete TLVs as they appear in the PKIMessage
    (the body with its explicit [n] tag).
    """
    _tag, _start, end = der.read_tlv(header_der)
    if end != len(header_der):
        raise DecodeError(f"malformed PKIHeader: {len(header_der) - end} trailing bytes")
    _tag, _start, end = der.read_tlv(body_der)
    if end != len(body_der):
        raise DecodeError(f"malformed PKIBody: {len(body_der) - end} trailing bytes")
    return der.tlv(0x30, header_der + body_der)


# ================================================================ MAC-based protection


def is_mac_algorithm(alg_der: bytes) -> bool:
    """Does this AlgorithmIdentifier name MAC-based protection (PBM or PBMAC1)?"""
    try:
        oid, _params = algs.decode_algorithm_identifier(alg_der)
    except DecodeError:
        return False
    return oid in (algs.PBM_OID, algs.PBMAC1_OID)


def _random_salt(salt: bytes | None, length: int = DEFAULT_SALT_LENGTH) -> bytes:
    if salt is None:
        return os.urandom(length)
    if not isinstance(salt, (bytes, bytearray)) or not salt:
        raise ConfigError("the MAC salt must be non-empty bytes")
    return bytes(salt)


def _check_iterations(n, low: int, what: str) -> int:
    if isinstance(n, bool) or not isinstance(n, int) or not low <= n <= MAX_ITERATIONS:
        raise ConfigError(f"{what} iteration count must be between {low} and {MAX_ITERATIONS}, got {n}")
    return n


def _hmac_alg_der(name: str) -> bytes:
    # OpenSSL writes the PBM mac and owf with absent parameters; RFC 8018 writes the
    # hmacWithSHA* PRF/MAC identifiers with NULL parameters.
    oid, _h = algs.HMAC_ALGS[name]
    return algs.encode_algorithm_identifier(oid, algs.NULL_DER if name.startswith("hmacWith") else None)


def pbm_algorithm(owf: str = DEFAULT_PBM_OWF, iterations: int = DEFAULT_PBM_ITERATIONS,
                  mac: str = DEFAULT_PBM_MAC, salt: bytes | None = None) -> bytes:
    """AlgorithmIdentifier DER for PasswordBasedMac with PBMParameter (RFC 4211 4.4).

    ``owf`` is a ``-digest`` name, ``mac`` a ``-mac`` name; ``salt`` defaults to 16 random
    bytes. Defaults are OpenSSL's. ConfigError for unknown names or a bad iteration count.
    """
    owf_name = algs.digest_name(owf)
    if owf_name in _XOFS:
        raise ConfigError(f"digest algorithm not supported as PBM one-way function: '{owf}' (-digest)")
    algs.hash_object(owf_name)  # fails early when cryptography lacks it
    mac_name = algs.mac_name(mac)
    params = der.sequence(der.tlv(0x04, _random_salt(salt)),           # PBMParameter (RFC 4211 4.4)
                          algs.encode_algorithm_identifier(algs.HASH_OIDS[owf_name]),
                          der.integer(_check_iterations(iterations, MIN_PBM_ITERATIONS, "PBM")),
                          algs.encode_algorithm_identifier(algs.HMAC_ALGS[mac_name][0]))
    return algs.encode_algorithm_identifier(algs.PBM_OID, params)


def pbmac1_algorithm(prf: str = DEFAULT_PBMAC1_PRF, mac: str = DEFAULT_PBMAC1_MAC,
                     iterations: int = DEFAULT_PBMAC1_ITERATIONS, salt: bytes | None = None,
                     key_length: int | None = None) -> bytes:
    """AlgorithmIdentifier DER for PBMAC1 (RFC 8018 A.5) with PBKDF2 (RFC 8018 A.2).

    ``prf`` and ``mac`` are HMAC names ("hmacWithSHA256", ...); ``key_length`` (octets)
    defaults to the MAC's hash length; ``salt`` to 16 random bytes.
    """
    prf_name, mac_name = algs.mac_name(prf), algs.mac_name(mac)
    if key_length is None:
        key_length = algs.hash_object(algs.HMAC_ALGS[mac_name][1]).digest_size
    _check_iterations(iterations, 1, "PBKDF2")
    if isinstance(key_length, bool) or not isinstance(key_length, int) or key_length < 1:
        raise ConfigError(f"PBKDF2 key length must be a positive number of octets, got {key_length}")
    if iterations * _blocks(key_length, algs.HMAC_ALGS[prf_name][1]) > MAX_PBKDF2_WORK:
        raise ConfigError(f"PBKDF2 key length {key_length} too large for {iterations} iterations")
    kdf = der.sequence(der.tlv(0x04, _random_salt(salt)), der.integer(iterations),   # PBKDF2-params
                       der.integer(key_length), _hmac_alg_der(prf_name))
    params = der.sequence(algs.encode_algorithm_identifier(algs.PBKDF2_OID, kdf),     # PBMAC1-params
                          _hmac_alg_der(mac_name))
    return algs.encode_algorithm_identifier(algs.PBMAC1_OID, params)


def _blocks(key_length: int, hash_name: str) -> int:
    size = algs.hash_object(hash_name).digest_size
    return -(-key_length // size)


def _fields(data: bytes | None, what: str) -> list:
    """The components of the single SEQUENCE ``data`` (parameters a peer sent); ProtectionError
    naming ``what`` if it is missing or malformed."""
    if data is None:
        raise ProtectionError(f"missing {what}")
    try:
        if der.read_tlv(data)[2] != len(data):
            raise DecodeError(f"malformed {what}: trailing bytes")
        return der.parts(data, 0x30, what)
    except DecodeError as exc:
        raise ProtectionError(str(exc)) from None


def _algorithm(item: bytes, what: str) -> tuple:
    """(OID, parameters DER or None) of an AlgorithmIdentifier inside parameters; ProtectionError."""
    try:
        return algs.decode_algorithm_identifier(item)
    except DecodeError as exc:
        raise ProtectionError(f"malformed {what}: {exc}") from None


def _number(item: bytes, what: str) -> int:
    try:
        return der.read_integer(item, what)
    except DecodeError as exc:
        raise ProtectionError(str(exc)) from None


def _hmac_hash(alg: tuple, what: str) -> str:
    """The hash name of an HMAC algorithm given as (OID, parameters DER); ProtectionError if not HMAC."""
    oid, params = alg
    if oid not in algs.HMAC_BY_OID:
        raise ProtectionError(f"unsupported {what}: {algs.oid_name(oid)}")
    if params not in (None, algs.NULL_DER):
        raise ProtectionError(f"unexpected parameters of {what} {algs.oid_name(oid)}")
    return algs.HMAC_BY_OID[oid][1]


def _hmac(key: bytes, hash_name: str, data: bytes) -> bytes:
    name = _HASHLIB_NAMES.get(hash_name)
    if name is not None:  # hashlib's one-shot HMAC (OpenSSL's), as for PBM's rounds: issue 17
        import hmac as std_hmac
        try:
            return std_hmac.digest(key, data, name)
        except ValueError:  # refused (MD5 under a FIPS policy): cryptography's HMAC says so
            pass
    from cryptography.hazmat.primitives import hmac

    h = hmac.HMAC(key, algs.hash_object(hash_name))
    h.update(data)
    return h.finalize()


def _pbm_mac(params_der: bytes | None, secret: bytes, data: bytes) -> bytes:
    if params_der is None:
        raise ProtectionError("missing PBM parameters")
    owf_name, salt, iterations, mac_hash = _pbm_params(bytes(params_der))
    return _hmac(_pbm_base_key(owf_name, secret, salt, iterations), mac_hash, data)


@memo(maxsize=64, max_bytes=2048)
def _pbm_params(params_der: bytes) -> tuple[str, bytes, int, str]:
    """(one-way function, salt, iteration count, MAC hash) of PBMParameter DER, checked and bounded.

    PBMParameter ::= SEQUENCE { salt OCTET STRING, owf AlgorithmIdentifier,
    iterationCount INTEGER, mac AlgorithmIdentifier } (RFC 4210 5.1.3.1)."""
    try:
        fields = der.parts(params_der, 0x30, "PBM parameters")
        if len(fields) != 4 or der.read_tlv(params_der)[2] != len(params_der):
            raise DecodeError("malformed PBM parameters")
        salt, owf, iterations, mac = (der.read_octets(fields[0]), algs.decode_algorithm_identifier(fields[1]),
                                      der.read_integer(fields[2], "PBM iterationCount"), algs.decode_algorithm_identifier(fields[3]))
    except DecodeError as exc:
        raise ProtectionError(str(exc)) from None
    if len(salt) > MAX_SALT_LENGTH:
        raise ProtectionError(f"PBM salt of {len(salt)} octets (at most {MAX_SALT_LENGTH})")
    owf_name = algs.HASH_BY_OID.get(owf[0])
    if owf_name is None or owf_name in _XOFS:
        raise ProtectionError(f"unsupported PBM one-way function: {algs.oid_name(owf[0])}")
    if not MIN_PBM_ITERATIONS <= iterations <= MAX_ITERATIONS:
        raise ProtectionError(f"PBM iteration count {iterations} outside the accepted range "
                              f"{MIN_PBM_ITERATIONS}..{MAX_ITERATIONS}")
    return owf_name, salt, iterations, _hmac_hash(mac, "PBM MAC algorithm")


_HASHLIB_NAMES = {"md5": "md5", "sha1": "sha1", "sha224": "sha224", "sha256": "sha256", "sha384": "sha384",
                  "sha512": "sha512", "sha3-224": "sha3_224", "sha3-256": "sha3_256", "sha3-384": "sha3_384",
                  "sha3-512": "sha3_512"}


def _hashlib_constructor(owf_name: str):
    """hashlib's constructor of the hash ``owf_name`` (one-shot: data -> object), or None where
    hashlib does not offer it (or refuses it, as MD5 under a FIPS policy)."""
    import hashlib
    name = _HASHLIB_NAMES.get(owf_name)
    constructor = getattr(hashlib, name, None) if name else None
    if constructor is None:
        return None
    try:
        constructor(b"")
    except ValueError:
        return None
    return constructor


@memo(maxsize=16, max_bytes=2048)
def _pbm_base_key(owf_name: str, secret: bytes, salt: bytes, iterations: int) -> bytes:
    """RFC 4210 5.1.3.1: BASEKEY = OWF^iterationCount(secret || salt).

    A transaction keeps its salt, so both ends derive the key once and not for every message.
    The rounds run on hashlib where it has the hash (OpenSSL's digests, as cryptography's, at one
    call per round instead of three: issue 17), else on cryptography's Hash.
    """
    constructor = _hashlib_constructor(owf_name)
    if constructor is not None:
        key = constructor(secret + salt).digest()
        for _ in range(iterations - 1):
            key = constructor(key).digest()
        return key
    from cryptography.hazmat.primitives import hashes

    fresh = hashes.Hash(algs.hash_object(owf_name))  # copying an empty context is the cheap way
    h = fresh.copy()
    h.update(secret)
    h.update(salt)
    key = h.finalize()
    for _ in range(iterations - 1):
        h = fresh.copy()
        h.update(key)
        key = h.finalize()
    return key


def _pbmac1_mac(params_der: bytes | None, secret: bytes, data: bytes) -> bytes:
    from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

    # PBMAC1-params ::= SEQUENCE { keyDerivationFunc AlgorithmIdentifier, messageAuthScheme AlgorithmIdentifier }
    fields = _fields(params_der, "PBMAC1 parameters")
    if len(fields) != 2:
        raise ProtectionError("malformed PBMAC1 parameters: two AlgorithmIdentifiers expected")
    kdf_oid, kdf_params = _algorithm(fields[0], "PBMAC1 keyDerivationFunc")
    if kdf_oid != algs.PBKDF2_OID:
        raise ProtectionError(f"unsupported PBMAC1 key derivation function: {algs.oid_name(kdf_oid)}")
    # PBKDF2-params ::= SEQUENCE { salt CHOICE { specified OCTET STRING, otherSource AlgorithmIdentifier },
    #     iterationCount INTEGER, keyLength INTEGER OPTIONAL, prf AlgorithmIdentifier DEFAULT hmacWithSHA1 }
    kdf = _fields(kdf_params, "PBKDF2 parameters")
    if not 2 <= len(kdf) <= 4:
        raise ProtectionError("malformed PBKDF2 parameters")
    if kdf[0][:1] == b"\x30":
        raise ProtectionError("unsupported PBKDF2 salt source (only a specified salt is supported)")
    try:
        salt = der.read_octets(kdf[0])
    except DecodeError:
        raise ProtectionError("malformed PBKDF2 parameters: salt") from None
    if len(salt) > MAX_SALT_LENGTH:
        raise ProtectionError(f"PBKDF2 salt of {len(salt)} octets (at most {MAX_SALT_LENGTH})")
    iterations, rest, key_length, prf_hash = _number(kdf[1], "PBKDF2 iterationCount"), kdf[2:], None, "sha1"
    if rest and rest[0][:1] == b"\x02":
        key_length = _number(rest.pop(0), "PBKDF2 keyLength")
    if rest and rest[0][:1] == b"\x30":
        prf_hash = _hmac_hash(_algorithm(rest.pop(0), "PBKDF2 prf"), "PBKDF2 PRF")
    if rest:
        raise ProtectionError("malformed PBKDF2 parameters: unexpected component")
    mac_hash = _hmac_hash(_algorithm(fields[1], "PBMAC1 messageAuthScheme"), "PBMAC1 MAC algorithm")
    if key_length is None:
        key_length = algs.hash_object(mac_hash).digest_size
    if not 1 <= iterations <= MAX_ITERATIONS:
        raise ProtectionError(f"PBKDF2 iteration count {iterations} outside the accepted range 1..{MAX_ITERATIONS}")
    if key_length < 1 or iterations * _blocks(key_length, prf_hash) > MAX_PBKDF2_WORK:
        raise ProtectionError(f"PBKDF2 key length {key_length} not accepted with {iterations} iterations")
    key = PBKDF2HMAC(algorithm=algs.hash_object(prf_hash), length=key_length,
                     salt=salt, iterations=iterations).derive(secret)
    return _hmac(key, mac_hash, data)


def pbmac1_with_fresh_salt(alg_der: bytes) -> bytes | None:
    """A PBMAC1 AlgorithmIdentifier with the parameters of ``alg_der`` (PRF, MAC, iteration count,
    key length, kept as they were encoded) and a fresh random salt of the same length (at least
    16 octets, RFC 9481 6.1.2); None if ``alg_der`` is no PBMAC1 with PBKDF2 and a specified
    salt or its iteration count is out of bounds. For answering a PBMAC1-protected message."""
    try:
        oid, params = algs.decode_algorithm_identifier(alg_der)
        if oid != algs.PBMAC1_OID:
            return None
        fields = _fields(params, "PBMAC1 parameters")
        kdf_oid, kdf_params = _algorithm(fields[0], "PBMAC1 keyDerivationFunc")
        kdf = _fields(kdf_params, "PBKDF2 parameters")
        if len(fields) != 2 or kdf_oid != algs.PBKDF2_OID or not 2 <= len(kdf) <= 4:
            return None
        salt = der.read_octets(kdf[0])
        if not 1 <= _number(kdf[1], "PBKDF2 iterationCount") <= MAX_ITERATIONS or len(salt) > MAX_SALT_LENGTH:
            return None
    except (DecodeError, ProtectionError, IndexError):
        return None
    fresh = der.sequence(der.tlv(0x04, os.urandom(max(DEFAULT_SALT_LENGTH, len(salt)))), *kdf[1:])
    return algs.encode_algorithm_identifier(
        algs.PBMAC1_OID, der.sequence(algs.encode_algorithm_identifier(algs.PBKDF2_OID, fresh), fields[1]))


def mac_protect(alg_der: bytes, secret: bytes, data: bytes) -> bytes:
    """The MAC over ``data`` (a ProtectedPart DER) for a PBM or PBMAC1 AlgorithmIdentifier.

    ProtectionError for an unsupported, malformed or out-of-bounds algorithm.
    """
    if isinstance(secret, str):
        secret = secret.encode()
    try:
        oid, params = algs.decode_algorithm_identifier(alg_der)
    except DecodeError as exc:
        raise ProtectionError(f"invalid protection algorithm: {exc}") from None
    if oid == algs.PBM_OID:
        return _pbm_mac(params, bytes(secret), data)
    if oid == algs.PBMAC1_OID:
        return _pbmac1_mac(params, bytes(secret), data)
    raise ProtectionError(f"unsupported MAC protection algorithm: {algs.oid_name(oid)}")


def verify_mac(alg_der: bytes, secret: bytes, data: bytes, protection_bits: bytes) -> None:
    """Check a MAC-based protection value; ProtectionError if it does not match."""
    from cryptography.hazmat.primitives import constant_time

    expected = mac_protect(alg_der, secret, data)
    if not constant_time.bytes_eq(expected, bytes(protection_bits)):
        raise ProtectionError("MAC check failed: wrong shared secret or modified message")


# ================================================================ signature-based protection


@memo(maxsize=64, max_bytes=MAX_CACHED_CERT)
def subject_key_id(cert_der: bytes) -> bytes | None:
    """The subjectKeyIdentifier of a certificate, None without one (or if it does not parse)."""
    from cryptography import x509
    try:
        return x509.load_der_x509_certificate(cert_der).extensions.get_extension_for_class(
            x509.SubjectKeyIdentifier).value.digest
    except (x509.ExtensionNotFound, ValueError):
        return None


@memo(maxsize=64, max_bytes=MAX_CACHED_CERT)
def cert_subject_der(cert_der: bytes) -> bytes | None:
    """The subject Name DER of a certificate, as encoded in it (None if it does not parse)."""
    try:
        tbs = der.children(der.children(cert_der)[0])
        return tbs[5 if tbs[0][0] == 0xA0 else 4]
    except (DecodeError, IndexError):
        return None


def key_type(public_key) -> str:
    """The key type of a ``cryptography`` public key: rsa, ec, ed25519, ed448 or ml-dsa-44/65/87;
    else ProtectionError."""
    name = _key_type_of_class(type(public_key))
    if name is None:
        raise ProtectionError(f"unsupported key type for signatures: {type(public_key).__name__}")
    return name


@functools.lru_cache(maxsize=None)
def _key_type_of_class(cls) -> str | None:
    """The key type of a key class (abstract-class checks are slow; a run meets a few classes)."""
    from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa

    for base, name in ((rsa.RSAPublicKey, "rsa"), (ec.EllipticCurvePublicKey, "ec"),
                       (ed25519.Ed25519PublicKey, "ed25519"), (ed448.Ed448PublicKey, "ed448")):
        if issubclass(cls, base):
            return name
    return _pq_key_type_of_class(cls)


def _pq_key_type_of_class(cls) -> str | None:
    """ml-dsa-44/65/87 for cryptography's ML-DSA key classes (public or private), else None."""
    try:
        from cryptography.hazmat.primitives.asymmetric import mldsa
    except ImportError:  # cryptography before ML-DSA support
        return None
    for size in (44, 65, 87):
        if any(issubclass(cls, getattr(mldsa, f"MLDSA{size}{part}Key", ())) for part in ("Public", "Private")):
            return f"ml-dsa-{size}"
    return None


def _hash_alg_der(hash_name: str) -> bytes:
    # RFC 4055 writes the hash identifiers inside RSASSA-PSS-params with NULL parameters, as
    # OpenSSL and cryptography do.
    return algs.encode_algorithm_identifier(algs.HASH_OIDS[hash_name], algs.NULL_DER)


def signature_algorithm(public_key, digest: str | None = DEFAULT_DIGEST, pss: bool = False) -> bytes:
    """AlgorithmIdentifier DER for signing with the private key of ``public_key``.

    RSA: sha*WithRSAEncryption (NULL parameters) or, with ``pss``, RSASSA-PSS with full
    parameters (MGF1 with the same digest, salt length = digest length, as Signer does).
    EC: ecdsa-with-SHA* (no parameters). Ed25519/Ed448: no digest, ``digest`` is ignored.
    """
    return _signature_algorithm(key_type(public_key), digest, pss)


@functools.lru_cache(maxsize=64)
def _signature_algorithm(kind: str, digest: str | None, pss: bool) -> bytes:
    if kind in algs.PURE_SIGNATURE_KINDS:
        return algs.encode_algorithm_identifier(algs.SIGNATURE_OIDS[(kind, None)])
    name = algs.digest_name(digest or DEFAULT_DIGEST)
    if kind == "rsa" and pss:
        if name not in algs.HASH_OIDS or name in _XOFS or name == "md5":
            raise ProtectionError(f"digest {name} not supported with RSASSA-PSS")
        return algs.encode_algorithm_identifier(algs.RSASSA_PSS_OID,
                                                _pss_params_der(name, name, algs.hash_object(name).digest_size))
    oid = algs.SIGNATURE_OIDS.get((kind, name))
    if oid is None:
        raise ProtectionError(f"digest {name} not supported for {kind.upper()} signatures")
    return algs.encode_algorithm_identifier(oid, algs.NULL_DER if kind == "rsa" else None)


def _pss_params_der(hash_name: str, mgf_hash: str, salt_length: int) -> bytes:
    """RSASSA-PSS-params DER; DER omits components equal to their DEFAULT (SHA-1, MGF1-SHA-1, 20, 1)."""
    parts = []
    if hash_name != "sha1":
        parts.append(der.tlv(0xA0, _hash_alg_der(hash_name)))
    if mgf_hash != "sha1":
        parts.append(der.tlv(0xA1, algs.encode_algorithm_identifier(algs.MGF1_OID, _hash_alg_der(mgf_hash))))
    if salt_length != 20:
        parts.append(der.tlv(0xA2, der.integer(salt_length)))
    return der.sequence(*parts)


def _signature_params(alg_der: bytes) -> tuple[str, str | None, tuple[str, int] | None]:
    """(key type, hash name or None, (MGF1 hash, salt length) for PSS or None) of a signature algorithm.

    Remembered per AlgorithmIdentifier DER (issue 17: every message names the same one or two)."""
    return _signature_params_of(bytes(alg_der))


@memo(maxsize=64, max_bytes=2048)
def _signature_params_of(alg_der: bytes) -> tuple[str, str | None, tuple[str, int] | None]:
    try:
        oid, params = algs.decode_algorithm_identifier(alg_der)
    except DecodeError as exc:
        raise ProtectionError(f"invalid protection algorithm: {exc}") from None
    if oid in algs.SIGNATURE_BY_OID:
        kind, hash_name = algs.SIGNATURE_BY_OID[oid]
        # RSA: NULL (RFC 4055; absent is tolerated); ECDSA (RFC 5758) and EdDSA (RFC 8410):
        # absent (NULL tolerated for ECDSA, as some encoders write it).
        # ML-DSA (RFC 9881): absent.
        allowed = (None,) if kind in algs.PURE_SIGNATURE_KINDS else (None, algs.NULL_DER)
        if params not in allowed:
            raise ProtectionError(f"unexpected parameters of signature algorithm {algs.oid_name(oid)}")
        return kind, hash_name, None
    if oid == algs.RSASSA_PSS_OID:
        return ("rsa",) + _pss_params(params)
    if oid in algs.SLH_DSA_OIDS:
        raise ProtectionError(f"{algs.SLH_DSA_UNSUPPORTED} ({algs.oid_name(oid)})")
    raise ProtectionError(f"unsupported signature algorithm: {algs.oid_name(oid)}")


def _pss_params(params: bytes | None) -> tuple[str, tuple[str, int]]:
    # RSASSA-PSS-params ::= SEQUENCE { hashAlgorithm [0] DEFAULT sha1, maskGenAlgorithm [1] DEFAULT
    #     mgf1SHA1, saltLength [2] INTEGER DEFAULT 20, trailerField [3] INTEGER DEFAULT 1 } (RFC 4055 3.1)
    given = {}
    for item in _fields(params, "RSASSA-PSS parameters"):
        n = item[0] - 0xA0
        if not 0 <= n <= 3 or any(k >= n for k in given):
            raise ProtectionError("malformed RSASSA-PSS parameters: unexpected component")
        try:
            inner = der.children(item)
        except DecodeError as exc:
            raise ProtectionError(f"malformed RSASSA-PSS parameters: {exc}") from None
        if len(inner) != 1:
            raise ProtectionError("malformed RSASSA-PSS parameters: a tagged component must hold one value")
        given[n] = inner[0]

    def hash_of(alg, what):
        oid, hp = alg
        name = algs.HASH_BY_OID.get(oid)
        if name is None or name in _XOFS or hp not in (None, algs.NULL_DER):
            raise ProtectionError(f"unsupported {what} in RSASSA-PSS parameters: {algs.oid_name(oid)}")
        return name

    hash_name = hash_of(_algorithm(given[0], "RSASSA-PSS hashAlgorithm"), "hash") if 0 in given else "sha1"
    mgf_hash = "sha1"
    if 1 in given:
        mgf_oid, mgf_params = _algorithm(given[1], "RSASSA-PSS maskGenAlgorithm")
        if mgf_oid != algs.MGF1_OID:
            raise ProtectionError(f"unsupported mask generation function: {algs.oid_name(mgf_oid)}")
        if mgf_params is None:
            raise ProtectionError("missing MGF1 parameters")
        mgf_hash = hash_of(_algorithm(mgf_params, "MGF1 parameters"), "MGF1 hash")
    salt = _number(given[2], "RSASSA-PSS saltLength") if 2 in given else 20
    trailer = _number(given[3], "RSASSA-PSS trailerField") if 3 in given else 1
    if trailer != 1 or salt < 0:
        raise ProtectionError("unsupported RSASSA-PSS parameters (trailerField or saltLength)")
    return hash_name, (mgf_hash, salt)


def sign(signer, alg_der: bytes, data: bytes) -> bytes:
    """Sign ``data`` with a :class:`cmpkit.core.keys.Signer` as ``alg_der`` says.

    ProtectionError if the algorithm does not fit the signer's key or asks for RSASSA-PSS
    parameters other than those a Signer uses (MGF1 with the same hash, salt = hash length).
    """
    kind, hash_name, pss = _signature_params(alg_der)
    actual = key_type(signer.public_key())
    if actual != kind:
        raise ProtectionError(f"signature algorithm for {kind.upper()} keys does not fit the"
                              f" {actual.upper()} signing key")
    if pss is not None and pss != (hash_name, algs.hash_object(hash_name).digest_size):
        raise ProtectionError("unsupported RSASSA-PSS parameters for signing: need MGF1 with the"
                              " same digest and salt length = digest length")
    return signer.sign(data, hash_name, pss=pss is not None)


def verify_signature(public_key, alg_der: bytes, data: bytes, signature: bytes) -> None:
    """Check ``signature`` over ``data`` with ``public_key``; ProtectionError if invalid or unsupported."""
    InvalidSignature, UnsupportedAlgorithm, padding = _verify_names()
    kind, hash_name, pss = _signature_params(alg_der)
    actual = key_type(public_key)
    if actual != kind:
        raise ProtectionError(f"signature algorithm is for {kind.upper()} keys but the signer key is {actual.upper()}")
    if type(signature) is not bytes:
        signature = bytes(signature)
    if type(data) is not bytes:
        data = bytes(data)
    try:
        if kind in algs.PURE_SIGNATURE_KINDS:  # EdDSA; ML-DSA with the empty context (RFC 9881)
            public_key.verify(signature, data)
        elif kind == "ec":
            public_key.verify(signature, data, algs.ecdsa(hash_name))
        else:
            if pss is None:
                pad = algs.pkcs1v15()
            else:
                mgf_hash, salt = pss
                pad = padding.PSS(mgf=padding.MGF1(algs.hash_object(mgf_hash)), salt_length=salt)
            public_key.verify(signature, data, pad, algs.hash_object(hash_name))
    except InvalidSignature:
        raise ProtectionError("signature check failed: wrong signer key or modified message") from None
    except (UnsupportedAlgorithm, ValueError) as exc:
        raise ProtectionError(f"cannot check signature: {exc}") from None


@functools.lru_cache(maxsize=1)
def _verify_names():
    """The cryptography names verify_signature uses, imported once (not on every call: issue 17)."""
    from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
    from cryptography.hazmat.primitives.asymmetric import padding
    return InvalidSignature, UnsupportedAlgorithm, padding


# ================================================================ certConf certHash


def digest_for_cert_hash(cert_der: bytes) -> str:
    """The hash name for a certificate's certHash in certConf (RFC 4210 5.3.18, RFC 9480 2.10).

    The hash of the certificate's own signature algorithm (for RSASSA-PSS the one in its
    parameters); for Ed25519 SHA-512 and for Ed448 SHAKE256 (RFC 8419), as OpenSSL's
    X509_digest_sig() does. SHAKE256 output is 32 octets, OpenSSL 3.0's default length
    (RFC 9481 would take 64): interoperability with OpenSSL wins.
    """
    try:
        items = der.children(cert_der)
        if len(items) != 3:
            raise DecodeError("not a Certificate SEQUENCE of three items")
        oid, params = algs.decode_algorithm_identifier(items[1])
    except DecodeError as exc:
        raise DecodeError(f"malformed certificate: {exc}") from None
    if oid == algs.RSASSA_PSS_OID:
        return _pss_params(params)[0]
    if oid in algs.SIGNATURE_BY_OID:
        kind, hash_name = algs.SIGNATURE_BY_OID[oid]
        # ML-DSA names no hash: SHA-256, OpenSSL's fallback in X509_digest_sig() (a peer that
        # differs says so in hashAlg, RFC 9480 2.10)
        return hash_name or {"ed25519": "sha512", "ed448": "shake256"}.get(kind, "sha256")
    raise ProtectionError(f"cannot compute certHash: unsupported certificate signature algorithm {oid}")


def cert_hash(cert_der: bytes, digest: str | None = None) -> bytes:
    """The certHash of a DER certificate for certConf: see :func:`digest_for_cert_hash`.

    ``digest`` overrides the choice (e.g. the hashAlg field of a CMP v3 CertStatus).
    """
    if digest is None and type(cert_der) is bytes:  # client and server hash the same certificate (issue 17)
        return _default_cert_hash(cert_der)
    return _cert_hash(cert_der, digest)


@memo(maxsize=16, max_bytes=MAX_CACHED_CERT)
def _default_cert_hash(cert_der: bytes) -> bytes:
    """cert_hash with the certificate's own digest, remembered per DER."""
    return _cert_hash(cert_der, None)


def _cert_hash(cert_der: bytes, digest: str | None) -> bytes:
    from cryptography.hazmat.primitives import hashes

    name = algs.digest_name(digest) if digest is not None else digest_for_cert_hash(cert_der)
    h = hashes.Hash(algs.hash_object(name))
    h.update(bytes(cert_der))
    return h.finalize()
