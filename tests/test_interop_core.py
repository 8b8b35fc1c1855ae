"""openssl accepts what cmpkit builds: a cmpkit IR (PBM-protected, POPO signed) completes with openssl's mock server."""
import subprocess

import pytest

from cmpkit.core import bodies, protection
from cmpkit.core.keys import SoftwareKey
from cmpkit.core.message import directory_name, new_message

from .pki import name, pem_cert

pytestmark = pytest.mark.slow


def _ir(pki, secret: bytes, popo=bodies.POPO_SIGNATURE) -> bytes:
    from cryptography.hazmat.primitives import serialization
    new_key = pki.objs["new_key"]
    spki = new_key.public_key().public_bytes(serialization.Encoding.DER,
                                             serialization.PublicFormat.SubjectPublicKeyInfo)
    tpl = bodies.Template(subject=name("leaf").public_bytes(), public_key=spki)
    req = bodies.cert_request_der(0, tpl)
    body = bodies.cert_req_messages_der([bodies.cert_req_msg_der(req, popo, SoftwareKey(new_key))])
    msg = new_message("ir", sender=directory_name(name("leaf").public_bytes()),
                      recipient=directory_name(name("Issuing CA").public_bytes()), sender_kid=b"1234", body=body)
    msg.protect_with_mac(secret, protection.pbm_algorithm())
    return msg.to_der()


def _openssl(openssl, pki, tmp_path, ir_der, *extra):
    (tmp_path / "ir.der").write_bytes(ir_der)
    cmd = [openssl, "cmp", "-config", "", "-cmd", "ir", "-use_mock_srv", "-reqin", str(tmp_path / "ir.der"),
           "-srv_ref", "1234", "-srv_secret", "pass:test", "-rsp_cert", pki.path("issued"),
           "-ref", "1234", "-secret", "pass:test", "-newkey", pki.path("new_key"),
           "-certout", str(tmp_path / "out.pem"), *extra]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60)


def test_openssl_mock_completes_cmpkit_ir(openssl, pki, tmp_path):
    r = _openssl(openssl, pki, tmp_path, _ir(pki, b"test"))
    assert r.returncode == 0, r.stdout + r.stderr
    assert pem_cert(pki.objs["issued"]) in (tmp_path / "out.pem").read_bytes()


def test_openssl_mock_rejects_cmpkit_ir_with_wrong_secret(openssl, pki, tmp_path):
    r = _openssl(openssl, pki, tmp_path, _ir(pki, b"wrong"))
    assert r.returncode != 0
    assert not (tmp_path / "out.pem").exists()
