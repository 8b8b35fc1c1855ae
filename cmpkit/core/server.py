"""The CMP server as a sans-IO state machine: one DER request and the current time in, one DER response out.

It mirrors OpenSSL's generic CMP server (``crypto/cmp/cmp_server.c``: request checks,
transaction state, certConf and pollReq handling, error responses) together with the mock
CA of ``apps/lib/cmp_mock_srv.c`` as ``openssl cmp`` configures it with the ``-srv_*`` and
``-rsp_*`` options (:class:`ServerSettings`). The mock CA does not issue anything: every
enrollment is answered with ``-rsp_cert``.

Use: ``CmpServer(ServerSettings(...)).handle(request_der, now) -> response_der`` where ``now``
is a POSIX timestamp (the responses' messageTime). ``handle`` never raises for bad client
input: it answers with a CMP error message, as OpenSSL's server does (malformed DER gets
rejection / badDataFormat). No sockets, clock, files or locks here: the caller serializes
calls (``cmpkit_mock.server.MockServer`` holds a lock and reads the clock).

Transactions. Each open transaction is kept under its sender and transactionID
(:attr:`CmpServer.transactions`), so that concurrent clients do not disturb each other (unlike
OpenSSL's server, which keeps one and serves one connection at a time). A request works on a
copy of its transaction; the copy replaces the kept one only if the request's protection
verified (or its absence was accepted by -accept_unprotected): a request that fails
authentication changes nothing. What a request may do in its transaction's state is the table
:data:`TRANSITIONS`; the state after a response is :data:`AFTER_RESPONSE`. A request starting a
transaction under an ID that is open ends that transaction first, so a finished transaction's
ID may be used again (``-reqin`` replays). At most :data:`MAX_OPEN_TRANSACTIONS` stay open, each
for :data:`TRANSACTION_TIMEOUT` seconds after its last request.
"""
from __future__ import annotations

import datetime
import logging
import os
from dataclasses import dataclass, field
from typing import NamedTuple, Optional

from cmpkit.core import bodies
from cmpkit.core.message import (NULL_DN_GENERAL_NAME, OID_IMPLICIT_CONFIRM, PKIMessage, StatusInfo,
                                 directory_name, new_message)
from cmpkit.core.server_checks import (ACCEPTED, BAD_DATA_FORMAT, BAD_REQUEST, LIB_NAMES, MAX_FAILURE_BIT,
                                       REJECTION, WAITING, Failure, PopoFailure, ProtectionCheck,
                                       check_old_cert_id, hexstr, same_name, verify_popo)
from cmpkit.errors import CmpError, DecodeError

log = logging.getLogger("cmpkit.server")

CERTREQID_NONE = -1       # certReqId of a p10cr and its answer (OpenSSL 3.0.x since 3.0.9)
MAX_OPEN_TRANSACTIONS = 1000   # the oldest open transaction is dropped beyond this
TRANSACTION_TIMEOUT = 600      # seconds an open transaction waits for its next request
BODY_NAMES = {"certConf": "CERTCONF", "pkiconf": "PKICONF", "pollReq": "POLLREQ", "pollRep": "POLLREP"}


def _central_keygen_requested(crm) -> Optional[bool]:
    """None: an ordinary request (a public key in the template); True: central key generation
    requested consistently (no POPO); False: requested, but with a POPO (RFC 9483 4.1.6 forbids it)."""
    if crm is None:
        return None
    spki = crm.template.public_key
    if spki is not None and bodies.der.content(bodies.der.children(spki)[1]) != b"\x00":
        return None
    return crm.popo is None


#: public name for the CA mode (cmpkit.core.ca.keygen)
central_keygen_requested = _central_keygen_requested


def _upper(body_type: str) -> str:
    return BODY_NAMES.get(body_type, body_type.upper())


@dataclass(repr=False, eq=False)  # no repr: it would show -srv_secret; neither is used, and each generated method costs start-up time
class ServerSettings:
    """What ``openssl cmp``'s setup_srv_ctx() configures, already loaded (certs as DER).

    ``failurebits`` wins over ``failure`` (one bit number), as in OpenSSL. ``ref_cert`` is the
    certificate whose issuer and serial kur (oldCertID) and rr must name; None means
    ``rsp_cert``, which is what OpenSSL 3.0/3.1 compare with. ``policy`` validates client
    certificates (``verify_chain(cert, untrusted, trusted, purpose=None)``); it is required
    for signature-protected requests (the mock plugin gives the run's).
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
    no_cache_extracerts: bool = False   # -no_cache_extracerts: extraCerts of requests are not kept
    policy: object = None
    digest: str = "sha256"
    rsp_key: object = None      # -rsp_key: the private key returned for central key generation (cryptography)
    # answers to the genm info types of RFC 9480 2.3 (cmpkit.core.genm_types.mock_answer)
    rsp_newwithnew: Optional[bytes] = None
    rsp_newwithold: Optional[bytes] = None
    rsp_oldwithnew: Optional[bytes] = None
    rsp_crl: Optional[bytes] = None

    def status_info(self) -> StatusInfo:
        """The PKIStatusInfo the mock puts into ip/cp/kup/rp (unless polling)."""
        bits = self.failurebits
        if not bits and self.failure is not None:
            bits = 1 << self.failure
        texts = [self.statusstring] if self.statusstring is not None else []
        return StatusInfo(self.pkistatus, texts, [i for i in range(MAX_FAILURE_BIT + 1) if bits >> i & 1])


# ---------------------------------------------------------------------- states and transitions

IDLE = "idle"                                   # no open transaction
WAITING_CERTCONF = "waiting for certConf"       # ip/cp/kup sent, no implicit confirmation granted
POLLING = "polling"                             # "waiting" sent: pollReq expected

OTHER = "*"                                     # any request body not listed for a state


class Transition(NamedTuple):
    """What the server does with one request body in one state."""

    responses: tuple      # body types of the regular answer (any request may get an error instead)
    handler: str          # the CmpServer method that builds the answer (or raises Failure)
    starts: bool = False  # starts a new transaction, ending any open one (OpenSSL: "got aborted")


# Requests that start a transaction: accepted in every state.
STARTING = {
    "ir": Transition(("ip",), "_cert_request", starts=True),
    "cr": Transition(("cp",), "_cert_request", starts=True),
    "kur": Transition(("kup",), "_cert_request", starts=True),
    "p10cr": Transition(("cp",), "_cert_request", starts=True),
    "rr": Transition(("rp",), "_rr", starts=True),
    "genm": Transition(("genp",), "_genm", starts=True),
    "error": Transition(("pkiconf",), "_error", starts=True),
}
# Not accepted in this state, refused on arrival (before authentication): "unexpected pkibody",
# as cmp_server.c does for a request that needs a transaction when there is none.
REFUSED = None
# Not accepted in this state, refused after authentication: "unexpected pkibody" from the body
# type switch of cmp_server.c (anything else), or from the mock CA's pollReq check after the
# generic pollReq checks (not polling).
UNEXPECTED = Transition((), "_unexpected")
NOT_POLLING = Transition((), "_poll_req_not_polling")

# Delayed delivery (RFC 9480 section 3.4, OpenSSL 3.3's mock with -poll_count): these requests
# are first answered with an error message with status "waiting"; pollReq (certReqId -1) gets
# pollRep until the last poll, which gets the real answer. ir/cr/kur/p10cr poll through their
# "waiting" certificate response instead; an error message is never delayed.
DELAYED_REQUESTS = ("rr", "genm", "certConf")
DELAYED_RESPONSES = ("rp", "genp", "pkiconf")

#: state -> request body -> Transition (or REFUSED)
TRANSITIONS = {
    IDLE: {
        **STARTING,
        "certConf": REFUSED,
        "pollReq": REFUSED,
        OTHER: REFUSED,
    },
    WAITING_CERTCONF: {
        **STARTING,
        "certConf": Transition(("pkiconf",), "_cert_conf"),
        "pollReq": NOT_POLLING,
        OTHER: UNEXPECTED,
    },
    POLLING: {
        **STARTING,
        # OpenSSL's server takes a certConf in any open transaction, polling or not
        "certConf": Transition(("pkiconf",), "_cert_conf"),
        # pollRep, or at the last poll the answer to the request that started polling
        "pollReq": Transition(("pollRep", "ip", "cp", "kup") + DELAYED_RESPONSES, "_poll_req"),
        OTHER: UNEXPECTED,
    },
}

#: response body -> the transaction's state once it is sent; a certificate response goes to IDLE
#: instead if implicit confirmation was granted, to POLLING if it says "waiting".
AFTER_RESPONSE = {
    "ip": WAITING_CERTCONF, "cp": WAITING_CERTCONF, "kup": WAITING_CERTCONF,
    "pollRep": POLLING,
    "rp": IDLE, "genp": IDLE, "pkiconf": IDLE, "error": IDLE,
}

CERT_RESPONSES = {body: t.responses[0] for body, t in STARTING.items() if t.handler == "_cert_request"}


@dataclass
class Transaction:
    """What the server remembers of a transaction (OpenSSL keeps it in the server's OSSL_CMP_CTX)."""

    state: str = IDLE
    transaction_id: Optional[bytes] = None
    sender_nonce: Optional[bytes] = None     # the last one we sent, for recipNonce checks
    recip_nonce: Optional[bytes] = None      # the last request's senderNonce
    recipient: bytes = NULL_DN_GENERAL_NAME  # the last request's sender
    implicit_confirm: bool = False           # granted with the last ip/cp/kup
    cert_req_id: Optional[int] = None
    poll_request: Optional[PKIMessage] = None   # the request answered with "waiting"
    polls: int = 0
    delayed: bool = False                    # poll_request is a delayed rr/genm/certConf
    conf_req_id: Optional[int] = None        # cert_req_id of the certificate while a certConf is delayed
    last_seen: float = 0.0                   # time of the last request that changed it

    def restart(self) -> None:
        """Start of a new transaction: forget the last transactionID and senderNonce and, as
        OpenSSL 3.2's clean_transaction() does, any polling left over."""
        self.state = IDLE
        self.transaction_id = None
        self.sender_nonce = None
        self.poll_request, self.polls = None, 0
        self.delayed, self.conf_req_id = False, None

    def close(self) -> None:
        """End of the transaction: the next request must start a new one."""
        self.state = IDLE
        self.transaction_id = None
        self.sender_nonce = None


def _copy_transaction(kept: Transaction) -> Transaction:
    """copy.copy(kept) without copy's protocol lookups (issue 17: one per request)."""
    cur = object.__new__(Transaction)
    cur.__dict__.update(kept.__dict__)
    return cur


OID_CERT_PROFILE = "1.3.6.1.5.5.7.4.21"   # id-it-certProfile (RFC 9483 section 3.1)
MOCK_PROFILE = "profile1"                 # the one profile OpenSSL 3.3+'s mock accepts in a cr


def _check_cert_profile(req: PKIMessage) -> None:
    """OpenSSL 3.3+'s mock: a cr naming a certificate profile must name "profile1" first."""
    from cmpkit.core import der
    for oid, value in req.general_info:
        if oid != OID_CERT_PROFILE:
            continue
        try:
            names = der.children(value) if value is not None else []
            first = der.content(names[0]).decode("utf-8") if names else None
        except (ValueError, UnicodeDecodeError, CmpError):
            raise Failure("unexpected certprofile") from None
        if first != MOCK_PROFILE:
            raise Failure("unexpected certprofile")
        return


class CmpServer:
    """One CMP server (OpenSSL's OSSL_CMP_SRV_CTX, with a transaction per sender and ID); not thread-safe."""

    def __init__(self, settings: ServerSettings):
        self.s = settings
        # open transactions by (sender, transactionID), the least recently used first
        self.transactions: dict = {}
        self.current = Transaction()   # the copy the request being handled works on
        self._now = 0.0
        self.protection = ProtectionCheck(settings)
        self._time: Optional[datetime.datetime] = None   # messageTime of the responses
        self._second = 0                                  # ... as POSIX seconds
        self._server_chain: Optional[list] = None
        self._sender_gn: Optional[bytes] = None
        self._use_secret = True
        self._pbm_alg: Optional[bytes] = None        # PBM parameters (salt) of our responses
        self._delaying = False
        self._request_alg: Optional[bytes] = None    # protectionAlg of the request being answered

    # ------------------------------------------------------------------ entry point
    def handle(self, request_der: bytes, now: float) -> bytes:
        """Answer one DER request with one DER response; ``now`` (POSIX seconds) becomes its
        messageTime. Never raises for bad input."""
        self._now = now
        second = int(now)  # messageTime has whole seconds
        if self._time is None or second != self._second:
            self._second, self._time = second, datetime.datetime.fromtimestamp(second, datetime.timezone.utc)
        try:
            return self._handle(request_der)
        except Exception:  # noqa: BLE001 - the server must answer whatever happens
            log.debug("mock server failed internally", exc_info=True)
            log.error("mock server: cannot send proper CMP response")
            return self._last_resort_error()

    def _handle(self, request_der: bytes) -> bytes:
        self.current = Transaction()  # for an answer that belongs to no transaction
        self._delaying = False        # set while answering with the "waiting" error of delayed delivery
        try:
            req = PKIMessage.from_der(request_der)
        except CmpError as exc:
            log.error("mock server: cannot decode request: %s", exc)
            return self._decode_error(str(exc))
        self._use_secret = True
        self._request_alg = req.protection_alg  # a PBMAC1-protected request gets a PBMAC1 answer
        rsp = None
        verified = False
        key = (req.sender, req.transaction_id)
        self._expire()
        kept = self.transactions.get(key)
        self.current = _copy_transaction(kept) if kept is not None else Transaction()
        try:
            transition = self._accept(req)
            verified = self._check_request(req)
            rsp = self._delayed_delivery(req)
            if rsp is None:
                rsp = getattr(self, transition.handler)(req)
            if rsp.body_type not in transition.responses and not self._delaying:
                raise RuntimeError(f"{transition.handler} answered {req.body_type} with {rsp.body_type}")
        except DecodeError as exc:  # a body part read lazily, as OpenSSL's d2i would have read it first
            log.error("mock server: cannot decode request: %s", exc)
            return self._decode_error(str(exc))
        except Failure as exc:
            log.error("%s", exc)
            cur = self.current
            if not verified:
                # try to answer with the right transactionID and recipNonce anyway
                if cur.transaction_id is None:
                    cur.transaction_id = req.transaction_id
                cur.recip_nonce = req.sender_nonce
            si = StatusInfo(REJECTION, [exc.reason], [getattr(exc, "bit", BAD_REQUEST)])
            details = [LIB_NAMES[exc.lib], exc.reason] + ([exc.data] if exc.data else [])
            rsp = self._message("error", bodies.error_der(si, exc.code, details),
                                unprotected=self.s.send_unprot_err)
        log.debug("sending %s", _upper(rsp.body_type))
        self._end_of_exchange(rsp.body_type)
        if verified:
            self._keep(key, self.current)
        return rsp.to_der()

    # ------------------------------------------------------------------ the open transactions
    def _keep(self, key: tuple, cur: Transaction) -> None:
        """Store the outcome of an authenticated request: its transaction stays open, or ends."""
        self.transactions.pop(key, None)
        if cur.state != IDLE:
            cur.last_seen = self._now
            self.transactions[key] = cur          # now the most recently used
            if len(self.transactions) > MAX_OPEN_TRANSACTIONS:
                oldest = next(iter(self.transactions))
                log.warning("more than %d open transactions: dropping ID=%s", MAX_OPEN_TRANSACTIONS,
                            hexstr(oldest[1]))
                del self.transactions[oldest]

    def _expire(self) -> None:
        """Drop transactions whose last request is older than TRANSACTION_TIMEOUT (oldest first)."""
        limit = self._now - TRANSACTION_TIMEOUT
        while self.transactions:
            key, cur = next(iter(self.transactions.items()))
            if cur.last_seen >= limit:
                return
            log.info("transaction ID=%s expired after %d s without a request", hexstr(key[1]), TRANSACTION_TIMEOUT)
            del self.transactions[key]

    def _open_of(self, sender: bytes) -> Optional[Transaction]:
        """The sender's most recently used open transaction, if any."""
        for (who, _tid), cur in reversed(self.transactions.items()):
            if who == sender:
                return cur
        return None

    # ------------------------------------------------------------------ transitions
    def _accept(self, req: PKIMessage) -> Transition:
        """The transition for ``req`` in the current state: OpenSSL's checks before authentication."""
        bt = req.body_type
        log.debug("received %s", _upper(bt))
        cur = self.current  # the request's transaction (keyed by transactionID: looked up here)
        if req.sender_name_der is None:
            cur.recipient = NULL_DN_GENERAL_NAME
            raise Failure("sender generalname type not supported")
        cur.recipient = req.sender
        row = TRANSITIONS[cur.state]
        transition = row.get(bt, row[OTHER])
        if transition is REFUSED:
            other = self._open_of(req.sender) if cur.transaction_id is None else None
            if other is not None:  # as OpenSSL answers a request of another transaction than its one
                cur.transaction_id = other.transaction_id  # answered in that transaction (not changed)
                raise Failure("transactionid unmatched",
                              f"expected = {hexstr(other.transaction_id)}, actual = {hexstr(req.transaction_id)}")
            raise self._unexpected_body(req)
        if transition.starts:
            if cur.transaction_id is not None:
                log.warning("Assuming that last transaction with ID=%s got aborted", hexstr(cur.transaction_id))
            cur.restart()
        return transition

    def _unexpected_body(self, req: PKIMessage) -> Failure:
        log.debug("mock server: %s is not expected in state '%s'", _upper(req.body_type), self.current.state)
        return Failure("unexpected pkibody")

    def _end_of_exchange(self, rsp_type: str) -> None:
        """Keep the transaction open or close it, as OpenSSL does after each response."""
        cur = self.current
        state = AFTER_RESPONSE[rsp_type]
        if state == WAITING_CERTCONF:
            if cur.implicit_confirm:
                state = IDLE
            elif cur.poll_request is not None:
                state = POLLING
        if rsp_type == "error" and self._delaying:
            state = POLLING  # the "waiting" error of delayed delivery
        if state == IDLE:
            cur.close()
        else:
            cur.state = state

    # ------------------------------------------------------------------ request checks
    def _check_request(self, req: PKIMessage) -> bool:
        """The rest of OSSL_CMP_SRV_process_request's checks and ossl_cmp_msg_check_update(); True when done."""
        cur = self.current
        if not self.s.no_cache_extracerts:
            self.protection.remember_certs(req.extra_certs)
        try:
            ok = self.protection.verify(req)
        finally:
            if self.s.srv_secret is not None and self.s.srv_signer is not None and not req.is_mac_protected():
                self._use_secret = False  # a request not MAC-protected gets a signed answer
        if not ok:
            raise Failure("missing protection")
        if req.pvno != 2:
            raise Failure("unexpected pvno")
        if cur.transaction_id is not None and req.transaction_id != cur.transaction_id:
            raise Failure("transactionid unmatched",
                          f"expected = {hexstr(cur.transaction_id)}, actual = {hexstr(req.transaction_id)}")
        if cur.sender_nonce is not None and req.recip_nonce != cur.sender_nonce:
            raise Failure("recipnonce unmatched",
                          f"expected = {hexstr(cur.sender_nonce)}, actual = {hexstr(req.recip_nonce)}")
        if cur.transaction_id is None:
            cur.transaction_id = req.transaction_id
        cur.recip_nonce = req.sender_nonce
        return True

    # ------------------------------------------------------------------ handlers (TRANSITIONS)
    def _cert_request(self, req: PKIMessage) -> PKIMessage:
        """process_cert_request() of cmp_server.c plus the mock's (first request only)."""
        s, cur = self.s, self.current
        rsp_type = CERT_RESPONSES[req.body_type]
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
        cur.cert_req_id = cert_req_id
        central_keygen = _central_keygen_requested(crm)
        try:
            if central_keygen is None:
                verify_popo(req, crm, s.accept_raverified)
            elif not central_keygen:
                raise PopoFailure("popo inconsistent with central key generation")
        except PopoFailure as exc:
            log.error("%s", exc.reason)
            cur.implicit_confirm = False
            si = StatusInfo(REJECTION, [exc.reason], [exc.bit])
            body = bodies.cert_rep_der([(cert_req_id, si, None)])
            return self._message(rsp_type, body, unprotected=s.send_unprot_err)
        # the mock CA
        if s.send_error:
            raise Failure("error processing message")
        cert = chain = ca_pubs = None
        if s.poll_count > 0 and cur.polls == 0:  # start polling
            cur.poll_request = req
            si = StatusInfo(WAITING)
        else:
            if cur.polls >= s.poll_count:
                cur.polls = 0  # final response after polling
            if req.body_type == "cr":
                _check_cert_profile(req)
            ref = s.ref_cert if s.ref_cert is not None else s.rsp_cert
            if req.body_type == "kur" and crm is not None and ref is not None:
                check_old_cert_id(crm, ref)
            cert, chain, ca_pubs = s.rsp_cert, s.rsp_extracerts, s.rsp_capubs
            si = s.status_info()
        cur.implicit_confirm = req.implicit_confirm and s.grant_implicitconf and cert is not None
        if si.status in (REJECTION, WAITING):
            cert = None
        private_key = None
        if central_keygen and cert is not None:
            private_key = self._central_key(req)
        body = bodies.cert_rep_der([(cert_req_id, si, cert, private_key)], ca_pubs if rsp_type == "ip" else ())
        gi = [(OID_IMPLICIT_CONFIRM, b"\x05\x00")] if cur.implicit_confirm else []
        return self._message(rsp_type, body, extra_certs=chain or (), general_info=gi,
                             unprotected=s.send_unprot_err and si.status == REJECTION)

    def _central_key(self, req: PKIMessage) -> bytes:
        """The -rsp_key for the requester as EncryptedKey (central key generation, RFC 9483 4.1.6)."""
        from cmpkit.core import ckg
        s = self.s
        if s.rsp_key is None:
            raise Failure("central key generation requested but no -rsp_key given")
        try:
            return ckg.encrypted_key(req, s.rsp_key, s.srv_signer, s.srv_cert, s.srv_secret, s.srv_chain, s.digest)
        except ValueError as exc:
            raise Failure(str(exc)) from None

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
            if not same_name(tpl.issuer, ref.issuer.public_bytes()) or tpl.serial != ref.serial_number:
                raise Failure("request not accepted", "wrong certificate to revoke")
        si = s.status_info()
        cert_ids = []
        if tpl.issuer is not None and tpl.serial is not None:
            cert_ids = [bodies.cert_id_der(directory_name(tpl.issuer), tpl.serial)]
        return self._message("rp", bodies.rev_rep_der([si], cert_ids),
                             unprotected=s.send_unprot_err and si.status == REJECTION)

    def _genm(self, req: PKIMessage) -> PKIMessage:
        itavs = bodies.read_itavs(req.body_content)
        if len(itavs) > 1 or self.s.send_error:
            raise Failure("error processing message")
        if len(itavs) == 1:  # the info types with specific support (RFC 9480 2.3)
            from cmpkit.core.genm_types import mock_answer
            try:
                answer = mock_answer(self.s, *itavs[0])
            except (ValueError, DecodeError) as exc:
                raise Failure(str(exc)) from None
            if answer is not None:
                itavs = [answer]
        return self._message("genp", bodies.genm_der(itavs))

    def _error(self, req: PKIMessage) -> PKIMessage:
        si, code, details = bodies.read_error(req.body_content)
        log.info("mock server received error: pkiStatusInfo: %s; errorCode: %s; errorDetails: %s",
                 si.describe(), "absent" if code is None else code,
                 ", ".join(f'"{d}"' for d in details) if details else "absent")
        return self._message("pkiconf", None)

    def _cert_conf(self, req: PKIMessage) -> PKIMessage:
        s, cur = self.s, self.current
        if cur.implicit_confirm or cur.state == IDLE:  # OpenSSL's check; TRANSITIONS already ensure it
            raise Failure("error unexpected certconf")
        entries = bodies.read_cert_conf(req.body_content)
        if not entries:
            log.error("certificate rejected by client")
        else:
            if len(entries) > 1:
                log.warning("All CertStatus but the first will be ignored")
            cert_hash, req_id, si, _hash_alg = entries[0]
            if req_id != cur.cert_req_id:
                raise Failure("bad request id")
            if s.send_error or s.rsp_cert is None:
                raise Failure("error processing message")
            from cmpkit.core import protection
            if cert_hash != protection.cert_hash(s.rsp_cert):
                raise Failure("certhash unmatched")
            if si is not None and si.status != ACCEPTED:
                log.info("certificate rejected by client with %s", si.status_name)
        return self._message("pkiconf", None)

    def _poll_req_checks(self, req: PKIMessage) -> int:
        """process_pollReq() of cmp_server.c and the mock's -send_error: the certReqId polled for."""
        ids = bodies.read_poll_req(req.body_content)
        if len(ids) != 1:
            raise Failure("multiple requests not supported")
        if ids[0] != self.current.cert_req_id:
            raise Failure("bad request id")
        if self.s.send_error:
            raise Failure("error processing message")
        return ids[0]

    def _poll_req(self, req: PKIMessage) -> PKIMessage:
        s, cur = self.s, self.current
        cert_req_id = self._poll_req_checks(req)
        cur.polls += 1
        if cur.polls >= s.poll_count:  # end of polling: answer the remembered request
            original, cur.poll_request = cur.poll_request, None
            if cur.delayed:
                return self._delayed_answer(original)
            return self._cert_request(original)
        return self._message("pollRep", bodies.poll_rep_der([(cert_req_id, s.check_after, [])]))

    def _delayed_delivery(self, req: PKIMessage) -> Optional[PKIMessage]:
        """The "waiting" error message if ``req`` is to be answered only after polling, else None
        (the mock's delayed_delivery(): with -poll_count, the first rr, genm or certConf of a
        transaction; a certConf after a polled certificate response as well)."""
        s, cur = self.s, self.current
        if s.poll_count <= 0 or req.body_type not in DELAYED_REQUESTS or cur.polls != 0:
            return None
        if req.body_type == "certConf" and (cur.implicit_confirm or cur.state == IDLE or cur.poll_request is not None):
            return None  # refused by its handler, or taken while polling for the certificate: not delayed
        cur.poll_request, cur.delayed = req, True
        if req.body_type == "certConf":
            cur.conf_req_id = cur.cert_req_id
        cur.cert_req_id = CERTREQID_NONE
        log.info("mock server: delaying the answer to %s (polling)", _upper(req.body_type))
        self._delaying = True
        return self._message("error", bodies.error_der(StatusInfo(WAITING), 0))

    def _delayed_answer(self, original: PKIMessage) -> PKIMessage:
        """The answer to the delayed request at the end of polling."""
        cur = self.current
        cur.polls, cur.delayed = 0, False
        if original.body_type == "certConf":
            cur.cert_req_id, cur.conf_req_id = cur.conf_req_id, None
            cur.polls = self.s.poll_count  # the mock does not delay the certConf a second time
            return self._cert_conf(original)
        cur.polls = self.s.poll_count
        return getattr(self, STARTING[original.body_type].handler)(original)

    def _poll_req_not_polling(self, req: PKIMessage) -> PKIMessage:
        """A pollReq outside polling: the generic checks, then the mock's "not in polling mode"."""
        self._poll_req_checks(req)
        raise self._unexpected_body(req)

    def _unexpected(self, req: PKIMessage) -> PKIMessage:
        raise self._unexpected_body(req)

    # ------------------------------------------------------------------ responses
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
        s, cur = self.s, self.current
        if cur.transaction_id is None:
            cur.transaction_id = os.urandom(16)
        nonce = os.urandom(16)
        msg = new_message(body_type, sender=self._sender(), recipient=cur.recipient,
                          transaction_id=cur.transaction_id, sender_nonce=nonce,
                          recip_nonce=cur.recip_nonce, general_info=general_info, body=body,
                          message_time=self._time)
        cur.sender_nonce = nonce
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
            msg.protect_with_mac(secret, self._response_mac_alg() or self._pbm_alg, s.srv_ref)
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

    def _response_mac_alg(self) -> Optional[bytes]:
        """PBMAC1 with the request's parameters and a fresh salt when the request is PBMAC1-protected
        (RFC 9481 6.1.2), else None (PBM, OpenSSL's only MAC)."""
        from cmpkit.core import protection
        return protection.pbmac1_with_fresh_salt(self._request_alg) if self._request_alg else None

    def _chain(self) -> list:
        """The server certificate's issuer chain from -srv_untrusted, without self-signed
        certificates (OpenSSL builds it once and adds it after the server certificate)."""
        if self._server_chain is None:
            from cryptography import x509

            from .client import build_chain
            chain = build_chain(self.s.srv_cert, list(self.s.srv_chain) + list(self.s.srv_untrusted))
            keep = []
            for c in chain:
                cert = x509.load_der_x509_certificate(c)
                if cert.issuer != cert.subject:
                    keep.append(c)
            self._server_chain = keep
        return self._server_chain

    def _decode_error(self, reason: str) -> bytes:
        """The answer to bytes that are no PKIMessage: a fresh transaction, rejection/badDataFormat."""
        cur = self.current
        cur.restart()
        cur.recipient, cur.recip_nonce = NULL_DN_GENERAL_NAME, None
        si = StatusInfo(REJECTION, ["error decoding message"], [BAD_DATA_FORMAT])
        rsp = self._message("error", bodies.error_der(si, None, [reason[:200]]), unprotected=self.s.send_unprot_err)
        self._end_of_exchange("error")
        return rsp.to_der()

    def _last_resort_error(self) -> bytes:
        """An unprotected error when even building a proper response failed."""
        cur = self.current
        tid = cur.transaction_id
        cur.restart()
        si = StatusInfo(REJECTION, ["error processing message"], [BAD_REQUEST])
        msg = new_message("error", recipient=cur.recipient, transaction_id=tid, recip_nonce=cur.recip_nonce,
                          body=bodies.error_der(si), message_time=self._time)
        return msg.to_der()
