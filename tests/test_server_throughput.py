"""The mock server's per-transaction shortcuts of issue 17 (target 4) keep their behaviour: HMAC on
hashlib's one-shot equals cryptography's HMAC (and falls back where hashlib refuses a hash), a
remembered POPO public key or OID text never hides a failure, and -srv_workers stays 1 by default
whatever the core count (the OpenSSL-compatible mock keeps its transactions in one process)."""
import hmac as std_hmac
import os

import pytest
from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.asymmetric import ec

from cmpkit.core import der, protection, server_checks
from cmpkit.core.server_checks import PopoFailure
from cmpkit_http import server as http_server

from .test_http import cfg


def _cryptography_hmac(key: bytes, hash_cls, data: bytes) -> bytes:
    h = hmac.HMAC(key, hash_cls())
    h.update(data)
    return h.finalize()


@pytest.mark.parametrize("name, cls", [("sha256", hashes.SHA256), ("sha1", hashes.SHA1), ("sha512", hashes.SHA512),
                                       ("sha3-256", hashes.SHA3_256), ("md5", hashes.MD5), ("sm3", hashes.SM3)])
def test_hmac_is_cryptographys(name, cls):
    key, data = os.urandom(40), os.urandom(300)
    assert protection._hmac(key, name, data) == _cryptography_hmac(key, cls, data)


def test_hmac_refused_by_hashlib_falls_back(monkeypatch):
    """MD5 under a FIPS policy: hashlib refuses it (ValueError), cryptography's HMAC is asked instead."""
    def refuse(key, msg, digest):
        raise ValueError(f"unsupported hash type {digest}")
    monkeypatch.setattr(std_hmac, "digest", refuse)
    assert protection._hmac(b"k", "md5", b"data") == _cryptography_hmac(b"k", hashes.MD5, b"data")


def _spki(key) -> bytes:
    from cryptography.hazmat.primitives import serialization
    return key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def test_popo_signature_checked_for_every_request_with_a_remembered_key():
    key = ec.generate_private_key(ec.SECP256R1())
    spki = _spki(key)
    alg = der.sequence(der.oid("1.2.840.10045.4.3.2"))  # ecdsa-with-SHA256
    data = b"certRequest DER"
    good = key.sign(data, ec.ECDSA(hashes.SHA256()))
    for _ in range(2):  # the second time with the key remembered
        server_checks.check_popo_signature(spki, alg, data, good)
        with pytest.raises(PopoFailure) as exc:
            server_checks.check_popo_signature(spki, alg, data + b"!", good)
        assert exc.value.reason == "EVP lib"  # OpenSSL 3.0's first queued reason for a bad EC POPO
    for _ in range(2):  # a key that does not parse fails every time (failures are not remembered)
        with pytest.raises(PopoFailure):
            server_checks.check_popo_signature(spki[:-5] + b"\x00" * 5, alg, data, good)


@pytest.mark.parametrize("body", [b"\x80\x01", b"\x2a\x86", b""])
def test_invalid_oid_fails_every_time(body):
    for value in (body, body, bytearray(body)):
        with pytest.raises(Exception) as exc:
            der.oid_text(value)
        assert "OBJECT IDENTIFIER" in str(exc.value)


def test_oid_text_same_for_bytes_and_bytearray():
    body = bytes.fromhex("2a864886f70d01010b")  # sha256WithRSAEncryption, RFC 4055
    assert der.oid_text(body) == der.oid_text(bytearray(body)) == der.oid_text(body) == "1.2.840.113549.1.1.11"


def test_srv_workers_default_is_one_whatever_the_core_count(monkeypatch):
    """openssl's client with -keep_alive 0 (or any client without keep-alive) sends certConf and pollReq
    on new connections, which another worker (without the transaction) may accept: one worker unless asked."""
    monkeypatch.setattr(os, "cpu_count", lambda: 8)
    server = http_server.make_server(cfg(port="0"), lambda der_: der_, host="127.0.0.1")
    try:
        assert server.workers == 1
    finally:
        server.server_close()
