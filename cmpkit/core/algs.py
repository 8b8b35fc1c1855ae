"""Algorithm identifiers for CMP protection: OID tables, openssl option names, AlgorithmIdentifier DER.

Everything here is data plus small codecs; the cryptography itself lives in
:mod:`cmpkit.core.protection`. Names follow OpenSSL's long names (what ``openssl cmp``
accepts for ``-digest`` and ``-mac``, looked up with ``OBJ_ln2nid``); cmpkit also accepts
the obvious spellings that differ only in case, ``_`` for ``-`` or a dash after "sha"
("SHA256", "SHA-256", "sha3_256", "HMAC-SHA1", "hmacwithsha256").
"""
from __future__ import annotations

import functools

from ..errors import ConfigError, DecodeError
from .memo import memo

# ---------------------------------------------------------------- protection OIDs
PBM_OID = "1.2.840.113533.7.66.13"        # id-PasswordBasedMac, RFC 4210 5.1.3.1
PBMAC1_OID = "1.2.840.113549.1.5.14"      # id-PBMAC1, RFC 8018 / RFC 9481 6.1
PBKDF2_OID = "1.2.840.113549.1.5.12"      # id-PBKDF2, RFC 8018
RSASSA_PSS_OID = "1.2.840.113549.1.1.10"  # id-RSASSA-PSS, RFC 4055
MGF1_OID = "1.2.840.113549.1.1.8"         # id-mgf1, RFC 4055
RSA_ENCRYPTION_OID = "1.2.840.113549.1.1.1"
ED25519_OID = "1.3.101.112"
ED448_OID = "1.3.101.113"

NULL_DER = b"\x05\x00"

# ---------------------------------------------------------------- hashes
# canonical name (OpenSSL long name) -> OID
HASH_OIDS = {
    "md5": "1.2.840.113549.2.5",
    "sha1": "1.3.14.3.2.26",
    "sha224": "2.16.840.1.101.3.4.2.4",
    "sha256": "2.16.840.1.101.3.4.2.1",
    "sha384": "2.16.840.1.101.3.4.2.2",
    "sha512": "2.16.840.1.101.3.4.2.3",
    "sha512-224": "2.16.840.1.101.3.4.2.5",
    "sha512-256": "2.16.840.1.101.3.4.2.6",
    "sha3-224": "2.16.840.1.101.3.4.2.7",
    "sha3-256": "2.16.840.1.101.3.4.2.8",
    "sha3-384": "2.16.840.1.101.3.4.2.9",
    "sha3-512": "2.16.840.1.101.3.4.2.10",
    "shake128": "2.16.840.1.101.3.4.2.11",
    "shake256": "2.16.840.1.101.3.4.2.12",
    "sm3": "1.2.156.10197.1.401",
    "blake2b512": "1.3.6.1.4.1.1722.12.2.1.16",
    "blake2s256": "1.3.6.1.4.1.1722.12.2.2.8",
}
HASH_BY_OID = {oid: name for name, oid in HASH_OIDS.items()}

# Output length cmpkit uses for the extendable-output functions (OpenSSL 3.0's EVP default).
XOF_LENGTHS = {"shake128": 16, "shake256": 32}


@functools.lru_cache(maxsize=None)
def hash_object(name: str):
    """The ``cryptography`` hash object for a canonical hash name (see :data:`HASH_OIDS`); these
    objects are immutable, so one per name serves every caller."""
    from cryptography.hazmat.primitives import hashes

    if name in XOF_LENGTHS:
        cls = hashes.SHAKE128 if name == "shake128" else hashes.SHAKE256
        return cls(digest_size=XOF_LENGTHS[name])
    factory = {
        "md5": hashes.MD5, "sha1": hashes.SHA1, "sha224": hashes.SHA224, "sha256": hashes.SHA256,
        "sha384": hashes.SHA384, "sha512": hashes.SHA512, "sha512-224": hashes.SHA512_224,
        "sha512-256": hashes.SHA512_256, "sha3-224": hashes.SHA3_224, "sha3-256": hashes.SHA3_256,
        "sha3-384": hashes.SHA3_384, "sha3-512": hashes.SHA3_512, "sm3": hashes.SM3,
        "blake2b512": lambda: hashes.BLAKE2b(64), "blake2s256": lambda: hashes.BLAKE2s(32),
    }.get(name)
    if factory is None:
        raise ConfigError(f"unsupported digest algorithm: {name}")
    return factory()


@functools.lru_cache(maxsize=None)
def ecdsa(name: str):
    """cryptography's ECDSA with the hash of a canonical name (immutable: one per name serves all)."""
    from cryptography.hazmat.primitives.asymmetric import ec
    return ec.ECDSA(hash_object(name))


@functools.lru_cache(maxsize=1)
def pkcs1v15():
    """cryptography's PKCS#1 v1.5 signature padding (stateless: one serves all)."""
    from cryptography.hazmat.primitives.asymmetric import padding
    return padding.PKCS1v15()


# ---------------------------------------------------------------- HMACs
# OpenSSL long name -> (OID, hash name)
HMAC_ALGS = {
    "hmac-sha1": ("1.3.6.1.5.5.8.1.2", "sha1"),      # RFC 4210's default for PBM
    "hmac-md5": ("1.3.6.1.5.5.8.1.1", "md5"),
    "hmacWithMD5": ("1.2.840.113549.2.6", "md5"),
    "hmacWithSHA1": ("1.2.840.113549.2.7", "sha1"),
    "hmacWithSHA224": ("1.2.840.113549.2.8", "sha224"),
    "hmacWithSHA256": ("1.2.840.113549.2.9", "sha256"),
    "hmacWithSHA384": ("1.2.840.113549.2.10", "sha384"),
    "hmacWithSHA512": ("1.2.840.113549.2.11", "sha512"),
    "hmacWithSHA512-224": ("1.2.840.113549.2.12", "sha512-224"),
    "hmacWithSHA512-256": ("1.2.840.113549.2.13", "sha512-256"),
    "hmac-sha3-224": ("2.16.840.1.101.3.4.2.13", "sha3-224"),
    "hmac-sha3-256": ("2.16.840.1.101.3.4.2.14", "sha3-256"),
    "hmac-sha3-384": ("2.16.840.1.101.3.4.2.15", "sha3-384"),
    "hmac-sha3-512": ("2.16.840.1.101.3.4.2.16", "sha3-512"),
}
HMAC_BY_OID = {oid: (name, h) for name, (oid, h) in HMAC_ALGS.items()}

# ---------------------------------------------------------------- signatures
# (key type, hash name or None) -> OID; key types: "rsa", "ec", "ed25519", "ed448"
SIGNATURE_OIDS = {
    ("rsa", "md5"): "1.2.840.113549.1.1.4",
    ("rsa", "sha1"): "1.2.840.113549.1.1.5",
    ("rsa", "sha224"): "1.2.840.113549.1.1.14",
    ("rsa", "sha256"): "1.2.840.113549.1.1.11",
    ("rsa", "sha384"): "1.2.840.113549.1.1.12",
    ("rsa", "sha512"): "1.2.840.113549.1.1.13",
    ("rsa", "sha512-224"): "1.2.840.113549.1.1.15",
    ("rsa", "sha512-256"): "1.2.840.113549.1.1.16",
    ("rsa", "sha3-224"): "2.16.840.1.101.3.4.3.13",
    ("rsa", "sha3-256"): "2.16.840.1.101.3.4.3.14",
    ("rsa", "sha3-384"): "2.16.840.1.101.3.4.3.15",
    ("rsa", "sha3-512"): "2.16.840.1.101.3.4.3.16",
    ("ec", "sha1"): "1.2.840.10045.4.1",
    ("ec", "sha224"): "1.2.840.10045.4.3.1",
    ("ec", "sha256"): "1.2.840.10045.4.3.2",
    ("ec", "sha384"): "1.2.840.10045.4.3.3",
    ("ec", "sha512"): "1.2.840.10045.4.3.4",
    ("ec", "sha3-224"): "2.16.840.1.101.3.4.3.9",
    ("ec", "sha3-256"): "2.16.840.1.101.3.4.3.10",
    ("ec", "sha3-384"): "2.16.840.1.101.3.4.3.11",
    ("ec", "sha3-512"): "2.16.840.1.101.3.4.3.12",
    ("ed25519", None): ED25519_OID,
    ("ed448", None): ED448_OID,
}

# ---------------------------------------------------------------- post-quantum signatures
# ML-DSA (FIPS 204), parameters absent (RFC 9881): key type -> OID; "pure" ML-DSA, empty context.
ML_DSA_OIDS = {
    "ml-dsa-44": "2.16.840.1.101.3.4.3.17",
    "ml-dsa-65": "2.16.840.1.101.3.4.3.18",
    "ml-dsa-87": "2.16.840.1.101.3.4.3.19",
}
SIGNATURE_OIDS.update({(kind, None): oid for kind, oid in ML_DSA_OIDS.items()})
# SLH-DSA (FIPS 205, RFC 9909): recognised so that errors can name them; cryptography lacks SLH-DSA
# and cmpkit never implements an algorithm itself.
SLH_DSA_OIDS = {
    "2.16.840.1.101.3.4.3.%d" % (20 + i): "slh-dsa-%s-%s" % (fam, size)
    for i, (fam, size) in enumerate((f, s) for f in ("sha2", "shake")
                                    for s in ("128s", "128f", "192s", "192f", "256s", "256f"))
}
#: key types signing without a separate digest (the algorithm fixes it)
PURE_SIGNATURE_KINDS = frozenset({"ed25519", "ed448"} | set(ML_DSA_OIDS))
SLH_DSA_UNSUPPORTED = "SLH-DSA is not supported: the installed cryptography package lacks it"

SIGNATURE_BY_OID = {oid: kh for kh, oid in SIGNATURE_OIDS.items()}

# ---------------------------------------------------------------- option names


def _fold(name: str) -> str:
    """Case- and punctuation-insensitive key: "SHA-256" / "sha_256" -> "sha256"."""
    key = name.strip().lower().replace("_", "-")
    for prefix in ("sha-", "hmacwithsha-", "hmac-sha-"):
        if key.startswith(prefix):
            key = prefix[:-1] + key[len(prefix):]
    return key


_DIGEST_FOLDED = {_fold(n): n for n in HASH_OIDS}
_MAC_FOLDED = {_fold(n): n for n in HMAC_ALGS}
_MAC_FOLDED.update({  # OpenSSL short names that differ from the long ones
    "hmac-sha224": "hmacWithSHA224", "hmac-sha256": "hmacWithSHA256",
    "hmac-sha384": "hmacWithSHA384", "hmac-sha512": "hmacWithSHA512",
    "id-hmacwithsha3-224": "hmac-sha3-224", "id-hmacwithsha3-256": "hmac-sha3-256",
    "id-hmacwithsha3-384": "hmac-sha3-384", "id-hmacwithsha3-512": "hmac-sha3-512",
})


def digest_name(value: str) -> str:
    """The canonical hash name for a ``-digest`` value, or ConfigError (as openssl words it)."""
    name = _DIGEST_FOLDED.get(_fold(value)) if isinstance(value, str) else None
    if name is None:
        raise ConfigError(f"digest algorithm name not recognized: '{value}' (-digest)")
    return name


def mac_name(value: str) -> str:
    """The canonical HMAC name for a ``-mac`` value, or ConfigError (as openssl words it)."""
    name = _MAC_FOLDED.get(_fold(value)) if isinstance(value, str) else None
    if name is None:
        raise ConfigError(f"MAC algorithm name not recognized: '{value}' (-mac)")
    return name


def oid_name(oid: str) -> str:
    """A readable name for an OID in error messages (the dotted form when unknown)."""
    names = {PBM_OID: "PasswordBasedMac", PBMAC1_OID: "PBMAC1", PBKDF2_OID: "PBKDF2",
             RSASSA_PSS_OID: "RSASSA-PSS", MGF1_OID: "MGF1", ED25519_OID: "Ed25519",
             ED448_OID: "Ed448"}
    if oid in names:
        return names[oid]
    if oid in HASH_BY_OID:
        return HASH_BY_OID[oid]
    if oid in HMAC_BY_OID:
        return HMAC_BY_OID[oid][0]
    if oid in SIGNATURE_BY_OID:
        key, h = SIGNATURE_BY_OID[oid]
        return key.upper() if h is None else f"{key}-with-{h}"
    if oid in SLH_DSA_OIDS:
        return SLH_DSA_OIDS[oid].upper()
    return oid


# ---------------------------------------------------------------- AlgorithmIdentifier, as DER


def encode_algorithm_identifier(oid: str, params: bytes | None = None) -> bytes:
    """DER of AlgorithmIdentifier { oid, params } (``params`` is one DER TLV, or None for absent)."""
    from . import der
    return der.sequence(der.oid(oid), params or b"")


def decode_algorithm_identifier(data: bytes) -> tuple[str, bytes | None]:
    """(dotted OID, parameters DER or None) of an AlgorithmIdentifier; DecodeError if malformed.

    A transaction meets the same few identifiers again and again, so results are memoised.
    """
    return _decode_algorithm_identifier(bytes(data))


@memo(maxsize=256, max_bytes=1024)
def _decode_algorithm_identifier(data: bytes) -> tuple[str, bytes | None]:
    from . import der  # AlgorithmIdentifier ::= SEQUENCE { algorithm OID, parameters ANY OPTIONAL }
    try:
        tag, _start, end = der.read_tlv(data)
        fields = der.children(data) if tag == 0x30 and end == len(data) else []
        if not 1 <= len(fields) <= 2:
            raise DecodeError("not a SEQUENCE of an OID and optional parameters")
        return der.read_oid(fields[0]), (fields[1] if len(fields) == 2 else None)
    except DecodeError as exc:
        raise DecodeError(f"malformed AlgorithmIdentifier: {exc}") from None
