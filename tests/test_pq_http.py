"""Over HTTP: an ML-DSA certificate enrolled end to end and PBMAC1 both ways (`cmpkit -port` as the
server, cmpkit as the client), and interop with an openssl that has ML-DSA (3.5 and later)."""
import shutil

import pytest
from cryptography import x509
from pyasn1.codec.der.decoder import decode
from pyasn1_alt_modules import rfc9480

from .conftest import openssl34_path
from .tools import CMPKIT, Server, run

pytestmark = pytest.mark.slow

ML_DSA_65, ML_DSA_44, PBMAC1 = "2.16.840.1.101.3.4.3.18", "2.16.840.1.101.3.4.3.17", "1.2.840.113549.1.5.14"


def _protection_oid(path) -> str:
    msg, _ = decode(path.read_bytes(), asn1Spec=rfc9480.PKIMessage())
    return str(msg["header"]["protectionAlg"]["algorithm"])


def _pq_server(p, *extra):
    return CMPKIT + ["-config", "", "-srv_key", p.path("server_key"), "-srv_cert", p.path("server"),
                     "-srv_trusted", p.path("root"), "-rsp_cert", p.path("issued"), *extra]


def test_ml_dsa_enrollment_over_http(pq_pki, tmp_path):
    p = pq_pki.path
    with Server(_pq_server(pq_pki)) as server:
        r = run(CMPKIT + ["-config", "", "-cmd", "ir", "-server", server.address, "-key", p("client_key"),
                          "-cert", p("client"), "-newkey", p("new_key"), "-subject", "/CN=pq-leaf",
                          "-trusted", p("root"), "-certout", str(tmp_path / "out.pem"),
                          "-reqout", str(tmp_path / "req.der"), "-rspout", str(tmp_path / "rsp.der")])
    assert r.returncode == 0, r.stderr
    assert x509.load_pem_x509_certificate((tmp_path / "out.pem").read_bytes()) == pq_pki.objs["issued"]
    assert _protection_oid(tmp_path / "req.der") == ML_DSA_44       # the client's ML-DSA-44 key
    assert _protection_oid(tmp_path / "rsp.der") == ML_DSA_65       # the server's ML-DSA-65 key


def test_pbmac1_over_http(pki, tmp_path):
    with Server(CMPKIT + ["-config", "", "-srv_secret", "pass:test", "-srv_ref", "1",
                          "-rsp_cert", pki.path("issued")]) as server:
        r = run(CMPKIT + ["-config", "", "-cmd", "ir", "-server", server.address, "-secret", "pass:test",
                          "-ref", "1", "-pbmac1", "-newkey", pki.path("new_key"), "-subject", "/CN=leaf",
                          "-certout", str(tmp_path / "out.pem"), "-reqout", str(tmp_path / "req.der"),
                          "-rspout", str(tmp_path / "rsp.der")])
    assert r.returncode == 0, r.stderr
    assert _protection_oid(tmp_path / "req.der") == PBMAC1 == _protection_oid(tmp_path / "rsp.der")


# ---------------------------------------------------------------- openssl 3.5+ (ML-DSA)

def _openssl_with_ml_dsa():
    """An openssl binary whose `list -signature-algorithms` shows ML-DSA, else None."""
    for path in (shutil.which("openssl"), openssl34_path()):
        if path:
            r = run([path, "list", "-signature-algorithms"])
            if r.returncode == 0 and "ML-DSA" in r.stdout.upper():
                return path
    return None


@pytest.fixture
def openssl_ml_dsa():
    path = _openssl_with_ml_dsa()
    if path is None:
        pytest.skip("openssl before 3.5 has no ML-DSA")
    return path


def test_openssl_client_enrolls_ml_dsa_with_cmpkit_server(openssl_ml_dsa, pq_pki, tmp_path):
    p = pq_pki.path
    with Server(_pq_server(pq_pki)) as server:
        r = run([openssl_ml_dsa, "cmp", "-config", "", "-cmd", "ir", "-server", server.address,
                 "-key", p("client_key"), "-cert", p("client"), "-newkey", p("new_key"), "-subject", "/CN=pq-leaf",
                 "-trusted", p("root"), "-certout", str(tmp_path / "out.pem")])
    assert r.returncode == 0, r.stderr
    assert x509.load_pem_x509_certificate((tmp_path / "out.pem").read_bytes()) == pq_pki.objs["issued"]


def test_cmpkit_client_enrolls_ml_dsa_with_openssl_server(openssl_ml_dsa, pq_pki, tmp_path):
    p = pq_pki.path
    with Server([openssl_ml_dsa, "cmp", "-config", "", "-srv_key", p("server_key"), "-srv_cert", p("server"),
                 "-srv_trusted", p("root"), "-rsp_cert", p("issued")]) as server:
        r = run(CMPKIT + ["-config", "", "-cmd", "ir", "-server", server.address, "-key", p("client_key"),
                          "-cert", p("client"), "-newkey", p("new_key"), "-subject", "/CN=pq-leaf",
                          "-trusted", p("root"), "-certout", str(tmp_path / "out.pem")])
    assert r.returncode == 0, r.stderr
    assert x509.load_pem_x509_certificate((tmp_path / "out.pem").read_bytes()) == pq_pki.objs["issued"]
