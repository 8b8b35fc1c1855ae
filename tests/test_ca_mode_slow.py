"""The mock server's CA mode over HTTP and from the command line: `openssl cmp` (the system's 3.0)
enrolls (ir, cr, p10cr), updates (kur), revokes (rr) and asks genm against `cmpkit -port` in CA mode;
cmpkit's own client against -use_mock_srv in CA mode; two server processes sharing one database."""
import pytest
from cryptography import x509

from .pki import pem_key
from .test_cli_vs_openssl import PBM, SRV_PBM, _csr, _sig
from .tools import CMPKIT, Server, run

pytestmark = pytest.mark.slow


def _ca_args(p, db):
    key = p.dir / "issuing.key"
    if not key.exists():
        key.write_bytes(pem_key(p.objs["issuing_key"]))
    return ["-config", "", *SRV_PBM, "-srv_ca_cert", p.path("issuing"), "-srv_ca_key", str(key),
            "-srv_trusted", p.path("root"), "-srv_untrusted", p.path("issuing"), "-rsp_capubs", p.path("root"),
            "-srv_db", str(db)]


def _ok(r):
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Traceback" not in r.stderr


def _issued(path, p):
    cert = x509.load_pem_x509_certificate(path.read_bytes())
    cert.verify_directly_issued_by(p.objs["issuing"])
    return cert


def test_openssl_client_ir_cr_p10cr_kur_rr_genm(pki, openssl, tmp_path):
    db = tmp_path / "ca.sqlite"
    new2 = tmp_path / "new2.key"
    from .pki import ec_key
    new2.write_bytes(pem_key(ec_key()))
    out, out2, out3, cacerts = (tmp_path / n for n in ("ir.pem", "cr.pem", "kur.pem", "cacerts.pem"))
    with Server(CMPKIT + _ca_args(pki, db)) as server:
        base = [openssl, "cmp", "-config", "", "-server", server.address]
        _ok(run(base + ["-cmd", "ir", *PBM, "-newkey", pki.path("new_key"), "-subject", "/CN=leaf",
                        "-certout", str(out), "-cacertsout", str(cacerts)]))
        ir = _issued(out, pki)
        assert ir.subject.rfc4514_string() == "CN=leaf"
        assert cacerts.read_bytes() == pki.files["root"].read_bytes()
        _ok(run(base + ["-cmd", "cr", *_sig(pki), "-newkey", pki.path("new_key"), "-subject", "/CN=second",
                        "-certout", str(out2)]))
        assert _issued(out2, pki).serial_number != ir.serial_number
        _ok(run(base + ["-cmd", "p10cr", *PBM, "-csr", _csr(pki, tmp_path), "-certout", str(out2)]))
        _issued(out2, pki)
        # kur signed with the certificate from the ir, for a new key
        _ok(run(base + ["-cmd", "kur", "-cert", str(out), "-key", pki.path("new_key"), "-newkey", str(new2),
                        "-trusted", pki.path("root"), "-untrusted", pki.path("issuing"), "-certout", str(out3)]))
        kur = _issued(out3, pki)
        assert kur.subject == ir.subject and kur.public_key() != ir.public_key()
        _ok(run(base + ["-cmd", "rr", *PBM, "-oldcert", str(out)]))
        r = run(base + ["-cmd", "rr", *PBM, "-oldcert", str(out)])
        assert r.returncode != 0 and "certRevoked" in r.stdout + r.stderr
        _ok(run(base + ["-cmd", "genm", *PBM, "-infotype", "signKeyPairTypes"]))


def test_two_server_processes_share_one_database(pki, openssl, tmp_path):
    db = tmp_path / "ca.sqlite"
    out = tmp_path / "ir.pem"
    with Server(CMPKIT + _ca_args(pki, db)) as a, Server(CMPKIT + _ca_args(pki, db)) as b:
        _ok(run([openssl, "cmp", "-config", "", "-server", a.address, "-cmd", "ir", *PBM, "-newkey",
                 pki.path("new_key"), "-subject", "/CN=leaf", "-certout", str(out)]))
        _ok(run([openssl, "cmp", "-config", "", "-server", b.address, "-cmd", "rr", *PBM, "-oldcert", str(out)]))
        r = run([openssl, "cmp", "-config", "", "-server", a.address, "-cmd", "rr", *PBM, "-oldcert", str(out)])
        assert r.returncode != 0 and "certRevoked" in r.stdout + r.stderr


def test_cmpkit_client_with_use_mock_srv_in_ca_mode(pki, tmp_path):
    out = tmp_path / "out.pem"
    r = run(CMPKIT + _ca_args(pki, tmp_path / "ca.sqlite") + ["-use_mock_srv", "-cmd", "ir", *PBM, "-newkey",
                                                             pki.path("new_key"), "-subject", "/CN=leaf",
                                                             "-certout", str(out)])
    _ok(r)
    _issued(out, pki)


def test_rsp_cert_conflicts_with_ca_mode(pki, tmp_path):
    r = run(CMPKIT + _ca_args(pki, tmp_path / "ca.sqlite") + ["-rsp_cert", pki.path("issued"), "-use_mock_srv",
                                                             "-cmd", "ir", *PBM, "-newkey", pki.path("new_key"),
                                                             "-subject", "/CN=leaf", "-certout",
                                                             str(tmp_path / "out.pem")])
    assert r.returncode != 0 and "Traceback" not in r.stderr
    assert [line for line in r.stderr.splitlines() if "error" in line.lower()] == [
        "CMP error: -rsp_cert cannot be combined with -srv_ca_cert: in CA mode the mock server issues"]
    assert "-rsp_cert cannot be combined with -srv_ca_cert" in r.stderr


def test_openssl_client_over_https(pki, openssl, tmp_path):
    import ipaddress

    from cryptography.x509.oid import ExtendedKeyUsageOID

    from .pki import ec_key, make_cert, pem_cert
    root_key, key = ec_key(), ec_key()
    root = make_cert(root_key, "TLS Root", ca=True)
    sans = x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])
    tls = make_cert(key, "127.0.0.1", root_key, root, eku=[ExtendedKeyUsageOID.SERVER_AUTH],
                    extra_extensions=[(sans, False)])
    for n, data in (("tls_root.pem", pem_cert(root)), ("tls.pem", pem_cert(tls)), ("tls.key", pem_key(key))):
        (tmp_path / n).write_bytes(data)
    out = tmp_path / "ir.pem"
    args = _ca_args(pki, tmp_path / "ca.sqlite") + ["-srv_tls_cert", str(tmp_path / "tls.pem"),
                                                    "-srv_tls_key", str(tmp_path / "tls.key")]
    with Server(CMPKIT + args) as server:
        base = [openssl, "cmp", "-config", "", "-server", server.address, "-tls_used",
                "-tls_trusted", str(tmp_path / "tls_root.pem")]
        _ok(run(base + ["-cmd", "ir", *PBM, "-newkey", pki.path("new_key"), "-subject", "/CN=leaf",
                        "-certout", str(out)]))
        _issued(out, pki)
        _ok(run(base + ["-cmd", "rr", *PBM, "-oldcert", str(out)]))
