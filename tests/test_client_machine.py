"""The client transaction machine without any I/O: fixed times, responses built in memory,
every command, polling, implicit confirmation, rejection, error and unexpected messages."""
import pytest
from cryptography.hazmat.primitives import serialization

from cmpkit import TransactionError
from cmpkit.core import bodies, protection
from cmpkit.core.client import TRANSITIONS, ClientMachine, ClientSettings, Done, Send, Wait
from cmpkit.core.keys import SoftwareKey
from cmpkit.core.message import OID_IMPLICIT_CONFIRM, PKIMessage, StatusInfo, new_message

SECRET = b"machine"
NOW = 1_800_000_000.0
DER = serialization.Encoding.DER


@pytest.fixture
def make(pki):
    key = pki.objs["new_key"]
    spki = key.public_key().public_bytes(DER, serialization.PublicFormat.SubjectPublicKeyInfo)

    def settings(cmd="ir", **kw):
        s = ClientSettings(cmd=cmd, secret=SECRET, ref=b"r", newkey_signer=SoftwareKey(key),
                           newkey_public=key.public_key(), template=bodies.Template(public_key=spki),
                           old_cert=pki.objs["issued"].public_bytes(DER) if cmd in ("kur", "rr") else None)
        if cmd == "p10cr":
            from cryptography import x509
            from cryptography.hazmat.primitives import hashes
            s.csr = (x509.CertificateSigningRequestBuilder().subject_name(pki.objs["issued"].subject)
                     .sign(key, hashes.SHA256()).public_bytes(DER))
        for k, v in kw.items():
            setattr(s, k, v)
        return ClientMachine(s)
    return settings


@pytest.fixture
def cmpkit_log(caplog):
    """caplog seeing the "cmpkit" logger even when cmpkit.cli set it not to propagate."""
    import logging
    logger = logging.getLogger("cmpkit")
    old = logger.level, logger.propagate
    logger.addHandler(caplog.handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False  # each record once, whether or not caplog's root handler would see it
    yield caplog
    logger.removeHandler(caplog.handler)
    logger.level, logger.propagate = old


@pytest.fixture
def issued(pki):
    return pki.objs["issued"].public_bytes(DER)


def answer(step: Send, body_type: str, body=None, *, implicit=False, protect=True, extra=(),
           secret=SECRET) -> PKIMessage:
    """The response to the request of ``step``, built and (re)decoded in memory."""
    req = step.message
    gi = [(OID_IMPLICIT_CONFIRM, b"\x05\x00")] if implicit else []
    rsp = new_message(body_type, transaction_id=req.transaction_id, recip_nonce=req.sender_nonce,
                      general_info=gi, body=body, message_time=NOW)
    if extra:
        rsp.set_extra_certs(list(extra))
    if protect:
        rsp.protect_with_mac(secret, protection.pbm_algorithm())
    return PKIMessage.from_der(rsp.to_der())


def cert_rep(cert, status=0, cert_req_id=0):
    return bodies.cert_rep_der([(cert_req_id, StatusInfo(status), cert if status in (0, 1) else None)])


# ---------------------------------------------------------------- each command, start to end

@pytest.mark.parametrize("cmd,request_type,reply", [("ir", "ir", "ip"), ("cr", "cr", "cp"),
                                                    ("kur", "kur", "kup"), ("p10cr", "p10cr", "cp")])
def test_enrollment_with_confirmation(make, issued, cmd, request_type, reply):
    m = make(cmd)
    step = m.start(NOW)
    assert isinstance(step, Send) and step.message.body_type == request_type
    assert step.message.message_time.timestamp() == NOW           # the event's time, not a clock
    assert m.state == "await certificate response"
    step = m.receive(answer(step, reply, cert_rep(issued, cert_req_id=-1 if cmd == "p10cr" else 0)), NOW)
    assert isinstance(step, Send) and step.message.body_type == "certConf"
    assert m.state == "await confirmation"
    done = m.receive(answer(step, "pkiconf"), NOW)
    assert isinstance(done, Done) and done.result.cert == issued and m.state == "done"


def test_revocation(make):
    m = make("rr", revreason=1)
    step = m.start(NOW)
    assert step.message.body_type == "rr" and m.state == "await revocation response"
    done = m.receive(answer(step, "rp", bodies.rev_rep_der([StatusInfo(0)])), NOW)
    assert isinstance(done, Done) and done.result.status.status == 0


@pytest.mark.parametrize("status", [4, 5])   # revocationWarning, revocationNotification: success
def test_revocation_warnings_succeed(make, status):
    m = make("rr")
    step = m.start(NOW)
    assert isinstance(m.receive(answer(step, "rp", bodies.rev_rep_der([StatusInfo(status)])), NOW), Done)


def test_general_message(make):
    m = make("genm", infotypes=[("1.3.6.1.5.5.7.4.2", None)])
    step = m.start(NOW)
    assert step.message.body_type == "genm" and m.state == "await general response"
    done = m.receive(answer(step, "genp", bodies.genm_der([("1.3.6.1.5.5.7.4.2", None)])), NOW)
    assert [oid for oid, _ in done.result.itavs] == ["1.3.6.1.5.5.7.4.2"]


# ---------------------------------------------------------------- implicit confirmation

@pytest.mark.parametrize("asked,granted,confirms", [(True, True, False), (True, False, True),
                                                    (False, True, True)])
def test_implicit_confirmation(make, issued, asked, granted, confirms):
    m = make(implicit_confirm=asked)
    step = m.start(NOW)
    assert step.message.implicit_confirm == asked
    nxt = m.receive(answer(step, "ip", cert_rep(issued), implicit=granted), NOW)
    assert isinstance(nxt, Send if confirms else Done)


def test_disable_confirm(make, issued):
    m = make(disable_confirm=True)
    step = m.start(NOW)
    assert isinstance(m.receive(answer(step, "ip", cert_rep(issued)), NOW), Done)


# ---------------------------------------------------------------- polling

def test_polling_waits_check_after_then_polls(make, issued):
    m = make("cr")
    step = m.start(NOW)
    step = m.receive(answer(step, "cp", cert_rep(None, status=3)), NOW)        # waiting: poll at once
    assert isinstance(step, Send) and step.message.body_type == "pollReq" and m.state == "await poll response"
    wait = m.receive(answer(step, "pollRep", bodies.poll_rep_der([(0, 5, [])])), NOW)
    assert wait == Wait(5) and m.state == "polling"
    step = m.resume(NOW + 5)
    assert step.message.body_type == "pollReq" and step.message.message_time.timestamp() == NOW + 5
    step = m.receive(answer(step, "cp", cert_rep(issued)), NOW + 5)
    assert step.message.body_type == "certConf"


def test_polling_beyond_total_timeout_fails(make):
    m = make(total_timeout=10)
    step = m.start(NOW)
    step = m.receive(answer(step, "ip", cert_rep(None, status=3)), NOW + 1)
    with pytest.raises(TransactionError, match=r"polling would exceed -total_timeout \(checkAfter = 20 s\)"):
        m.receive(answer(step, "pollRep", bodies.poll_rep_der([(0, 20, [])])), NOW + 2)


def test_time_left_and_the_deadline(make):
    m = make(total_timeout=10)
    m.start(NOW)
    assert m.time_left(NOW + 4) == 6
    with pytest.raises(TransactionError, match="total timeout exceeded"):
        m.time_left(NOW + 11)
    assert make().start(NOW) and make().time_left(NOW) is None


# ---------------------------------------------------------------- negative answers

def test_rejection(make):
    m = make()
    step = m.start(NOW)
    with pytest.raises(TransactionError, match="IP rejected the request: PKIStatus: rejection"):
        m.receive(answer(step, "ip", cert_rep(None, status=2)), NOW)


def test_error_message_in_any_state(make, issued):
    si = StatusInfo(2, ["no way"], [2])
    for state_steps in (0, 1):
        m = make()
        step = m.start(NOW)
        if state_steps:
            step = m.receive(answer(step, "ip", cert_rep(issued)), NOW)
        with pytest.raises(TransactionError, match="received error message: .*badRequest.*no way"):
            m.receive(answer(step, "error", bodies.error_der(si)), NOW)


# ---------------------------------------------------------------- unexpected messages name the state

@pytest.mark.parametrize("state_after,wrong", [(0, "genp"), (0, "pkiconf"), (1, "ip"), (1, "pollRep")])
def test_unexpected_message_names_the_state(make, issued, state_after, wrong):
    m = make()
    step = m.start(NOW)
    if state_after:
        step = m.receive(answer(step, "ip", cert_rep(issued)), NOW)
    state = m.state
    body = {"genp": bodies.genm_der([]), "ip": cert_rep(issued), "pollRep": bodies.poll_rep_der([(0, 1, [])])}
    with pytest.raises(TransactionError, match=f"unexpected {wrong.upper()} message.*state '{state}'"):
        m.receive(answer(step, wrong, body.get(wrong)), NOW)


def test_events_out_of_order(make, issued):
    m = make()
    with pytest.raises(TransactionError, match="no response expected in state 'idle'"):
        m.receive(answer(Send(new_message("ir", body=b"\x30\x00"), b""), "ip", cert_rep(issued)), NOW)
    step = m.start(NOW)
    with pytest.raises(TransactionError, match="nothing to resume in state 'await certificate response'"):
        m.resume(NOW)
    done = m.receive(answer(step, "ip", cert_rep(issued)), NOW)
    done = m.receive(answer(done, "pkiconf"), NOW)
    with pytest.raises(TransactionError, match="no response expected in state 'done'"):
        m.receive(answer(Send(new_message("ir", body=b"\x30\x00"), b""), "pkiconf"), NOW)


def test_responses_must_answer_the_request(make, issued):
    m = make()
    step = m.start(NOW)
    other = Send(new_message("ir", body=b"\x30\x00"), b"")                  # another transaction's request
    with pytest.raises(TransactionError, match="transactionID that does not match"):
        m.receive(answer(other, "ip", cert_rep(issued)), NOW)
    m = make()
    step = m.start(NOW)
    adopted = m.receive(answer(other, "ip", cert_rep(issued)), NOW, adopt=True)  # -rspin: taken as it is
    assert isinstance(adopted, Send) and adopted.message.transaction_id == other.message.transaction_id
    del step


def test_every_state_of_the_table_is_reached(make, issued):
    """The transition table has no dead entries: each state is visited by some command."""
    seen = set()
    for cmd, replies in (("ir", ("ip", "pkiconf")), ("rr", ("rp",)), ("genm", ("genp",))):
        m = make(cmd)
        step = m.start(NOW)
        for reply in replies:
            seen.add(m.state)
            body = {"ip": cert_rep(issued), "rp": bodies.rev_rep_der([StatusInfo(0)]), "genp": bodies.genm_der([])}
            step = m.receive(answer(step, reply, body.get(reply)), NOW)
    m = make()
    step = m.receive(answer(m.start(NOW), "ip", cert_rep(None, status=3)), NOW)
    seen.add(m.state)
    m = make("rr")  # delayed delivery: an error message with status "waiting" (RFC 9480 section 3.4)
    step = m.receive(answer(m.start(NOW), "error", bodies.error_der(StatusInfo(3), 0)), NOW)
    seen.add(m.state)
    assert seen == set(TRANSITIONS)


# ---------------------------------------------------------------- the new certificate refused (issue 13: 3, 7)

def cert_conf_of(step: Send):
    assert isinstance(step, Send) and step.message.body_type == "certConf"
    return bodies.read_cert_conf(step.message.body_content)


def test_cert_conf_accepts_with_an_explicit_status(make, issued):
    """openssl 3.0 puts statusInfo accepted into the certConf of a certificate it takes."""
    m = make()
    step = m.receive(answer(m.start(NOW), "ip", cert_rep(issued)), NOW)
    assert cert_conf_of(step)[0][2] == StatusInfo(0)


@pytest.mark.parametrize("cmd", ["p10cr", "ir"])
def test_wrong_key_is_rejected_in_cert_conf_then_fails(make, pki, cmd):
    """A certificate for another key than requested (for p10cr the CSR's): a certConf rejecting
    it (rejection, incorrectData) closes the transaction, then the command fails."""
    m = make(cmd)
    other = pki.objs["client"].public_bytes(DER)
    step = m.receive(answer(m.start(NOW), "cp" if cmd == "p10cr" else "ip",
                            cert_rep(other, cert_req_id=-1 if cmd == "p10cr" else 0)), NOW)
    why = "public key in new certificate does not match our enrollment key"
    assert cert_conf_of(step)[0][2] == StatusInfo(2, [why], [7]) and m.status == 2
    with pytest.raises(TransactionError, match=f"certificate not accepted: rejecting newly enrolled cert "
                                               f"with subject: /CN=client; {why}"):
        m.receive(answer(step, "pkiconf"), NOW)
    assert m.state == "done"


def test_p10cr_ignores_newkey_for_the_key_check(make, issued, pki):
    m = make("p10cr", newkey_public=pki.objs["client_key"].public_key())
    step = m.receive(answer(m.start(NOW), "cp", cert_rep(issued, cert_req_id=-1)), NOW)
    assert cert_conf_of(step)[0][2] == StatusInfo(0)


def test_wrong_key_without_confirmation_fails_at_once(make, pki):
    m = make(disable_confirm=True)
    with pytest.raises(TransactionError, match="certificate not accepted"):
        m.receive(answer(m.start(NOW), "ip", cert_rep(pki.objs["client"].public_bytes(DER))), NOW)
    assert m.status == 2


class _Untrusting:
    def verify_chain(self, *args, **kwargs):
        from cmpkit.errors import VerifyError
        raise VerifyError("unable to get local issuer certificate")


def test_out_trusted_failure_is_rejected_in_cert_conf(make, issued, pki):
    m = make(out_trusted=[pki.objs["root"].public_bytes(DER)], policy=_Untrusting())
    step = m.receive(answer(m.start(NOW), "ip", cert_rep(issued)), NOW)
    assert cert_conf_of(step)[0][2] == StatusInfo(2, ["CMP client did not accept it"], [7])
    with pytest.raises(TransactionError, match="CMP client did not accept it"):
        m.receive(answer(step, "pkiconf"), NOW)


# ---------------------------------------------------------------- statuses that still give the certificate (issue 13: 4)

@pytest.mark.parametrize("status,warning", [(1, '"grantedWithMods"'), (4, '"revocationWarning" - a revocation of '
                                                                       'the cert is imminent'),
                                            (5, '"revocationNotification" - a revocation of the cert has occurred')])
def test_revocation_statuses_give_the_certificate_with_a_warning(make, issued, cmpkit_log, status, warning):
    m = make()
    step = m.receive(answer(m.start(NOW), "ip", bodies.cert_rep_der([(0, StatusInfo(status), issued)])), NOW)
    assert cert_conf_of(step)[0][2] == StatusInfo(0)
    assert f"received {warning}" in cmpkit_log.text
    done = m.receive(answer(step, "pkiconf"), NOW)
    assert done.result.cert == issued and m.status == status


@pytest.mark.parametrize("cmd,ok", [("kur", True), ("ir", False)])
def test_key_update_warning_only_for_kur(make, issued, cmd, ok):
    m = make(cmd)
    rsp = answer(m.start(NOW), {"kur": "kup", "ir": "ip"}[cmd], bodies.cert_rep_der([(0, StatusInfo(6), issued)]))
    if ok:
        assert isinstance(m.receive(rsp, NOW), Send)
    else:
        with pytest.raises(TransactionError, match="keyUpdateWarning"):
            m.receive(rsp, NOW)


# ---------------------------------------------------------------- chain and extraCerts (issue 13: 8, 9, 10)

def test_chain_leaves_out_the_self_signed_root(make, issued, pki):
    root, issuing = (pki.objs[k].public_bytes(DER) for k in ("root", "issuing"))
    m = make()
    step = m.receive(answer(m.start(NOW), "ip", cert_rep(issued), extra=[issuing, root]), NOW)
    assert m.receive(answer(step, "pkiconf"), NOW).result.chain == [issuing]


def test_extra_certs_are_those_of_the_last_response_but_pkiconf(make, issued, pki):
    root, issuing, server = (pki.objs[k].public_bytes(DER) for k in ("root", "issuing", "server"))
    m = make()
    step = m.receive(answer(m.start(NOW), "ip", cert_rep(issued), extra=[server, issuing, root]), NOW)
    done = m.receive(answer(step, "pkiconf", extra=[server]), NOW)
    assert done.result.extra_certs == [server, issuing, root]
    m = make("genm")                       # a response without extraCerts: none, not an older list
    done = m.receive(answer(m.start(NOW), "genp", bodies.genm_der([])), NOW)
    assert done.result.extra_certs == [] and m.status == 0


def test_status_tells_whether_a_response_was_taken(make, issued):
    m = make()
    step = m.start(NOW)
    with pytest.raises(Exception, match="MAC"):
        m.receive(answer(step, "ip", cert_rep(issued), secret=b"wrong"), NOW)
    assert m.status is None                # openssl writes no -extracertsout then
    m = make()
    with pytest.raises(TransactionError, match="received error message"):
        m.receive(answer(m.start(NOW), "error", bodies.error_der(StatusInfo(2, [], [2]))), NOW)
    assert m.status == 2                   # an error message with its status: -extracertsout written
    m = make()
    with pytest.raises(TransactionError, match="rejected the request"):
        m.receive(answer(m.start(NOW), "ip", cert_rep(None, status=2)), NOW)
    assert m.status == 2


# ---------------------------------------------------------------- revocation accepted (issue 13: 18)

@pytest.mark.parametrize("status,level,name", [(0, "INFO", "accepted"), (1, "INFO", "grantedWithMods"),
                                               (4, "INFO", "revocationWarning"),
                                               (5, "WARNING", "revocationNotification")])
def test_revocation_accepted_is_logged(make, cmpkit_log, status, level, name):
    m = make("rr")
    m.receive(answer(m.start(NOW), "rp", bodies.rev_rep_der([StatusInfo(status)])), NOW)
    assert [(r.levelname, r.getMessage()) for r in cmpkit_log.records
            if "revocation" in r.getMessage()] == [(level, f"revocation accepted (PKIStatus={name})")]
