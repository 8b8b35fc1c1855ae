"""The CMP client transaction as a sans-IO machine: requests out, responses in, transitions in a table.

h11's way: :class:`ClientMachine` does no I/O, reads no clock and never sleeps. It is driven by
events, each carrying the current time (POSIX seconds): :meth:`~ClientMachine.start` gives the
first request, :meth:`~ClientMachine.receive` takes the decoded response and gives the next
step, :meth:`~ClientMachine.resume` continues after a wait. A step is :class:`Send` (a request
to transfer), :class:`Wait` (polling: wait, then resume) or :class:`Done` (the result).
The shell (:mod:`cmpkit.app.transaction`) drives it with a real clock and a Transport.

Every response is checked in one place (:meth:`ClientMachine._check_response`): transactionID,
nonces, protection, sender; then the table :data:`TRANSITIONS` says which body types the
current state accepts and what follows. An unexpected message fails naming the state.
A response the transport replayed or substituted (``-reqin``/``-rspin``) is adopted: its
transactionID and nonces are taken instead of checked, as openssl does.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import NamedTuple, Optional, Union

from ..errors import ConfigError, ProtectionError, TransactionError, VerifyError
from .memo import MAX_CACHED_CERT, memo
from . import bodies
from .message import (NULL_DN_GENERAL_NAME, OID_IMPLICIT_CONFIRM, PKIMessage, StatusInfo,
                      directory_name, new_message, same_name)

log = logging.getLogger("cmpkit.client")

REQ_FOR_CMD = {"ir": "ir", "cr": "cr", "kur": "kur", "p10cr": "p10cr", "rr": "rr", "genm": "genm"}
REP_FOR_REQ = {"ir": "ip", "cr": "cp", "kur": "kup", "p10cr": "cp", "rr": "rp", "genm": "genp",
               "certConf": "pkiconf", "pollReq": "pollRep"}
STATUS_ACCEPTED, STATUS_GRANTED_WITH_MODS, STATUS_REJECTION, STATUS_WAITING = 0, 1, 2, 3
STATUS_REVOCATION_WARNING, STATUS_REVOCATION_NOTIFICATION, STATUS_KEY_UPDATE_WARNING = 4, 5, 6
FAILURE_INCORRECT_DATA = 7       # PKIFailureInfo bit of a certConf rejecting the new certificate
# What openssl's client logs for a certificate response's status other than accepted or
# rejection (3.0 libcrypto's strings): the certificate is taken, with a warning.
CERT_STATUS_WARNINGS = {
    STATUS_GRANTED_WITH_MODS: 'received "grantedWithMods" for certificate',
    STATUS_REVOCATION_WARNING: 'received "revocationWarning" - a revocation of the cert is imminent',
    STATUS_REVOCATION_NOTIFICATION: 'received "revocationNotification" - a revocation of the cert has occurred',
}
# openssl's log line (level, text) for an accepted revocation, by PKIStatus
REVOCATION_ACCEPTED = {
    STATUS_ACCEPTED: (logging.INFO, "revocation accepted (PKIStatus=accepted)"),
    STATUS_GRANTED_WITH_MODS: (logging.INFO, "revocation accepted (PKIStatus=grantedWithMods)"),
    STATUS_REVOCATION_WARNING: (logging.INFO, "revocation accepted (PKIStatus=revocationWarning)"),
    STATUS_REVOCATION_NOTIFICATION: (logging.WARNING, "revocation accepted (PKIStatus=revocationNotification)"),
}


def _upper(body_type: str) -> str:
    return {"certConf": "CERTCONF", "pkiconf": "PKICONF", "pollReq": "POLLREQ",
            "pollRep": "POLLREP"}.get(body_type, body_type.upper())


@dataclass(repr=False, eq=False)  # no repr: it would show the secret; neither is used, and each generated method costs start-up time
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
    pbmac1: bool = False                   # -pbmac1: PBMAC1 (RFC 9481 6.1.2) instead of PBM, -mac as PRF and MAC
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
    rev_issuer: Optional[bytes] = None     # -issuer (DER Name) with -serial: the rr template (3.2+)
    rev_serial: Optional[int] = None       # -serial
    infotypes: list = field(default_factory=list)    # [(oid, value DER or None)] for genm
    # timing
    total_timeout: int = 0
    # verification (the policy object decides and is required to verify; see cmpkit.core.verify)
    policy: object = None
    # central key generation (-centralkeygen, -popo -1; RFC 9483 4.1.6): see cmpkit.core.ckg
    centralkeygen: bool = False


@dataclass
class Result:
    """What a successful transaction produced."""

    cert: Optional[bytes] = None
    chain: list = field(default_factory=list)
    ca_pubs: list = field(default_factory=list)
    extra_certs: list = field(default_factory=list)   # of the last response but pollRep and pkiconf
    itavs: list = field(default_factory=list)          # genp content
    status: Optional[StatusInfo] = None
    new_key: object = None                             # the centrally generated private key (cryptography)


class Send(NamedTuple):  # a NamedTuple: immutable, and a fraction of a frozen dataclass's start-up cost
    """Step: transfer ``message`` (DER ``der``) and pass the response to :meth:`ClientMachine.receive`."""

    message: PKIMessage
    der: bytes


class Wait(NamedTuple):
    """Step: wait ``seconds`` (the server's checkAfter), then call :meth:`ClientMachine.resume`."""

    seconds: int


class Done(NamedTuple):
    """Step: the transaction succeeded with ``result``."""

    result: Result


Step = Union[Send, Wait, Done]

# The client's transitions: state -> (response body types it accepts, handler). "{rep}" stands
# for the answer to the request sent (ip, cp or kup). An "error" body ends the transaction in
# any state; anything else not listed fails naming the state.
TRANSITIONS = {
    "await certificate response": (("{rep}",), "_on_cert_rep"),
    "await poll response": (("pollRep", "{rep}"), "_on_poll_rep"),
    "await confirmation": (("pkiconf",), "_on_pkiconf"),
    "await revocation response": (("rp",), "_on_rp"),
    "await general response": (("genp",), "_on_genp"),
    # delayed delivery (RFC 9480 section 3.4, openssl 3.3+): an error message with status
    # "waiting" answered a request of a state in DELAYABLE; pollReq with certReqId -1 gets
    # pollRep or the answer that state waits for ("{delayed}": its accepted body types)
    "await delayed response": (("pollRep", "{delayed}"), "_on_delayed_poll_rep"),
}
DELAYABLE = ("await certificate response", "await confirmation", "await revocation response",
             "await general response")
CERTREQID_NONE = -1  # the certReqId of a pollReq for a delayed response
# What a command sends first and which state then waits for the answer.
FIRST_STATE = {"ir": "await certificate response", "cr": "await certificate response",
               "kur": "await certificate response", "p10cr": "await certificate response",
               "rr": "await revocation response", "genm": "await general response"}


class ClientMachine:
    """One CMP client transaction at a time (``start`` begins the next), without any I/O."""

    def __init__(self, settings: ClientSettings):
        self.s = settings
        self.state = "idle"
        self.transaction_id: Optional[bytes] = None
        self.recip_nonce: Optional[bytes] = None
        self.deadline: Optional[float] = None
        self.extra_certs_in: list = []
        self._sent: Optional[PKIMessage] = None        # the last request, for checking its answer
        self._now: float = 0.0
        self._rep_type: Optional[str] = None           # ip/cp/kup answering the certificate request
        self._cert_req_id: Optional[int] = None
        self._result: Optional[Result] = None
        self._pbm_alg: Optional[bytes] = None
        self._expected_spki: Optional[tuple] = None  # (requested public key, its SPKI DER)
        # openssl's OSSL_CMP_CTX_get_status(): the PKIStatus of the last response that carried
        # one (a rejection when the client refused the new certificate); None before any.
        # The shell writes -extracertsout after a failure only once it is set, as openssl does.
        self.status: Optional[int] = None
        self._rejection: Optional[str] = None          # why the client refused the new certificate
        self._ckg_key = None                           # the centrally generated key received
        # the server certificate that verified the last response's signature (-srvcertout);
        # None after a MAC-protected or unprotected one (openssl's validatedSrvCert)
        self.validated_srvcert: Optional[bytes] = None
        self._delayed: Optional[str] = None            # the state whose answer is delayed (polling)

    # ------------------------------------------------------------ events
    def start(self, now: float) -> Step:
        """Begin a transaction of the configured command; the first request to send."""
        s = self.s
        if s.cmd not in FIRST_STATE:
            raise TransactionError(f"unknown command: {s.cmd}")
        self._now = now
        self.transaction_id = self.recip_nonce = None
        self.extra_certs_in = []
        self._result = None
        self.status = self._rejection = None
        self._delayed = None
        self.deadline = now + s.total_timeout if s.total_timeout and s.total_timeout > 0 else None
        if s.cmd in ("ir", "cr", "kur", "p10cr"):
            self._rep_type = REP_FOR_REQ[s.cmd]
            gi = [(OID_IMPLICIT_CONFIRM, b"\x05\x00")] if s.implicit_confirm else []
            req = self._new(REQ_FOR_CMD[s.cmd], self._cert_request_body(), gi)
        elif s.cmd == "rr":
            req = self._new("rr", bodies.rev_req_der(self._revocation_template(), s.revreason))
        else:
            req = self._new("genm", bodies.genm_der(s.infotypes))
        return self._send(req, FIRST_STATE[s.cmd])

    def receive(self, rsp: PKIMessage, now: float, adopt: bool = False) -> Step:
        """The response to the last request (decoded); ``adopt`` for a replayed or substituted one."""
        self._now = now
        if self.state not in TRANSITIONS:
            raise TransactionError(f"no response expected in state '{self.state}' "
                                   f"(received {_upper(rsp.body_type)})")
        accepted, handler = TRANSITIONS[self.state]
        expected = tuple(self._rep_type if t == "{rep}" else t for t in accepted)
        if "{delayed}" in expected:
            expected = tuple(t for t in expected if t != "{delayed}") + self._delayed_types()
        self._check_response(self._sent, rsp, expected, adopt)
        if rsp.body_type == "error":  # only an error with status "waiting" gets here
            return self._on_delayed(rsp)
        return getattr(self, handler)(rsp)

    def resume(self, now: float) -> Step:
        """After a :class:`Wait`: the next pollReq."""
        if self.state != "polling":
            raise TransactionError(f"nothing to resume in state '{self.state}'")
        self._now = now
        if self._delayed is not None:
            return self._send(self._new("pollReq", bodies.poll_req_der([CERTREQID_NONE])), "await delayed response")
        return self._send(self._new("pollReq", bodies.poll_req_der([self._cert_req_id])), "await poll response")

    def time_left(self, now: float) -> Optional[float]:
        """Seconds until -total_timeout (None: no limit); TransactionError once it has passed."""
        if self.deadline is None:
            return None
        if now > self.deadline:
            raise TransactionError("total timeout exceeded (-total_timeout)")
        return max(0.001, self.deadline - now)

    # ------------------------------------------------------------ transitions
    def _send(self, req: PKIMessage, state: str) -> Send:
        self._sent, self.state = req, state
        return Send(req, req.to_der())

    def _on_cert_rep(self, rsp: PKIMessage) -> Step:
        ca_pubs, responses = bodies.read_cert_rep(rsp.body_content)
        if not responses:
            raise TransactionError(f"{_upper(self._rep_type)} contains no certificate response")
        resp = responses[0]
        self.status = resp.status.status
        if resp.status.status == STATUS_WAITING:
            self._cert_req_id = resp.cert_req_id
            return self._wait_for_poll(None)
        return self._certificate(rsp, resp, ca_pubs)

    def _on_poll_rep(self, rsp: PKIMessage) -> Step:
        if rsp.body_type == self._rep_type:
            return self._on_cert_rep(rsp)
        entries = bodies.read_poll_rep(rsp.body_content)
        if not entries:
            raise TransactionError("empty POLLREP")
        return self._wait_for_poll(max(0, entries[0][1]))

    def _delayed_types(self) -> tuple:
        accepted, _ = TRANSITIONS[self._delayed]
        return tuple(self._rep_type if t == "{rep}" else t for t in accepted)

    def _on_delayed(self, rsp: PKIMessage) -> Step:
        """An error message with status "waiting": poll for the delayed answer (certReqId -1)."""
        log.info("received 'waiting' PKIStatus, starting to poll for response")
        self._delayed = self.state
        return self._wait_for_poll(None)

    def _on_delayed_poll_rep(self, rsp: PKIMessage) -> Step:
        if rsp.body_type != "pollRep":  # the final answer: handled as in the state that waited for it
            log.info("received final response after polling")
            self.state, self._delayed = self._delayed, None
            return getattr(self, TRANSITIONS[self.state][1])(rsp)
        entries = bodies.read_poll_rep(rsp.body_content)
        if not entries:
            raise TransactionError("empty POLLREP")
        return self._wait_for_poll(max(0, entries[0][1]))

    def _wait_for_poll(self, check_after: Optional[int]) -> Step:
        self.state = "polling"
        if check_after is None:  # the waiting ip/cp/kup: poll at once
            return self.resume(self._now)
        if self.deadline is not None and self._now + check_after > self.deadline:
            raise TransactionError(f"polling would exceed -total_timeout (checkAfter = {check_after} s)")
        log.info("received polling response, waiting checkAfter = %d s", check_after)
        return Wait(check_after)

    def _certificate(self, rsp: PKIMessage, resp, ca_pubs) -> Step:
        s = self.s
        rsp_type = self._rep_type
        status = resp.status.status
        if status == STATUS_REJECTION:
            raise TransactionError(f"{_upper(rsp_type)} rejected the request: {resp.status.describe()}")
        if status == STATUS_KEY_UPDATE_WARNING and s.cmd != "kur":
            raise TransactionError(f"{_upper(rsp_type)} has status keyUpdateWarning, which is only for kur")
        if status not in (STATUS_ACCEPTED, STATUS_KEY_UPDATE_WARNING) and status not in CERT_STATUS_WARNINGS:
            raise TransactionError(f"{_upper(rsp_type)} has an unknown PKIStatus: {resp.status.describe()}")
        if status in CERT_STATUS_WARNINGS:
            log.warning("%s", CERT_STATUS_WARNINGS[status])
        if resp.encrypted:
            raise TransactionError("encrypted certificates are not supported")
        if resp.cert is None:
            raise TransactionError(f"{_upper(rsp_type)} has status {resp.status.status_name} but no certificate")
        cert_der = resp.cert
        self._ckg_key = None
        if s.centralkeygen:
            from . import ckg
            self._ckg_key = ckg.receive_key(self, rsp, resp)
        # openssl's checks of the new certificate (wrong key, -out_trusted) do not end the
        # transaction: the certConf rejects the certificate, then the command fails
        why, detail, chain = self._check_new_cert(cert_der)
        result = Result(cert=cert_der, ca_pubs=ca_pubs, status=resp.status, new_key=self._ckg_key)
        if chain is None:
            chain = build_chain(cert_der, self.extra_certs_in + list(s.untrusted))
        result.chain = [c for c in chain if not _self_signed(c)]  # no trust anchor, as openssl
        self._result = result
        conf_status = StatusInfo(STATUS_ACCEPTED)
        if why is not None:  # one error line at the end, once the certConf has been answered
            subject = _oneline(cert_der)
            log.info("rejecting newly enrolled cert with subject: %s", subject)
            self._rejection = f"rejecting newly enrolled cert with subject: {subject}; {why}{detail}"
            self.status = STATUS_REJECTION
            conf_status = StatusInfo(STATUS_REJECTION, [why], [FAILURE_INCORRECT_DATA])
        granted = s.implicit_confirm and rsp.implicit_confirm
        if not granted and not s.disable_confirm:
            from . import protection
            conf = bodies.cert_conf_der([(protection.cert_hash(cert_der), resp.cert_req_id, conf_status, None)])
            return self._send(self._new("certConf", conf), "await confirmation")
        return self._done(result)

    def _on_pkiconf(self, rsp: PKIMessage) -> Step:
        return self._done(self._result)

    def _on_rp(self, rsp: PKIMessage) -> Step:
        statuses = bodies.read_rev_rep(rsp.body_content)
        if not statuses:
            raise TransactionError("RP contains no status")
        si = statuses[0]
        self.status = si.status
        if si.status not in REVOCATION_ACCEPTED:
            raise TransactionError(f"revocation rejected: {si.describe()}")
        log.log(*REVOCATION_ACCEPTED[si.status])
        return self._done(Result(status=si))

    def _on_genp(self, rsp: PKIMessage) -> Step:
        self.status = STATUS_ACCEPTED
        return self._done(Result(itavs=bodies.read_itavs(rsp.body_content)))

    def _done(self, result: Result) -> Done:
        result.extra_certs = self.extra_certs_in
        self.state = "done"
        if self._rejection is not None:  # after the certConf that rejected the new certificate
            raise TransactionError(f"certificate not accepted: {self._rejection}")
        return Done(result)

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
                          sender_kid=self._sender_kid(), general_info=list(s.geninfo) + gi,
                          message_time=self._now, body=body)
        self.transaction_id = msg.transaction_id
        self._protect(msg)
        return msg

    def reprotect(self, msg: PKIMessage) -> None:
        """Protect a request that a transport wrapper substituted (-reqin) as our own requests,
        unless requests go unprotected (-unprotected_requests: it is then left as it is)."""
        if not self.s.unprotected_requests:
            self._protect(msg)

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
                self._pbm_alg = (protection.pbmac1_algorithm(prf=s.mac, mac=s.mac) if s.pbmac1 else
                                 protection.pbm_algorithm(owf=s.digest, iterations=s.pbm_iterations, mac=s.mac))
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
        """The signer certificate first, then its chain, then -extracerts; no duplicates. As
        openssl (X509_ADD_FLAG_NO_SS), a self-signed signer certificate is not sent: a server
        that trusts it has it already."""
        out = []
        s = self.s
        signer = [s.cert] if (s.cert is not None and s.secret is None and not _self_signed(s.cert)) else []
        seq = signer + (list(s.cert_chain) if s.secret is None else []) + list(s.extracerts)
        for c in seq:
            if c not in out:
                out.append(c)
        return out

    def _negative(self, rsp: PKIMessage) -> bool:
        """Is this a negative answer (for which -unprotected_errors may accept no protection)?"""
        bt = rsp.body_type
        if bt == "error":
            return True
        if bt in ("ip", "cp", "kup"):
            _, responses = bodies.read_cert_rep(rsp.body_content)
            return any(r.status.status == STATUS_REJECTION for r in responses)
        if bt == "rp":
            return any(si.status == STATUS_REJECTION for si in bodies.read_rev_rep(rsp.body_content))
        # openssl's unprotected_exception() accepts a PKIConf as well (the man page's
        # "negative PKIConf messages": the client cannot tell a positive one apart)
        return bt == "pkiconf"

    def _check_response(self, sent: PKIMessage, rsp: PKIMessage, expected: tuple, replayed: bool) -> None:
        """transactionID, nonces, pvno, protection and sender of a response; then its body type."""
        s = self.s
        # extraCerts, as openssl keeps them for -extracertsout: those of every response but
        # pollRep and pkiconf, even when empty, taken before the response is checked
        if rsp.body_type not in ("pollRep", "pkiconf"):
            self.extra_certs_in = list(rsp.extra_certs)
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
        self.validated_srvcert = None
        self._check_protection(rsp)
        if s.expect_sender is not None:
            if not same_name(rsp.sender_name_der, s.expect_sender):
                from .names import format_dn
                got = rsp.sender_name_der
                raise TransactionError(f"response sender {format_dn(got) if got is not None else '(not a DN)'}"
                                       f" does not match -expect_sender {format_dn(s.expect_sender)}")
        if rsp.body_type == "error":
            si, code, details = bodies.read_error(rsp.body_content)
            self.status = si.status
            if si.status == STATUS_WAITING and self.state in DELAYABLE:
                return  # delayed delivery: receive() starts polling
            extra = (f"; errorCode: {code}" if code is not None else "") + \
                (f"; errorDetails: {'; '.join(details)}" if details else "")
            raise TransactionError(f"received error message: {si.describe()}{extra}")
        if rsp.body_type not in expected:
            raise TransactionError(f"unexpected {_upper(rsp.body_type)} message, expected "
                                   + " or ".join(_upper(e) for e in expected) + f" (state '{self.state}')")

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
            self.validated_srvcert = s.srvcert
            return
        if not s.trusted:
            raise ProtectionError("cannot verify signature-protected response: no -trusted or -srvcert given")
        sender = rsp.sender_name_der
        candidates = [c for c in rsp.extra_certs + list(s.untrusted) + list(s.trusted)]
        from .message import certificate_parses
        from .protection import cert_subject_der
        errors = []
        for cand in dict.fromkeys(candidates):
            if not certificate_parses(cand):  # remembered per DER (issue 17)
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
            self.validated_srvcert = cand
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

    # ------------------------------------------------------------ request and result contents
    def _cert_request_body(self) -> bytes:
        s = self.s
        if s.cmd == "p10cr":
            if s.csr is None:
                raise TransactionError("-csr is required for -cmd p10cr")
            return s.csr
        tpl = s.template or bodies.Template()
        old_id = None
        if s.cmd == "kur" and s.old_cert is not None:  # else (a -csr only) no oldCertID, as openssl
            from cryptography import x509
            old = x509.load_der_x509_certificate(s.old_cert)
            old_id = (directory_name(old.issuer.public_bytes()), old.serial_number)
        if s.centralkeygen:  # RFC 9483 4.1.6: no POPO, the public key absent or only its algorithm
            import dataclasses
            from . import ckg
            tpl = dataclasses.replace(tpl, public_key=ckg.template_public_key(s.newkey_public))
            req = bodies.cert_request_der(0, tpl, old_id)
            return bodies.cert_req_messages_der([bodies.cert_req_msg_der(req, bodies.POPO_NONE)])
        req = bodies.cert_request_der(0, tpl, old_id)
        signer = s.newkey_signer
        if s.popo == bodies.POPO_SIGNATURE and signer is None:
            raise TransactionError("missing private key for proof of possession (-newkey or -key), or use -popo 0/-1")
        return bodies.cert_req_messages_der([bodies.cert_req_msg_der(req, s.popo, signer, s.digest)])

    def _revocation_template(self) -> bodies.Template:
        s = self.s
        from cryptography import x509
        if s.rev_serial is not None:  # -issuer and -serial (openssl 3.2+): they win over -oldcert and -csr
            return bodies.Template(serial=s.rev_serial, issuer=s.rev_issuer)
        if s.old_cert is not None:
            old = x509.load_der_x509_certificate(s.old_cert)
            return bodies.Template(serial=old.serial_number, issuer=old.issuer.public_bytes())
        if s.csr is not None:
            from cryptography.hazmat.primitives import serialization
            csr = x509.load_der_x509_csr(s.csr)
            return bodies.Template(subject=csr.subject.public_bytes(), public_key=csr.public_key().public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo))
        raise TransactionError("missing -oldcert (or -csr) for the certificate to revoke")

    def _check_new_cert(self, cert_der: bytes) -> tuple:
        """(why the client refuses the newly enrolled certificate, as the certConf says it, or
        None; details for the error message; its chain from -out_trusted validation or None):
        the key must be the requested one (for p10cr the CSR's), and with -out_trusted the
        certificate must validate, as openssl checks."""
        s = self.s
        if not s.out_trusted and self._new_cert_key_matches(cert_der):  # issue 17: no cryptography.x509
            return None, "", None
        from cryptography import x509
        from cryptography.hazmat.primitives import serialization
        try:
            cert = x509.load_der_x509_certificate(cert_der)
        except (ValueError, x509.InvalidVersion) as exc:
            raise TransactionError(f"cannot parse the newly enrolled certificate: {exc}") from None
        expected = None
        if s.cmd != "p10cr":  # openssl ignores -newkey for p10cr
            expected = s.newkey_public
            if expected is None and s.newkey_signer is not None:
                expected = s.newkey_signer.public_key()
            if s.centralkeygen and self._ckg_key is not None:
                expected = self._ckg_key.public_key()
        if expected is None and s.csr is not None:
            expected = x509.load_der_x509_csr(s.csr).public_key()
        if expected is not None:
            fmt = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
            if self._expected_spki is None or self._expected_spki[0] is not expected:
                self._expected_spki = (expected, expected.public_bytes(*fmt))  # once per key, not per -repeat
            if cert.public_key().public_bytes(*fmt) != self._expected_spki[1]:
                return "public key in new certificate does not match our enrollment key", "", None
        if s.out_trusted:
            try:
                chain = self._verify_chain(cert_der, self.extra_certs_in + list(s.untrusted), s.out_trusted,
                                           purpose="enrolled", check_status=False)
            except VerifyError as exc:
                return "CMP client did not accept it", f" (failed to validate it with -out_trusted: {exc})", None
            return None, "", list(chain[1:])
        return None, "", None

    def _new_cert_key_matches(self, cert_der: bytes) -> bool:
        """True if the new certificate is of the plain form (core/certshape.py) and its SPKI is byte for
        byte the expected key's (a -newkey / -key enrollment); False means "decide with the full parse"."""
        s = self.s
        if s.cmd == "p10cr" or s.centralkeygen:
            return False
        expected = s.newkey_public
        if expected is None and s.newkey_signer is not None:
            expected = s.newkey_signer.public_key()
        if expected is None:
            return False
        from .certshape import plain_certificate_spki
        spki = plain_certificate_spki(cert_der)
        if spki is None:
            return False
        if self._expected_spki is None or self._expected_spki[0] is not expected:
            from .lazy import serialization
            self._expected_spki = (expected, expected.public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo))
        return spki == self._expected_spki[1]


def _self_signed(cert_der: bytes) -> bool:
    """Issuer equals subject: what openssl leaves out of a chain it saves (X509_ADD_FLAG_NO_SS)."""
    return _self_signed_der(bytes(cert_der))


@memo(maxsize=64, max_bytes=MAX_CACHED_CERT)
def _self_signed_der(cert_der: bytes) -> bool:
    """_self_signed, memoised: every message of every -repeat asks it of the same certificates."""
    from cryptography import x509
    try:
        cert = x509.load_der_x509_certificate(cert_der)
    except (ValueError, x509.InvalidVersion):
        return False
    return cert.issuer == cert.subject


def _oneline(cert_der: bytes) -> str:
    """The subject as openssl's X509_NAME_oneline writes it (/CN=a/O=b)."""
    from cryptography import x509
    from .names import format_dn
    return format_dn(x509.load_der_x509_certificate(cert_der).subject)


def build_chain(cert_der: bytes, pool: list) -> list:
    """The issuer chain of ``cert_der`` found in ``pool`` by name and signature (no trust)."""
    return list(_issuer_chain(bytes(cert_der), tuple(bytes(c) for c in pool)))


@memo(maxsize=32, max_bytes=8 * MAX_CACHED_CERT)
def _issuer_chain(cert_der: bytes, pool: tuple) -> tuple:
    """build_chain, memoised: -repeat and the mock server build the same chains again."""
    if not pool:  # issue 17: nothing to find, and a plain certificate parses: no cryptography.x509
        from .certshape import plain_certificate_spki
        if plain_certificate_spki(cert_der) is not None:
            return ()
    from cryptography import x509
    certs = []
    for c in dict.fromkeys(pool):
        try:
            certs.append((c, x509.load_der_x509_certificate(c)))
        except (ValueError, x509.InvalidVersion):
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
