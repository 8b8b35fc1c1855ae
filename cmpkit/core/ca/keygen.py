"""Central key generation in the CA mode (RFC 9483 4.1.6): a request whose template has no
public key, or only its algorithm (an empty subjectPublicKey), and no POPO gets a key the CA
generates, the certificate for it, and the private key enveloped for the requester by
:func:`cmpkit.core.ckg.encrypted_key` (password-based for a MAC-protected request, key transport
for an RSA requester certificate, key agreement for an EC one), signed by the CA key.

The key type is the template's algorithm when it names one (rsaEncryption: an RSA key of the
policy's minimum size, at least 2048 bits; id-ecPublicKey with a named curve, or P-256 without
one; Ed25519, Ed448, ML-DSA-44/65/87), else the CA's default (-srv_keygen_type, e.g.
``EC:P-256``, ``RSA:3072``, ``Ed25519``, ``ML-DSA-65``). Generation is ``cryptography``'s.
"""
from __future__ import annotations

from typing import Optional

from cmpkit.core import der
from cmpkit.core.ca.checks import BAD_ALG, BAD_CERT_TEMPLATE, Reject

DEFAULT_KEY_TYPE = "EC:P-256"
_CURVE_ALIASES = {"P-256": "secp256r1", "P-384": "secp384r1", "P-521": "secp521r1",
                  "prime256v1": "secp256r1"}
_CURVE_OIDS = {"1.2.840.10045.3.1.7": "secp256r1", "1.3.132.0.34": "secp384r1", "1.3.132.0.35": "secp521r1",
               "1.3.36.3.3.2.8.1.1.7": "brainpoolP256r1", "1.3.36.3.3.2.8.1.1.11": "brainpoolP384r1",
               "1.3.36.3.3.2.8.1.1.13": "brainpoolP512r1"}


def _curves() -> dict:
    from cryptography.hazmat.primitives.asymmetric import ec
    return {"secp256r1": ec.SECP256R1, "secp384r1": ec.SECP384R1, "secp521r1": ec.SECP521R1,
            "brainpoolP256r1": ec.BrainpoolP256R1, "brainpoolP384r1": ec.BrainpoolP384R1,
            "brainpoolP512r1": ec.BrainpoolP512R1}


def check_key_type(text: str, policy=None) -> str:
    """``text`` normalized (ValueError naming what is wrong): RSA[:bits], EC[:curve], Ed25519,
    Ed448, ML-DSA-44/65/87."""
    kind, _, arg = text.partition(":")
    k = kind.upper()
    if k == "RSA":
        bits = int(arg) if arg.isdigit() else (2048 if not arg else -1)
        if bits < 2048 or bits > 16384:
            raise ValueError(f"RSA key size {arg!r}: 2048 .. 16384 bits expected")
        return f"RSA:{bits}"
    if k == "EC":
        curve = _CURVE_ALIASES.get(arg or "P-256", arg)
        if curve not in _curves():
            raise ValueError(f"unknown elliptic curve {arg!r} ({', '.join(sorted(_curves()))})")
        return f"EC:{curve}"
    if k in ("ED25519", "ED448") and not arg:
        return "Ed25519" if k == "ED25519" else "Ed448"
    if k in ("ML-DSA-44", "ML-DSA-65", "ML-DSA-87") and not arg:
        return k
    raise ValueError(f"unknown key type {text!r} (RSA[:bits], EC[:curve], Ed25519, Ed448, ML-DSA-44/65/87)")


def requested(crm) -> Optional[bool]:
    """None: an ordinary request; True: central key generation asked for consistently (no POPO);
    False: asked for, but with a POPO (badPOP)."""
    from cmpkit.core.server import central_keygen_requested
    return central_keygen_requested(crm)


def key_type_of_template(spki: Optional[bytes], default: str, policy) -> str:
    """The key type to generate for a template's publicKey (None or algorithm with an empty key)."""
    if spki is None:
        return default
    from cmpkit.core import algs
    try:
        oid, params = algs.decode_algorithm_identifier(der.children(spki)[0])
    except Exception:  # noqa: BLE001 - any malformed AlgorithmIdentifier
        raise Reject(BAD_CERT_TEMPLATE, "malformed publicKey algorithm in the template") from None
    if oid == "1.2.840.113549.1.1.1":
        return f"RSA:{max(2048, policy.min_rsa_bits)}"
    if oid == "1.2.840.10045.2.1":
        if not params or params[:1] != b"\x06":
            return "EC:secp256r1"
        curve = _CURVE_OIDS.get(der.read_oid(params))
        if curve is None or curve not in policy.ec_curves:
            raise Reject(BAD_ALG, "elliptic curve of the template not supported")
        return f"EC:{curve}"
    names = {"1.3.101.112": "Ed25519", "1.3.101.113": "Ed448"}
    names.update({o: k.upper() for k, o in algs.ML_DSA_OIDS.items()})
    if oid in names:
        return names[oid]
    raise Reject(BAD_ALG, f"central key generation for {algs.oid_name(oid)} not supported")


def generate(key_type: str):
    """A new ``cryptography`` private key of ``key_type`` (as :func:`check_key_type` returns it)."""
    from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
    kind, _, arg = key_type.partition(":")
    if kind == "RSA":
        return rsa.generate_private_key(65537, int(arg))
    if kind == "EC":
        return ec.generate_private_key(_curves()[arg]())
    if kind == "Ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    if kind == "Ed448":
        return ed448.Ed448PrivateKey.generate()
    from cryptography.hazmat.primitives.asymmetric import mldsa
    return getattr(mldsa, "MLDSA" + kind[-2:] + "PrivateKey").generate()


def enveloped_key(server, req, private_key) -> bytes:
    """EncryptedKey for ``private_key`` for the requester of ``req``, signed by the CA key;
    Reject (badRequest) when it cannot be enveloped for this requester."""
    from cmpkit.core import ckg
    from cmpkit.core.ca.checks import BAD_REQUEST
    from cmpkit.core.keys import SoftwareKey
    s = server.s
    try:
        return ckg.encrypted_key(req, private_key, SoftwareKey(s.ca_key), s.ca_cert, s.srv_secret,
                                 list(s.ca_chain), s.digest)
    except ValueError as exc:
        raise Reject(BAD_REQUEST, f"central key generation: {str(exc)[:150]}") from None
