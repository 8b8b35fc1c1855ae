"""The CA mode's RFC 9480/9483 features over HTTP (`cmpkit -port` with -srv_ca_cert): the reference
openssl 3.4 asks genm caCerts, rootCaCert, certReqTemplate and crlStatusList (by certificate and by
CRL) after enrolling and revoking; the system openssl (3.0) enrolls, revokes and asks caCerts;
cmpkit's client enrolls with central key generation, an ML-DSA key and PBMAC1."""
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from .pki import mldsa_key, pem_key
from .test_cli_vs_openssl import PBM, SRV_PBM
from .tools import CMPKIT, Server, run

pytestmark = pytest.mark.slow
URL = "http://ca.example/issuing.crl"


def _ca_args(p, tmp_path):
    key = tmp_path / "issuing.key"
    key.write_bytes(pem_key(p.objs["issuing_key"]))
    return ["-config", "", *SRV_PBM, "-srv_ca_cert", p.path("chain"), "-srv_ca_key", str(key),
            "-srv_trusted", p.path("root"), "-srv_db", str(tmp_path / "ca.sqlite"), "-srv_crl_url", URL]


def _ok(r):
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Traceback" not in r.stderr
    return r.stdout + r.stderr


def _enroll_and_revoke(base, p, tmp_path):
    """ir for a leaf and one for a certificate that is then revoked; (leaf, revoked) certificates."""
    leaf, gone = tmp_path / "leaf.pem", tmp_path / "gone.pem"
    for out, cn in ((leaf, "leaf"), (gone, "gone")):
        _ok(run(base + ["-cmd", "ir", *PBM, "-newkey", p.path("new_key"), "-subject", f"/CN={cn}",
                        "-certout", str(out)]))
    _ok(run(base + ["-cmd", "rr", *PBM, "-oldcert", str(gone)]))
    return leaf, gone


def test_openssl34_genm_info_types_against_the_ca(pki, openssl34, tmp_path):
    with Server(CMPKIT + _ca_args(pki, tmp_path)) as server:
        base = [openssl34, "cmp", "-config", "", "-server", server.address]
        leaf, gone = _enroll_and_revoke(base, pki, tmp_path)
        cert = x509.load_pem_x509_certificate(leaf.read_bytes())
        cert.verify_directly_issued_by(pki.objs["issuing"])
        assert cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value[0].full_name == [
            x509.UniformResourceIdentifier(URL)]
        gen = base + ["-cmd", "genm", *PBM]
        # caCerts: the CA's chain
        cacerts = tmp_path / "cacerts.pem"
        out = _ok(run(gen + ["-infotype", "caCerts", "-cacertsout", str(cacerts)]))
        assert "received 2 CA certificate(s), saving to file" in out
        assert x509.load_pem_x509_certificates(cacerts.read_bytes()) == [pki.objs["issuing"], pki.objs["root"]]
        # rootCaCert: no update
        nwn = tmp_path / "nwn.pem"
        out = _ok(run(gen + ["-infotype", "rootCaCert", "-oldwithold", pki.path("root"), "-newwithnew", str(nwn)]))
        assert "no root CA certificate update available" in out and not nwn.exists()
        # certReqTemplate: openssl prints the key specification and saves both parts
        t, k = tmp_path / "t.der", tmp_path / "k.der"
        out = _ok(run(gen + ["-infotype", "certReqTemplate", "-template", str(t), "-keyspec", str(k)]))
        assert "Key algorithm: id-ecPublicKey" in out and "Key algorithm: RSA 2048" in out
        assert t.stat().st_size > 0 and k.stat().st_size > 0
        # crlStatusList by the certificate (its distribution point): the CRL lists the revoked one
        crl_file = tmp_path / "ca.crl"
        out = _ok(run(gen + ["-infotype", "crlStatusList", "-crlcert", str(leaf), "-crlout", str(crl_file)]))
        crl = x509.load_der_x509_crl(crl_file.read_bytes())
        assert crl.is_signature_valid(pki.objs["issuing"].public_key())
        revoked = x509.load_pem_x509_certificate(gone.read_bytes())
        assert crl.get_revoked_certificate_by_serial_number(revoked.serial_number) is not None
        assert crl.get_revoked_certificate_by_serial_number(cert.serial_number) is None
        # ... and by the CRL (its issuingDistributionPoint): a newer CRL after another revocation
        import time
        time.sleep(1.1)
        _ok(run(base + ["-cmd", "rr", *PBM, "-oldcert", str(leaf)]))
        crl2_file = tmp_path / "ca2.crl"
        _ok(run(gen + ["-infotype", "crlStatusList", "-oldcrl", str(crl_file), "-crlout", str(crl2_file)]))
        crl2 = x509.load_der_x509_crl(crl2_file.read_bytes())
        assert crl2.get_revoked_certificate_by_serial_number(cert.serial_number) is not None
        # a certificate of another CA names neither the distribution point nor this CA
        r = run(gen + ["-infotype", "crlStatusList", "-crlcert", pki.path("root"), "-crlout",
                       str(tmp_path / "x.crl")])
        assert r.returncode != 0 and "CRLSource names neither" in r.stdout + r.stderr


def test_openssl30_enrolls_revokes_and_asks_ca_certs(pki, openssl, tmp_path):
    with Server(CMPKIT + _ca_args(pki, tmp_path)) as server:
        base = [openssl, "cmp", "-config", "", "-server", server.address]
        leaf, _gone = _enroll_and_revoke(base, pki, tmp_path)
        cert = x509.load_pem_x509_certificate(leaf.read_bytes())
        assert cert.extensions.get_extension_for_class(x509.CRLDistributionPoints) is not None
        out = _ok(run(base + ["-cmd", "genm", *PBM, "-infotype", "caCerts"]))
        assert "caCerts" in out or "1.3.6.1.5.5.7.4.17" in out


def test_cmpkit_client_central_keygen_ml_dsa_and_pbmac1_over_http(pki, tmp_path):
    ml_key = tmp_path / "ml.key"
    ml_key.write_bytes(pem_key(mldsa_key(65)))
    with Server(CMPKIT + _ca_args(pki, tmp_path) + ["-srv_keygen_type", "RSA:3072"]) as server:
        base = CMPKIT + ["-config", "", "-server", server.address, *PBM]
        key_out, cert_out = tmp_path / "ckg.key", tmp_path / "ckg.pem"
        _ok(run(base + ["-cmd", "ir", "-centralkeygen", "-newkeyout", str(key_out), "-subject", "/CN=ckg",
                        "-trusted", pki.path("root"), "-certout", str(cert_out)]))
        key = serialization.load_pem_private_key(key_out.read_bytes(), None)
        cert = x509.load_pem_x509_certificate(cert_out.read_bytes())
        assert cert.public_key() == key.public_key() and key.key_size == 3072
        cert.verify_directly_issued_by(pki.objs["issuing"])
        ml_out = tmp_path / "ml.pem"
        _ok(run(base + ["-cmd", "cr", "-pbmac1", "-newkey", str(ml_key), "-subject", "/CN=pq",
                        "-certout", str(ml_out)]))
        ml = x509.load_pem_x509_certificate(ml_out.read_bytes())
        ml.verify_directly_issued_by(pki.objs["issuing"])      # RSA CA: cryptography verifies
        assert ml.public_key() == serialization.load_pem_private_key(ml_key.read_bytes(), None).public_key()
