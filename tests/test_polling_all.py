"""Polling for every response type (RFC 9480 section 3.4, "extended polling"; openssl 3.3+): a
server that cannot answer at once sends an error message with PKIStatus "waiting"; the client
polls with pollReq (certReqId -1) and gets pollRep with checkAfter until the real answer comes.

The client machine (responses built in memory), the server machine (requests built in memory)
and the two together, for each request type; the interop with openssl 3.4 is in
test_interop_32_33.py. What the messages look like was compared with openssl 3.4's mock
(``-poll_count``): ERROR (status waiting, errorCode 0), POLLREQ (-1), POLLREP (-1, checkAfter)."""
import pytest
from cryptography.hazmat.primitives import serialization

from cmpkit import TransactionError
from cmpkit.app.transaction import Client
from cmpkit.core import bodies
from cmpkit.core.client import DELAYABLE, ClientMachine, ClientSettings, Done, Send, Wait
from cmpkit.core.message import PKIMessage, StatusInfo
from cmpkit.core.server import CmpServer, ServerSettings

from .test_client_machine import NOW, SECRET, answer, cert_rep

DER = serialization.Encoding.DER
WAITING = bodies.error_der(StatusInfo(3), 0)   # what openssl 3.4's mock sends


def machine(pki, cmd, **kw):
    from cmpkit.core import bodies as b
    from cmpkit.core.keys import SoftwareKey
    key = pki.objs["new_key"]
    spki = key.public_key().public_bytes(DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    s = ClientSettings(cmd=cmd, secret=SECRET, ref=b"r", newkey_signer=SoftwareKey(key),
                       newkey_public=key.public_key(), template=b.Template(public_key=spki, subject=pki.objs["issued"].subject.public_bytes()),
                       old_cert=pki.objs["issued"].public_bytes(DER) if cmd == "rr" else None, **kw)
    if cmd == "p10cr":
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes
        s.csr = (x509.CertificateSigningRequestBuilder().subject_name(pki.objs["issued"].subject)
                 .sign(key, hashes.SHA256()).public_bytes(DER))
    return ClientMachine(s)


FINAL = {"rr": ("rp", lambda issued: bodies.rev_rep_der([StatusInfo(0)])),
         "genm": ("genp", lambda issued: bodies.genm_der([])),
         "ir": ("ip", lambda issued: cert_rep(issued))}


def _poll(m, step, polls, check_after=4):
    """Answer ``polls`` pollReqs with pollRep(-1, check_after), checking each pollReq."""
    for _ in range(polls):
        assert isinstance(step, Send) and step.message.body_type == "pollReq"
        assert bodies.read_poll_req(step.message.body_content) == [-1]
        assert m.state == "await delayed response"
        step = m.receive(answer(step, "pollRep", bodies.poll_rep_der([(-1, check_after, [])])), NOW)
        assert step == Wait(check_after)
        step = m.resume(NOW + check_after)
    return step


# ---------------------------------------------------------------- the client machine

@pytest.mark.parametrize("cmd", ["rr", "genm", "ir"])
@pytest.mark.parametrize("polls", [0, 2])
def test_client_polls_for_a_delayed_answer(pki, cmd, polls):
    issued = pki.objs["issued"].public_bytes(DER)
    m = machine(pki, cmd)
    step = m.start(NOW)
    first_state = m.state
    assert first_state in DELAYABLE
    step = m.receive(answer(step, "error", WAITING), NOW)   # polling starts at once, as openssl does
    step = _poll(m, step, polls)
    final, body = FINAL[cmd]
    step = m.receive(answer(step, final, body(issued)), NOW)
    if cmd == "ir":   # the certificate is confirmed as usual
        assert step.message.body_type == "certConf" and m.state == "await confirmation"
        step = m.receive(answer(step, "pkiconf"), NOW)
    assert isinstance(step, Done) and m.state == "done"


def test_client_polls_for_a_delayed_pkiconf(pki):
    """The certConf's answer delayed (openssl 3.4's mock does so after a polled ip)."""
    issued = pki.objs["issued"].public_bytes(DER)
    m = machine(pki, "cr")
    step = m.start(NOW)
    step = m.receive(answer(step, "cp", cert_rep(None, status=3)), NOW)    # waiting cp: the classic polling
    assert bodies.read_poll_req(step.message.body_content) == [0] and m.state == "await poll response"
    step = m.receive(answer(step, "cp", cert_rep(issued)), NOW)
    assert step.message.body_type == "certConf"
    step = m.receive(answer(step, "error", WAITING), NOW)
    step = _poll(m, step, 1, check_after=0)
    done = m.receive(answer(step, "pkiconf"), NOW)
    assert isinstance(done, Done) and done.result.cert == issued


def test_client_p10cr_polls_through_its_cp(pki):
    issued = pki.objs["issued"].public_bytes(DER)
    m = machine(pki, "p10cr")
    step = m.receive(answer(m.start(NOW), "cp", cert_rep(None, status=3, cert_req_id=-1)), NOW)
    assert bodies.read_poll_req(step.message.body_content) == [-1]
    step = m.receive(answer(step, "pollRep", bodies.poll_rep_der([(-1, 0, [])])), NOW)
    step = m.resume(NOW)
    step = m.receive(answer(step, "cp", cert_rep(issued, cert_req_id=-1)), NOW)
    assert step.message.body_type == "certConf"


def test_client_refuses_what_the_delayed_state_does_not_expect(pki):
    m = machine(pki, "rr")
    step = m.receive(answer(m.start(NOW), "error", WAITING), NOW)
    with pytest.raises(TransactionError, match=r"unexpected GENP message, expected POLLREP or RP"):
        m.receive(answer(step, "genp", bodies.genm_der([])), NOW)


def test_client_waiting_error_while_polling_is_an_error(pki):
    """Only the first answer may be delayed: an error "waiting" to a pollReq ends the transaction."""
    m = machine(pki, "genm")
    step = m.receive(answer(m.start(NOW), "error", WAITING), NOW)
    with pytest.raises(TransactionError, match="received error message: PKIStatus: waiting"):
        m.receive(answer(step, "error", WAITING), NOW)


def test_client_rejection_error_is_not_polling(pki):
    m = machine(pki, "rr")
    step = m.start(NOW)
    with pytest.raises(TransactionError, match="rejection"):
        m.receive(answer(step, "error", bodies.error_der(StatusInfo(2))), NOW)


def test_client_delayed_polling_respects_total_timeout(pki):
    m = machine(pki, "genm", total_timeout=10)
    step = m.receive(answer(m.start(NOW), "error", WAITING), NOW)
    with pytest.raises(TransactionError, match="polling would exceed -total_timeout"):
        m.receive(answer(step, "pollRep", bodies.poll_rep_der([(-1, 60, [])])), NOW)


# ---------------------------------------------------------------- the server machine

def server(pki, **kw):
    o = pki.objs
    return CmpServer(ServerSettings(srv_ref=b"r", srv_secret=SECRET, rsp_cert=o["issued"].public_bytes(DER),
                                    **kw))


def _exchange(srv, step):
    return PKIMessage.from_der(srv.handle(step.der, NOW))


@pytest.mark.parametrize("cmd,final", [("rr", "rp"), ("genm", "genp")])
@pytest.mark.parametrize("poll_count", [1, 3])
def test_server_delays_rr_and_genm(pki, cmd, final, poll_count):
    srv = server(pki, poll_count=poll_count, check_after=7)
    m = machine(pki, cmd)
    rsp = _exchange(srv, m.start(NOW))
    si, code, details = bodies.read_error(rsp.body_content)
    assert (rsp.body_type, si.status, code, details) == ("error", 3, 0, [])
    assert srv.current.state == "polling"
    step = m.receive(rsp, NOW)
    seen = []
    while not isinstance(step, Done):
        if isinstance(step, Wait):
            step = m.resume(NOW)
            continue
        rsp = _exchange(srv, step)
        seen.append(rsp.body_type)
        if rsp.body_type == "pollRep":
            assert bodies.read_poll_rep(rsp.body_content) == [(-1, 7, [])]
        step = m.receive(rsp, NOW)
    assert seen == ["pollRep"] * (poll_count - 1) + [final]
    assert srv.current.state == "idle"


def test_server_delays_certconf_after_polled_certificate(pki):
    """openssl 3.4's mock: ir -> ip waiting, pollReq(0) ... ip, certConf -> error waiting,
    pollReq(-1) ... pkiconf."""
    seen = []

    def transfer(req_der):
        rsp = server_.handle(req_der, NOW)
        seen.append((PKIMessage.from_der(req_der).body_type, PKIMessage.from_der(rsp).body_type))
        return rsp
    server_ = server(pki, poll_count=2, check_after=0)
    m = machine(pki, "ir")
    result = Client(m.s, transfer, sleep=lambda s: None).run()
    assert result.cert == pki.objs["issued"].public_bytes(DER)
    assert seen == [("ir", "ip"), ("pollReq", "pollRep"), ("pollReq", "ip"), ("certConf", "error"),
                    ("pollReq", "pollRep"), ("pollReq", "pkiconf")]


def test_server_no_delay_without_poll_count_or_for_errors(pki):
    srv = server(pki)
    assert _exchange(srv, machine(pki, "rr").start(NOW)).body_type == "rp"
    from cmpkit.core import protection
    from cmpkit.core.message import new_message
    srv = server(pki, poll_count=2)
    err = new_message("error", transaction_id=b"E" * 16, body=bodies.error_der(StatusInfo(2)))
    err.protect_with_mac(SECRET, protection.pbm_algorithm())
    assert PKIMessage.from_der(srv.handle(err.to_der(), NOW)).body_type == "pkiconf"   # never delayed


def test_server_delayed_poll_req_checks(pki):
    srv = server(pki, poll_count=2)
    m = machine(pki, "genm")
    step = m.receive(_exchange(srv, m.start(NOW)), NOW)
    assert bodies.read_poll_req(step.message.body_content) == [-1]
    bad = m._new("pollReq", bodies.poll_req_der([0]))  # the certReqId of a certificate, not -1
    rsp = PKIMessage.from_der(srv.handle(bad.to_der(), NOW))
    si, _, _ = bodies.read_error(rsp.body_content)
    assert si.status == 2 and "bad request id" in si.texts


def test_server_send_error_after_delay(pki):
    """-send_error with -poll_count: first "waiting", the error at the end of polling (as openssl 3.4)."""
    srv = server(pki, poll_count=1, send_error=True)
    m = machine(pki, "rr")
    step = m.receive(_exchange(srv, m.start(NOW)), NOW)
    with pytest.raises(TransactionError, match="error processing message"):
        m.receive(_exchange(srv, step), NOW)


@pytest.mark.parametrize("cmd", ["ir", "cr", "p10cr", "rr", "genm"])
def test_client_and_server_every_command(pki, cmd):
    srv = server(pki, poll_count=2, check_after=0)
    m = machine(pki, cmd)
    result = Client(m.s, lambda d: srv.handle(d, NOW), sleep=lambda s: None).run()
    if cmd in ("ir", "cr", "p10cr"):
        assert result.cert == pki.objs["issued"].public_bytes(DER)
    assert srv.transactions == {}
