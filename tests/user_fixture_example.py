"""A user's test file for a product that gets its certificates by CMP: it uses only the documented API
(``cmpkit.Client``, ``Enrollment``, the ``cmpkit.CmpError`` tree) and the fixtures of cmpkit's pytest
plugin (``cmp_server``, ``cmp_http_server``, their value type ``cmpkit.pytest_plugin.CmpTestServer``).

tests/test_pytest_plugin.py runs it with pytest in a fresh virtual environment where cmpkit is
installed with pip (the plugin found through its ``pytest11`` entry point, nothing else configured),
and tests/test_api_typing.py checks it with ``mypy --strict``. Its name does not start with
``test_``: the repository's own test run does not collect it.
"""
from __future__ import annotations

from typing import Callable, Union

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

import cmpkit
from cmpkit.pytest_plugin import CmpTestServer

DeviceKey = Union[ec.EllipticCurvePrivateKey, rsa.RSAPrivateKey]
CERT_REVOKED = 1 << 10  # PKIFailureInfo certRevoked (RFC 9810 5.2.3), a bit of CmpError.fail_info
REJECTION = 2           # PKIStatus rejection (RFC 9810 5.2.3)


def ec_key() -> DeviceKey:
    return ec.generate_private_key(ec.SECP256R1())


def rsa_key() -> DeviceKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def spki(key: DeviceKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.DER,
                                         serialization.PublicFormat.SubjectPublicKeyInfo)


def check_issued(cert: x509.Certificate, key: DeviceKey, server: CmpTestServer) -> None:
    """The certificate is for ``key``, named as asked, and signed by the server's CA."""
    assert cert.public_key().public_bytes(serialization.Encoding.DER,
                                          serialization.PublicFormat.SubjectPublicKeyInfo) == spki(key)
    assert cert.subject == x509.Name.from_rfc4514_string("CN=device-1")
    assert cert.issuer == server.ca_certificate.subject
    cert.verify_directly_issued_by(server.ca_certificate)


@pytest.mark.parametrize("make_key", [ec_key, rsa_key], ids=["ec", "rsa"])
def test_enroll_update_revoke(cmp_server: CmpTestServer, make_key: Callable[[], DeviceKey]) -> None:
    key = make_key()
    # the secret protects ir and rr; kur is signed with the certificate's key, so the server's
    # signed answer is checked against the CA certificate
    with cmpkit.Client(cmp_server.url, secret=cmp_server.secret, ref=cmp_server.ref,
                       trusted=[cmp_server.ca_certificate]) as client:
        enrolled: cmpkit.Enrollment = client.enroll(key, subject="CN=device-1")
        check_issued(enrolled.certificate, key, cmp_server)

        new_key = make_key()
        updated = client.update(key, new_key, cert=enrolled.certificate)
        check_issued(updated.certificate, new_key, cmp_server)
        assert updated.certificate.serial_number != enrolled.certificate.serial_number

        client.revoke(updated.certificate, x509.ReasonFlags.superseded)
        with pytest.raises(cmpkit.ServerError) as again:
            client.revoke(updated.certificate)
    assert again.value.status == REJECTION
    assert again.value.fail_info is not None and again.value.fail_info & CERT_REVOKED


def test_a_wrong_secret_is_refused(cmp_server: CmpTestServer) -> None:
    with cmpkit.Client(cmp_server.url, secret="not-" + cmp_server.secret, ref=cmp_server.ref) as client:
        with pytest.raises(cmpkit.CmpError):
            client.enroll(ec_key(), subject="CN=device-1")


def test_enroll_over_http(cmp_http_server: CmpTestServer) -> None:
    assert cmp_http_server.url.startswith("http://127.0.0.1:")
    key = ec_key()
    with cmpkit.Client(cmp_http_server.url, secret=cmp_http_server.secret, ref=cmp_http_server.ref,
                       timeout=30.0) as client:
        check_issued(client.enroll(key, subject="CN=device-1").certificate, key, cmp_http_server)
