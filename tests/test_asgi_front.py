"""The uvicorn front of `-port` (plugins/cmpkit_http/server.py) beyond tests/test_http.py: the h11 parser
used where httptools is not installed, the head limits, the TLS handshake within -srv_request_timeout."""
import socket
import ssl
import time

import pytest

from cmpkit.app.credentials import Loader
from cmpkit_http.server import MAX_HEAD, CmpHttpServer, Limits, make_server

from .test_http import cfg, post, raw, running, seq, tls_pki, transfer  # noqa: F401 (fixture)
from .tools import read_until_closed


def echo(request: bytes) -> bytes:
    """The request itself (a large one would not fit seq()'s short form)."""
    return request


class H11Server(CmpHttpServer):
    http = "h11"


@pytest.fixture(params=["h11", "auto"])
def front(request):
    cls = H11Server if request.param == "h11" else CmpHttpServer
    with running(cls(0, echo, host="127.0.0.1", limits=Limits(request_timeout=1))) as server:
        yield server


def test_exchanges_over_one_kept_connection(front):
    t = transfer(front.port)
    for i in range(3):
        assert t.send(seq(bytes([i]))) == seq(bytes([i]))
    assert front.connections == 1 and front.messages == 3


@pytest.mark.parametrize("request_bytes,status", [
    (post(b"garbage"), b"400"), (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n", b"400"),
    (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", b"405"), (post(seq(b"x"), path="/foo"), b"404"),
])
def test_faulty_requests_then_served_again(front, request_bytes, status):
    assert raw(front.port, request_bytes).split(b" ")[1] == status
    assert transfer(front.port).send(seq(b"ok")) == seq(b"ok")


def test_a_head_that_never_ends_is_cut(front):
    with socket.create_connection(("127.0.0.1", front.port), timeout=5) as s:
        s.sendall(b"POST / HTTP/1.1\r\n")
        try:
            for _ in range(MAX_HEAD // 1000 + 2):
                s.sendall(b"X-Filler: " + b"f" * 990 + b"\r\n")
        except OSError:
            pass
        answer = read_until_closed(s, until_error=True)
    assert answer.split(b" ")[1] in (b"400", b"431")  # h11 refuses it as malformed, httptools' guard as too long
    assert transfer(front.port).send(seq(b"ok")) == seq(b"ok")


def test_a_stalled_request_gets_408(front):
    with socket.create_connection(("127.0.0.1", front.port), timeout=5) as s:
        s.sendall(post(seq(b"x"))[:-3])  # the body's last bytes never come
        answer = read_until_closed(s)
    assert answer.startswith(b"HTTP/1.1 408 Request Timeout")


def test_tls_handshake_within_the_request_timeout(tls_pki):  # noqa: F811
    server = make_server(cfg(port="0", srv_tls_cert=tls_pki["server"], srv_tls_key=tls_pki["server_key"],
                             srv_request_timeout=1), echo, Loader(), host="127.0.0.1")
    with running(server):
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
            start = time.monotonic()
            assert s.recv(10) == b""  # closed by the server, long before the 60 s idle time
            assert time.monotonic() - start < 8
        ctx = ssl.create_default_context(cafile=tls_pki["root"])
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
            with ctx.wrap_socket(s, server_hostname="localhost") as tls:
                tls.sendall(post(seq(b"t")))
                answer = read_until_closed(tls)
        assert answer.startswith(b"HTTP/1.1 200 OK") and answer.endswith(seq(b"t"))


def test_a_large_request_within_the_limit_is_served(front):
    body = b"\x30\x83" + (90000).to_bytes(3, "big") + b"\x5a" * 90000   # over the head limit, under MAX_REQUEST
    answer = raw(front.port, post(body))
    assert answer.startswith(b"HTTP/1.1 200 OK") and answer.endswith(body)


def test_a_response_leaves_in_one_write(front, monkeypatch):
    """Head and body in one transport write with either parser: uvicorn writes them apart, and a
    client's delayed ACK then holds the body back some 40 ms on a kept connection."""
    from cmpkit_http import server as front_module
    writes = []
    flush = front_module._Corked.flush

    def counting_flush(self):
        if self.parts:
            writes.append([part for part in self.parts if part])  # h11 adds an empty end of message
        flush(self)
    monkeypatch.setattr(front_module._Corked, "flush", counting_flush)
    t = transfer(front.port)
    for i in range(2):
        assert t.send(seq(bytes([i]))) == seq(bytes([i]))
    assert len(writes) == 2 and all(len(parts) == 2 and parts[1] == seq(bytes([i]))
                                    for i, parts in enumerate(writes))
