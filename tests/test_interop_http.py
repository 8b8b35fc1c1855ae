"""Interop over HTTP: openssl's client against `cmpkit -port`, cmpkit's client against `openssl cmp -port`."""
import pytest

from .pki import pem_cert
from .test_cli_vs_openssl import PBM, SRV_PBM, _csr, _sig, _srv_sig
from .tools import CMPKIT, Server, run

pytestmark = pytest.mark.slow


def _server_args(p):
    return ["-config", "", *SRV_PBM, *_srv_sig(p), "-rsp_cert", p.path("issued"), "-rsp_capubs", p.path("root")]


# command -> client arguments (the server accepts both PBM and signature-protected requests)
CLIENTS = {
    "ir": lambda p, t: ["-cmd", "ir", *PBM, "-newkey", p.path("new_key"), "-subject", "/CN=leaf"],
    "cr": lambda p, t: ["-cmd", "cr", *_sig(p), "-newkey", p.path("new_key"), "-subject", "/CN=leaf"],
    "kur": lambda p, t: ["-cmd", "kur", "-cert", p.path("issued"), "-key", p.path("new_key"),
                         "-trusted", p.path("root"), "-untrusted", p.path("issuing")],
    "p10cr": lambda p, t: ["-cmd", "p10cr", *PBM, "-csr", _csr(p, t)],
    "rr": lambda p, t: ["-cmd", "rr", *PBM, "-oldcert", p.path("issued")],
    "genm": lambda p, t: ["-cmd", "genm", *PBM, "-infotype", "signKeyPairTypes"],
}
ENROLLS = {"ir", "cr", "kur", "p10cr"}


def _client(argv0, server, p, t, cmd):
    out = t / "out.pem"
    if out.exists():
        out.unlink()
    cacerts = t / "cacerts.pem"
    argv = argv0 + ["-config", "", "-server", server.address, *CLIENTS[cmd](p, t)]
    if cmd in ENROLLS:
        argv += ["-certout", str(out)]
    if cmd == "ir":
        argv += ["-cacertsout", str(cacerts)]
    r = run(argv)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Traceback" not in r.stderr
    if cmd in ENROLLS:
        assert out.read_bytes() == pem_cert(p.objs["issued"])
    if cmd == "ir":
        assert cacerts.read_bytes() == pem_cert(p.objs["root"])
    return r


@pytest.mark.parametrize("cmd", sorted(CLIENTS))
def test_openssl_client_against_cmpkit_server(cmd, pki, openssl, tmp_path):
    with Server(CMPKIT + _server_args(pki)) as server:
        _client([openssl, "cmp"], server, pki, tmp_path, cmd)


@pytest.mark.parametrize("cmd", sorted(CLIENTS))
def test_cmpkit_client_against_openssl_server(cmd, pki, openssl, tmp_path):
    with Server([openssl, "cmp"] + _server_args(pki)) as server:
        r = _client(CMPKIT, server, pki, tmp_path, cmd)
        if cmd == "genm":
            assert "id-it-signKeyPairTypes" in r.stdout


def test_cmpkit_client_against_cmpkit_server_wrong_secret(pki, tmp_path):
    with Server(CMPKIT + _server_args(pki)) as server:
        out = tmp_path / "out.pem"
        r = run(CMPKIT + ["-config", "", "-server", server.address, "-cmd", "ir", "-ref", "1234",
                          "-secret", "pass:wrong", "-newkey", pki.path("new_key"), "-subject", "/CN=leaf",
                          "-certout", str(out)])
        assert r.returncode == 1
        assert not out.exists()
        assert "Traceback" not in r.stderr and r.stderr.strip()
        # the server keeps serving after a CMP-level error
        _client(CMPKIT, server, pki, tmp_path, "ir")
