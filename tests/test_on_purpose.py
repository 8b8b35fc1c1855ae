"""Where cmpkit differs from `openssl cmp` on purpose (README, issue 13 items 13 and 14): each test
shows the difference against the system openssl, so that it stays a choice and is not an accident
(if openssl changes, or cmpkit does, the test fails)."""
import pytest

from cmpkit.core import der
from cmpkit.core.message import PKIMessage, name_from_general_name

from .tools import CMPKIT, run

pytestmark = pytest.mark.slow


def _mock(p):
    return ["-config", "", "-use_mock_srv", "-srv_ref", "3078", "-srv_secret", "pass:srvsecret",
            "-srv_cert", p.path("server"), "-srv_key", p.path("server_key"), "-srv_trusted", p.path("root"),
            "-srv_untrusted", p.path("issuing"), "-rsp_cert", p.path("issued")]


PBM = ["-ref", "3078", "-secret", "pass:srvsecret"]


def _request(argv, tmp_path, tag):
    out = tmp_path / f"{tag}.der"
    r = run(argv + ["-reqout", str(out)])
    assert "Traceback" not in r.stderr
    return r, (PKIMessage.from_der(out.read_bytes()) if r.returncode == 0 else None)


def _recipient_rfc4514(msg) -> str:
    from cmpkit.core.names import name_from_der
    return name_from_der(name_from_general_name(msg.recipient)).rfc4514_string()


def test_item13_explicit_recipient_wins_over_srvcert(pki, openssl, tmp_path):
    """openssl 3.0 puts the -srvcert subject in the header recipient although -recipient is given,
    contrary to its man page; cmpkit uses -recipient, as the man page says."""
    args = _mock(pki) + PBM + ["-cmd", "genm", "-srvcert", pki.path("server"), "-recipient", "/CN=Other CA"]
    theirs, their_req = _request([openssl, "cmp"] + args, tmp_path, "openssl")
    ours, our_req = _request(CMPKIT + args, tmp_path, "cmpkit")
    assert theirs.returncode == 0 and ours.returncode == 0, theirs.stdout + theirs.stderr + ours.stderr
    assert _recipient_rfc4514(their_req) == "CN=server.example"   # openssl 3.0: -srvcert's subject
    assert _recipient_rfc4514(our_req) == "CN=Other CA"           # cmpkit: the man page's -recipient
    # without -recipient both take the -srvcert subject
    args = _mock(pki) + PBM + ["-cmd", "genm", "-srvcert", pki.path("server")]
    _, their_req = _request([openssl, "cmp"] + args, tmp_path, "openssl2")
    _, our_req = _request(CMPKIT + args, tmp_path, "cmpkit2")
    assert _recipient_rfc4514(their_req) == _recipient_rfc4514(our_req) == "CN=server.example"


def _pbm_parameters(msg):
    """(owf, iterationCount, mac) of the PBMParameter of a PBM-protected message (the salt differs)."""
    alg = der.children(msg.protection_alg)
    _salt, owf, count, mac = der.children(alg[1])
    return owf, count, mac


@pytest.mark.parametrize("short,long", [("hmac-sha256", "hmacWithSHA256"), ("hmac-sha512", "hmacWithSHA512")])
def test_item14_mac_takes_openssl_short_names(short, long, pki, openssl, tmp_path):
    """openssl 3.0 refuses -mac hmac-sha256 (a name OpenSSL itself knows for hmacWithSHA256);
    cmpkit accepts it and protects as openssl does with the long name."""
    args = _mock(pki) + PBM + ["-cmd", "genm"]
    theirs = run([openssl, "cmp"] + args + ["-mac", short])
    assert theirs.returncode == 1 and f"MAC algorithm name not recognized: '{short}'" in theirs.stdout + theirs.stderr
    ours, our_req = _request(CMPKIT + args + ["-mac", short], tmp_path, "cmpkit")
    assert ours.returncode == 0, ours.stderr
    theirs, their_req = _request([openssl, "cmp"] + args + ["-mac", long], tmp_path, "openssl")
    assert theirs.returncode == 0, theirs.stdout + theirs.stderr
    assert _pbm_parameters(our_req) == _pbm_parameters(their_req)
