"""The mock CMP server: driven by cmpkit's own Client and by raw messages, plus openssl-built requests."""
import os
import subprocess
import time

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from cmpkit import CmpError, ConfigError, TransactionError
from cmpkit.core import bodies, protection
from cmpkit.app.transaction import Client
from cmpkit.core.client import ClientSettings
from cmpkit.core.keys import SoftwareKey
from cmpkit.core.message import OID_IMPLICIT_CONFIRM, PKIMessage, StatusInfo, directory_name, new_message
from cmpkit.core.verify import DefaultVerificationPolicy
from cmpkit_mock.server import MockServer, MockSettings

from .pki import name
from .tools import bundled_options

SECRET = b"test"
REF = b"1234"
DER = serialization.Encoding.DER


def der(cert):
    return cert.public_bytes(DER)


def spki(key):
    return key.public_key().public_bytes(DER, serialization.PublicFormat.SubjectPublicKeyInfo)


class Recorder:
    """A transfer to a MockServer that remembers the body types exchanged."""

    def __init__(self, server):
        self.server = server
        self.seen = []

    def __call__(self, data):
        rsp = self.server.handle(data)
        self.seen.append((PKIMessage.from_der(data).body_type, PKIMessage.from_der(rsp).body_type))
        return rsp


@pytest.fixture
def kit(pki):
    """(server factory, client settings factory, issued cert DER)."""
    o = pki.objs
    issued = der(o["issued"])

    def server(**kw):
        s = MockSettings(srv_ref=REF, srv_secret=SECRET, rsp_cert=issued, rsp_capubs=[der(o["root"])],
                         rsp_extracerts=[der(o["issuing"])])
        for k, v in kw.items():
            setattr(s, k, v)
        return MockServer(s)

    def client(cmd="ir", **kw):
        key = o["new_key"]
        s = ClientSettings(cmd=cmd, secret=SECRET, ref=REF, newkey_signer=SoftwareKey(key),
                           newkey_public=key.public_key(),
                           template=bodies.Template(subject=name("leaf").public_bytes(), public_key=spki(key)))
        for k, v in kw.items():
            setattr(s, k, v)
        return s
    return server, client, issued


def sig_server_settings(pki):
    o = pki.objs
    return dict(srv_secret=None, srv_ref=None, srv_cert=der(o["server"]), srv_signer=SoftwareKey(o["server_key"]),
                srv_trusted=[der(o["root"])], srv_untrusted=[der(o["issuing"])],
                policy=DefaultVerificationPolicy(clock=time.time))


def sig_client_settings(pki):
    o = pki.objs
    return dict(secret=None, ref=None, signer=SoftwareKey(o["client_key"]), cert=der(o["client"]),
                sender=o["client"].subject.public_bytes(), trusted=[der(o["root"])], untrusted=[der(o["issuing"])],
                policy=DefaultVerificationPolicy(clock=time.time))


# ---------------------------------------------------------------- raw requests

def cert_req_body(pki, popo=bodies.POPO_SIGNATURE, old_cert_id=None, subject="leaf", n=1):
    key = pki.objs["new_key"]
    tpl = bodies.Template(subject=name(subject).public_bytes() if subject else None, public_key=spki(key))
    msgs = [bodies.cert_req_msg_der(bodies.cert_request_der(i, tpl, old_cert_id), popo, SoftwareKey(key))
            for i in range(n)]
    return bodies.cert_req_messages_der(msgs)


def request(body_type, body, *, secret=SECRET, protect=True, **kw):
    kw.setdefault("sender", directory_name(name("leaf").public_bytes()))
    msg = new_message(body_type, sender_kid=REF, body=body, **kw)
    if protect:
        msg.protect_with_mac(secret, protection.pbm_algorithm())
    return msg.to_der()


def answer(server, data):
    rsp = PKIMessage.from_der(server.handle(data))
    return rsp


def error_of(rsp):
    assert rsp.body_type == "error", rsp.body_type
    si, code, details = bodies.read_error(rsp.body_content)
    return si, code, details


def cert_rep(rsp):
    ca_pubs, responses = bodies.read_cert_rep(rsp.body_content)
    return ca_pubs, responses[0]


# ---------------------------------------------------------------- through the client

def test_ir_with_pbm(kit, pki):
    server, client, issued = kit
    t = Recorder(server())
    result = Client(client(), t).run()
    assert result.cert == issued
    assert result.ca_pubs == [der(pki.objs["root"])]
    assert result.extra_certs == [der(pki.objs["issuing"])]   # -rsp_extracerts, in the ip
    assert t.seen == [("ir", "ip"), ("certConf", "pkiconf")]


def test_cr_with_signature_both_ways(kit, pki):
    server, client, issued = kit
    t = Recorder(server(**sig_server_settings(pki)))
    result = Client(client("cr", **sig_client_settings(pki)), t).run()
    assert result.cert == issued
    assert result.ca_pubs == []            # caPubs only in an ip
    assert t.seen == [("cr", "cp"), ("certConf", "pkiconf")]


def test_signature_response_carries_server_cert_and_chain(kit, pki):
    server, _, _ = kit
    srv = server(**sig_server_settings(pki), rsp_extracerts=[der(pki.objs["issuing"]), der(pki.objs["root"])],
                 accept_unprotected=True)
    rsp = answer(srv, request("ir", cert_req_body(pki), protect=False))
    assert rsp.body_type == "ip" and not rsp.is_mac_protected()
    # the server cert and its chain without the self-signed root, then -rsp_extracerts (no duplicates)
    assert rsp.extra_certs == [der(pki.objs["server"]), der(pki.objs["issuing"]), der(pki.objs["root"])]
    assert rsp.sender_name_der == pki.objs["server"].subject.public_bytes()
    rsp.verify_signature(der(pki.objs["server"]))


def test_signed_request_from_untrusted_client_rejected(kit, pki):
    server, client, _ = kit
    s = sig_server_settings(pki)
    s["srv_trusted"] = [der(pki.objs["server"])]  # not an anchor for the client's chain
    with pytest.raises(TransactionError, match="no suitable sender cert"):
        Client(client("cr", **sig_client_settings(pki)), server(**s)).run()


def test_signature_verification_needs_a_policy(kit, pki):
    server, client, _ = kit
    no_policy = dict(sig_client_settings(pki), policy=None)
    with pytest.raises(ConfigError, match="no certificate verification policy"):
        Client(client("cr", **no_policy), server(**sig_server_settings(pki))).run()
    no_policy = dict(sig_server_settings(pki), policy=None)  # the server cannot accept the client's signature
    with pytest.raises(TransactionError, match="no suitable sender cert"):
        Client(client("cr", **sig_client_settings(pki)), server(**no_policy)).run()


def test_kur_good_and_wrong_old_cert_id(kit, pki):
    server, client, issued = kit
    result = Client(client("kur", old_cert=issued), server()).run()
    assert result.cert == issued
    with pytest.raises(TransactionError, match="wrong certid"):
        Client(client("kur", old_cert=der(pki.objs["client"])), server()).run()
    # ref_cert overrides what kur must name
    result = Client(client("kur", old_cert=der(pki.objs["client"])), server(ref_cert=der(pki.objs["client"]))).run()
    assert result.cert == issued


def test_p10cr(kit, pki):
    server, client, issued = kit
    csr = x509.CertificateSigningRequestBuilder().subject_name(name("leaf")).sign(pki.objs["new_key"],
                                                                                 hashes.SHA256())
    t = Recorder(server())
    result = Client(client("p10cr", csr=csr.public_bytes(DER)), t).run()
    assert result.cert == issued
    assert t.seen == [("p10cr", "cp"), ("certConf", "pkiconf")]


def test_p10cr_with_bad_csr_signature(kit, pki):
    server, _, _ = kit
    csr = x509.CertificateSigningRequestBuilder().subject_name(name("leaf")).sign(pki.objs["new_key"],
                                                                                 hashes.SHA256()).public_bytes(DER)
    broken = csr[:-3] + bytes([csr[-3] ^ 1]) + csr[-2:]
    _, r = cert_rep(answer(server(), request("p10cr", broken)))
    assert (r.cert_req_id, r.status.status, r.status.failure_bits, r.status.texts) == (-1, 2, [9], ["EVP lib"])


def test_rr_good_and_wrong(kit, pki):
    server, client, issued = kit
    result = Client(client("rr", old_cert=issued, revreason=1), server()).run()
    assert result.status.status == 0
    with pytest.raises(TransactionError, match="wrong certificate to revoke"):
        Client(client("rr", old_cert=der(pki.objs["client"])), server()).run()


def test_rp_names_the_revoked_certificate(kit, pki):
    server, _, issued = kit
    cert = pki.objs["issued"]
    tpl = bodies.Template(serial=cert.serial_number, issuer=cert.issuer.public_bytes())
    rsp = answer(server(), request("rr", bodies.rev_req_der(tpl)))
    assert rsp.body_type == "rp"
    cert_id = bodies.cert_id_der(directory_name(cert.issuer.public_bytes()), cert.serial_number)
    assert bodies.rev_rep_der([StatusInfo(0)], [cert_id]) == rsp.body_content


def test_genm_echoes_one_itav_and_rejects_two(kit):
    server, client, _ = kit
    result = Client(client("genm", infotypes=[("1.3.6.1.5.5.7.4.2", None)]), server()).run()
    assert result.itavs == [("1.3.6.1.5.5.7.4.2", None)]
    assert Client(client("genm"), server()).run().itavs == []
    two = [("1.3.6.1.5.5.7.4.2", None), ("1.3.6.1.5.5.7.4.3", None)]
    with pytest.raises(TransactionError, match="error processing message"):
        Client(client("genm", infotypes=two), server()).run()


def test_polling(kit, monkeypatch):
    import time
    monkeypatch.setattr(time, "sleep", lambda s: None)
    server, client, issued = kit
    t = Recorder(server(poll_count=2, check_after=0))
    assert Client(client("cr"), t).run().cert == issued
    # as openssl 3.3+'s mock: the certConf after the polled cp is delayed too (error "waiting")
    assert t.seen == [("cr", "cp"), ("pollReq", "pollRep"), ("pollReq", "cp"), ("certConf", "error"),
                      ("pollReq", "pollRep"), ("pollReq", "pkiconf")]


def test_polling_check_after(kit, pki):
    server, _, _ = kit
    srv = server(poll_count=3, check_after=7)
    rsp = answer(srv, request("ir", cert_req_body(pki), transaction_id=b"T" * 16))
    _, r = cert_rep(rsp)
    assert r.status.status == 3 and r.cert is None and rsp.extra_certs == []
    poll = answer(srv, request("pollReq", bodies.poll_req_der([0]), transaction_id=b"T" * 16,
                               recip_nonce=rsp.sender_nonce))
    assert bodies.read_poll_rep(poll.body_content) == [(0, 7, [])]


def test_new_transaction_ends_abandoned_polling(kit, pki):
    """OpenSSL 3.0's mock stays stuck after abandoned polling; ours starts over (as 3.2 does)."""
    server, _, issued = kit
    srv = server(poll_count=1, check_after=0)
    for _ in range(2):  # the second ir abandons the first transaction
        rsp = answer(srv, request("ir", cert_req_body(pki), transaction_id=b"P" * 16))
        assert cert_rep(rsp)[1].status.status == 3
    done = answer(srv, request("pollReq", bodies.poll_req_der([0]), transaction_id=b"P" * 16,
                               recip_nonce=rsp.sender_nonce))
    assert cert_rep(done)[1].cert == issued


def test_implicit_confirm(kit, pki):
    server, client, _ = kit
    t = Recorder(server(grant_implicitconf=True))
    Client(client(implicit_confirm=True), t).run()
    assert t.seen == [("ir", "ip")]
    t = Recorder(server())
    Client(client(implicit_confirm=True), t).run()
    assert t.seen == [("ir", "ip"), ("certConf", "pkiconf")]
    # granted only when asked for
    rsp = answer(server(grant_implicitconf=True), request("ir", cert_req_body(pki)))
    assert not rsp.implicit_confirm


def test_certconf_after_granted_implicit_confirm_is_unexpected(kit, pki):
    server, _, issued = kit
    srv = server(grant_implicitconf=True)
    tid = os.urandom(16)
    ip = answer(srv, request("ir", cert_req_body(pki), transaction_id=tid,
                             general_info=[(OID_IMPLICIT_CONFIRM, b"\x05\x00")]))
    assert ip.implicit_confirm
    conf = bodies.cert_conf_der([(protection.cert_hash(issued), 0, None, None)])
    si, _, _ = error_of(answer(srv, request("certConf", conf, transaction_id=tid, recip_nonce=ip.sender_nonce)))
    assert si.texts == ["unexpected pkibody"]  # the transaction has ended


def test_pkistatus_rejection(kit, pki):
    server, client, _ = kit
    srv = server(pkistatus=2, failure=3, statusstring="no way")
    with pytest.raises(TransactionError, match="rejection.*badTime.*no way"):
        Client(client(), srv).run()
    rsp = answer(server(pkistatus=2, failurebits=(1 << 3) | (1 << 9)), request("ir", cert_req_body(pki)))
    ca_pubs, r = cert_rep(rsp)
    assert (r.status.status, r.status.failure_bits, r.cert) == (2, [3, 9], None)
    assert len(ca_pubs) == 1 and len(rsp.extra_certs) == 1  # as openssl: still sent


def test_send_error(kit):
    server, client, _ = kit
    with pytest.raises(TransactionError, match="error processing message"):
        Client(client(), server(send_error=True)).run()


def test_wrong_secret(kit, pki):
    server, _, _ = kit
    tid = os.urandom(16)
    data = request("ir", cert_req_body(pki), secret=b"wrong", transaction_id=tid)
    rsp = answer(server(), data)
    si, code, details = error_of(rsp)
    assert (si.status, si.failure_bits, si.texts) == (2, [2], ["wrong pbm value"])
    assert code == 0x1D00009B and details == ["CMP routines", "wrong pbm value"]
    assert rsp.transaction_id == tid and rsp.recip_nonce == PKIMessage.from_der(data).sender_nonce
    rsp.verify_mac(SECRET)


def test_unprotected_request_rejected_unless_accepted(kit, pki):
    server, client, issued = kit
    data = request("ir", cert_req_body(pki), protect=False)
    si, _, _ = error_of(answer(server(), data))
    assert si.texts == ["missing protection"]
    assert cert_rep(answer(server(accept_unprotected=True), data))[1].cert == issued
    # the client side of it
    assert Client(client(unprotected_requests=True), server(accept_unprotected=True)).run().cert == issued


def test_malformed_der_answered_with_bad_data_format(kit, pki):
    server, _, _ = kit
    srv = server()
    for junk in (b"", b"\x30\x03\x02\x01", b"not der at all", b"\x30\x00", os.urandom(300)):
        rsp = answer(srv, junk)
        si, _, _ = error_of(rsp)
        assert (si.status, si.failure_bits) == (2, [5])
        rsp.verify_mac(SECRET)
    # and it keeps working afterwards
    assert cert_rep(answer(srv, request("ir", cert_req_body(pki))))[1].status.status == 0


def test_tid_of_finished_transaction_may_be_reused(kit, pki):
    server, _, issued = kit
    srv = server()
    tid = b"R" * 16
    conf = bodies.cert_conf_der([(protection.cert_hash(issued), 0, None, None)])
    for _ in range(2):
        ip = answer(srv, request("ir", cert_req_body(pki), transaction_id=tid))
        assert ip.body_type == "ip" and ip.transaction_id == tid
        done = answer(srv, request("certConf", conf, transaction_id=tid, recip_nonce=ip.sender_nonce))
        assert done.body_type == "pkiconf"


def test_transaction_checks(kit, pki):
    server, _, issued = kit
    srv = server()
    conf = bodies.cert_conf_der([(protection.cert_hash(issued), 0, None, None)])
    # certConf without an open transaction
    si, _, _ = error_of(answer(srv, request("certConf", conf)))
    assert si.texts == ["unexpected pkibody"]
    # wrong transactionID, wrong recipNonce, wrong certHash, wrong certReqId
    cases = [
        (dict(transaction_id=b"X" * 16), conf, "transactionid unmatched"),
        (dict(recip_nonce=b"N" * 16), conf, "recipnonce unmatched"),
        ({}, bodies.cert_conf_der([(b"\x00" * 32, 0, None, None)]), "certhash unmatched"),
        ({}, bodies.cert_conf_der([(protection.cert_hash(issued), 5, None, None)]), "bad request id"),
    ]
    for header, body, reason in cases:
        tid = os.urandom(16)
        ip = answer(srv, request("ir", cert_req_body(pki), transaction_id=tid))
        kw = dict(transaction_id=tid, recip_nonce=ip.sender_nonce)
        kw.update(header)
        rsp = answer(srv, request("certConf", body, **kw))
        si, _, _ = error_of(rsp)
        assert si.texts == [reason]
        assert rsp.transaction_id == tid   # the server's transaction, which has now ended


def test_popo_checks(kit, pki):
    server, _, issued = kit
    for popo, kw, reason in ((bodies.POPO_RAVERIFIED, {}, "popo raverified not accepted"),
                             (bodies.POPO_NONE, {}, "popo missing"),
                             (bodies.POPO_SIGNATURE, {"subject": None}, "popo missing subject")):
        _, r = cert_rep(answer(server(), request("ir", cert_req_body(pki, popo, **kw))))
        assert (r.status.status, r.status.failure_bits, r.status.texts, r.cert) == (2, [9], [reason], None)
    _, r = cert_rep(answer(server(accept_raverified=True), request("ir", cert_req_body(pki, bodies.POPO_RAVERIFIED))))
    assert r.cert == issued


def test_popo_signature_by_another_key_rejected(kit, pki):
    server, _, _ = kit
    key = pki.objs["new_key"]
    tpl = bodies.Template(subject=name("leaf").public_bytes(), public_key=spki(key))
    body = bodies.cert_req_messages_der([bodies.cert_req_msg_der(
        bodies.cert_request_der(0, tpl), bodies.POPO_SIGNATURE, SoftwareKey(pki.objs["client_key"]))])
    _, r = cert_rep(answer(server(), request("cr", body)))
    assert (r.status.status, r.status.failure_bits) == (2, [9])


def test_multiple_requests_not_supported(kit, pki):
    server, _, _ = kit
    si, _, _ = error_of(answer(server(), request("ir", cert_req_body(pki, n=2))))
    assert si.texts == ["multiple requests not supported"]


@pytest.mark.parametrize("case,reason", [
    ("cert_req_id", "bad request id"),
    ("kur_without_old_cert_id", "missing certid"),
    ("pvno3", "unexpected pvno"),
    ("poll_without_transaction", "unexpected pkibody"),
])
def test_request_errors_as_openssl(kit, pki, case, reason):
    server, _, _ = kit
    key = pki.objs["new_key"]
    tpl = bodies.Template(subject=name("leaf").public_bytes(), public_key=spki(key))
    data = {
        "cert_req_id": lambda: request("ir", bodies.cert_req_messages_der([bodies.cert_req_msg_der(
            bodies.cert_request_der(5, tpl), bodies.POPO_SIGNATURE, SoftwareKey(key))])),
        "kur_without_old_cert_id": lambda: request("kur", cert_req_body(pki)),
        "pvno3": lambda: request("genm", bodies.genm_der([]), pvno=3),
        "poll_without_transaction": lambda: request("pollReq", bodies.poll_req_der([0])),
    }[case]()
    si, code, details = error_of(answer(server(), data))
    assert (si.status, si.failure_bits, si.texts, details[:2]) == (2, [2], [reason], ["CMP routines", reason])
    assert code >> 23 == 58   # ERR_LIB_CMP


def test_popo_key_type_mismatch(kit, pki):
    server, _, _ = kit
    key = pki.objs["new_key"]      # EC
    tpl = bodies.Template(subject=name("leaf").public_bytes(), public_key=spki(key))
    body = bodies.cert_req_messages_der([bodies.cert_req_msg_der(
        bodies.cert_request_der(0, tpl), bodies.POPO_SIGNATURE, SoftwareKey(pki.objs["client_key"]))])  # RSA
    _, r = cert_rep(answer(server(), request("ir", body)))
    assert r.status.texts == ["wrong public key type"]


def test_request_without_transaction_id(kit):
    server, _, _ = kit
    msg = new_message("genm", sender=directory_name(name("leaf").public_bytes()), sender_kid=REF,
                      body=bodies.genm_der([]))
    msg.set_header_field("transactionID", None)
    msg.protect_with_mac(SECRET, protection.pbm_algorithm())
    rsp = answer(server(), msg.to_der())
    assert rsp.body_type == "genp" and len(rsp.transaction_id) == 16  # the server makes one up


def test_concurrent_requests(kit):
    import threading
    server, _, _ = kit
    srv = server()
    data = [request("genm", bodies.genm_der([])) for _ in range(12)]
    results = []

    def worker(chunk):
        for d in chunk:
            results.append(answer(srv, d).body_type)
    threads = [threading.Thread(target=worker, args=(data[i::3],)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == ["genp"] * 12


def test_send_unprotected_and_unprot_err(kit, pki):
    server, _, _ = kit
    data = request("ir", cert_req_body(pki))
    rsp = answer(server(send_unprotected=True), data)
    assert rsp.protection is None and rsp.sender_kid == REF
    ok = answer(server(send_unprot_err=True), data)
    assert ok.protection is not None          # positive answers stay protected
    neg = answer(server(send_unprot_err=True, pkistatus=2), data)
    assert neg.protection is None and neg.sender_kid is None
    err = answer(server(send_unprot_err=True, send_error=True), data)
    assert err.body_type == "error" and err.protection is None


def test_error_request_answered_with_pkiconf(kit):
    server, _, _ = kit
    body = bodies.error_der(StatusInfo(2, ["client gives up"], [2]), 7, ["details"])
    assert answer(server(), request("error", body)).body_type == "pkiconf"
    si, _, _ = error_of(answer(server(), request("error", body, protect=False)))
    assert si.texts == ["missing protection"]
    assert answer(server(accept_unprot_err=True), request("error", body, protect=False)).body_type == "pkiconf"


def test_sender_must_be_a_directory_name(kit):
    server, _, _ = kit
    uri = b"\x86\x0bhttp://x.yz"
    si, _, _ = error_of(answer(server(), request("genm", bodies.genm_der([]), sender=uri)))
    assert si.texts == ["sender generalname type not supported"]


def test_response_header(kit):
    server, _, _ = kit
    data = request("genm", bodies.genm_der([]))
    req = PKIMessage.from_der(data)
    rsp = answer(server(), data)
    assert (rsp.pvno, rsp.sender_kid, rsp.recipient, rsp.transaction_id, rsp.recip_nonce) == \
        (2, REF, req.sender, req.transaction_id, req.sender_nonce)
    assert rsp.sender == directory_name(b"\x30\x00") and rsp.message_time is not None


# ---------------------------------------------------------------- plugin

def build(**values):
    from cmpkit.core.options import Config
    from cmpkit.app.credentials import Loader
    from cmpkit_mock.plugin import build_server
    cfg = Config.from_values(bundled_options(), values)
    return build_server(cfg, Loader(cfg))


@pytest.mark.parametrize("values,message", [
    ({"srv_secret": "pass:test"}, "must give -srv_ref for mock server if no -srv_cert given"),
    ({"srv_ref": "1234"}, "mock server credentials must be given"),
    ({"srv_ref": "1234", "srv_cert": "x.crt"}, "must give both -srv_cert and -srv_key options or neither"),
])
def test_build_server_option_errors(values, message):
    with pytest.raises(ConfigError, match=message):
        build(**values)


def test_build_server_from_files(pki):
    srv = build(srv_cert=pki.path("server"), srv_key=pki.path("server_key"), srv_trusted=pki.path("root"),
                srv_untrusted=pki.path("issuing"), rsp_cert=pki.path("issued"),
                rsp_capubs=f"{pki.path('root')},{pki.path('issuing')}", pkistatus=1, failure=3, failurebits=0,
                statusstring="hi", grant_implicitconf=True, accept_raverified=True)
    s = srv.s
    assert s.srv_ref is None and s.srv_secret is None and s.srv_signer is not None
    assert s.rsp_cert == der(pki.objs["issued"]) and len(s.rsp_capubs) == 2
    assert s.status_info().failure_bits == [3] and s.status_info().texts == ["hi"]
    assert s.grant_implicitconf and s.accept_raverified and s.check_after == 1


def test_get_transport_only_with_use_mock_srv(pki):
    from cmpkit.app.credentials import Loader
    from cmpkit.core.options import Config
    from cmpkit_mock import plugin
    assert plugin.cmpkit_get_transport(Config.from_values(bundled_options(), {}), Loader()) is None
    cfg = Config.from_values(
        bundled_options(),
        {"use_mock_srv": True, "srv_ref": "1234", "srv_secret": "pass:test", "rsp_cert": pki.path("issued")})
    transport = plugin.cmpkit_get_transport(cfg, Loader(cfg))
    rsp = PKIMessage.from_der(transport.send(request("genm", bodies.genm_der([]))))
    assert rsp.body_type == "genp"


def test_mock_server_never_logs_secrets(kit, caplog):
    import logging
    server, client, _ = kit
    with caplog.at_level(logging.DEBUG, logger="cmpkit"):
        with pytest.raises(CmpError):
            Client(client(), server(srv_secret=b"server-secret-abc")).run()
    assert "wrong pbm value" in caplog.text
    assert "server-secret-abc" not in caplog.text and "test" not in caplog.text


# ---------------------------------------------------------------- openssl's requests

@pytest.mark.slow
def test_openssl_built_requests_get_positive_answers(openssl, pki, tmp_path):
    """Requests that `openssl cmp` writes with -reqout (PBM ir, signed cr, p10cr, rr, genm) are
    answered positively by our server configured with the same options."""
    csr = x509.CertificateSigningRequestBuilder().subject_name(name("leaf")).sign(pki.objs["new_key"],
                                                                                 hashes.SHA256())
    (tmp_path / "csr.pem").write_bytes(csr.public_bytes(serialization.Encoding.PEM))
    common = ["-srv_ref", "1234", "-srv_secret", "pass:test", "-rsp_cert", pki.path("issued"),
              "-srv_cert", pki.path("server"), "-srv_key", pki.path("server_key"),
              "-srv_trusted", pki.path("root"), "-srv_untrusted", pki.path("issuing")]
    pbm = ["-ref", "1234", "-secret", "pass:test"]
    sig = ["-cert", pki.path("client"), "-key", pki.path("client_key"), "-trusted", pki.path("root"),
           "-untrusted", pki.path("issuing")]
    runs = {
        "ir": (["-cmd", "ir", *pbm, "-newkey", pki.path("new_key"), "-subject", "/CN=leaf"], "ip"),
        "cr": (["-cmd", "cr", *sig, "-newkey", pki.path("new_key"), "-subject", "/CN=leaf"], "cp"),
        "kur": (["-cmd", "kur", *pbm, "-oldcert", pki.path("issued"), "-newkey", pki.path("new_key")], "kup"),
        "p10cr": (["-cmd", "p10cr", *pbm, "-csr", str(tmp_path / "csr.pem")], "cp"),
        "rr": (["-cmd", "rr", *pbm, "-oldcert", pki.path("issued")], "rp"),
        "genm": (["-cmd", "genm", *pbm, "-infotype", "signKeyPairTypes"], "genp"),
    }
    from cmpkit.app.credentials import Loader
    from cmpkit.core.options import Config
    from cmpkit_mock.plugin import build_server
    cfg = Config.from_values(bundled_options(), {
        "srv_ref": "1234", "srv_secret": "pass:test", "rsp_cert": pki.path("issued"),
        "srv_cert": pki.path("server"), "srv_key": pki.path("server_key"),
        "srv_trusted": pki.path("root"), "srv_untrusted": pki.path("issuing")})
    server = build_server(cfg, Loader(cfg))
    for cmd, (args, expected) in runs.items():
        req = tmp_path / f"{cmd}.der"
        r = subprocess.run([openssl, "cmp", "-config", "", "-use_mock_srv", *common, *args,
                            "-certout", str(tmp_path / "out.pem"), "-reqout", str(req)],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        rsp = PKIMessage.from_der(server.handle(req.read_bytes()))
        assert rsp.body_type == expected, (cmd, bodies.read_error(rsp.body_content) if rsp.body_type == "error" else "")
        if expected in ("ip", "cp", "kup"):
            assert cert_rep(rsp)[1].cert == der(pki.objs["issued"])
        elif expected == "rp":
            assert bodies.read_rev_rep(rsp.body_content)[0].status == 0
        if cmd == "cr":
            assert not rsp.is_mac_protected()   # a signed request gets a signed answer
