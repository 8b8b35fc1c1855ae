"""Interop for the options of openssl cmp 3.2/3.3 with the reference openssl 3.4 (fixture
``openssl34``), both directions over HTTP (-port), and with the system openssl 3.0 for what it
knows: rr by -serial/-issuer, -profile, -geninfo lists, -reqout_only, polling for every type."""
import pytest
from cryptography import x509

from .pki import pem_cert
from .test_cli_vs_openssl import PBM, SRV_PBM, _csr
from .tools import CMPKIT, Server, run

pytestmark = pytest.mark.slow


def _server_args(p, *extra):
    return ["-config", "", *SRV_PBM, "-rsp_cert", p.path("issued"), *extra]


def _client(argv0, server, p, *args, ok=True):
    argv = argv0 + ["-config", "", "-server", server.address, *PBM, *args]
    r = run(argv)
    assert "Traceback" not in r.stderr
    assert (r.returncode == 0) == ok, r.stdout + r.stderr
    return r


def _serial_args(p, right=True):
    cert = p.objs["issued"]
    serial = f"0x{cert.serial_number:x}" if right else "12"
    return ["-cmd", "rr", "-serial", serial, "-issuer", "/CN=Issuing CA"]


def _peers(openssl34):
    """(client argv0, server argv0) for both directions."""
    return [("cmpkit->openssl34", CMPKIT, [openssl34, "cmp"]), ("openssl34->cmpkit", [openssl34, "cmp"], CMPKIT)]


# ---------------------------------------------------------------- rr by -serial and -issuer

@pytest.mark.parametrize("direction", [0, 1])
def test_rr_by_serial_and_issuer(direction, pki, openssl34):
    _, client, srv = _peers(openssl34)[direction]
    with Server(srv + _server_args(pki, "-ref_cert", pki.path("issued"))) as server:
        r = _client(client, server, pki, *_serial_args(pki))
        assert "revocation accepted" in r.stdout + r.stderr
        if srv is CMPKIT:  # the man page: -ref_cert is what rr must name (the 3.4.0-dev mock does not check it)
            r = _client(client, server, pki, *_serial_args(pki, right=False), ok=False)
            assert "wrong certificate to revoke" in r.stdout + r.stderr


# ---------------------------------------------------------------- -profile

def test_profile_seen_by_openssl34_mock(pki, openssl34, tmp_path):
    """openssl 3.4's mock accepts a cr only with the profile name "profile1" when one is given."""
    with Server([openssl34, "cmp"] + _server_args(pki)) as server:
        args = ["-cmd", "cr", "-newkey", pki.path("new_key"), "-subject", "/CN=leaf",
                "-certout", str(tmp_path / "c.pem")]
        _client(CMPKIT, server, pki, *args, "-profile", "profile1")
        r = _client(CMPKIT, server, pki, *args, "-profile", "profile2", ok=False)
        assert "unexpected certprofile" in r.stderr.lower()


@pytest.mark.parametrize("cmd", ["genm", "rr", "cr"])
def test_profile_with_openssl34_client(cmd, pki, openssl34, tmp_path):
    extra = {"rr": ["-oldcert", pki.path("issued")], "genm": [],
             "cr": ["-newkey", pki.path("new_key"), "-subject", "/CN=leaf", "-certout", str(tmp_path / "c.pem")]}[cmd]
    with Server(CMPKIT + _server_args(pki)) as server:
        _client([openssl34, "cmp"], server, pki, "-cmd", cmd, "-profile", "profile1", *extra)
        if cmd == "cr":  # cmpkit's mock checks the profile as openssl 3.4's does
            r = _client([openssl34, "cmp"], server, pki, "-cmd", cmd, "-profile", "profile2", *extra, ok=False)
            assert "unexpected certprofile" in (r.stdout + r.stderr).lower()


# ---------------------------------------------------------------- -geninfo and -reqout_only: same request

def _general_info(path):
    from pyasn1.codec.der import decoder, encoder
    from pyasn1_alt_modules import rfc9480
    msg, _ = decoder.decode(open(path, "rb").read(), asn1Spec=rfc9480.PKIMessage())
    return [encoder.encode(i) for i in msg["header"]["generalInfo"]], msg["body"].getName()


@pytest.mark.parametrize("geninfo", ["1.2.3.4:int:56789, id-kp:str:name", "1.2.3.4:int:-5,1.2.3.5:str:a b ",
                                     "1.2.3.4:int:99999999999999999999"])
def test_geninfo_and_profile_as_openssl34(geninfo, pki, openssl34, tmp_path):
    outs = {}
    for tool, argv0 in (("openssl", [openssl34, "cmp"]), ("cmpkit", CMPKIT)):
        out = tmp_path / f"{tool}.der"
        r = run(argv0 + ["-config", "", *PBM, "-cmd", "genm", "-recipient", "/CN=x", "-geninfo", geninfo,
                         "-profile", "p1", "-reqout_only", str(out)])
        assert out.exists(), r.stderr
        outs[tool] = _general_info(out)
    assert outs["cmpkit"] == outs["openssl"]


@pytest.mark.parametrize("geninfo", ["1.2.3.4", "foo:int:1", "1.2.3.4:xyz:1", "1.2.3.4:int:5x", "1.2.3.4:int:"])
def test_geninfo_errors_as_openssl34(geninfo, pki, openssl34, tmp_path):
    import re
    texts = {}
    for tool, argv0 in (("openssl", [openssl34, "cmp"]), ("cmpkit", CMPKIT)):
        r = run(argv0 + ["-config", "", *PBM, "-cmd", "genm", "-geninfo", geninfo,
                         "-reqout_only", str(tmp_path / f"{tool}.der")])
        assert r.returncode == 1 or tool == "openssl"
        texts[tool] = r.stderr
    m = re.search(r"CMP error: (.*-geninfo arg.*)", texts["openssl"])
    assert m and m.group(1).strip() in texts["cmpkit"]


def test_geninfo_as_openssl30(pki, openssl, tmp_path):
    """openssl 3.0 knows one OID:int:N: the same generalInfo."""
    outs = {}
    for tool, argv0 in (("openssl", [openssl, "cmp"]), ("cmpkit", CMPKIT)):
        out = tmp_path / f"{tool}.der"
        r = run(argv0 + ["-config", "", "-use_mock_srv", *SRV_PBM, *PBM, "-cmd", "genm",
                         "-geninfo", "1.2.3.4:int:56789", "-reqout", str(out)])
        assert r.returncode == 0, r.stderr
        outs[tool] = _general_info(out)
    assert outs["cmpkit"] == outs["openssl"]


@pytest.mark.parametrize("cmd", ["ir", "p10cr", "rr", "genm"])
def test_reqout_only_accepted_by_openssl34_mock(cmd, pki, openssl34, tmp_path):
    args = {"ir": ["-newkey", pki.path("new_key"), "-subject", "/CN=leaf"], "p10cr": ["-csr", _csr(pki, tmp_path)],
            "rr": ["-oldcert", pki.path("issued")], "genm": []}[cmd]
    req = tmp_path / "req.der"
    r = run(CMPKIT + ["-config", "", *PBM, "-cmd", cmd, *args, "-reqout_only", str(req)])
    assert r.returncode == 0 and req.exists(), r.stderr
    out = tmp_path / "c.pem"
    r = run([openssl34, "cmp", "-config", "", "-use_mock_srv", *_server_args(pki)[2:], *PBM, "-cmd", cmd, *args,
             "-reqin", str(req)] + (["-certout", str(out)] if cmd in ("ir", "p10cr") else []))
    assert r.returncode == 0, r.stderr
    assert "actually sending" in r.stdout + r.stderr
    if cmd in ("ir", "p10cr"):
        assert out.read_bytes() == pem_cert(pki.objs["issued"])


@pytest.mark.parametrize("issuer", ["/CN=Issuing CA", "/"])
def test_rr_serial_request_as_openssl34(pki, openssl34, tmp_path, issuer):
    """The rr template of -issuer/-serial: the same RevDetails as openssl 3.4's ("/": an empty issuer)."""
    from pyasn1.codec.der import decoder, encoder
    from pyasn1_alt_modules import rfc9480
    bodies = {}
    for tool, argv0 in (("openssl", [openssl34, "cmp"]), ("cmpkit", CMPKIT)):
        out = tmp_path / f"{tool}.der"
        run(argv0 + ["-config", "", *PBM, "-recipient", "/CN=x", *_serial_args(pki)[:-1], issuer,
                     "-revreason", "1", "-reqout_only", str(out)])
        msg, _ = decoder.decode(out.read_bytes(), asn1Spec=rfc9480.PKIMessage())
        bodies[tool] = encoder.encode(msg["body"])
    assert bodies["cmpkit"] == bodies["openssl"]


def test_sans_email_as_openssl34(pki, openssl34, tmp_path):
    from pyasn1.codec.der import decoder
    from pyasn1_alt_modules import rfc9480
    exts = {}
    for tool, argv0 in (("openssl", [openssl34, "cmp"]), ("cmpkit", CMPKIT)):
        out = tmp_path / f"{tool}.der"
        run(argv0 + ["-config", "", *PBM, "-recipient", "/CN=x", "-cmd", "ir", "-newkey", pki.path("new_key"),
                     "-subject", "/CN=leaf", "-sans", "user@example.com a.example", "-reqout_only", str(out)])
        msg, _ = decoder.decode(out.read_bytes(), asn1Spec=rfc9480.PKIMessage())
        tpl = msg["body"]["ir"][0]["certReq"]["certTemplate"]
        exts[tool] = [bytes(e["extnValue"]) for e in tpl["extensions"] if str(e["extnID"]) == "2.5.29.17"]
    assert exts["cmpkit"] == exts["openssl"] and exts["openssl"]


# ---------------------------------------------------------------- polling for every type

POLL_CLIENTS = {
    "ir": lambda p, t: ["-cmd", "ir", "-newkey", p.path("new_key"), "-subject", "/CN=leaf",
                        "-certout", str(t / "c.pem")],
    "p10cr": lambda p, t: ["-cmd", "p10cr", "-csr", _csr(p, t), "-certout", str(t / "c.pem")],
    "rr": lambda p, t: ["-cmd", "rr", "-oldcert", p.path("issued")],
    "genm": lambda p, t: ["-cmd", "genm"],
}


@pytest.mark.parametrize("cmd", sorted(POLL_CLIENTS))
@pytest.mark.parametrize("direction", [0, 1])
def test_polling_every_type(cmd, direction, pki, openssl34, tmp_path):
    _, client, srv = _peers(openssl34)[direction]
    with Server(srv + _server_args(pki, "-poll_count", "2", "-check_after", "1")) as server:
        r = _client(client, server, pki, *POLL_CLIENTS[cmd](pki, tmp_path))
        log = r.stdout + r.stderr
        assert "received final response after polling" in log or "received polling response" in log
        if cmd in ("ir", "p10cr"):
            assert x509.load_pem_x509_certificate((tmp_path / "c.pem").read_bytes()) == pki.objs["issued"]


def test_srvcertout_as_openssl34(pki, openssl34, tmp_path):
    srv = ["-srv_cert", pki.path("server"), "-srv_key", pki.path("server_key"), "-srv_untrusted", pki.path("issuing")]
    outs = {}
    for tool, argv0 in (("openssl", [openssl34, "cmp"]), ("cmpkit", CMPKIT)):
        out = tmp_path / f"{tool}.pem"
        r = run(argv0 + ["-config", "", "-use_mock_srv", *SRV_PBM, *srv, "-rsp_cert", pki.path("issued"), *PBM,
                         "-cmd", "genm", "-trusted", pki.path("root"), "-srvcertout", str(out)])
        assert r.returncode == 0, r.stderr
        outs[tool] = out.exists()
    # PBM-protected responses: no validated server certificate, no file
    assert outs == {"openssl": False, "cmpkit": False}


def test_openssl30_client_meets_delayed_delivery_as_with_openssl34(pki, openssl, openssl34, tmp_path):
    """openssl 3.0's client knows no delayed delivery: against -poll_count it fails at the
    delayed certConf (rr: at once), with cmpkit's server as with openssl 3.4's."""
    outcomes = {}
    for name, srv in (("openssl34", [openssl34, "cmp"]), ("cmpkit", CMPKIT)):
        for cmd in ("ir", "rr"):  # a fresh server each: openssl's stays polling for the abandoned certConf
            with Server(srv + _server_args(pki, "-poll_count", "1", "-check_after", "0")) as server:
                r = run([openssl, "cmp", "-config", "", "-server", server.address, *PBM,
                         *POLL_CLIENTS[cmd](pki, tmp_path)])
                log = r.stdout + r.stderr
                outcomes[name, cmd] = (r.returncode, "PKIStatus: waiting" in log)
    assert outcomes[("cmpkit", "ir")] == outcomes[("openssl34", "ir")] == (1, True)
    assert outcomes[("cmpkit", "rr")] == outcomes[("openssl34", "rr")] == (1, True)
