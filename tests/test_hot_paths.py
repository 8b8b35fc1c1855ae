"""The per-transaction fast paths of issue 17 keep their behaviour: PBM's iterated hash on hashlib
equals RFC 4210's definition computed on cryptography's Hash, -repeat flushes each output's data
before its rename and the directory once per run, and an HTTP request leaves in one send with the
same header lines as before."""
import logging
import os
import socket
import threading

import pytest
from cryptography.hazmat.primitives import hashes

from cmpkit import cli
from cmpkit.app import files
from cmpkit.core import protection


def _rfc4210_base_key(hash_cls, secret: bytes, salt: bytes, iterations: int) -> bytes:
    """RFC 4210 5.1.3.1, written out on cryptography's Hash: BASEKEY = OWF^iterationCount(secret || salt)."""
    h = hashes.Hash(hash_cls())
    h.update(secret + salt)
    key = h.finalize()
    for _ in range(iterations - 1):
        h = hashes.Hash(hash_cls())
        h.update(key)
        key = h.finalize()
    return key


@pytest.mark.parametrize("name, cls", [("sha256", hashes.SHA256), ("sha1", hashes.SHA1), ("sha512", hashes.SHA512),
                                       ("md5", hashes.MD5), ("sha3-256", hashes.SHA3_256), ("sm3", hashes.SM3)])
def test_pbm_base_key_is_rfc4210s(name, cls):
    secret, salt = b"pass:test", bytes(range(16))
    assert protection._pbm_base_key(name, secret, salt + b"\x01", 1) == _rfc4210_base_key(cls, secret, salt + b"\x01", 1)
    assert protection._pbm_base_key(name, secret, salt, 500) == _rfc4210_base_key(cls, secret, salt, 500)


def test_pbm_base_key_without_hashlib_falls_back(monkeypatch):
    """A hash hashlib lacks or refuses (sm3 here, MD5 under FIPS) is computed on cryptography's Hash."""
    assert protection._hashlib_constructor("sm3") is None
    import hashlib

    def refuse(data=b""):
        raise ValueError("unsupported hash type md5 (FIPS)")
    monkeypatch.setattr(hashlib, "md5", refuse)
    assert protection._hashlib_constructor("md5") is None
    protection._pbm_base_key.cache_clear()
    try:
        assert protection._pbm_base_key("md5", b"s", b"salt", 7) == _rfc4210_base_key(hashes.MD5, b"s", b"salt", 7)
    finally:
        protection._pbm_base_key.cache_clear()


@pytest.fixture
def fsyncs(monkeypatch):
    """The paths os.fsync is called on, in order."""
    synced, real = [], os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: synced.append(os.readlink(f"/proc/self/fd/{fd}")) or real(fd))
    return synced


def test_deferred_directory_sync(tmp_path, fsyncs):
    target = tmp_path / "cert.pem"
    files.defer_directory_sync()
    try:
        files.write_atomically(str(target), b"one")
        files.write_atomically(str(target), b"two")
        assert target.read_bytes() == b"two" and os.listdir(tmp_path) == ["cert.pem"]
        assert len(fsyncs) == 2 and all(p.endswith(".cmpkit-tmp") for p in fsyncs)  # data before each rename
    finally:
        files.sync_deferred_directories()
    assert fsyncs[2:] == [str(tmp_path)]                                              # the directory once
    files.write_atomically(str(target), b"three")                                       # no deferral any more
    assert fsyncs[-1] == str(tmp_path) and len(fsyncs) == 5


@pytest.fixture
def cmpkit_cli(monkeypatch, capsys):
    logger = logging.getLogger("cmpkit")
    monkeypatch.setattr(logger, "handlers", [])
    monkeypatch.setattr(logger, "propagate", logger.propagate)

    def go(*argv):
        logger.handlers = []
        return cli.main(["-config", "", *argv]), capsys.readouterr().err
    return go


def _mock_cr(pki, out, repeat):
    return ["-use_mock_srv", "-rsp_cert", pki.path("issued"), "-srv_cert", pki.path("server"),
            "-srv_key", pki.path("server_key"), "-srv_trusted", pki.path("root"), "-srv_untrusted", pki.path("issuing"),
            "-cmd", "cr", "-cert", pki.path("client"), "-key", pki.path("client_key"), "-trusted", pki.path("root"),
            "-untrusted", pki.path("issuing"), "-newkey", pki.path("new_key"), "-subject", "/CN=leaf",
            "-certout", str(out), "-repeat", str(repeat)]


def test_repeat_flushes_each_output_and_the_directory_once(pki, tmp_path, fsyncs, cmpkit_cli):
    out = tmp_path / "out.pem"
    rc, err = cmpkit_cli(*_mock_cr(pki, out, 3))
    assert rc == 0, err
    assert err.count("saving to file") == 3 and out.read_bytes().startswith(b"-----BEGIN CERTIFICATE-----")
    ours = [p for p in fsyncs if p.startswith(str(tmp_path))]  # not the plugin cache's
    assert len(ours) == 4 and all(p.endswith(".cmpkit-tmp") for p in ours[:3]) and ours[3] == str(tmp_path)
    assert files._DEFERRED_DIRECTORIES is None


def test_a_failing_repeat_still_flushes_the_directory(pki, tmp_path, fsyncs, cmpkit_cli, monkeypatch):
    from cmpkit.app import transaction
    runs, real_run = [], transaction.Client.run

    def second_fails(self):
        runs.append(1)
        if len(runs) == 2:
            from cmpkit.errors import TransferError
            raise TransferError("connection lost")
        return real_run(self)
    monkeypatch.setattr(transaction.Client, "run", second_fails)
    out = tmp_path / "out.pem"
    rc, err = cmpkit_cli(*_mock_cr(pki, out, 3))
    assert rc != 0 and "connection lost" in err and out.exists()
    assert fsyncs[-1] == str(tmp_path) and files._DEFERRED_DIRECTORIES is None


def test_http_request_leaves_in_one_send_with_the_same_header_lines(monkeypatch):
    from cmpkit_http.client import HttpTransport
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    received = []

    def serve():
        conn, _ = srv.accept()
        data = b""
        while b"\r\n\r\n" not in data or len(data.partition(b"\r\n\r\n")[2]) < 5:
            data += conn.recv(4096)
        received.append(data)
        conn.sendall(b"HTTP/1.0 200 OK\r\nContent-Type: application/pkixcmp\r\nContent-Length: 3\r\n\r\n0\x01\x00")
        conn.close()
    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    sends = []  # what the client's sockets are given to send (plain http: cmpkit_http.plain)
    real_sendall, real_send = socket.socket.sendall, socket.socket.send
    monkeypatch.setattr(socket.socket, "sendall", lambda self, data, *a: sends.append(bytes(data)) or
                        real_sendall(self, data, *a))
    monkeypatch.setattr(socket.socket, "send", lambda self, data, *a: sends.append(bytes(data)) or
                        real_send(self, data, *a))
    port = srv.getsockname()[1]
    t = HttpTransport({"server": f"127.0.0.1:{port}", "keep_alive": 0}, environ={})
    try:
        assert t.send(b"0\x03\x02\x01\x05", 5.0) == b"0\x01\x00"
    finally:
        t.close()
        thread.join(5)
        srv.close()
    client_sends = [s for s in sends if s.startswith(b"POST")]  # (not the test server's answer)
    assert client_sends == received
    head, _, body = received[0].partition(b"\r\n\r\n")
    assert body == b"0\x03\x02\x01\x05"
    assert head.split(b"\r\n") == [b"POST / HTTP/1.1", f"Host: 127.0.0.1:{port}".encode(), b"User-Agent: cmpkit",
                                   b"Accept: application/pkixcmp", b"Accept-Encoding: identity",
                                   b"Content-Type: application/pkixcmp", b"Connection: close", b"Content-Length: 5"]


@pytest.mark.parametrize("n", [0, 1, 127, 128, 255, 256, 65535, 65536, 70000])
def test_der_tlv_lengths_as_pyasn1_encodes_them(n):
    from pyasn1.codec.der import encoder
    from pyasn1.type import univ

    from cmpkit.core import der
    data = bytes(range(256)) * (n // 256) + bytes(n % 256)
    assert der.tlv(0x04, data) == encoder.encode(univ.OctetString(data))
