"""The client state machine against a scripted responder: checks, polling, confirmation, failures."""
import pytest

from cmpkit import ProtectionError, TransactionError
from cmpkit.core import bodies, protection
from cmpkit.app.transaction import Client
from cmpkit.core.client import ClientSettings
from cmpkit.core.keys import SoftwareKey
from cmpkit.core.message import OID_IMPLICIT_CONFIRM, PKIMessage, StatusInfo, new_message

SECRET = b"test"


class Responder:
    """A minimal MAC-protecting CMP responder whose behaviour each test can bend."""

    def __init__(self, cert_der, *, polls=0, status=StatusInfo(0), grant_implicit=False,
                 tamper=None, protect=True, secret=SECRET):
        self.cert = cert_der
        self.polls = polls
        self.status = status
        self.grant_implicit = grant_implicit
        self.tamper = tamper or (lambda msg, kw: None)
        self.protect = protect
        self.secret = secret
        self.seen = []

    def __call__(self, der: bytes) -> bytes:
        req = PKIMessage.from_der(der)
        req.verify_mac(SECRET)
        self.seen.append(req.body_type)
        kw = dict(transaction_id=req.transaction_id, recip_nonce=req.sender_nonce)
        bt = req.body_type
        if bt in ("ir", "cr", "kur"):
            self.rep_type = {"ir": "ip", "cr": "cp", "kur": "kup"}[bt]
        if bt in ("ir", "cr", "kur", "pollReq"):
            if self.polls > 0:
                self.polls -= 1
                body_type = "ip" if bt == "ir" else "pollRep"
                if bt == "pollReq":
                    body = bodies.poll_rep_der([(0, 0, [])])
                else:
                    body_type = {"ir": "ip", "cr": "cp", "kur": "kup"}[bt]
                    body = bodies.cert_rep_der([(0, StatusInfo(3), None)])
            else:
                body_type = self.rep_type
                cert = self.cert if self.status.status in (0, 1) else None
                body = bodies.cert_rep_der([(0, self.status, cert)])
            gi = [(OID_IMPLICIT_CONFIRM, b"\x05\x00")] if (self.grant_implicit and req.implicit_confirm) else []
            kw["general_info"] = gi
        elif bt == "certConf":
            body_type, body = "pkiconf", None
        elif bt == "rr":
            body_type, body = "rp", bodies.rev_rep_der([self.status])
        elif bt == "genm":
            body_type, body = "genp", bodies.genm_der([("1.3.6.1.5.5.7.4.2", None)])
        else:
            raise AssertionError(bt)
        self.tamper(bt, kw)
        rsp = new_message(body_type, body=body, **kw)
        if self.protect:
            rsp.protect_with_mac(self.secret, protection.pbm_algorithm())
        return rsp.to_der()


@pytest.fixture
def setup(pki):
    from cryptography.hazmat.primitives import serialization
    key = pki.objs["new_key"]
    issued = pki.objs["issued"].public_bytes(serialization.Encoding.DER)
    spki = key.public_key().public_bytes(serialization.Encoding.DER,
                                         serialization.PublicFormat.SubjectPublicKeyInfo)

    def make(cmd="ir", **kw):
        s = ClientSettings(cmd=cmd, secret=SECRET, ref=b"1234", newkey_signer=SoftwareKey(key),
                           newkey_public=key.public_key(), template=bodies.Template(public_key=spki))
        for k, v in kw.items():
            setattr(s, k, v)
        return s
    return make, issued


def test_ir_with_certconf(setup):
    make, issued = setup
    r = Responder(issued)
    result = Client(make(), r).run()
    assert result.cert == issued
    assert r.seen == ["ir", "certConf"]


def test_implicit_confirm_granted_skips_certconf(setup):
    make, issued = setup
    r = Responder(issued, grant_implicit=True)
    Client(make(implicit_confirm=True), r).run()
    assert r.seen == ["ir"]


def test_implicit_confirm_not_granted_still_confirms(setup):
    make, issued = setup
    r = Responder(issued, grant_implicit=False)
    Client(make(implicit_confirm=True), r).run()
    assert r.seen == ["ir", "certConf"]


def test_disable_confirm(setup):
    make, issued = setup
    r = Responder(issued)
    Client(make(disable_confirm=True), r).run()
    assert r.seen == ["ir"]


def test_polling(setup):
    make, issued = setup
    r = Responder(issued, polls=3)
    result = Client(make(cmd="cr"), r).run()
    assert result.cert == issued
    assert r.seen == ["cr", "pollReq", "pollReq", "pollReq", "certConf"]


def test_rejection_names_status_and_failure(setup):
    make, issued = setup
    r = Responder(issued, status=StatusInfo(2, ["no way"], [3]))
    with pytest.raises(TransactionError, match="rejection.*badTime.*no way"):
        Client(make(), r).run()


def test_wrong_secret_in_response(setup):
    make, issued = setup
    with pytest.raises(ProtectionError, match="MAC check failed"):
        Client(make(), Responder(issued, secret=b"other")).run()


def test_unprotected_response_rejected_unless_negative_and_allowed(setup):
    make, issued = setup
    with pytest.raises(ProtectionError, match="not protected"):
        Client(make(), Responder(issued, protect=False)).run()
    # a positive answer stays unacceptable even with -unprotected_errors
    with pytest.raises(ProtectionError):
        Client(make(unprotected_errors=True), Responder(issued, protect=False)).run()
    # a negative one is then accepted and reported as what it is
    with pytest.raises(TransactionError, match="rejection"):
        Client(make(unprotected_errors=True),
               Responder(issued, protect=False, status=StatusInfo(2, [], [9]))).run()


@pytest.mark.parametrize("field,message", [
    ("transaction_id", "transactionID"),
    ("recip_nonce", "recipNonce"),
])
def test_transaction_id_and_nonce_checked(setup, field, message):
    make, issued = setup

    def tamper(bt, kw):
        kw[field] = b"x" * 16
    with pytest.raises(TransactionError, match=message):
        Client(make(), Responder(issued, tamper=tamper)).run()


def test_new_certificate_must_carry_our_key(setup, pki):
    from cryptography.hazmat.primitives import serialization
    make, _ = setup
    other = pki.objs["client"].public_bytes(serialization.Encoding.DER)
    with pytest.raises(TransactionError, match="does not match"):
        Client(make(), Responder(other)).run()


def test_rr_and_genm(setup, pki):
    from cryptography.hazmat.primitives import serialization
    make, issued = setup
    r = Responder(issued)
    Client(make(cmd="rr", old_cert=pki.objs["client"].public_bytes(serialization.Encoding.DER), revreason=1), r).run()
    assert r.seen == ["rr"]
    result = Client(make(cmd="genm", infotypes=[("1.3.6.1.5.5.7.4.2", None)]), Responder(issued)).run()
    assert result.itavs == [("1.3.6.1.5.5.7.4.2", None)]


def test_revocation_rejected(setup, pki):
    from cryptography.hazmat.primitives import serialization
    make, issued = setup
    old = pki.objs["client"].public_bytes(serialization.Encoding.DER)
    with pytest.raises(TransactionError, match="revocation rejected"):
        Client(make(cmd="rr", old_cert=old), Responder(issued, status=StatusInfo(2, [], [10]))).run()


def test_unprotected_pkiconf_accepted_only_with_unprotected_errors(setup):
    # openssl's unprotected_exception() lets -unprotected_errors cover a PKIConf as well
    make, issued = setup
    responder = Responder(issued)

    def unprotected_pkiconf(der):
        rsp = PKIMessage.from_der(responder(der))
        if rsp.body_type == "pkiconf":
            rsp.set_protection(None)
            rsp.set_header_field("protectionAlg", None)
        return rsp.to_der()
    with pytest.raises(ProtectionError, match="PKICONF response is not protected"):
        Client(make(), unprotected_pkiconf).run()
    assert Client(make(unprotected_errors=True), unprotected_pkiconf).run().cert == issued


def test_wrong_sender_names_both_names(setup):
    from .pki import name
    make, issued = setup
    with pytest.raises(TransactionError, match=r"response sender / does not match -expect_sender /CN=server"):
        Client(make(expect_sender=name("server").public_bytes()), Responder(issued)).run()


def test_cli_error_is_one_line_even_for_multi_line_peer_text(monkeypatch, capsys):
    import logging

    from cmpkit import cli
    from cmpkit.app import run as session
    from cmpkit.errors import TransactionError
    logger = logging.getLogger("cmpkit")  # main() adds its handler on capsys' stream: undo that after
    monkeypatch.setattr(logger, "handlers", [])
    monkeypatch.setattr(logger, "propagate", logger.propagate)

    def fail(cfg):
        raise TransactionError("received error message: PKIStatus: rejection; errorDetails: line one\nline two\n")
    monkeypatch.setattr(session, "run_client", fail)
    assert cli.main(["-config", "", "-cmd", "genm"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "line one | line two" in err and err.startswith("CMP error: ")


def test_version_option():
    import subprocess
    import sys

    from cmpkit import __version__
    for argv in (["-version"], ["-version", "-config", ""]):
        r = subprocess.run([sys.executable, "-m", "cmpkit", *argv], capture_output=True, text=True, timeout=60)
        assert r.returncode == 0 and r.stdout.startswith(f"cmpkit {__version__} (Python ")
        assert "cryptography" in r.stdout and r.stderr == ""
