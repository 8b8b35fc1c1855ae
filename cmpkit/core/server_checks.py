"""The CMP server's checks of requests: OpenSSL's error reasons, message protection and proof of possession.

Used by :mod:`cmpkit.core.server`. No I/O: certificates arrive as DER and the verification
policy (``ServerSettings.policy``) decides on chains. A check that fails raises
:class:`Failure` (answered with an error message) or :class:`PopoFailure` (answered with a
rejection in the certificate response), with the reasons OpenSSL 3.0/3.1's server queues.
"""
from __future__ import annotations

import functools
import logging
from typing import Optional

from cmpkit.core.memo import MAX_CACHED_CERT, memo
from cmpkit.core.message import PKIMessage, certificate_parses, name_from_general_name
from cmpkit.errors import CmpError, ConfigError

log = logging.getLogger("cmpkit.server")

# PKIStatus and PKIFailureInfo bit numbers used here (RFC 9810 5.2.3)
ACCEPTED, REJECTION, WAITING = 0, 2, 3
BAD_ALG, BAD_REQUEST, BAD_DATA_FORMAT, BAD_POP = 0, 2, 5, 9
BAD_MESSAGE_CHECK = 1
MAX_FAILURE_BIT = 26

# Error library codes and reason numbers as OpenSSL packs them into errorCode:
# (lib << 23) | reason, with ERR_LIB_CMP = 58 and ERR_LIB_CRMF = 56.
LIB_CMP, LIB_CRMF = 58, 56
LIB_NAMES = {LIB_CMP: "CMP routines", LIB_CRMF: "CRMF routines"}
REASONS = {
    "bad request id": 108, "certhash unmatched": 156, "certreqmsg not found": 157,
    "error processing message": 158, "error unexpected certconf": 160,
    "error validating protection": 140, "missing certid": 165, "missing protection": 143,
    "missing secret": 178, "missing trust anchor": 179, "missing trust store": 144,
    "multiple requests not supported": 161, "no suitable sender cert": 145,
    "recipnonce unmatched": 148, "request not accepted": 149,
    "sender generalname type not supported": 150, "transactionid unmatched": 152,
    "unexpected pkibody": 133, "unexpected pvno": 153, "wrong certid": 189, "wrong pbm value": 155,
    "error creating certrep": 117,
    "unexpected certprofile": 196,  # openssl 3.3+
}
CRMF_REASONS = {"bad pbm iterationcount": 100, "popo inconsistent public key": 126,
                "popo missing": 121, "popo missing public key": 118, "popo missing subject": 119,
                "popo raverified not accepted": 124, "unsupported popo method": 116}


class Failure(Exception):
    """A request the server answers with an error message (OpenSSL's error queue entry)."""

    def __init__(self, reason: str, data: Optional[str] = None, lib: int = LIB_CMP, bit: int = None):
        super().__init__(reason + (f": {data}" if data else ""))
        self.reason, self.data, self.lib = reason, data, lib
        self.bit = BAD_REQUEST if bit is None else bit   # the PKIFailureInfo bit (OpenSSL: badRequest)

    @property
    def code(self) -> int:
        table = REASONS if self.lib == LIB_CMP else CRMF_REASONS
        return (self.lib << 23) | table.get(self.reason, 0)


class PopoFailure(Exception):
    """Proof of possession not verified: answered with rejection and ``bit`` (badPOP, or badAlg for a
    key or algorithm this server cannot check), not an error message."""

    def __init__(self, reason: str, bit: int = None):
        super().__init__(reason)
        self.reason, self.bit = reason, BAD_POP if bit is None else bit


def hexstr(data: Optional[bytes]) -> str:
    """OpenSSL's i2s_ASN1_OCTET_STRING form: upper-case hex bytes joined by ':'."""
    return ":".join(f"{b:02X}" for b in data) if data else "(none)"


# ---------------------------------------------------------------------- message protection

class ProtectionCheck:
    """Validates the protection of requests (OpenSSL's ossl_cmp_msg_check_update() part for it),
    remembering the extraCerts received and the last sender certificate validated."""

    MAX_CACHED_CERTS = 100   # extraCerts remembered for validating later requests

    def __init__(self, settings):
        self.s = settings
        self.cached_certs: list = []                # extraCerts received, newest first
        self.validated_cert: Optional[bytes] = None

    def remember_certs(self, certs: list) -> None:
        if len(certs) > 10:
            log.warning("received CMP message contains %d extraCerts", len(certs))
        fresh = [c for c in certs[:self.MAX_CACHED_CERTS] if c not in self.cached_certs]
        self.cached_certs = (fresh + self.cached_certs)[:self.MAX_CACHED_CERTS]

    def verify(self, req: PKIMessage) -> bool:
        """True if the protection is valid or its absence/invalidity is accepted."""
        if req.protection_alg is None or req.protection is None:
            return self._unprotected_exception(req, invalid=False)
        try:
            if req.is_mac_protected():
                self._verify_mac(req)
            else:
                self._verify_signature(req)
            return True
        except Failure:
            if self._unprotected_exception(req, invalid=True):
                return True
            raise

    def _unprotected_exception(self, req: PKIMessage, invalid: bool) -> bool:
        if self.s.accept_unprotected:
            log.warning("ignoring %s protection of request message", "invalid" if invalid else "missing")
            return True
        if req.body_type == "error" and self.s.accept_unprot_err:
            log.warning("ignoring missing protection of error message")
            return True
        return False

    def _verify_mac(self, req: PKIMessage) -> None:
        from cmpkit.errors import ProtectionError
        if self.s.srv_secret is None:
            log.info("no secret available for verifying PBM-based CMP message protection")
            raise Failure("missing secret")
        try:
            req.verify_mac(self.s.srv_secret)
        except ProtectionError as exc:
            log.warning("verifying PBM-based CMP message protection failed")
            if "iteration" in str(exc):  # PBM or PBMAC1 count out of bounds, refused before hashing
                raise Failure("bad pbm iterationcount", lib=LIB_CRMF, bit=BAD_MESSAGE_CHECK) from None
            raise Failure("wrong pbm value") from None
        log.debug("successfully validated PBM-based CMP message protection")

    def _verify_signature(self, req: PKIMessage) -> None:
        """OpenSSL's check_msg_find_cert(): a sender certificate from the cache, extraCerts,
        -srv_untrusted or -srv_trusted whose subject is the sender, whose SKID matches the
        senderKID, that allows digitalSignature, verifies the signature and chains to
        -srv_trusted."""
        s = self.s
        if not s.srv_trusted and s.srv_secret is not None:
            log.info("no trust store nor pinned server cert available for verifying "
                     "signature-based CMP message protection")
            raise Failure("missing trust anchor")
        sender = req.sender_name_der
        kid = req.sender_kid
        untrusted = self.cached_certs + [c for c in s.srv_untrusted if c not in self.cached_certs]
        candidates = ([self.validated_cert] if self.validated_cert else []) + req.extra_certs + \
            untrusted + list(s.srv_trusted)
        acceptable = False
        for cert_der in dict.fromkeys(candidates):
            if not self._cert_acceptable(cert_der, req, sender, kid):
                continue
            acceptable = True
            if not s.srv_trusted:
                continue
            try:
                self._policy().verify_chain(cert_der, untrusted, s.srv_trusted, purpose=None)
            except CmpError as exc:
                log.warning("msg signature validates but cert path validation failed: %s", exc)
                continue
            self.validated_cert = cert_der
            log.debug("successfully validated signature-based CMP message protection using trust store")
            return
        if acceptable and not s.srv_trusted:
            raise Failure("missing trust store")
        try:
            data = "for msg sender name = " + oneline(sender)
        except CmpError:
            data = None
        if kid is not None:
            data = (data + " and " if data else "") + "for msg senderKID = " + hexstr(kid)
        raise Failure("no suitable sender cert", data)

    def _cert_acceptable(self, cert_der: bytes, req: PKIMessage, sender: bytes, kid: Optional[bytes]) -> bool:
        protection, check_signer_key_usage = _signer_checks()
        if not certificate_parses(cert_der):  # remembered per DER (issue 17)
            return False
        if not same_name(protection.cert_subject_der(cert_der), sender):
            return False
        if kid is not None and protection.subject_key_id(cert_der) != kid:
            return False
        try:
            check_signer_key_usage(cert_der, False, getattr(self.s.policy, "store", None))
            req.verify_signature(cert_der)
        except CmpError:
            return False
        return True

    def _policy(self):
        if self.s.policy is None:
            raise ConfigError("no certificate verification policy (ServerSettings.policy) to verify with")
        return self.s.policy


@functools.lru_cache(maxsize=1)
def _signer_checks() -> tuple:
    """(cmpkit.core.protection, check_signer_key_usage), imported on first use and then kept (issue 17:
    not imported again for every candidate of every request)."""
    from cmpkit.core import protection
    from cmpkit.core.verify import check_signer_key_usage
    return protection, check_signer_key_usage


# ---------------------------------------------------------------------- certificate requests

def check_old_cert_id(crm, ref: bytes) -> None:
    """kur: the oldCertID control must name ``ref`` (issuer and serial number)."""
    from cryptography import x509
    if crm.old_cert_id is None:
        raise Failure("missing certid")
    issuer_gn, serial = crm.old_cert_id
    ref_cert = x509.load_der_x509_certificate(ref)
    if not same_name(ref_cert.issuer.public_bytes(), name_from_general_name(issuer_gn)) \
            or serial != ref_cert.serial_number:
        raise Failure("wrong certid")


def verify_popo(req: PKIMessage, crm, accept_raverified: bool) -> None:
    """ossl_cmp_verify_popo(): p10cr self-signature, or the CRMF POPO of the first request."""
    if req.body_type == "p10cr":
        from cryptography import x509
        from cryptography.exceptions import UnsupportedAlgorithm

        from cmpkit.core import protection
        try:
            csr = x509.load_der_x509_csr(req.body_content)
        except ValueError:  # unparsable CSR
            raise PopoFailure("request not accepted") from None
        try:  # a key type (ML-DSA, SLH-DSA ...) this server cannot verify: badAlg, not badPOP
            kind = protection.key_type(csr.public_key())
            ok = _ml_dsa_csr_valid(req.body_content, csr) if kind.startswith("ml-dsa") \
                else csr.is_signature_valid
        except (UnsupportedAlgorithm, CmpError):
            raise PopoFailure("unsupported algorithm", BAD_ALG) from None
        except (ValueError, TypeError):  # a malformed key
            raise PopoFailure("request not accepted") from None
        if not ok:
            raise PopoFailure("invalid padding" if kind == "rsa" else "EVP lib")
        return
    if crm.popo is None:
        raise PopoFailure("popo missing")
    if crm.popo == "raVerified":
        if not accept_raverified:
            raise PopoFailure("popo raverified not accepted")
        return
    if crm.popo != "signature":
        raise PopoFailure("unsupported popo method")
    spki = crm.template.public_key
    if spki is None:
        raise PopoFailure("popo missing public key")
    if crm.popo_has_input:
        if crm.popo_input_public_key != spki:
            raise PopoFailure("popo inconsistent public key")
        signed = crm.popo_input
    else:
        if crm.template.subject is None:
            raise PopoFailure("popo missing subject")
        signed = crm.cert_request_der
    check_popo_signature(spki, crm.popo_alg, signed, crm.popo_signature)


def _ml_dsa_csr_valid(csr_der: bytes, csr) -> bool:
    """The self-signature of an ML-DSA CSR, which cryptography's is_signature_valid refuses."""
    from cmpkit.core import der, protection
    try:
        protection.verify_signature(csr.public_key(), der.children(csr_der)[1], csr.tbs_certrequest_bytes,
                                    csr.signature)
    except CmpError:
        return False
    return True


@memo(maxsize=32, max_bytes=MAX_CACHED_CERT)
def _popo_public_key(spki: bytes):
    """The public key of a request's SubjectPublicKeyInfo DER, remembered: a client enrolling one key
    after another sends it again and again (a key object is immutable; failures are not kept)."""
    from .lazy import serialization  # the loader without the serialization package's OpenSSH part
    return serialization.load_der_public_key(spki)


def check_popo_signature(spki: bytes, alg: bytes, signed: bytes, signature: bytes) -> None:
    """Verify a POPO signature; the failure text is the first one OpenSSL 3.0 queues."""
    from cryptography.exceptions import UnsupportedAlgorithm

    from cmpkit.core import algs, protection
    try:
        public_key = _popo_public_key(spki)
        kind = protection.key_type(public_key)
    except UnsupportedAlgorithm:  # a key type or curve this server cannot verify
        raise PopoFailure("unsupported algorithm", BAD_ALG) from None
    except (CmpError, ValueError, TypeError):
        raise PopoFailure("EVP lib") from None
    try:
        oid, _params = algs.decode_algorithm_identifier(alg)
    except CmpError:
        raise PopoFailure("unknown signature algorithm") from None
    alg_kind = "rsa" if oid == algs.RSASSA_PSS_OID else algs.SIGNATURE_BY_OID.get(oid, (None,))[0]
    if alg_kind is None:
        raise PopoFailure("unknown signature algorithm")
    if alg_kind != kind:
        raise PopoFailure("wrong public key type")
    try:
        protection.verify_signature(public_key, alg, signed, signature)
    except CmpError as exc:
        log.debug("POPO signature check failed: %s", exc)
        raise PopoFailure("invalid padding" if kind == "rsa" else "EVP lib") from None


# ---------------------------------------------------------------------- names

def oneline(name_der: bytes) -> str:
    """OpenSSL's X509_NAME_oneline() form (/CN=.../O=...) of a DER Name."""
    from cmpkit.core.names import name_from_der
    from cmpkit.core.verify import name_oneline
    return name_oneline(name_from_der(name_der))


def same_name(a: Optional[bytes], b: Optional[bytes]) -> bool:
    """X509_NAME_cmp() == 0: equal DER, else equal canonical forms."""
    if a is None or b is None:
        return False
    if a == b:
        return True
    from cmpkit.core.message import same_name as canonical_same
    return canonical_same(a, b)
