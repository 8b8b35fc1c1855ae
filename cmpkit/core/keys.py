"""Key handles: the one interface through which cmpkit signs, whether the key is in memory or in a token."""
from __future__ import annotations

from ..types import Signer  # noqa: F401  (the contract lives in cmpkit.types)


def hash_algorithm(name: str):
    """The cryptography hash object for a digest name as -digest accepts it ("sha256", "SHA-256"...)."""
    from .algs import digest_name, hash_object
    return hash_object(digest_name(name))


def _private_key_type(key) -> str:
    """rsa, ec or eddsa for a ``cryptography`` private key; CredentialError for anything else."""
    from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa

    if isinstance(key, (ed25519.Ed25519PrivateKey, ed448.Ed448PrivateKey)):
        return "eddsa"
    if isinstance(key, rsa.RSAPrivateKey):
        return "rsa"
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return "ec"
    if _is_ml_dsa_private(key):
        return "eddsa"  # signs the message itself, no separate digest: as EdDSA
    from ..errors import CredentialError
    raise CredentialError(f"unsupported private key type: {type(key).__name__}")


def _is_ml_dsa_private(key) -> bool:
    """Whether ``key`` is a cryptography ML-DSA private key (pure ML-DSA, empty context: RFC 9881)."""
    try:
        from cryptography.hazmat.primitives.asymmetric import mldsa
    except ImportError:
        return False
    return isinstance(key, (mldsa.MLDSA44PrivateKey, mldsa.MLDSA65PrivateKey, mldsa.MLDSA87PrivateKey))


class SoftwareKey:
    """A Signer over an in-memory ``cryptography`` private key (RSA, EC, Ed25519, Ed448, ML-DSA)."""

    __slots__ = ("_key", "_public", "_kind")

    def __init__(self, private_key):
        self._key = private_key
        self._public = None  # the public key and the key type, found on first use
        self._kind = None

    @property
    def private_key(self):
        return self._key

    def public_key(self):
        if self._public is None:
            self._public = self._key.public_key()
        return self._public

    def sign(self, data: bytes, digest: str | None, pss: bool = False) -> bytes:
        from .algs import digest_name, ecdsa, hash_object, pkcs1v15

        key = self._key
        if self._kind is None:
            self._kind = _private_key_type(key)
        if self._kind == "eddsa":
            return key.sign(data)
        name = digest_name(digest or "sha256")
        if self._kind == "ec":  # the ECDSA and padding objects are made once per hash (issue 17)
            return key.sign(data, ecdsa(name))
        h = hash_object(name)
        if pss:
            from cryptography.hazmat.primitives.asymmetric import padding
            return key.sign(data, padding.PSS(mgf=padding.MGF1(h), salt_length=h.digest_size), h)
        return key.sign(data, pkcs1v15(), h)

    def __repr__(self) -> str:  # never shows key material
        return f"SoftwareKey({type(self._key).__name__})"


def as_signer(key: object) -> "Signer | None":
    """A Signer for ``key``: a ``cryptography`` private key (RSA, EC, EdDSA, ML-DSA) in a
    :class:`SoftwareKey`, a key handle (``sign`` and ``public_key``, such as a PKCS#11 key) as it
    is; None for anything else."""
    if callable(getattr(key, "sign", None)):
        if hasattr(key, "private_bytes"):
            return SoftwareKey(key)
        if callable(getattr(key, "public_key", None)):
            return key
    return None


def check_key_matches_cert(key_or_signer, cert_der, what: str) -> None:
    """Raise CredentialError unless the key (a Signer, private or public key) belongs to the certificate.

    :param cert_der: the certificate as DER bytes (or a ``cryptography`` Certificate).
    :param what: names the options involved, e.g. "-cert and -key".
    """
    from cryptography import x509
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import serialization

    from ..errors import CredentialError
    spki = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    public = key_or_signer.public_key() if hasattr(key_or_signer, "public_key") else key_or_signer
    try:
        cert = cert_der if isinstance(cert_der, x509.Certificate) else x509.load_der_x509_certificate(cert_der)
    except ValueError:
        raise CredentialError(f"{what}: the certificate is not valid DER") from None
    try:
        cert_public = cert.public_key()
    except (ValueError, UnsupportedAlgorithm):
        raise CredentialError(f"{what}: unsupported public key type in the certificate") from None
    if public.public_bytes(*spki) != cert_public.public_bytes(*spki):
        raise CredentialError(f"{what}: the private key does not match the public key of the certificate "
                              f"'{cert.subject.rfc4514_string()}'")
