"""The sans-IO server machine (cmpkit.core.server) with a fixed time: each request in each state, polling, failures.

Every request type in every transaction state, polling, implicit confirmation, rejection status
and -send_error, without sockets or files (the pki fixture's objects only)."""
import datetime
import logging
import os

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes

from cmpkit.core import bodies, protection
from cmpkit.core.message import OID_IMPLICIT_CONFIRM, PKIMessage, StatusInfo, directory_name
from cmpkit.core.server import (AFTER_RESPONSE, IDLE, OTHER, POLLING, REFUSED, STARTING, TRANSITIONS,
                                WAITING_CERTCONF, CmpServer, ServerSettings)

from .pki import name
from .test_mock_server import DER, REF, SECRET, cert_req_body, der, error_of, request

NOW = 1_750_000_000.5                     # a fixed POSIX time: 2025-06-15T15:06:40.5Z
NOW_TIME = datetime.datetime(2025, 6, 15, 15, 6, 40, tzinfo=datetime.timezone.utc)
CMP_LIB = 58 << 23                         # ERR_LIB_CMP in errorCode
UNEXPECTED = "error: unexpected pkibody"
ALL_REQUESTS = ("ir", "cr", "kur", "p10cr", "rr", "genm", "error", "certConf", "pollReq", "pkiconf")


def make_server(pki, **kw):
    o = pki.objs
    s = ServerSettings(srv_ref=REF, srv_secret=SECRET, rsp_cert=der(o["issued"]), rsp_capubs=[der(o["root"])],
                       rsp_extracerts=[der(o["issuing"])])
    for k, v in kw.items():
        setattr(s, k, v)
    return CmpServer(s)


def request_body(pki, body_type, cert_req_id=0):
    """A well-formed body of each request type (and of a pkiconf, which no server takes)."""
    issued = pki.objs["issued"]
    if body_type in ("ir", "cr"):
        return cert_req_body(pki)
    if body_type == "kur":
        return cert_req_body(pki, old_cert_id=(directory_name(issued.issuer.public_bytes()), issued.serial_number))
    if body_type == "p10cr":
        return x509.CertificateSigningRequestBuilder().subject_name(name("leaf")).sign(
            pki.objs["new_key"], hashes.SHA256()).public_bytes(DER)
    if body_type == "rr":
        return bodies.rev_req_der(bodies.Template(serial=issued.serial_number, issuer=issued.issuer.public_bytes()))
    if body_type == "genm":
        return bodies.genm_der([("1.3.6.1.5.5.7.4.2", None)])
    if body_type == "error":
        return bodies.error_der(StatusInfo(2, ["client gives up"], [2]), 7, ["details"])
    if body_type == "certConf":
        return bodies.cert_conf_der([(protection.cert_hash(der(issued)), cert_req_id, None, None)])
    if body_type == "pollReq":
        return bodies.poll_req_der([cert_req_id])
    assert body_type == "pkiconf"
    return None


class Peer:
    """The client side of one transaction with a CmpServer: same transactionID, recipNonce the last senderNonce."""

    def __init__(self, server, tid=None):
        self.server = server
        self.tid = tid or os.urandom(16)
        self.recip_nonce = None
        self.last_request = None

    def send(self, body_type, body, **kw):
        kw.setdefault("transaction_id", self.tid)
        kw.setdefault("recip_nonce", self.recip_nonce)
        data = request(body_type, body, **kw)
        self.last_request = PKIMessage.from_der(data)
        rsp = PKIMessage.from_der(self.server.handle(data, NOW))
        self.recip_nonce = rsp.sender_nonce
        return rsp


def outcome(rsp):
    """What a response says, in short: its body type and status, or the error reason."""
    bt = rsp.body_type
    if bt == "error":
        si, code, details = bodies.read_error(rsp.body_content)
        if si.status == 3:  # delayed delivery (openssl 3.3+): poll for the answer
            return "error waiting"
        assert (si.status, si.failure_bits) == (2, [2]), si.describe()       # rejection / badRequest
        assert code >> 23 == 58 and details[:2] == ["CMP routines", si.texts[0]]
        return f"error: {si.texts[0]}"
    if bt in ("ip", "cp", "kup"):
        _, responses = bodies.read_cert_rep(rsp.body_content)
        return f"{bt} {responses[0].status.status_name}"
    if bt == "rp":
        return f"rp {bodies.read_rev_rep(rsp.body_content)[0].status_name}"
    return bt


def into_state(pki, state, **kw):
    """A server and a peer whose transaction is in ``state`` (opened with an ir)."""
    if state == POLLING:
        kw.setdefault("poll_count", 2)
        kw.setdefault("check_after", 5)
    server = make_server(pki, **kw)
    peer = Peer(server)
    if state != IDLE:
        rsp = peer.send("ir", request_body(pki, "ir"))
        assert outcome(rsp) == ("ip waiting" if state == POLLING else "ip accepted")
    assert server.current.state == state
    return server, peer


# ---------------------------------------------------------------- the tables

def test_every_state_has_a_rule_for_every_request():
    for state, row in TRANSITIONS.items():
        assert set(row) == set(STARTING) | {"certConf", "pollReq", OTHER}, state
        for body_type, t in row.items():
            if t is REFUSED:
                continue
            assert callable(getattr(CmpServer, t.handler)), t.handler
            assert all(r in AFTER_RESPONSE for r in t.responses), (state, body_type)
            assert t.starts == (body_type in STARTING)
    assert set(AFTER_RESPONSE.values()) <= set(TRANSITIONS)


# ---------------------------------------------------------------- every request, every state

IDLE_CASES = {
    "ir": ("ip accepted", WAITING_CERTCONF),
    "cr": ("cp accepted", WAITING_CERTCONF),
    "kur": ("kup accepted", WAITING_CERTCONF),
    "p10cr": ("cp accepted", WAITING_CERTCONF),
    "rr": ("rp accepted", IDLE),
    "genm": ("genp", IDLE),
    "error": ("pkiconf", IDLE),
    "certConf": (UNEXPECTED, IDLE),      # no transaction to confirm
    "pollReq": (UNEXPECTED, IDLE),       # nothing to poll for
    "pkiconf": (UNEXPECTED, IDLE),       # anything else
}
WAITING_CASES = {
    "ir": ("ip accepted", WAITING_CERTCONF),     # a new transaction; the open one is aborted
    "cr": ("cp accepted", WAITING_CERTCONF),
    "kur": ("kup accepted", WAITING_CERTCONF),
    "p10cr": ("cp accepted", WAITING_CERTCONF),
    "rr": ("rp accepted", IDLE),
    "genm": ("genp", IDLE),
    "error": ("pkiconf", IDLE),
    "certConf": ("pkiconf", IDLE),
    "pollReq": (UNEXPECTED, IDLE),       # not polling
    "pkiconf": (UNEXPECTED, IDLE),
}
POLLING_CASES = {
    "ir": ("ip waiting", POLLING),       # a new transaction polls again from the start
    "cr": ("cp waiting", POLLING),
    "kur": ("kup waiting", POLLING),
    "p10cr": ("cp waiting", POLLING),
    "rr": ("error waiting", POLLING),    # a new transaction, delayed as with -poll_count (3.3+)
    "genm": ("error waiting", POLLING),
    "error": ("pkiconf", IDLE),
    "certConf": ("pkiconf", IDLE),       # OpenSSL takes a certConf in any open transaction
    "pollReq": ("pollRep", POLLING),     # the first of poll_count=2
    "pkiconf": (UNEXPECTED, IDLE),
}
MATRIX = [(state, body_type, *expected) for state, cases in
          ((IDLE, IDLE_CASES), (WAITING_CERTCONF, WAITING_CASES), (POLLING, POLLING_CASES))
          for body_type, expected in cases.items()]


@pytest.mark.parametrize("state,body_type,expected,after", MATRIX)
def test_request_in_state(pki, state, body_type, expected, after):
    server, peer = into_state(pki, state)
    rsp = peer.send(body_type, request_body(pki, body_type))
    assert outcome(rsp) == expected
    assert server.current.state == after
    # the answer belongs to the request's transaction and carries the machine's time
    req = peer.last_request
    assert (rsp.transaction_id, rsp.recip_nonce, rsp.message_time) == (peer.tid, req.sender_nonce, NOW_TIME)
    assert rsp.recipient == req.sender
    rsp.verify_mac(SECRET)
    if after == IDLE:
        assert server.current.transaction_id is None and server.current.sender_nonce is None
    else:
        assert server.current.transaction_id == peer.tid and server.current.sender_nonce == rsp.sender_nonce


def test_matrix_covers_every_request_type():
    for cases in (IDLE_CASES, WAITING_CASES, POLLING_CASES):
        assert tuple(cases) == ALL_REQUESTS


@pytest.mark.parametrize("body_type,rsp_type", [("ir", "ip"), ("cr", "cp"), ("kur", "kup"), ("p10cr", "cp")])
def test_certificate_response_content(pki, body_type, rsp_type):
    server = make_server(pki)
    rsp = Peer(server).send(body_type, request_body(pki, body_type))
    ca_pubs, responses = bodies.read_cert_rep(rsp.body_content)
    r = responses[0]
    expected_id = -1 if body_type == "p10cr" else 0
    assert (rsp.body_type, r.cert_req_id, r.status.status, r.cert) == (rsp_type, expected_id, 0,
                                                                       der(pki.objs["issued"]))
    assert ca_pubs == ([der(pki.objs["root"])] if rsp_type == "ip" else [])   # caPubs only in an ip
    assert rsp.extra_certs == [der(pki.objs["issuing"])]
    assert server.current.cert_req_id == expected_id and not server.current.implicit_confirm


# ---------------------------------------------------------------- unexpected messages

def test_unexpected_message_names_state_and_message_in_the_log(pki, caplog):
    caplog.set_level(logging.DEBUG, logger="cmpkit")
    server, peer = into_state(pki, IDLE)
    assert outcome(peer.send("certConf", request_body(pki, "certConf"))) == UNEXPECTED
    assert "CERTCONF is not expected in state 'idle'" in caplog.text
    server, peer = into_state(pki, WAITING_CERTCONF)
    assert outcome(peer.send("pollReq", request_body(pki, "pollReq"))) == UNEXPECTED
    assert "POLLREQ is not expected in state 'waiting for certConf'" in caplog.text
    server, peer = into_state(pki, POLLING)
    assert outcome(peer.send("pkiconf", None)) == UNEXPECTED
    assert "PKICONF is not expected in state 'polling'" in caplog.text


def test_unexpected_without_transaction_refused_before_authentication(pki):
    """With no transaction open, a certConf is refused on arrival, whatever its protection;
    inside a transaction an unknown body is refused only once the request is authenticated."""
    _, peer = into_state(pki, IDLE)
    assert outcome(peer.send("certConf", request_body(pki, "certConf"), protect=False)) == UNEXPECTED
    assert outcome(peer.send("pkiconf", None, secret=b"wrong")) == UNEXPECTED
    _, peer = into_state(pki, WAITING_CERTCONF)
    assert outcome(peer.send("pkiconf", None, protect=False)) == "error: missing protection"
    _, peer = into_state(pki, WAITING_CERTCONF)
    assert outcome(peer.send("pkiconf", None, secret=b"wrong")) == "error: wrong pbm value"


def test_refused_request_answered_in_its_own_transaction(pki):
    server, peer = into_state(pki, IDLE)
    rsp = peer.send("pollReq", request_body(pki, "pollReq"))
    assert (rsp.transaction_id, rsp.recip_nonce) == (peer.tid, peer.last_request.sender_nonce)
    assert server.current.transaction_id is None


def test_poll_req_while_waiting_for_cert_conf_checked_like_any_poll_req_first(pki):
    for ids, reason in (([5], "bad request id"), ([0, 0], "multiple requests not supported"),
                        ([0], "unexpected pkibody")):
        server, peer = into_state(pki, WAITING_CERTCONF)
        assert outcome(peer.send("pollReq", bodies.poll_req_der(ids))) == f"error: {reason}"
        assert server.current.state == IDLE


def test_another_clients_ir_leaves_the_open_transaction_alone(pki, caplog):
    """Transactions are kept per sender and transactionID (issue 18): a second client's ir while
    the first waits for its certConf disturbs nothing (OpenSSL's server would abort the first)."""
    server, first = into_state(pki, WAITING_CERTCONF)
    second = Peer(server, tid=b"S" * 16)
    with caplog.at_level(logging.WARNING, logger="cmpkit"):
        rsp = second.send("ir", request_body(pki, "ir"))
    assert outcome(rsp) == "ip accepted" and rsp.transaction_id == b"S" * 16
    assert "got aborted" not in caplog.text and len(server.transactions) == 2
    assert outcome(first.send("certConf", request_body(pki, "certConf"))) == "pkiconf"
    assert outcome(second.send("certConf", request_body(pki, "certConf"))) == "pkiconf"
    assert server.transactions == {}


def test_a_new_ir_under_an_open_transactions_id_restarts_it(pki, caplog):
    server, peer = into_state(pki, WAITING_CERTCONF)
    with caplog.at_level(logging.WARNING, logger="cmpkit"):
        assert outcome(peer.send("ir", request_body(pki, "ir"), recip_nonce=None)) == "ip accepted"
    assert "Assuming that last transaction with ID=%s got aborted" % ":".join(f"{b:02X}" for b in peer.tid) \
        in caplog.text
    assert outcome(peer.send("certConf", request_body(pki, "certConf"))) == "pkiconf"


def test_header_checks_in_an_open_transaction(pki):
    """A request with a wrong transactionID, recipNonce or pvno gets an error and changes nothing:
    the transaction it names (or the sender's open one) still completes."""
    for kw, reason in ((dict(transaction_id=b"X" * 16), "transactionid unmatched"),
                       (dict(recip_nonce=b"N" * 16), "recipnonce unmatched"),
                       (dict(pvno=3), "unexpected pvno")):
        server, peer = into_state(pki, WAITING_CERTCONF)
        nonce = peer.recip_nonce
        rsp = peer.send("certConf", request_body(pki, "certConf"), **kw)
        assert outcome(rsp) == f"error: {reason}"
        assert rsp.transaction_id == peer.tid
        peer.recip_nonce = nonce
        assert outcome(peer.send("certConf", request_body(pki, "certConf"))) == "pkiconf"


def test_a_wrong_mac_disturbs_nobody(pki):
    """A third party's request with a wrong MAC, in the middle of a client's transaction and
    under its transactionID, changes no state: the client confirms as if nothing happened."""
    for body_type in ("certConf", "ir", "pollReq", "genm"):
        server, peer = into_state(pki, WAITING_CERTCONF)
        kept = dict(server.transactions)
        data = request(body_type, request_body(pki, body_type) if body_type != "genm" else bodies.genm_der([]),
                       transaction_id=peer.tid, recip_nonce=peer.recip_nonce, secret=b"wrong")
        assert outcome(PKIMessage.from_der(server.handle(data, NOW))) == "error: wrong pbm value"
        assert server.transactions == kept
        assert outcome(peer.send("certConf", request_body(pki, "certConf"))) == "pkiconf"


def test_open_transactions_are_bounded_in_number_and_time(pki, monkeypatch):
    from cmpkit.core import server as server_module
    monkeypatch.setattr(server_module, "MAX_OPEN_TRANSACTIONS", 3)
    server = make_server(pki)
    peers = [Peer(server) for _ in range(4)]
    for p in peers:
        assert outcome(p.send("ir", request_body(pki, "ir"))) == "ip accepted"
    assert len(server.transactions) == 3                      # the oldest was dropped
    assert outcome(peers[0].send("certConf", request_body(pki, "certConf"))) == "error: transactionid unmatched"
    assert outcome(peers[3].send("certConf", request_body(pki, "certConf"))) == "pkiconf"
    late = NOW + server_module.TRANSACTION_TIMEOUT + 1
    data = request("certConf", request_body(pki, "certConf"), transaction_id=peers[2].tid,
                   recip_nonce=peers[2].recip_nonce)
    assert outcome(PKIMessage.from_der(server.handle(data, late))) == UNEXPECTED   # expired
    assert server.transactions == {}


def test_cert_conf_checks(pki):
    for body, reason in ((bodies.cert_conf_der([(b"\x00" * 32, 0, None, None)]), "certhash unmatched"),
                         (request_body(pki, "certConf", cert_req_id=3), "bad request id")):
        server, peer = into_state(pki, WAITING_CERTCONF)
        assert outcome(peer.send("certConf", body)) == f"error: {reason}"
    # a client rejecting the certificate still gets its pkiconf
    server, peer = into_state(pki, WAITING_CERTCONF)
    assert outcome(peer.send("certConf", bodies.cert_conf_der([]))) == "pkiconf"


def test_garbage_leaves_open_transactions_alone(pki):
    server, peer = into_state(pki, WAITING_CERTCONF)
    rsp = PKIMessage.from_der(server.handle(b"\x30\x03\x02\x01", NOW))
    si, _, _ = error_of(rsp)
    assert (si.status, si.failure_bits, si.texts) == (2, [5], ["error decoding message"])
    assert rsp.message_time == NOW_TIME
    assert outcome(peer.send("certConf", request_body(pki, "certConf"))) == "pkiconf"


# ---------------------------------------------------------------- polling

@pytest.mark.parametrize("body_type,rsp_type", [("ir", "ip"), ("cr", "cp"), ("kur", "kup"), ("p10cr", "cp")])
def test_polling(pki, body_type, rsp_type):
    server = make_server(pki, poll_count=3, check_after=7)
    peer = Peer(server)
    req_id = -1 if body_type == "p10cr" else 0
    rsp = peer.send(body_type, request_body(pki, body_type))
    ca_pubs, responses = bodies.read_cert_rep(rsp.body_content)
    assert (rsp.body_type, responses[0].status.status, responses[0].cert, ca_pubs, rsp.extra_certs) == \
        (rsp_type, 3, None, [], [])
    assert server.current.state == POLLING
    for _ in range(2):
        poll = peer.send("pollReq", bodies.poll_req_der([req_id]))
        assert bodies.read_poll_rep(poll.body_content) == [(req_id, 7, [])]
        assert server.current.state == POLLING
    final = peer.send("pollReq", bodies.poll_req_der([req_id]))
    _, responses = bodies.read_cert_rep(final.body_content)
    assert (final.body_type, responses[0].cert_req_id, responses[0].status.status, responses[0].cert) == \
        (rsp_type, req_id, 0, der(pki.objs["issued"]))
    assert server.current.state == WAITING_CERTCONF and server.current.poll_request is None
    # openssl 3.3+: the certConf is delayed as well; polled for with certReqId -1
    assert outcome(peer.send("certConf", request_body(pki, "certConf", cert_req_id=req_id))) == "error waiting"
    assert server.current.state == POLLING
    for _ in range(2):
        assert bodies.read_poll_rep(peer.send("pollReq", bodies.poll_req_der([-1])).body_content) == [(-1, 7, [])]
    assert outcome(peer.send("pollReq", bodies.poll_req_der([-1]))) == "pkiconf"
    assert server.current.state == IDLE
    # the next transaction polls again
    assert outcome(Peer(server).send(body_type, request_body(pki, body_type))) == f"{rsp_type} waiting"


def test_poll_req_checks_while_polling(pki):
    for ids, reason in (([5], "bad request id"), ([0, 0], "multiple requests not supported")):
        server, peer = into_state(pki, POLLING)
        assert outcome(peer.send("pollReq", bodies.poll_req_der(ids))) == f"error: {reason}"
        assert server.current.state == IDLE


def test_poll_count_one_answers_at_the_first_poll(pki):
    server, peer = into_state(pki, POLLING, poll_count=1)
    assert outcome(peer.send("pollReq", request_body(pki, "pollReq"))) == "ip accepted"


# ---------------------------------------------------------------- implicit confirmation

@pytest.mark.parametrize("grant,asks,status,granted", [
    (True, True, 0, True),
    (True, False, 0, False),     # granted only when asked for
    (False, True, 0, False),
    (True, True, 2, True),       # as OpenSSL: granted with a rejection too (the mock has a certificate,
                                 # the rejection status only keeps it out of the response)
])
def test_implicit_confirm(pki, grant, asks, status, granted):
    server = make_server(pki, grant_implicitconf=grant, pkistatus=status)
    peer = Peer(server)
    gi = [(OID_IMPLICIT_CONFIRM, b"\x05\x00")] if asks else []
    rsp = peer.send("ir", request_body(pki, "ir"), general_info=gi)
    assert rsp.implicit_confirm == granted and server.current.implicit_confirm == granted
    assert server.current.state == (IDLE if granted else WAITING_CERTCONF)
    expected = UNEXPECTED if granted else "pkiconf"
    assert outcome(peer.send("certConf", request_body(pki, "certConf"))) == expected


def test_implicit_confirm_after_polling(pki):
    server = make_server(pki, grant_implicitconf=True, poll_count=1)
    peer = Peer(server)
    gi = [(OID_IMPLICIT_CONFIRM, b"\x05\x00")]
    waiting = peer.send("ir", request_body(pki, "ir"), general_info=gi)
    assert not waiting.implicit_confirm and server.current.state == POLLING
    final = peer.send("pollReq", request_body(pki, "pollReq"))
    assert final.implicit_confirm and outcome(final) == "ip accepted" and server.current.state == IDLE


# ---------------------------------------------------------------- failure injection

@pytest.mark.parametrize("body_type", ["ir", "cr", "kur", "p10cr", "rr"])
@pytest.mark.parametrize("settings,bits", [
    (dict(pkistatus=2, failure=3), [3]),
    (dict(pkistatus=2, failure=5, failurebits=(1 << 3) | (1 << 26)), [3, 26]),   # failurebits wins
])
def test_rejection_status(pki, body_type, settings, bits):
    server = make_server(pki, statusstring="no way", **settings)
    rsp = Peer(server).send(body_type, request_body(pki, body_type))
    if body_type == "rr":
        si = bodies.read_rev_rep(rsp.body_content)[0]
        cert = None
    else:
        _, responses = bodies.read_cert_rep(rsp.body_content)
        si, cert = responses[0].status, responses[0].cert
    assert (si.status, si.failure_bits, si.texts, cert) == (2, bits, ["no way"], None)
    assert server.current.state == (IDLE if body_type == "rr" else WAITING_CERTCONF)


def test_granted_with_mods_keeps_the_certificate(pki):
    rsp = Peer(make_server(pki, pkistatus=1, failure=3)).send("ir", request_body(pki, "ir"))
    _, responses = bodies.read_cert_rep(rsp.body_content)
    assert (responses[0].status.status, responses[0].status.failure_bits, responses[0].cert) == \
        (1, [3], der(pki.objs["issued"]))


SEND_ERROR_CASES = [(IDLE, bt, "error: error processing message")
                    for bt in ("ir", "cr", "kur", "p10cr", "rr", "genm")] + [
    (IDLE, "error", "pkiconf"),                       # the mock's error handler has no failure to inject
    (WAITING_CERTCONF, "certConf", "error: error processing message"),
    (WAITING_CERTCONF, "pollReq", "error: error processing message"),   # before the polling check
    (POLLING, "pollReq", "error: error processing message"),
]


@pytest.mark.parametrize("state,body_type,expected", SEND_ERROR_CASES)
def test_send_error(pki, state, body_type, expected):
    server, peer = into_state(pki, state)
    server.s.send_error = True
    rsp = peer.send(body_type, request_body(pki, body_type))
    assert outcome(rsp) == expected
    if rsp.body_type == "error":
        _, code, details = bodies.read_error(rsp.body_content)
        assert (code, details) == (CMP_LIB | 158, ["CMP routines", "error processing message"])
    assert server.current.state == IDLE


# ---------------------------------------------------------------- the machine's clock and last resort

class BrokenSigner:
    def public_key(self):
        raise RuntimeError("token unplugged")


def test_internal_failure_gets_an_unprotected_error_at_the_given_time(pki, caplog):
    o = pki.objs
    server = CmpServer(ServerSettings(srv_cert=der(o["server"]), srv_signer=BrokenSigner(),
                                      accept_unprotected=True, rsp_cert=der(o["issued"])))
    peer = Peer(server)
    with caplog.at_level(logging.ERROR, logger="cmpkit"):
        rsp = peer.send("genm", request_body(pki, "genm"), protect=False)
    si, _, _ = error_of(rsp)
    assert (si.status, si.failure_bits, si.texts) == (2, [2], ["error processing message"])
    assert rsp.protection is None and rsp.message_time == NOW_TIME and rsp.transaction_id == peer.tid
    assert "cannot send proper CMP response" in caplog.text
    assert server.current.state == IDLE and server.current.transaction_id is None


def test_message_time_is_the_callers(pki):
    server = make_server(pki)
    data = request("genm", request_body(pki, "genm"))
    for now, text in ((0, "1970-01-01 00:00:00"), (NOW, "2025-06-15 15:06:40"), (4102444800.9, "2100-01-01 00:00:00")):
        rsp = PKIMessage.from_der(server.handle(data, now))
        assert str(rsp.message_time) == text + "+00:00"


def test_mock_server_is_the_machine_behind_a_lock_and_the_clock(pki, monkeypatch):
    import cmpkit_mock.server as mock
    assert mock.MockSettings is ServerSettings
    srv = mock.MockServer(mock.MockSettings(srv_ref=REF, srv_secret=SECRET))
    assert isinstance(srv.machine, CmpServer) and srv.s is srv.machine.s
    monkeypatch.setattr(mock.time, "time", lambda: NOW)
    rsp = PKIMessage.from_der(srv(request("genm", request_body(pki, "genm"))))
    assert rsp.body_type == "genp" and rsp.message_time == NOW_TIME
