"""The CA mode's checks of a request's header and protection (RFC 9483 section 3, RFC 9810
section 5.1, RFC 9481). Each failed check raises :class:`Reject` with the failInfo bit the RFCs
name; the machine answers it with an error message (or the request's response type with a
rejection status, for content checks).
"""
from __future__ import annotations

import datetime
from typing import Optional

from cmpkit.core import algs, der
from cmpkit.core.message import OID_CONFIRM_WAIT_TIME, OID_IMPLICIT_CONFIRM, PKIMessage
from cmpkit.core.server_checks import same_name
from cmpkit.errors import CmpError

# PKIFailureInfo bit numbers (RFC 9810 section 5.2.3)
BAD_ALG, BAD_MESSAGE_CHECK, BAD_REQUEST, BAD_TIME, BAD_CERT_ID, BAD_DATA_FORMAT = 0, 1, 2, 3, 4, 5
WRONG_AUTHORITY, INCORRECT_DATA, BAD_POP, CERT_REVOKED, CERT_CONFIRMED = 6, 7, 9, 10, 11
BAD_RECIPIENT_NONCE, UNACCEPTED_EXTENSION, BAD_SENDER_NONCE, BAD_CERT_TEMPLATE = 13, 16, 18, 19
SIGNER_NOT_TRUSTED, TRANSACTION_ID_IN_USE, UNSUPPORTED_VERSION, NOT_AUTHORIZED = 20, 21, 22, 23
SYSTEM_FAILURE = 25

# generalInfo the CA knows (RFC 9810 5.1.1.1-5.1.1.4, RFC 9483 3.1): id-it OID -> value check
OID_ORIG_PKI_MESSAGE = "1.3.6.1.5.5.7.4.15"
OID_CERT_PROFILE = "1.3.6.1.5.5.7.4.21"
KNOWN_GENERAL_INFO = (OID_IMPLICIT_CONFIRM, OID_CONFIRM_WAIT_TIME, OID_ORIG_PKI_MESSAGE, OID_CERT_PROFILE)


class Reject(Exception):
    """A request the CA rejects: failInfo ``bit`` and a one-line text for statusString."""

    def __init__(self, bit: int, text: str):
        super().__init__(text)
        self.bit, self.text = bit, text


def check_first_header(req: PKIMessage, now: float, time_window: Optional[int]) -> None:
    """The header of a transaction's first request: pvno, transactionID, nonces, messageTime, generalInfo."""
    check_pvno(req)
    tid = req.transaction_id
    if not tid:
        raise Reject(BAD_REQUEST, "transactionID missing")
    if len(tid) < 16:
        raise Reject(BAD_REQUEST, "transactionID shorter than 128 bits")
    check_sender_nonce(req)
    if req.recip_nonce is not None:
        raise Reject(BAD_RECIPIENT_NONCE, "recipNonce in the first message of a transaction")
    check_message_time(req, now, time_window)
    check_general_info(req)


def check_pvno(req: PKIMessage) -> None:
    if req.pvno not in (2, 3):
        raise Reject(UNSUPPORTED_VERSION, f"pvno {req.pvno} not supported (2 or 3)")


def check_sender_nonce(req: PKIMessage) -> None:
    nonce = req.sender_nonce
    if nonce is None:
        raise Reject(BAD_SENDER_NONCE, "senderNonce missing")
    if len(nonce) != 16:
        raise Reject(BAD_SENDER_NONCE, f"senderNonce of {len(nonce)} octets (16 expected)")


def check_message_time(req: PKIMessage, now: float, window: Optional[int]) -> None:
    if window is None or req.header.messageTime is None:
        return
    t = req.message_time
    if t is None or abs(t.timestamp() - now) > window:
        raise Reject(BAD_TIME, f"messageTime more than {window} seconds off the server's time")


def check_general_info(req: PKIMessage) -> None:
    for oid, value in req.general_info:
        if oid not in KNOWN_GENERAL_INFO:
            raise Reject(BAD_REQUEST, f"unknown generalInfo {oid}")
        if oid == OID_IMPLICIT_CONFIRM and value != b"\x05\x00":
            raise Reject(BAD_DATA_FORMAT, "implicitConfirm value must be NULL")
        if oid == OID_CONFIRM_WAIT_TIME and (value is None or value[:1] != b"\x18"):
            raise Reject(BAD_DATA_FORMAT, "confirmWaitTime value must be a GeneralizedTime")
        if oid == OID_CERT_PROFILE:
            try:
                strings = der.parts(value, 0x30, "certProfile") if value else []
            except CmpError:
                strings = []
            if not strings or any(s[:1] != b"\x0c" for s in strings):
                raise Reject(BAD_DATA_FORMAT, "certProfile must be a SEQUENCE OF UTF8String")


# ---------------------------------------------------------------------- protection

def check_protection(req: PKIMessage, s, trusted: list, untrusted: list) -> Optional[bytes]:
    """Verify the request's protection with the CA's settings ``s``; the protecting certificate
    (signature) or None (MAC, or unprotected where accepted). Reject badMessageCheck/badAlg."""
    alg = req.protection_alg
    if alg is None or req.protection is None:
        if s.accept_unprotected:
            return None
        raise Reject(BAD_MESSAGE_CHECK, "request not protected")
    try:
        oid, _params = algs.decode_algorithm_identifier(alg)
    except CmpError:
        raise Reject(BAD_ALG, "malformed protectionAlg") from None
    if oid in (algs.PBM_OID, algs.PBMAC1_OID):
        _check_mac(req, s)
        return None
    if oid not in algs.SIGNATURE_BY_OID and oid != algs.RSASSA_PSS_OID:
        raise Reject(BAD_ALG, f"protection algorithm {algs.oid_name(oid)} not accepted")
    return _check_signature(req, s, trusted, untrusted)


def _check_mac(req: PKIMessage, s) -> None:
    if s.srv_secret is None:
        raise Reject(BAD_MESSAGE_CHECK, "MAC-based protection not accepted (no shared secret)")
    if s.srv_ref is not None and req.sender_kid != s.srv_ref:
        raise Reject(BAD_MESSAGE_CHECK, "unknown senderKID for MAC-based protection")
    try:
        req.verify_mac(s.srv_secret)
    except CmpError as exc:
        if "unsupported" in str(exc):   # an OWF, PRF or MAC this server does not take
            raise Reject(BAD_ALG, f"MAC algorithm not accepted: {str(exc)[:120]}") from None
        raise Reject(BAD_MESSAGE_CHECK, "MAC-based protection did not verify") from None


def _check_signature(req: PKIMessage, s, trusted: list, untrusted: list) -> bytes:
    from cryptography import x509

    from cmpkit.core import protection
    from cmpkit.core.verify import check_signer_key_usage
    sender = req.sender_name_der
    if sender is None:
        raise Reject(BAD_MESSAGE_CHECK, "signature-protected request without a directoryName sender")
    extra = req.extra_certs
    if not extra:
        raise Reject(BAD_MESSAGE_CHECK, "signature-protected request without its certificate in extraCerts")
    cert = extra[0]
    if not same_name(protection.cert_subject_der(cert), sender):
        raise Reject(BAD_MESSAGE_CHECK, "sender is not the subject of the first extraCert")
    kid = protection.subject_key_id(cert)
    if req.sender_kid is not None and kid is not None and req.sender_kid != kid:
        raise Reject(BAD_MESSAGE_CHECK, "senderKID does not match the protecting certificate")
    try:
        check_signer_key_usage(cert, False, getattr(s.policy, "store", None))
    except CmpError:
        raise Reject(BAD_MESSAGE_CHECK, "protecting certificate's key usage does not allow signing") from None
    try:
        req.verify_signature(cert)
    except CmpError:
        raise Reject(BAD_MESSAGE_CHECK, "signature protection did not verify") from None
    except (ValueError, TypeError, x509.InvalidVersion):
        raise Reject(BAD_ALG, "signature algorithm does not fit the protecting certificate's key") from None
    if s.policy is None or not trusted:
        raise Reject(SIGNER_NOT_TRUSTED, "no trust anchors for signature-protected requests")
    try:
        s.policy.verify_chain(cert, list(extra[1:]) + list(untrusted), trusted, purpose=None)
    except CmpError as exc:
        raise Reject(BAD_MESSAGE_CHECK, f"protecting certificate not trusted: {exc}") from None
    return cert


def fresh_mac_algorithm(alg_der: bytes, salt: bytes) -> bytes:
    """The request's PBM or PBMAC1 AlgorithmIdentifier with the same parameters but ``salt``
    (RFC 9483 3.2: the response uses the request's MAC algorithm with a fresh salt)."""
    oid, params = algs.decode_algorithm_identifier(alg_der)
    fields = der.parts(params, 0x30, "MAC parameters")
    if oid == algs.PBM_OID:       # PBMParameter ::= SEQUENCE { salt, owf, iterationCount, mac }
        return algs.encode_algorithm_identifier(oid, der.sequence(der.tlv(0x04, salt), *fields[1:]))
    # PBMAC1-params ::= SEQUENCE { keyDerivationFunc AlgorithmIdentifier (PBKDF2), messageAuthScheme }
    kdf_oid, kdf_params = algs.decode_algorithm_identifier(fields[0])
    kdf = der.parts(kdf_params, 0x30, "PBKDF2 parameters")
    kdf_der = algs.encode_algorithm_identifier(kdf_oid, der.sequence(der.tlv(0x04, salt), *kdf[1:]))
    return algs.encode_algorithm_identifier(oid, der.sequence(kdf_der, fields[1]))


def generalized_time(seconds: float) -> bytes:
    """A GeneralizedTime TLV (whole seconds, UTC) of POSIX ``seconds``."""
    dt = datetime.datetime.fromtimestamp(int(seconds), datetime.timezone.utc)
    return der.tlv(0x18, dt.strftime("%Y%m%d%H%M%SZ").encode())
