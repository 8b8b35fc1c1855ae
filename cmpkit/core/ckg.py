"""Central key generation (RFC 9483 4.1.6, openssl cmp 3.5's -centralkeygen): both sides' logic.

Client: the certificate template carries no public key, or only its algorithm (an empty
subjectPublicKey BIT STRING), and the request no POPO (:func:`template_public_key`); the key
returned in CertifiedKeyPair.privateKey is opened, its SignedData's signer checked against the
client's trust (the response's protection certificate, or a certificate with the cmKGA extended
key usage or a CA, validated with -trusted/-srvcert) (:func:`receive_key`).

Server (:mod:`cmpkit.core.server` tells whether a request asks for it): :func:`encrypted_key`
wraps the key to return for the requester: password-based for a MAC-protected request, key transport for
an RSA requester certificate, key agreement for an EC one, signed by the server's key.
"""
from __future__ import annotations

from typing import Optional

from ..errors import CmpError, DecodeError, ProtectionError, TransactionError, VerifyError
from . import cms, der

OID_KP_CMKGA = "1.3.6.1.5.5.7.3.32"      # id-kp-cmKGA, RFC 9480 2.10


def template_public_key(public_key) -> Optional[bytes]:
    """The template's publicKey for central key generation: None (absent) without a key to take
    the algorithm from, else a SubjectPublicKeyInfo with that key's algorithm and an empty BIT STRING."""
    if public_key is None:
        return None
    from cryptography.hazmat.primitives import serialization
    spki = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return der.sequence(der.children(spki)[0], b"\x03\x01\x00")


def _private_key_of(signer):
    return getattr(signer, "private_key", None)


def receive_key(machine, rsp, resp):
    """The centrally generated private key of the certificate response ``resp`` (of message
    ``rsp``), decrypted and its signer checked; TransactionError naming what failed."""
    s = machine.s
    if resp.private_key is None:
        raise TransactionError("central key generation was requested but the response contains no private key")
    originators = tuple(rsp.extra_certs) + ((s.srvcert,) if s.srvcert is not None else ())
    d = cms.Decryptor(private_key=_private_key_of(s.signer), cert=s.cert, password=s.secret,
                      originator_certs=originators)
    try:
        key, signed = cms.open_encrypted_key(resp.private_key, d)
    except (DecodeError, ProtectionError) as exc:
        raise TransactionError(f"cannot obtain the centrally generated key: {exc}") from None
    try:
        _check_signer(machine, rsp, signed)
    except (ProtectionError, VerifyError) as exc:
        raise TransactionError(f"the signer of the centrally generated key is not trusted: {exc}") from None
    return key


def _check_signer(machine, rsp, signed) -> None:
    """RFC 9483 4.1.6: the SignedData's signer is the response's (already validated) protection
    certificate, or a key generation authority (cmKGA extended key usage, or a CA) whose certificate
    validates with the client's trust anchors for CMP (-srvcert pinned, else -trusted)."""
    s = machine.s
    cert = signed.signer_cert
    if not rsp.is_mac_protected() and rsp.protection is not None:
        try:
            rsp.verify_signature(cert)
            return
        except (ProtectionError, CmpError):
            pass
    if cert == s.srvcert:
        return
    from cryptography import x509
    c = x509.load_der_x509_certificate(cert)
    try:
        ca = c.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        ca = False
    try:
        ekus = [e.dotted_string for e in c.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value]
    except x509.ExtensionNotFound:
        ekus = []
    if not ca and OID_KP_CMKGA not in ekus:
        raise ProtectionError("its certificate is neither the response's protection certificate "
                              "nor has it the cmKGA extended key usage")
    trusted = list(s.trusted) or ([s.srvcert] if s.srvcert is not None else [])
    if not trusted:
        raise ProtectionError("no -trusted or -srvcert given to validate its certificate")
    machine._verify_chain(cert, list(signed.certs) + machine.extra_certs_in + list(s.untrusted), trusted)


def encrypted_key(req, private_key, signer, signer_cert: bytes, secret: Optional[bytes],
                  chain=(), digest: str = "sha256") -> bytes:
    """EncryptedKey for ``private_key`` for the requester of ``req``; ValueError saying why not."""
    if signer is None or signer_cert is None:
        raise ValueError("no -srv_key and -srv_cert to sign the centrally generated key")
    if req.is_mac_protected():
        if secret is None:
            raise ValueError("no secret for password-based encryption of the centrally generated key")
        recipient = cms.Recipient(password=secret)
    else:
        if not req.extra_certs:
            raise ValueError("no requester certificate to encrypt the centrally generated key for")
        recipient = cms.Recipient(cert=req.extra_certs[0], oaep=True)   # RFC 9481 4.2.1: OAEP for RSA
    try:
        return cms.encrypted_key_der(private_key, recipient, signer, signer_cert, chain, digest)
    except ProtectionError as exc:
        raise ValueError(str(exc)) from None
