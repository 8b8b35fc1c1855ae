"""The CMP mock server: a sans-IO request -> response engine behaving like OpenSSL 3.0/3.1's.

It mirrors OpenSSL's generic CMP server (``crypto/cmp/cmp_server.c``: request checks,
transaction state, certConf and pollReq handling, error responses) together with the mock
CA of ``apps/lib/cmp_mock_srv.c`` as ``openssl cmp`` configures it with the ``-srv_*`` and
``-rsp_*`` options. The mock does not issue anything: every enrollment is answered with
``-rsp_cert``.

Use: ``MockServer(MockSettings(...)).handle(request_der) -> response_der``. ``handle`` never
raises for bad client input: it answers with a CMP error message, as OpenSSL's server does
(malformed DER gets rejection / badDataFormat). One transaction is open at a time, as in
OpenSSL; a request starting a new transaction (ir, cr, kur, p10cr, rr, genm, error) ends
any open one, so a finished transaction's ID may be used again (``-reqin`` replays).
"""
from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass, field
from typing import Optional

from cmpkit.core import bodies, der
from cmpkit.core.message import (NULL_DN_GENERAL_NAME, OID_IMPLICIT_CONFIRM, PKIMessage, StatusInfo,
                                 directory_name, name_from_general_name, new_message)
from cmpkit.errors import CmpError, ConfigError, DecodeError

log = logging.getLogger("cmpkit")

# PKIStatus and PKIFailureInfo bit numbers used here (RFC 9810 5.2.3)
ACCEPTED, REJECTION, WAITING = 0, 2, 3
BAD_ALG, BAD_REQUEST, BAD_DATA_FORMAT, BAD_POP = 0, 2, 5, 9
MAX_FAILURE_BIT = 26

NEW_TRANSACTION = ("ir", "cr", "p10cr", "kur", "rr", "genm", "error")
CERT_REQUESTS = {"ir": "ip", "cr": "cp", "p10cr": "cp", "kur": "kup"}
TERMINATING = ("rp", "pkiconf", "genp", "error")
CERTREQID_NONE = -1       # certReqId of a p10cr and its answer (OpenSSL 3.0.x since 3.0.9)

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
}
CRMF_REASONS = {"bad pbm iterationcount": 100, "popo inconsistent public key": 126,
                "popo missing": 121, "popo missing public key": 118, "popo missing subject": 119,
                "popo raverified not accepted": 124, "unsupported popo method": 116}
BODY_NAMES = {"certConf": "CERTCONF", "pkiconf": "PKICONF", "pollReq": "POLLREQ", "pollRep": "POLLREP"}


def _upper(body_type: str) -> str:
    return BODY_NAMES.get(body_type, body_type.upper())


def _hex(data: Optional[bytes]) -> str:
    """OpenSSL's i2s_ASN1_OCTET_STRING form: upper-case hex bytes joined by ':'."""
    return ":".join(f"{b:02X}" for b in data) if data else "(none)"


class Failure(Exception):
    """A request the server answers with an error message (OpenSSL's error queue entry)."""

    def __init__(self, reason: str, data: Optional[str] = None, lib: int = LIB_CMP):
        super().__init__(reason + (f": {data}" if data else ""))
        self.reason, self.data, self.lib = reason, data, lib

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


@dataclass
class MockSettings:
    """What ``openssl cmp``'s setup_srv_ctx() configures, already loaded (certs as DER).

    ``failurebits`` wins over ``failure`` (one bit number), as in OpenSSL. ``ref_cert`` is the
    certificate whose issuer and serial kur (oldCertID) and rr must name; None means
    ``rsp_cert``, which is what OpenSSL 3.0/3.1 compare with. ``policy`` validates client
    certificates (``verify_chain(cert, untrusted, trusted, purpose=None)``), e.g. a
    DefaultVerificationPolicy; it is required for signature-protected requests.
    """

    srv_ref: Optional[bytes] = None
    srv_secret: Optional[bytes] = None
    srv_cert: Optional[bytes] = None
    srv_signer: object = None
    srv_chain: list = field(default_factory=list)       # extra certs for building the server chain
    srv_trusted: list = field(default_factory=list)
    srv_untrusted: list = field(default_factory=list)
    rsp_cert: Optional[bytes] = None
    rsp_extracerts: list = field(default_factory=list)
    rsp_capubs: list = field(default_factory=list)
    poll_count: int = 0
    check_after: int = 1
    grant_implicitconf: bool = False
    pkistatus: int = ACCEPTED
    failure: Optional[int] = None
    failurebits: int = 0
    statusstring: Optional[str] = None
    send_error: bool = False
    send_unprotected: bool = False
    send_unprot_err: bool = False
    accept_unprotected: bool = False
    accept_unprot_err: bool = False
    accept_raverified: bool = False
    ref_cert: Optional[bytes] = None
    verify_options: object = None
    policy: object = None
    digest: str = "sha256"

    def status_info(self) -> StatusInfo:
        """The PKIStatusInfo the mock puts into ip/cp/kup/rp (unless polling)."""
        bits = self.failurebits
        if not bits and self.failure is not None:
            bits = 1 << self.failure
        texts = [self.statusstring] if self.statusstring is not None else []
        return StatusInfo(self.pkistatus, texts, [i for i in range(MAX_FAILURE_BIT + 1) if bits >> i & 1])


class MockServer:
    """One mock CMP server (one transaction at a time, like OpenSSL's OSSL_CMP_SRV_CTX)."""

    MAX_CACHED_CERTS = 100   # extraCerts remembered for validating later requests

    def __init__(self, settings: MockSettings):
        self.s = settings
        self._lock = threading.Lock()
        # transaction state (the server's OSSL_CMP_CTX)
        self.transaction_id: Optional[bytes] = None
        self.sender_nonce: Optional[bytes] = None   # the last one we sent, for recipNonce checks
        self.recip_nonce: Optional[bytes] = None
        self.in_transaction = False                 # OSSL_CMP_PKISTATUS_trans
        self.implicit_confirm = False               # granted for the current transaction
        self.cert_req_id: Optional[int] = None
        self.recipient = NULL_DN_GENERAL_NAME
        # mock CA state
        self.poll_request: Optional[PKIMessage] = None
        self.polls = 0
        # client authentication
        self.cached_certs: list = []                # extraCerts received, newest first
        self.validated_cert: Optional[bytes] = None
        self._server_chain: Optional[list] = None
        self._sender_gn: Optional[bytes] = None
        self._use_secret = True
        self._pbm_alg: Optional[bytes] = None        # PBM parameters (salt) of our responses

    # ------------------------------------------------------------------ entry point
    def handle(self, request_der: bytes) -> bytes:
        """Answer one DER request with one DER response; never raises for bad input."""
        with self._lock:
            try:
                return self._handle(request_der)
            except Exception:  # noqa: BLE001 - the server must answer whatever happens
                log.debug("mock server failed internally", exc_info=True)
                log.error("mock server: cannot send proper CMP response")
                return self._last_resort_error()

    __call__ = handle  # a MockServer is itself a transfer: transfer(request_der) -> response_der

    def _handle(self, request_der: bytes) -> bytes:
        try:
            req = PKIMessage.from_der(request_der)
        except CmpError as exc:
            log.error("mock server: cannot decode request: %s", exc)
            return self._decode_error(str(exc))
        self._use_secret = True
        rsp = None
        verified = False
        try:
            verified = self._check_request(req)
            rsp = self._dispatch(req)
        except DecodeError as exc:  # a body part read lazily, as OpenSSL's d2i would have read it first
            log.error("mock server: cannot decode request: %s", exc)
            return self._decode_error(str(exc))
        except Failure as exc:
            log.error("%s", exc)
            if not verified:
                # try to answer with the right transactionID and recipNonce anyway
                if self.transaction_id is None:
                    self.transaction_id = req.transaction_id
                self.recip_nonce = req.sender_nonce
            si = StatusInfo(REJECTION, [exc.reason], [BAD_REQUEST])
            details = [LIB_NAMES[exc.lib], exc.reason] + ([exc.data] if exc.data else [])
            rsp = self._message("error", bodies.error_der(si, exc.code, details),
                                unprotected=self.s.send_unprot_err)
        log.debug("sending %s", _upper(rsp.body_type))
        self._end_of_exchange(rsp.body_type)
        return rsp.to_der()

    # ------------------------------------------------------------------ request checks
    def _check_request(self, req: PKIMessage) -> bool:
        """OSSL_CMP_SRV_process_request's checks and ossl_cmp_msg_check_update(); True when done."""
        bt = req.body_type
        log.debug("received %s", _upper(bt))
        if req.sender_name_der is None:
            self.recipient = NULL_DN_GENERAL_NAME
            raise Failure("sender generalname type not supported")
        self.recipient = req.sender
        if bt in NEW_TRANSACTION:
            if self.transaction_id is not None:
                log.warning("Assuming that last transaction with ID=%s got aborted", _hex(self.transaction_id))
            self._new_transaction()
        elif self.transaction_id is None:
            raise Failure("unexpected pkibody")
        self._remember_certs(req.extra_certs)
        try:
            ok = self._verify_protection(req)
        finally:
            if self.s.srv_secret is not None and self.s.srv_signer is not None and not req.is_mac_protected():
                self._use_secret = False  # a request not MAC-protected gets a signed answer
        if not ok:
            raise Failure("missing protection")
        if req.pvno != 2:
            raise Failure("unexpected pvno")
        if self.transaction_id is not None and req.transaction_id != self.transaction_id:
            raise Failure("transactionid unmatched",
                          f"expected = {_hex(self.transaction_id)}, actual = {_hex(req.transaction_id)}")
        if self.sender_nonce is not None and req.recip_nonce != self.sender_nonce:
            raise Failure("recipnonce unmatched",
                          f"expected = {_hex(self.sender_nonce)}, actual = {_hex(req.recip_nonce)}")
        if self.transaction_id is None:
            self.transaction_id = req.transaction_id
        self.recip_nonce = req.sender_nonce
        return True

    def _new_transaction(self) -> None:
        self.transaction_id = None
        self.sender_nonce = None
        # OpenSSL 3.2's clean_transaction(): a new transaction ends any polling left over
        self.poll_request, self.polls = None, 0

    def _remember_certs(self, certs: list) -> None:
        if len(certs) > 10:
            log.warning("received CMP message contains %d extraCerts", len(certs))
        fresh = [c for c in certs[:self.MAX_CACHED_CERTS] if c not in self.cached_certs]
        self.cached_certs = (fresh + self.cached_certs)[:self.MAX_CACHED_CERTS]

    def _verify_protection(self, req: PKIMessage) -> bool:
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
            if "iteration" in str(exc):
                raise Failure("bad pbm iterationcount", lib=LIB_CRMF) from None
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
            data = "for msg sender name = " + _oneline(sender)
        except CmpError:
            data = None
        if kid is not None:
            data = (data + " and " if data else "") + "for msg senderKID = " + _hex(kid)
        raise Failure("no suitable sender cert", data)

    def _cert_acceptable(self, cert_der: bytes, req: PKIMessage, sender: bytes, kid: Optional[bytes]) -> bool:
        from cryptography import x509

        from cmpkit.core import protection
        from cmpkit.core.verify import check_signer_key_usage
        try:
            x509.load_der_x509_certificate(cert_der)
        except ValueError:
            return False
        if not _same_name(protection.cert_subject_der(cert_der), sender):
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
            raise ConfigError("no certificate verification policy (MockSettings.policy) to verify with")
        return self.s.policy

    # ------------------------------------------------------------------ processing
    def _dispatch(self, req: PKIMessage) -> PKIMessage:
        bt = req.body_type
        if bt in CERT_REQUESTS:
            return self._cert_request(req)
        if bt == "rr":
            return self._rr(req)
        if bt == "genm":
            return self._genm(req)
        if bt == "error":
            return self._error(req)
        if bt == "certConf":
            return self._cert_conf(req)
        if bt == "pollReq":
            return self._poll_req(req)
        raise Failure("unexpected pkibody")

    def _cert_request(self, req: PKIMessage) -> PKIMessage:
        """process_cert_request() of cmp_server.c plus the mock's (first request only)."""
        s = self.s
        rsp_type = CERT_REQUESTS[req.body_type]
        crm = None
        if req.body_type == "p10cr":
            cert_req_id = CERTREQID_NONE
        else:
            requests = bodies.read_cert_requests(req.body_content)
            if len(requests) != 1:
                raise Failure("multiple requests not supported")
            crm = requests[0]
            cert_req_id = crm.cert_req_id
            if cert_req_id != 0:
                raise Failure("bad request id")
        self.cert_req_id = cert_req_id
        try:
            self._verify_popo(req, crm)
        except PopoFailure as exc:
            log.error("%s", exc.reason)
            self.implicit_confirm = False
            si = StatusInfo(REJECTION, [exc.reason], [exc.bit])
            body = bodies.cert_rep_der([(cert_req_id, si, None)])
            return self._message(rsp_type, body, unprotected=s.send_unprot_err)
        # the mock CA
        if s.send_error:
            raise Failure("error processing message")
        cert = chain = ca_pubs = None
        if s.poll_count > 0 and self.polls == 0:  # start polling
            self.poll_request = req
            si = StatusInfo(WAITING)
        else:
            if self.polls >= s.poll_count:
                self.polls = 0  # final response after polling
            ref = s.ref_cert if s.ref_cert is not None else s.rsp_cert
            if req.body_type == "kur" and crm is not None and ref is not None:
                self._check_old_cert_id(crm, ref)
            cert, chain, ca_pubs = s.rsp_cert, s.rsp_extracerts, s.rsp_capubs
            si = s.status_info()
        self.implicit_confirm = req.implicit_confirm and s.grant_implicitconf and cert is not None
        if si.status in (REJECTION, WAITING):
            cert = None
        body = bodies.cert_rep_der([(cert_req_id, si, cert)], ca_pubs if rsp_type == "ip" else ())
        gi = [(OID_IMPLICIT_CONFIRM, b"\x05\x00")] if self.implicit_confirm else []
        return self._message(rsp_type, body, extra_certs=chain or (), general_info=gi,
                             unprotected=s.send_unprot_err and si.status == REJECTION)

    @staticmethod
    def _check_old_cert_id(crm, ref: bytes) -> None:
        from cryptography import x509
        if crm.old_cert_id is None:
            raise Failure("missing certid")
        issuer_gn, serial = crm.old_cert_id
        ref_cert = x509.load_der_x509_certificate(ref)
        if not _same_name(ref_cert.issuer.public_bytes(), name_from_general_name(issuer_gn)) \
                or serial != ref_cert.serial_number:
            raise Failure("wrong certid")

    def _verify_popo(self, req: PKIMessage, crm) -> None:
        """ossl_cmp_verify_popo(): p10cr self-signature, or the CRMF POPO of the first request."""
        if req.body_type == "p10cr":
            from cryptography import x509
            from cryptography.exceptions import UnsupportedAlgorithm

            from cmpkit.core import protection
            try:
                csr = x509.load_der_x509_csr(der.content(bodies.encode(req.body)))
                ok, kind = csr.is_signature_valid, protection.key_type(csr.public_key())
            except UnsupportedAlgorithm:  # a key type (ML-DSA, say) this server cannot verify
                raise PopoFailure("unsupported algorithm", BAD_ALG) from None
            except (CmpError, ValueError, TypeError):  # unparsable CSR
                raise PopoFailure("request not accepted") from None
            if not ok:
                raise PopoFailure("invalid padding" if kind == "rsa" else "EVP lib")
            return
        if crm.popo is None:
            raise PopoFailure("popo missing")
        if crm.popo == "raVerified":
            if not self.s.accept_raverified:
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
        self._check_popo_signature(spki, crm.popo_alg, signed, crm.popo_signature)

    @staticmethod
    def _check_popo_signature(spki: bytes, alg: bytes, signed: bytes, signature: bytes) -> None:
        """Verify a POPO signature; the failure text is the first one OpenSSL 3.0 queues."""
        from cryptography.exceptions import UnsupportedAlgorithm
        from cryptography.hazmat.primitives.serialization import load_der_public_key

        from cmpkit.core import algs, protection
        try:
            public_key = load_der_public_key(spki)
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

    def _rr(self, req: PKIMessage) -> PKIMessage:
        s = self.s
        details = bodies.read_rev_details(req.body_content)
        if len(details) != 1:
            raise Failure("multiple requests not supported")
        tpl, _reason = details[0]
        if s.send_error or s.rsp_cert is None:
            raise Failure("error processing message")
        if tpl.issuer is not None and tpl.serial is not None:
            from cryptography import x509
            ref = x509.load_der_x509_certificate(s.ref_cert if s.ref_cert is not None else s.rsp_cert)
            if not _same_name(tpl.issuer, ref.issuer.public_bytes()) or tpl.serial != ref.serial_number:
                raise Failure("request not accepted", "wrong certificate to revoke")
        si = s.status_info()
        cert_ids = []
        if tpl.issuer is not None and tpl.serial is not None:
            cert_ids = [bodies.cert_id_der(directory_name(tpl.issuer), tpl.serial)]
        return self._message("rp", bodies.rev_rep_der([si], cert_ids),
                             unprotected=s.send_unprot_err and si.status == REJECTION)

    def _genm(self, req: PKIMessage) -> PKIMessage:
        itavs = bodies.read_itavs(req.body)
        if len(itavs) > 1 or self.s.send_error:
            raise Failure("error processing message")
        return self._message("genp", bodies.genm_der(itavs))

    def _error(self, req: PKIMessage) -> PKIMessage:
        si, code, details = bodies.read_error(req.body)
        log.info("mock server received error: pkiStatusInfo: %s; errorCode: %s; errorDetails: %s",
                 si.describe(), "absent" if code is None else code,
                 ", ".join(f'"{d}"' for d in details) if details else "absent")
        return self._message("pkiconf", None)

    def _cert_conf(self, req: PKIMessage) -> PKIMessage:
        s = self.s
        if self.implicit_confirm or not self.in_transaction:
            raise Failure("error unexpected certconf")
        entries = bodies.read_cert_conf(req.body_content)
        if not entries:
            log.error("certificate rejected by client")
        else:
            if len(entries) > 1:
                log.warning("All CertStatus but the first will be ignored")
            cert_hash, req_id, si, _hash_alg = entries[0]
            if req_id != self.cert_req_id:
                raise Failure("bad request id")
            if s.send_error or s.rsp_cert is None:
                raise Failure("error processing message")
            from cmpkit.core import protection
            if cert_hash != protection.cert_hash(s.rsp_cert):
                raise Failure("certhash unmatched")
            if si is not None and si.status != ACCEPTED:
                log.info("certificate rejected by client with %s", si.status_name)
        return self._message("pkiconf", None)

    def _poll_req(self, req: PKIMessage) -> PKIMessage:
        s = self.s
        ids = bodies.read_poll_req(req.body)
        if len(ids) != 1:
            raise Failure("multiple requests not supported")
        if ids[0] != self.cert_req_id:
            raise Failure("bad request id")
        if s.send_error:
            raise Failure("error processing message")
        if self.poll_request is None:
            raise Failure("unexpected pkibody")
        self.polls += 1
        if self.polls >= s.poll_count:  # end of polling: answer the remembered request
            original, self.poll_request = self.poll_request, None
            return self._cert_request(original)
        return self._message("pollRep", bodies.poll_rep_der([(ids[0], s.check_after, [])]))

    # ------------------------------------------------------------------ responses
    def _end_of_exchange(self, rsp_type: str) -> None:
        """Keep the transaction open or close it, as OpenSSL does after each response."""
        self.in_transaction = True
        if rsp_type in TERMINATING or (rsp_type in ("ip", "cp", "kup") and self.implicit_confirm):
            self.transaction_id = None
            self.sender_nonce = None
            self.in_transaction = False

    def _sender(self) -> bytes:
        """The srv_cert subject, else the NULL-DN (then srv_ref identifies the server)."""
        if self._sender_gn is None:
            self._sender_gn = NULL_DN_GENERAL_NAME
            if self.s.srv_cert is not None:
                from cryptography import x509
                subject = x509.load_der_x509_certificate(self.s.srv_cert).subject.public_bytes()
                self._sender_gn = directory_name(subject)
        return self._sender_gn

    def _message(self, body_type: str, body, extra_certs=(), general_info=(),
                 unprotected: bool = False) -> PKIMessage:
        """A response in the current transaction, protected as the server is configured."""
        s = self.s
        if self.transaction_id is None:
            self.transaction_id = os.urandom(16)
        nonce = os.urandom(16)
        msg = new_message(body_type, sender=self._sender(), recipient=self.recipient,
                          transaction_id=self.transaction_id, sender_nonce=nonce,
                          recip_nonce=self.recip_nonce, general_info=general_info, body=body)
        self.sender_nonce = nonce
        extra = list(dict.fromkeys(extra_certs))
        secret = s.srv_secret if self._use_secret else None
        if unprotected:
            if extra:
                msg.set_extra_certs(extra)
        elif s.send_unprotected:
            if s.srv_ref is not None:
                msg.set_header_field("senderKID", s.srv_ref)
            if extra:
                msg.set_extra_certs(extra)
        elif secret is not None:
            from cmpkit.core import protection
            if extra:
                msg.set_extra_certs(extra)
            if self._pbm_alg is None:
                # One salt for the server's lifetime: the MAC key is derived once, not per
                # message; a known salt gives a peer nothing that a fresh known salt would not.
                self._pbm_alg = protection.pbm_algorithm()
            msg.protect_with_mac(secret, self._pbm_alg, s.srv_ref)
        elif s.srv_signer is not None and s.srv_cert is not None:
            from cmpkit.core import protection
            own = [s.srv_cert] + self._chain()
            msg.set_extra_certs(own + [c for c in extra if c not in own])
            alg = protection.signature_algorithm(s.srv_signer.public_key(), s.digest)
            msg.protect_with_signature(s.srv_signer, alg, protection.subject_key_id(s.srv_cert))
        else:
            log.warning("mock server has no credentials for protecting its response")
            if extra:
                msg.set_extra_certs(extra)
        return msg

    def _chain(self) -> list:
        """The server certificate's issuer chain from -srv_untrusted, without self-signed
        certificates (OpenSSL builds it once and adds it after the server certificate)."""
        if self._server_chain is None:
            from cmpkit.core.client import Client
            from cryptography import x509
            chain = Client._build_chain(self.s.srv_cert, list(self.s.srv_chain) + list(self.s.srv_untrusted))
            keep = []
            for c in chain:
                cert = x509.load_der_x509_certificate(c)
                if cert.issuer != cert.subject:
                    keep.append(c)
            self._server_chain = keep
        return self._server_chain

    def _decode_error(self, reason: str) -> bytes:
        """The answer to bytes that are no PKIMessage: a fresh transaction, rejection/badDataFormat."""
        self._new_transaction()
        self.recipient, self.recip_nonce = NULL_DN_GENERAL_NAME, None
        si = StatusInfo(REJECTION, ["error decoding message"], [BAD_DATA_FORMAT])
        rsp = self._message("error", bodies.error_der(si, None, [reason[:200]]), unprotected=self.s.send_unprot_err)
        self._end_of_exchange("error")
        return rsp.to_der()

    def _last_resort_error(self) -> bytes:
        """An unprotected error when even building a proper response failed."""
        tid = self.transaction_id
        self._new_transaction()
        self.in_transaction = False
        si = StatusInfo(REJECTION, ["error processing message"], [BAD_REQUEST])
        msg = new_message("error", recipient=self.recipient, transaction_id=tid, recip_nonce=self.recip_nonce,
                          body=bodies.error_der(si))
        return msg.to_der()


def _oneline(name_der: bytes) -> str:
    """OpenSSL's X509_NAME_oneline() form (/CN=.../O=...) of a DER Name."""
    from cmpkit.core.names import name_from_der
    from cmpkit.core.verify import name_oneline
    return name_oneline(name_from_der(name_der))


def _same_name(a: Optional[bytes], b: Optional[bytes]) -> bool:
    """X509_NAME_cmp() == 0: equal DER, else equal canonical forms."""
    if a is None or b is None:
        return False
    if a == b:
        return True
    from cmpkit.core.message import same_name
    return same_name(a, b)
