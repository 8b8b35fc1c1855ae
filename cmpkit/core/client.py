"""The CMP client: builds requests, checks responses and runs ir/cr/kur/p10cr/rr/genm transactions.

Transport-agnostic: the client is given a ``transfer(request_der) -> response_der`` callable
(chosen by the cmpkit_get_transfer hook). Every response is checked in one place
(:meth:`Client._check_response`): body type, transactionID, nonces, sender and protection.
A transfer that replays or substitutes messages (``-reqin``/``-rspin``) tells the client
through its ``last_exchange`` attribute: ``(sent_der, replayed)``.
"""
from __future__ import annotations

import functools
import logging
import time
from dataclasses import dataclass, field
from typing import Callable, Optional

from ..errors import ConfigError, ProtectionError, TransactionError, VerifyError
from . import bodies
from .message import (NULL_DN_GENERAL_NAME, OID_IMPLICIT_CONFIRM, PKIMessage, StatusInfo,
                      directory_name, new_message, same_name)

log = logging.getLogger("cmpkit")

REQ_FOR_CMD = {"ir": "ir", "cr": "cr", "kur": "kur", "p10cr": "p10cr", "rr": "rr", "genm": "genm"}
REP_FOR_REQ = {"ir": "ip", "cr": "cp", "kur": "kup", "p10cr": "cp", "rr": "rp", "genm": "genp",
               "certConf": "pkiconf", "pollReq": "pollRep"}
STATUS_ACCEPTED, STATUS_GRANTED_WITH_MODS, STATUS_REJECTION, STATUS_WAITING = 0, 1, 2, 3


def _upper(body_type: str) -> str:
    return {"certConf": "CERTCONF", "pkiconf": "PKICONF", "pollReq": "POLLREQ",
            "pollRep": "POLLREP"}.get(body_type, body_type.upper())


@dataclass
class ClientSettings:
    """Everything a transaction needs, already loaded (names, keys and certs as DER/handles)."""

    cmd: str = "ir"
    # protection of requests
    secret: Optional[bytes] = None
    ref: Optional[bytes] = None
    signer: object = None                  # cmpkit Signer for -key
    cert: Optional[bytes] = None           # -cert (DER)
    cert_chain: list = field(default_factory=list)   # extra certs of -cert's file and its chain
    extracerts: list = field(default_factory=list)   # -extracerts
    digest: str = "sha256"
    mac: str = "hmac-sha1"
    pbm_iterations: int = 500
    unprotected_requests: bool = False
    # header
    sender: Optional[bytes] = None         # DER Name, computed by the caller if None
    recipient: Optional[bytes] = None      # DER Name
    geninfo: list = field(default_factory=list)      # [(oid, value DER)]
    # server authentication
    trusted: list = field(default_factory=list)
    untrusted: list = field(default_factory=list)
    srvcert: Optional[bytes] = None
    expect_sender: Optional[bytes] = None  # DER Name
    ignore_keyusage: bool = False
    unprotected_errors: bool = False
    # enrollment
    newkey_signer: object = None           # Signer for the new key, if a private key
    newkey_public: object = None           # cryptography public key of the new key
    template: Optional[bodies.Template] = None
    old_cert: Optional[bytes] = None       # reference certificate (kur/rr/oldCertID)
    popo: int = 1
    csr: Optional[bytes] = None            # DER PKCS#10
    implicit_confirm: bool = False
    disable_confirm: bool = False
    out_trusted: list = field(default_factory=list)
    revreason: int = -1
    infotypes: list = field(default_factory=list)    # [(oid, value DER or None)] for genm
    # timing
    total_timeout: int = 0
    # verification (the policy object decides and is required to verify; see cmpkit.core.verify)
    policy: object = None
    verify_options: object = None


@dataclass
class Result:
    """What a successful transaction produced."""

    cert: Optional[bytes] = None
    chain: list = field(default_factory=list)
    ca_pubs: list = field(default_factory=list)
    extra_certs: list = field(default_factory=list)   # of the last response with extraCerts
    itavs: list = field(default_factory=list)          # genp content
    status: Optional[StatusInfo] = None


class Client:
    """Runs one CMP transaction per :meth:`run` call over ``transfer``."""

    def __init__(self, settings: ClientSettings, transfer: Callable[[bytes], bytes],
                 on_sent: Optional[Callable] = None, on_received: Optional[Callable] = None):
        self.s = settings
        self.transfer = transfer
        self.on_sent = on_sent
        self.on_received = on_received
        self.transaction_id: Optional[bytes] = None
        self.last_sender_nonce: Optional[bytes] = None
        self.recip_nonce: Optional[bytes] = None
        self.deadline: Optional[float] = None
        self.extra_certs_in: list = []
        self._pbm_alg: Optional[bytes] = None
        self._expected_spki: Optional[tuple] = None  # (requested public key, its SPKI DER)
        bind = getattr(transfer, "bind_client", None)
        if bind is not None:  # e.g. -reqin replay needs our nonces and protection
            bind(self)

    # ------------------------------------------------------------ requests
    def _sender(self) -> bytes:
        return directory_name(self.s.sender) if self.s.sender is not None else NULL_DN_GENERAL_NAME

    def _sender_kid(self) -> Optional[bytes]:
        if self.s.secret is not None and not self.s.unprotected_requests:
            return self.s.ref
        if self.s.cert is not None:
            from .protection import subject_key_id
            return subject_key_id(self.s.cert)
        return self.s.ref

    def _new(self, body_type: str, body, general_info=()) -> PKIMessage:
        s = self.s
        gi = list(general_info)
        msg = new_message(body_type, sender=self._sender(),
                          recipient=directory_name(s.recipient) if s.recipient is not None else NULL_DN_GENERAL_NAME,
                          transaction_id=self.transaction_id, recip_nonce=self.recip_nonce,
                          sender_kid=self._sender_kid(), general_info=gi + list(s.geninfo),
                          body=body)
        self.transaction_id = msg.transaction_id
        self._protect(msg)
        return msg

    def _protect(self, msg: PKIMessage) -> None:
        s = self.s
        if s.unprotected_requests:
            extra = self._extra_certs_out()
            if extra:
                msg.set_extra_certs(extra)
            return
        from . import protection
        if s.secret is not None:
            if self._pbm_alg is None:
                self._pbm_alg = protection.pbm_algorithm(owf=s.digest, iterations=s.pbm_iterations, mac=s.mac)
            extra = self._extra_certs_out()
            if extra:
                msg.set_extra_certs(extra)
            msg.protect_with_mac(s.secret, self._pbm_alg)
        elif s.signer is not None and s.cert is not None:
            msg.set_extra_certs(self._extra_certs_out())
            alg = protection.signature_algorithm(s.signer.public_key(), s.digest)
            msg.protect_with_signature(s.signer, alg)
        else:
            raise TransactionError("missing -secret or -cert and -key for protecting requests"
                                   " (or give -unprotected_requests)")

    def _extra_certs_out(self) -> list:
        """The signer certificate first, then its chain, then -extracerts; no duplicates."""
        out = []
        s = self.s
        seq = ([s.cert] if (s.cert is not None and s.secret is None) else []) + \
            (list(s.cert_chain) if s.secret is None else []) + list(s.extracerts)
        for c in seq:
            if c not in out:
                out.append(c)
        return out

    # ------------------------------------------------------------ exchange
    def _exchange(self, req: PKIMessage, expected: tuple) -> PKIMessage:
        req_der = req.to_der()
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise TransactionError("total timeout exceeded (-total_timeout)")
        log.info("sending %s", _upper(req.body_type))
        if self.on_sent:
            self.on_sent(req, req_der)
        timeout = None
        if self.deadline is not None:
            timeout = max(0.001, self.deadline - time.monotonic())
        if hasattr(self.transfer, "set_deadline_timeout"):
            self.transfer.set_deadline_timeout(timeout)
        rsp_der = self.transfer(req_der)
        sent_der, replayed = getattr(self.transfer, "last_exchange", None) or (req_der, False)
        sent = req if sent_der == req_der else PKIMessage.from_der(sent_der)
        rsp = PKIMessage.from_der(rsp_der)
        log.info("received %s", _upper(rsp.body_type))
        if self.on_received:
            self.on_received(rsp, rsp_der)
        self._check_response(sent, rsp, expected, replayed)
        return rsp

    def _negative(self, rsp: PKIMessage) -> bool:
        """Is this a negative answer (for which -unprotected_errors may accept no protection)?"""
        bt = rsp.body_type
        if bt == "error":
            return True
        if bt in ("ip", "cp", "kup"):
            _, responses = bodies.read_cert_rep(rsp.body_content)
            return any(r.status.status == STATUS_REJECTION for r in responses)
        if bt == "rp":
            return any(si.status == STATUS_REJECTION for si in bodies.read_rev_rep(rsp.body))
        # openssl's unprotected_exception() accepts a PKIConf as well (the man page's
        # "negative PKIConf messages": the client cannot tell a positive one apart)
        return bt == "pkiconf"

    def _check_response(self, sent: PKIMessage, rsp: PKIMessage, expected: tuple, replayed: bool) -> None:
        s = self.s
        # transaction ID and nonces (a replayed response is adopted, as openssl does for -rspin)
        if replayed:
            self.transaction_id = rsp.transaction_id
        else:
            if rsp.transaction_id != sent.transaction_id:
                raise TransactionError("response has a transactionID that does not match the request")
            if rsp.recip_nonce != sent.sender_nonce:
                raise TransactionError("response recipNonce does not match the request's senderNonce")
            self.transaction_id = sent.transaction_id
        if rsp.sender_nonce is None:
            raise TransactionError("response lacks senderNonce")
        self.recip_nonce = rsp.sender_nonce
        if rsp.pvno not in (2, 3):
            raise TransactionError(f"unsupported pvno {rsp.pvno} in response")
        # protection
        self._check_protection(rsp)
        if s.expect_sender is not None:
            if not same_name(rsp.sender_name_der, s.expect_sender):
                from .names import format_dn
                got = rsp.sender_name_der
                raise TransactionError(f"response sender {format_dn(got) if got is not None else '(not a DN)'}"
                                       f" does not match -expect_sender {format_dn(s.expect_sender)}")
        if rsp.extra_certs:
            self.extra_certs_in = rsp.extra_certs
        if rsp.body_type == "error":
            si, code, details = bodies.read_error(rsp.body)
            extra = (f"; errorCode: {code}" if code is not None else "") + \
                (f"; errorDetails: {'; '.join(details)}" if details else "")
            raise TransactionError(f"received error message: {si.describe()}{extra}")
        if rsp.body_type not in expected:
            raise TransactionError(f"unexpected {_upper(rsp.body_type)} message, expected "
                                   + " or ".join(_upper(e) for e in expected))

    def _check_protection(self, rsp: PKIMessage) -> None:
        s = self.s
        alg, prot = rsp.protection_alg, rsp.protection
        if alg is None or prot is None:
            if s.unprotected_errors and self._negative(rsp):
                log.warning("ignoring missing protection of negative response (-unprotected_errors)")
                return
            raise ProtectionError(f"{_upper(rsp.body_type)} response is not protected")
        try:
            if rsp.is_mac_protected():
                if s.secret is None:
                    raise ProtectionError("response is MAC-protected but no -secret is given")
                rsp.verify_mac(s.secret)
                return
            self._check_signature(rsp)
        except (ProtectionError, VerifyError) as exc:
            if s.unprotected_errors and self._negative(rsp):
                log.warning("ignoring invalid protection of negative response: %s", exc)
                return
            raise

    def _check_signature(self, rsp: PKIMessage) -> None:
        """Signature protection: pinned -srvcert, or a signer from extraCerts/-untrusted that
        chains to -trusted, whose subject is the response sender."""
        s = self.s
        if s.srvcert is not None:
            try:
                rsp.verify_signature(s.srvcert)
            except ProtectionError as exc:
                from cryptography import x509
                from .names import format_dn
                subject = format_dn(x509.load_der_x509_certificate(s.srvcert).subject)
                raise ProtectionError(f"response signature does not verify with -srvcert {subject}: {exc}") from None
            if not s.ignore_keyusage:
                self._check_keyusage(s.srvcert)
            return
        if not s.trusted:
            raise ProtectionError("cannot verify signature-protected response: no -trusted or -srvcert given")
        sender = rsp.sender_name_der
        candidates = [c for c in rsp.extra_certs + list(s.untrusted) + list(s.trusted)]
        from cryptography import x509

        from .protection import cert_subject_der
        errors = []
        for cand in dict.fromkeys(candidates):
            try:
                x509.load_der_x509_certificate(cand)
            except ValueError:
                continue
            if sender is not None and not same_name(cert_subject_der(cand), sender):
                continue
            try:
                rsp.verify_signature(cand)
            except ProtectionError as exc:
                errors.append(str(exc))
                continue
            if not s.ignore_keyusage:
                self._check_keyusage(cand)
            self._verify_chain(cand, rsp.extra_certs + list(s.untrusted), s.trusted)
            return
        raise ProtectionError("no suitable sender certificate found to verify the response signature"
                              + (f" ({errors[-1]})" if errors else ""))

    def _check_keyusage(self, cert_der: bytes) -> None:
        from .verify import check_signer_key_usage
        check_signer_key_usage(cert_der, False, getattr(self.s.policy, "store", None))

    def _verify_chain(self, cert_der, untrusted, trusted, purpose=None, check_status=True):
        policy = self.s.policy
        if policy is None:
            raise ConfigError("no certificate verification policy (ClientSettings.policy) to verify with")
        return policy.verify_chain(cert_der, untrusted, trusted, purpose=purpose, check_status=check_status)

    # ------------------------------------------------------------ transactions
    def run(self) -> Result:
        s = self.s
        self.transaction_id = None
        self.recip_nonce = None
        self.extra_certs_in = []
        self.deadline = time.monotonic() + s.total_timeout if s.total_timeout and s.total_timeout > 0 else None
        if s.cmd in ("ir", "cr", "kur", "p10cr"):
            return self._enroll()
        if s.cmd == "rr":
            return self._revoke()
        if s.cmd == "genm":
            return self._genm()
        raise TransactionError(f"unknown command: {s.cmd}")

    def _cert_request_body(self) -> bytes:
        s = self.s
        if s.cmd == "p10cr":
            if s.csr is None:
                raise TransactionError("-csr is required for -cmd p10cr")
            return s.csr
        tpl = s.template or bodies.Template()
        old_id = None
        if s.cmd == "kur":
            if s.old_cert is None:
                raise TransactionError("missing -oldcert or -cert for the certificate to update (kur)")
            from cryptography import x509
            old = x509.load_der_x509_certificate(s.old_cert)
            old_id = (directory_name(old.issuer.public_bytes()), old.serial_number)
        req = bodies.cert_request_der(0, tpl, old_id)
        signer = s.newkey_signer
        if s.popo == bodies.POPO_SIGNATURE and signer is None:
            raise TransactionError("missing private key for proof of possession (-newkey or -key), or use -popo 0/-1")
        return bodies.cert_req_messages_der([bodies.cert_req_msg_der(req, s.popo, signer, s.digest)])

    def _enroll(self) -> Result:
        s = self.s
        req_type = REQ_FOR_CMD[s.cmd]
        gi = [(OID_IMPLICIT_CONFIRM, b"\x05\x00")] if s.implicit_confirm else []
        req = self._new(req_type, self._cert_request_body(), gi)
        rsp_type = REP_FOR_REQ[req_type]
        rsp = self._exchange(req, (rsp_type,))
        ca_pubs, responses = bodies.read_cert_rep(rsp.body_content)
        if not responses:
            raise TransactionError(f"{_upper(rsp_type)} contains no certificate response")
        resp = responses[0]
        # polling
        while resp.status.status == STATUS_WAITING:
            resp, rsp, ca_pubs = self._poll(resp.cert_req_id, rsp_type)
        if resp.status.status not in (STATUS_ACCEPTED, STATUS_GRANTED_WITH_MODS):
            raise TransactionError(f"{_upper(rsp_type)} rejected the request: {resp.status.describe()}")
        if resp.encrypted:
            raise TransactionError("encrypted certificates are not supported")
        if resp.cert is None:
            raise TransactionError(f"{_upper(rsp_type)} has status {resp.status.status_name} but no certificate")
        cert_der = resp.cert
        self._check_new_cert(cert_der)
        result = Result(cert=cert_der, ca_pubs=ca_pubs, status=resp.status)
        result.chain = self._build_chain(cert_der, rsp.extra_certs + list(s.untrusted))
        granted = s.implicit_confirm and rsp.implicit_confirm
        if not granted and not s.disable_confirm:
            from . import protection
            conf = bodies.cert_conf_der([(protection.cert_hash(cert_der), resp.cert_req_id, None, None)])
            cc = self._new("certConf", conf)
            self._exchange(cc, ("pkiconf",))
        result.extra_certs = self.extra_certs_in
        return result

    def _poll(self, cert_req_id: int, rsp_type: str):
        while True:
            req = self._new("pollReq", bodies.poll_req_der([cert_req_id]))
            rsp = self._exchange(req, ("pollRep", rsp_type))
            if rsp.body_type == rsp_type:
                ca_pubs, responses = bodies.read_cert_rep(rsp.body_content)
                if not responses:
                    raise TransactionError(f"{_upper(rsp_type)} contains no certificate response")
                return responses[0], rsp, ca_pubs
            entries = bodies.read_poll_rep(rsp.body)
            if not entries:
                raise TransactionError("empty POLLREP")
            check_after = max(0, entries[0][1])
            if self.deadline is not None and time.monotonic() + check_after > self.deadline:
                raise TransactionError(f"polling would exceed -total_timeout (checkAfter = {check_after} s)")
            log.info("received polling response, waiting checkAfter = %d s", check_after)
            time.sleep(check_after)

    def _check_new_cert(self, cert_der: bytes) -> None:
        from cryptography import x509
        from cryptography.hazmat.primitives import serialization
        s = self.s
        try:
            cert = x509.load_der_x509_certificate(cert_der)
        except ValueError as exc:
            raise TransactionError(f"cannot parse the newly enrolled certificate: {exc}") from None
        expected = s.newkey_public
        if expected is None and s.newkey_signer is not None:
            expected = s.newkey_signer.public_key()
        if expected is not None and s.cmd != "p10cr":
            fmt = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
            if self._expected_spki is None or self._expected_spki[0] is not expected:
                self._expected_spki = (expected, expected.public_bytes(*fmt))  # once per key, not per -repeat
            if cert.public_key().public_bytes(*fmt) != self._expected_spki[1]:
                raise TransactionError("public key in the newly enrolled certificate does not match the requested key")
        if s.out_trusted:
            try:
                self._verify_chain(cert_der, self.extra_certs_in + list(s.untrusted), s.out_trusted,
                                   purpose="enrolled", check_status=False)
            except VerifyError as exc:
                raise TransactionError(f"newly enrolled certificate not trusted (-out_trusted): {exc}") from None

    @staticmethod
    def _build_chain(cert_der: bytes, pool: list) -> list:
        """The issuer chain of ``cert_der`` found in ``pool`` by name and signature (no trust)."""
        return list(_issuer_chain(bytes(cert_der), tuple(bytes(c) for c in pool)))

    def _revoke(self) -> Result:
        s = self.s
        from cryptography import x509
        if s.old_cert is not None:
            old = x509.load_der_x509_certificate(s.old_cert)
            tpl = bodies.Template(serial=old.serial_number, issuer=old.issuer.public_bytes())
        elif s.csr is not None:
            from cryptography.hazmat.primitives import serialization
            csr = x509.load_der_x509_csr(s.csr)
            tpl = bodies.Template(subject=csr.subject.public_bytes(), public_key=csr.public_key().public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo))
        else:
            raise TransactionError("missing -oldcert (or -csr) for the certificate to revoke")
        req = self._new("rr", bodies.rev_req_der(tpl, s.revreason))
        rsp = self._exchange(req, ("rp",))
        statuses = bodies.read_rev_rep(rsp.body)
        if not statuses:
            raise TransactionError("RP contains no status")
        si = statuses[0]
        if si.status not in (STATUS_ACCEPTED, STATUS_GRANTED_WITH_MODS, 4, 5):
            raise TransactionError(f"revocation rejected: {si.describe()}")
        return Result(status=si, extra_certs=self.extra_certs_in)

    def _genm(self) -> Result:
        req = self._new("genm", bodies.genm_der(self.s.infotypes))
        rsp = self._exchange(req, ("genp",))
        return Result(itavs=bodies.read_itavs(rsp.body), extra_certs=self.extra_certs_in)


@functools.lru_cache(maxsize=32)
def _issuer_chain(cert_der: bytes, pool: tuple) -> tuple:
    """Client._build_chain, memoised: -repeat and the mock server build the same chains again."""
    from cryptography import x509
    certs = []
    for c in dict.fromkeys(pool):
        try:
            certs.append((c, x509.load_der_x509_certificate(c)))
        except ValueError:
            continue
    chain = []
    current = x509.load_der_x509_certificate(cert_der)
    seen = {cert_der}
    while current.issuer != current.subject:
        for der_c, c in certs:
            if der_c in seen or c.subject != current.issuer:
                continue
            try:
                current.verify_directly_issued_by(c)
            except (ValueError, TypeError, Exception):  # noqa: BLE001 - any mismatch means "not the issuer"
                continue
            chain.append(der_c)
            seen.add(der_c)
            current = c
            break
        else:
            break
    return tuple(chain)
