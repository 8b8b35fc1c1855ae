"""The http plugin: -server/-proxy parsing, the HTTP(S) transfer (keep-alive, timeouts, errors, TLS,
proxies) and the mock server's HTTP front (ACCEPT line, bad requests, -max_msgs)."""
import contextlib
import ipaddress
import os
import re
import socket
import socketserver
import ssl
import subprocess
import sys
import threading
import time

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from cmpkit.core import bodies
from cmpkit.core.message import StatusInfo, new_message
from cmpkit.core.options import Config
from cmpkit.errors import ConfigError, CredentialError, TransferError
from cmpkit_http import plugin
from cmpkit.app.credentials import Loader
from cmpkit_http.client import HttpTransport, parse_server, proxy_for, proxy_origin
from cmpkit_http.server import CmpHttpServer, Limits, der_sequence_length, limits_of, make_server, request_path

from .pki import ec_key, make_cert, pem_cert, pem_key
from .tools import bundled_options, read_until_closed

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
try:  # the -port front's parser: httptools where installed (the fast extra), else h11
    import httptools  # noqa: F401
    _HTTPTOOLS = True
except ImportError:
    _HTTPTOOLS = False


def cfg(**values):
    return Config.from_values(bundled_options(), values)


def seq(payload: bytes) -> bytes:
    """A DER SEQUENCE holding one OCTET STRING (short form lengths: payload < 126 bytes)."""
    return bytes([0x30, len(payload) + 2, 0x04, len(payload)]) + payload


def echo(request: bytes) -> bytes:
    """The canned answer of the test servers: the request wrapped once more."""
    return seq(request)


@contextlib.contextmanager
def running(server):
    thread = threading.Thread(target=server.serve, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        thread.join(10)


@pytest.fixture
def srv():
    with running(CmpHttpServer(0, echo, host="127.0.0.1")) as server:
        yield server


_OPEN = []


@pytest.fixture(autouse=True)
def _close_transfers():
    yield
    while _OPEN:
        _OPEN.pop().close()


def transfer(port, environ=None, **values):
    values.setdefault("server", f"127.0.0.1:{port}")
    t = HttpTransport(cfg(**values), Loader(), environ={} if environ is None else environ)
    _OPEN.append(t)
    return t


# ------------------------------------------------------------------ -server parsing

@pytest.mark.parametrize("text,tls,expected", [
    ("127.0.0.1", False, ("http", "", "127.0.0.1", 80, "/")),
    ("host:8080/pkix/", False, ("http", "", "host", 8080, "/pkix/")),
    ("http://host/a/b", False, ("http", "", "host", 80, "/a/b")),
    ("https://host", True, ("https", "", "host", 443, "/")),
    ("host", True, ("https", "", "host", 80, "/")),            # openssl 3.0: 443 only with https://
    ("user:pw@host:99/p?q=1#frag", False, ("http", "user:pw", "host", 99, "/p?q=1")),
    ("[::1]:8080/x", False, ("http", "", "::1", 8080, "/x")),
    ("[::1]", False, ("http", "", "::1", 80, "/")),
    ("host?q", False, ("http", "", "host", 80, "/?q")),
    ("host#frag", False, ("http", "", "host", 80, "/")),
    ("host:0", False, ("http", "", "host", 80, "/")),          # "0" means "default" to openssl
    ("host:00/x", False, ("http", "", "host", 0, "/x")),
    ("a@b@c/p", False, ("http", "a", "b@c", 80, "/p")),        # the first '@' ends the userinfo
])
def test_parse_server(text, tls, expected):
    assert parse_server(text, tls) == expected


@pytest.mark.parametrize("text,message", [
    ("https://host", "missing -tls_used option since -server URL indicates https"),
    ("ftp://host", "invalid URL scheme 'ftp'"),
    ("HTTP://host", "invalid URL scheme 'HTTP'"),
    ("://host", "empty scheme"),
    ("host:99999", "invalid port number"),
    ("host:" + "9" * 5000, "invalid port number"),       # no int() of 5000 digits (ValueError)
    ("host:", "invalid port number"),
    ("host:+5", "invalid port number"),
    ("[::1", "missing ']'"),
    ("[::1]x", "invalid path"),
    ("host/a?u=http://x", "invalid URL scheme"),
])
def test_parse_server_errors(text, message):
    with pytest.raises(ConfigError) as err:
        parse_server(text, False)
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_path_option_replaces_the_servers_path(srv):
    t = transfer(srv.port, server=f"127.0.0.1:{srv.port}/a/b?q", path="pkix/")
    assert t.url == f"http://127.0.0.1:{srv.port}/pkix/"
    assert transfer(srv.port, server=f"127.0.0.1:{srv.port}/a/b?q").url.endswith("/a/b?q")


# ------------------------------------------------------------------ proxy choice

@pytest.mark.parametrize("args,env,expected", [
    (("h", False), {"http_proxy": "p1:3128", "HTTP_PROXY": "p2"}, "p1:3128"),
    (("h", False), {"HTTP_PROXY": "p2"}, "p2"),
    (("h", True), {"http_proxy": "p1", "HTTPS_PROXY": "p3"}, "p3"),
    (("h", False, "given:1"), {"http_proxy": "p1"}, "given:1"),
    (("h", False), {"http_proxy": ""}, None),                      # empty: no proxy, no fallback
    (("h", False, ""), {"http_proxy": "p1"}, None),
    (("h", False), {"http_proxy": "p1", "no_proxy": "x, h"}, None),
    (("h", False), {"http_proxy": "p1", "no_proxy": "hh,host"}, "p1"),  # whole names only
    (("h", False), {"http_proxy": "p1", "no_proxy": "", "NO_PROXY": "h"}, "p1"),
    (("h", False), {"http_proxy": "p1", "NO_PROXY": "h"}, None),
    (("h", False, None, "a b"), {"http_proxy": "p1", "no_proxy": "h"}, "p1"),
    (("::1", False), {"http_proxy": "p1", "no_proxy": "::1"}, None),
])
def test_proxy_choice(args, env, expected):
    assert proxy_for(*args, environ=env)[0] == expected


def test_proxy_origin():
    assert proxy_origin("https://user@prox/ignored?x", "-proxy") == "http://prox:443"
    assert proxy_origin("prox:3128", "-proxy") == "http://prox:3128"
    assert proxy_origin("[::1]:81", "-proxy") == "http://[::1]:81"
    with pytest.raises(ConfigError, match="environment variable http_proxy"):
        proxy_origin("ftp://x", "environment variable http_proxy")


def test_no_proxy_bypasses_a_dead_proxy(srv):
    dead = f"127.0.0.1:{_free_port()}"
    assert transfer(srv.port, proxy=dead, no_proxy="localhost, 127.0.0.1").send(seq(b"x")) == seq(seq(b"x"))
    with pytest.raises(TransferError, match="cannot connect"):
        transfer(srv.port, environ={"http_proxy": dead}).send(seq(b"x"))


# ------------------------------------------------------------------ exchanges, keep-alive, timeouts

def test_keep_alive_reuses_one_connection(srv):
    t = transfer(srv.port)
    for i in range(3):
        assert t.send(seq(bytes([i]))) == seq(seq(bytes([i])))
    t.close()
    assert srv.connections == 1 and srv.messages == 3


def test_keep_alive_0_closes_each_time(srv):
    t = transfer(srv.port, keep_alive=0)
    for _ in range(3):
        t.send(seq(b"m"))
    t.close()
    assert srv.connections == 3


def test_keep_alive_2_against_a_server_that_closes():
    with canned(b"HTTP/1.0 200 OK\r\nContent-Type: application/pkixcmp\r\nContent-Length: 4\r\n\r\n"
                + seq(b"")) as port:
        assert transfer(port, keep_alive=1).send(seq(b"a")) == seq(b"")
        with pytest.raises(TransferError, match="-keep_alive 2"):
            transfer(port, keep_alive=2).send(seq(b"a"))


def test_http_1_0_keep_alive_header_counts_as_granted():
    with canned(b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Type: application/pkixcmp\r\n"
                b"Content-Length: 4\r\n\r\n" + seq(b"")) as port:
        assert transfer(port, keep_alive=2).send(seq(b"a")) == seq(b"")


class _Http10KeepAlive(socketserver.StreamRequestHandler):
    """Answers every request on a connection as `openssl cmp -port` does: HTTP/1.0 with keep-alive."""

    def handle(self):
        self.server.connections += 1
        while True:
            length = None
            while True:
                line = self.rfile.readline()
                if line == b"":
                    return
                if line in (b"\r\n", b"\n"):
                    break
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            body = echo(self.rfile.read(length))
            self.wfile.write(b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-type: application/pkixcmp\r\n"
                             b"Content-Length: %d\r\n\r\n" % len(body) + body)
            if self.server.close_after_each:
                return


@contextlib.contextmanager
def http10_keep_alive_server(close_after_each=False):
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Http10KeepAlive)
    server.daemon_threads = True
    server.connections = 0
    server.close_after_each = close_after_each
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def test_http_1_0_keep_alive_connection_is_reused():
    # openssl's server answers HTTP/1.0 + keep-alive and ends its transaction with the connection
    with http10_keep_alive_server() as server:
        t = transfer(server.server_address[1])
        for i in range(3):
            assert t.send(seq(bytes([i]))) == seq(seq(bytes([i])))
        assert server.connections == 1


def test_connection_closed_by_the_server_is_replaced():
    with http10_keep_alive_server(close_after_each=True) as server:
        t = transfer(server.server_address[1])
        for i in range(3):
            assert t.send(seq(bytes([i]))) == seq(seq(bytes([i])))
            time.sleep(0.05)  # let the server's close arrive before the next request
        assert server.connections == 3


def test_wrong_content_type():
    with canned(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 4\r\nConnection: close\r\n\r\n"
                b"<p/>") as port:
        with pytest.raises(TransferError) as err:
            transfer(port).send(seq(b"a"))
    assert "unexpected content type 'text/html'" in str(err.value)


def test_content_type_parameters_are_ignored():
    with canned(b"HTTP/1.1 200 OK\r\nContent-Type: Application/PKIXCMP; charset=x\r\nContent-Length: 4\r\n"
                b"Connection: close\r\n\r\n" + seq(b"")) as port:
        assert transfer(port).send(seq(b"a")) == seq(b"")


def test_http_error_status_with_cmp_error_body():
    error = new_message("error", body=bodies.error_der(StatusInfo(2, ["out of coffee"]), 42)).to_der()
    head = (f"HTTP/1.1 500 Internal Server Error\r\nContent-Type: application/pkixcmp\r\n"
            f"Content-Length: {len(error)}\r\nConnection: close\r\n\r\n").encode()
    with canned(head + error) as port:
        with pytest.raises(TransferError) as err:
            transfer(port).send(seq(b"a"))
    text = str(err.value)
    assert "HTTP error 500 Internal Server Error" in text and "application/pkixcmp" in text
    assert "rejection" in text and "out of coffee" in text and "errorCode: 42" in text
    assert "\n" not in text


def test_http_error_status_plain():
    with canned(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n") as port:
        with pytest.raises(TransferError, match=r"HTTP error 404 Not Found .*\(content type none\)$"):
            transfer(port).send(seq(b"a"))


def test_connection_refused():
    with pytest.raises(TransferError, match="cannot connect to http://127.0.0.1:.*: connection refused"):
        transfer(_free_port()).send(seq(b"a"))


def test_timeout_choice():
    assert transfer(1)._timeout() == (None, "-msg_timeout")  # as openssl 3.0: no limit by default
    assert transfer(1, msg_timeout=0)._timeout() == (None, "-msg_timeout")
    assert transfer(1, msg_timeout=5)._timeout() == (5, "-msg_timeout")
    t = transfer(1, msg_timeout=5)
    assert t._timeout(2) == (2, "-total_timeout")
    assert t._timeout(None) == (5, "-msg_timeout")
    assert t._timeout(7) == (5, "-msg_timeout")


def test_deadline_timeout():
    with silent_server() as port:
        t = transfer(port)
        with pytest.raises(TransferError, match="-total_timeout"):
            t.send(seq(b"a"), 0.2)


def test_msg_timeout():
    with silent_server() as port:
        with pytest.raises(TransferError, match=r"no response within 1 s \(-msg_timeout\)"):
            transfer(port, msg_timeout=1).send(seq(b"a"))


def test_oversized_response():
    body = b"\x30\x83\x02\x00\x00" + b"\x00" * 0x20000
    head = f"HTTP/1.1 200 OK\r\nContent-Type: application/pkixcmp\r\nContent-Length: {len(body)}\r\n\r\n"
    with canned(head.encode() + body) as port:
        with pytest.raises(TransferError, match="maximum length"):
            transfer(port).send(seq(b"a"))


def test_truncated_response_body():
    head = "HTTP/1.1 200 OK\r\nContent-Type: application/pkixcmp\r\nContent-Length: 100\r\n\r\n"
    with canned(head.encode() + seq(b"x")) as port:      # a whole DER message, 95 bytes short
        with pytest.raises(TransferError, match="response body truncated: 95 bytes"):
            transfer(port).send(seq(b"a"))


# ------------------------------------------------------------------ the server

def raw(port: int, data: bytes, shutdown: bool = False) -> bytes:
    """Send raw bytes, return everything the server answers until it closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(data)
        if shutdown:
            s.shutdown(socket.SHUT_WR)
        out = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return out
            out += chunk


def post(body: bytes, length=None, path="/") -> bytes:
    n = len(body) if length is None else length
    return (f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/pkixcmp\r\n"
            f"Content-Length: {n}\r\nConnection: close\r\n\r\n").encode() + body


@pytest.mark.parametrize("request_bytes,status", [
    (post(b"garbage"), b"400"),
    (post(seq(b"x") + b"trailing"), b"400"),
    (post(b"\x30\x05\x01"), b"400"),                          # truncated DER
    (post(b"", length=10 ** 9), b"400"),                      # oversized
    (b"POST / HTTP/1.1\r\nHost: x\r\n\r\n", b"411"),          # no Content-Length
    (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", b"405"),
    (b"POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", b"400"),
    (b"POST / HTTP/1.1\r\nContent-Length: " + b"9" * 5000 + b"\r\n\r\n", b"400"),  # no int() of 5000 digits
    (b"POST / HTTP/1.1\r\n" + b"X: y\r\n" * 200 + b"\r\n", b"431"),   # too many header lines
    (b"BREW / HTTP/1.1\r\n\r\n", b"400" if _HTTPTOOLS else b"501"),  # httptools refuses unknown methods
    (b"POST / HTTP/1.1\r\nContent-Length: 4\r\n folded\r\n\r\n" + seq(b""), b"400"),  # obsolete folding
    (b"POST / HTTP/1.1\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\n" + seq(b""), b"400"),
    (b"POST / HTTP/1.1\r\nno colon here\r\n\r\n", b"400"),
    (b"POST / HTTP/2.0\r\nContent-Length: 4\r\n\r\n" + seq(b""), b"505"),
    (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n", b"400"),  # a TLS hello, say
])
def test_server_rejects_bad_requests_and_keeps_serving(srv, request_bytes, status):
    answer = raw(srv.port, request_bytes)
    assert answer.split(b" ")[1] == status
    assert b"Traceback" not in answer
    assert transfer(srv.port).send(seq(b"ok")) == seq(seq(b"ok"))
    assert srv.messages == 1


def test_server_answers_expect_100_continue(srv):
    head = b"POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 4\r\nConnection: close\r\n\r\n"
    with socket.create_connection(("127.0.0.1", srv.port), timeout=5) as s:
        s.sendall(head)
        assert s.recv(100) == b"HTTP/1.1 100 Continue\r\n\r\n"  # before any byte of the body was sent
        s.sendall(seq(b""))
        answer = read_until_closed(s)
    assert answer.startswith(b"HTTP/1.1 200 OK") and answer.endswith(seq(seq(b"")))


def test_server_survives_truncated_request_and_handler_failure():
    calls = []

    def handler(request):
        calls.append(request)
        if request == seq(b"boom"):
            raise RuntimeError("handler bug")
        return echo(request)

    with running(CmpHttpServer(0, handler, host="127.0.0.1")) as server:
        assert raw(server.port, post(b"\x30\x10abc", length=18), shutdown=True) == b""
        assert raw(server.port, post(seq(b"boom"))).startswith(b"HTTP/1.1 500 ")
        assert transfer(server.port).send(seq(b"ok")) == seq(seq(b"ok"))
    assert calls == [seq(b"boom"), seq(b"ok")]


def test_server_answers_http_1_0_keep_alive(srv):
    request = (b"POST /pkix/ HTTP/1.0\r\nConnection: keep-alive\r\nContent-Type: application/pkixcmp\r\n"
               b"Content-Length: 4\r\n\r\n" + seq(b""))
    with socket.create_connection(("127.0.0.1", srv.port), timeout=5) as s:
        for _ in range(2):  # two requests on one connection
            s.sendall(request)
            answer = b""
            while not answer.endswith(seq(seq(b""))):
                chunk = s.recv(4096)
                assert chunk
                answer += chunk
            assert b"200 OK" in answer and b"connection: keep-alive" in answer.lower()
            assert b"content-type: application/pkixcmp" in answer.lower()
    assert srv.connections == 1


# the paths as openssl 3.0's http_server_get_asn1_req() derives them (checked against openssl
# cmp -port by tests/test_http_paths.py): None is a 400, a path not in SERVED_PATHS a 404
@pytest.mark.parametrize("target,path", [
    (b"/", ""), (b"/pkix/", "pkix/"), (b"//pkix//", "pkix/"), (b"/pkix///", "pkix/"), (b"///", ""),
    (b"/%70kix/", "pkix/"), (b"/%2Fpkix/", "pkix/"), (b"/%00", ""), (b"/a%00b", "a"),
    (b"/pkix%2F%2F", "pkix//"), (b"/pkix/%2f", "pkix//"),     # the trailing '//' is looked for before decoding
    (b"/pkix", "pkix"), (b"/PKIX/", "PKIX/"), (b"/pkix/?q=1", "pkix/?q=1"), (b"/./pkix/", "./pkix/"),
    (b"pkix/", None), (b"http://host/pkix/", None), (b"/%7", None), (b"/pkix/%", None), (b"/%zz", None),
])
def test_request_path_as_openssl(target, path):
    assert request_path(target) == path


@pytest.mark.parametrize("target,status", [
    (b"/", b"200"), (b"/pkix/", b"200"), (b"//pkix//", b"200"), (b"/%70kix/", b"200"),
    (b"/pkix", b"404"), (b"/PKIX/", b"404"), (b"/Pkix/", b"404"), (b"/foo", b"404"), (b"/pkix/x", b"404"),
    (b"/.well-known/cmp", b"404"), (b"pkix/", b"400"), (b"/%7", b"400"),
])
def test_server_serves_only_the_empty_path_and_pkix(srv, target, status):
    answer = raw(srv.port, post(seq(b"x"), path=target.decode()))
    assert answer.split(b" ")[1] == status
    if status == b"200":
        assert answer.endswith(seq(seq(b"x")))
    else:
        assert answer.endswith(b"\r\n\r\n")  # no body, the connection closed (raw() read to the end)
    assert srv.messages == (0 if status == b"400" else 1)  # a 404 counts for -max_msgs, as with openssl


def test_a_refused_path_counts_for_max_msgs_as_with_openssl():
    server = CmpHttpServer(0, echo, max_msgs=2, host="127.0.0.1")
    thread = threading.Thread(target=server.serve, daemon=True)
    thread.start()
    assert raw(server.port, post(seq(b"a"), path="/foo")).startswith(b"HTTP/1.1 404 Not Found")
    assert raw(server.port, post(seq(b"b"), path="/pkix/")).endswith(seq(seq(b"b")))
    thread.join(10)
    assert not thread.is_alive() and server.messages == 2


def test_concurrent_clients(srv):
    results, errors = [], []

    def client(i):
        try:
            t = transfer(srv.port)
            for j in range(3):
                results.append(t.send(seq(bytes([i, j]))) == seq(seq(bytes([i, j]))))
            t.close()
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(5)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(20)
    assert not errors and results == [True] * 15


def test_a_trickling_client_is_cut_at_the_request_deadline_and_blocks_nobody():
    """Slowloris: one byte every 0.3 s keeps an idle timer alive forever, not the request deadline."""
    with running(CmpHttpServer(0, echo, host="127.0.0.1", limits=Limits(request_timeout=1))) as server:
        start = time.monotonic()
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as slow:
            for byte in post(seq(b"slow")):
                try:
                    slow.sendall(bytes([byte]))
                except OSError:
                    break
                assert transfer(server.port).send(seq(b"ok")) == seq(seq(b"ok"))   # others are served
                time.sleep(0.3)
                if time.monotonic() - start > 3:
                    break
            slow.settimeout(3)
            answer = read_until_closed(slow, until_error=True)
        assert answer.startswith(b"HTTP/1.1 408 Request Timeout") and time.monotonic() - start < 4


def test_an_idle_connection_is_closed_but_a_busy_one_is_not():
    with running(CmpHttpServer(0, echo, host="127.0.0.1", limits=Limits(idle_timeout=1))) as server:
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as idle:
            time.sleep(1.5)
            assert idle.recv(10) == b""                           # closed by the server
        t = transfer(server.port)
        for i in range(4):                                        # 2 s in all, over one kept connection
            assert t.send(seq(bytes([i]))) == seq(seq(bytes([i])))
            time.sleep(0.5)
        assert server.connections == 2


def test_connections_beyond_the_cap_get_503():
    with running(CmpHttpServer(0, echo, host="127.0.0.1", limits=Limits(max_connections=2))) as server:
        held = [socket.create_connection(("127.0.0.1", server.port), timeout=5) for _ in range(2)]
        try:
            time.sleep(0.2)
            with socket.create_connection(("127.0.0.1", server.port), timeout=5) as third:
                assert third.recv(4096).startswith(b"HTTP/1.1 503 Service Unavailable")   # at once
        finally:
            for s in held:
                s.close()
        time.sleep(0.2)
        assert transfer(server.port).send(seq(b"y")) == seq(seq(b"y"))   # served again once they left


def test_limit_options():
    limits = limits_of(cfg(srv_request_timeout=3, srv_idle_timeout=4, srv_max_conns=5))
    assert (limits.request_timeout, limits.idle_timeout, limits.max_connections) == (3, 4, 5)
    default = limits_of(cfg())
    assert (default.request_timeout, default.idle_timeout, default.max_connections) == (10, 60, 100)
    with pytest.raises(ConfigError, match="srv_max_conns"):
        cfg(srv_max_conns=0) and limits_of(cfg(srv_max_conns=0))


def test_max_msgs_stops_the_server():
    server = CmpHttpServer(0, echo, max_msgs=2, host="127.0.0.1")
    thread = threading.Thread(target=server.serve, daemon=True)
    thread.start()
    t = transfer(server.port)
    t.send(seq(b"1"))
    t.send(seq(b"2"))
    thread.join(10)
    assert not thread.is_alive() and server.messages == 2
    with pytest.raises(TransferError):
        t.send(seq(b"3"))


def test_ipv6_loopback():
    try:
        server = CmpHttpServer(0, echo, host="::1")
    except ConfigError:
        pytest.skip("no IPv6 loopback here")
    with running(server):
        t = transfer(server.port, server=f"http://[::1]:{server.port}/pkix/")
        assert t.url == f"http://[::1]:{server.port}/pkix/"
        assert t.send(seq(b"6")) == seq(seq(b"6"))


def test_der_sequence_length():
    assert der_sequence_length(seq(b"abc")) == 7
    assert der_sequence_length(b"\x30\x82\x01\x00") == 260
    assert der_sequence_length(b"\x31\x00") is None
    assert der_sequence_length(b"\x30\x80") is None  # indefinite length is not DER


def test_make_server_port_errors():
    with pytest.raises(ConfigError, match="invalid -port argument 'x'"):
        make_server(cfg(port="x"), echo)
    with pytest.raises(ConfigError, match="invalid -port argument"):
        make_server(cfg(port="70000"), echo)
    with pytest.raises(ConfigError, match="invalid -port argument"):
        make_server(cfg(port="9" * 5000), echo)


def test_serve_prints_accept_line_and_stops_after_max_msgs(tmp_path):
    code = ("import sys; from cmpkit.core.options import Config; from cmpkit.core.optdecl import OPTIONS; "
            "from cmpkit_http import plugin, server; "
            "server.serve(Config.from_values(list(OPTIONS) + list(plugin.cmpkit_options()), "
            "{'port': '0', 'max_msgs': 1}), lambda b: b)")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([ROOT, os.path.join(ROOT, "plugins")]))
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=env, text=True)
    try:
        line = proc.stdout.readline()
        m = re.fullmatch(r"ACCEPT (\[::\]|0\.0\.0\.0):(\d+) PID=(\d+)\n", line)
        assert m, line
        assert int(m.group(3)) == proc.pid
        assert transfer(int(m.group(2))).send(seq(b"x")) == seq(b"x")
        assert proc.wait(10) == 0
        assert proc.stderr.read() == ""
    finally:
        proc.kill()
        proc.wait()
        proc.stdout.close()
        proc.stderr.close()


# ------------------------------------------------------------------ plugin hooks

def test_plugin_hooks():
    # the plugin serves -server by its URL schemes, not by cmpkit_get_transport
    assert not hasattr(plugin, "cmpkit_get_transport")
    schemes = plugin.cmpkit_transport_schemes()
    assert set(schemes) == {"http", "https"}
    t = schemes["http"]("h:1/p", cfg(server="h:1/p"), Loader())
    assert isinstance(t, HttpTransport) and t.url == "http://h:1/p"
    opts = plugin.cmpkit_options()
    assert {o.name for o in opts} == {"proxy", "no_proxy", "path", "keep_alive", "msg_timeout",
                                      "tls_used", "tls_cert", "tls_key", "tls_keypass", "tls_extra", "tls_trusted",
                                      "tls_host", "max_msgs", "srv_tls_cert", "srv_tls_key", "srv_tls_keypass",
                                      "srv_request_timeout", "srv_idle_timeout", "srv_max_conns", "srv_workers"}
    assert {o.name for o in opts if o.extension} == {"srv_tls_cert", "srv_tls_key", "srv_tls_keypass",
                                                     "srv_request_timeout", "srv_idle_timeout", "srv_max_conns",
                                                     "srv_workers"}


# ------------------------------------------------------------------ TLS

@pytest.fixture(scope="module")
def tls_pki(tmp_path_factory):
    d = tmp_path_factory.mktemp("tls")
    root_key, server_key, client_key, other_key = ec_key(), ec_key(), ec_key(), ec_key()
    root = make_cert(root_key, "TLS Root", ca=True)
    sans = x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])
    server = make_cert(server_key, "localhost", root_key, root, eku=[ExtendedKeyUsageOID.SERVER_AUTH],
                       extra_extensions=[(sans, False)])
    client = make_cert(client_key, "tls client", root_key, root, eku=[ExtendedKeyUsageOID.CLIENT_AUTH])
    other_root = make_cert(other_key, "Other Root", ca=True)
    files = {}
    for name, data in (("root", pem_cert(root)), ("server", pem_cert(server)), ("server_key", pem_key(server_key)),
                       ("client", pem_cert(client)), ("client_key", pem_key(client_key, b"secret")),
                       ("other_root", pem_cert(other_root)), ("other_key", pem_key(other_key))):
        path = d / f"{name}.pem"
        path.write_bytes(data)
        files[name] = str(path)
    return files


@contextlib.contextmanager
def tls_server(files, require_client_cert=False):
    """The mock server's HTTPS front; records the SNI names it was asked for."""
    if not require_client_cert:
        server = make_server(cfg(port="0", srv_tls_cert=files["server"], srv_tls_key=files["server_key"]),
                             echo, Loader(), host="127.0.0.1")
    else:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(files["server"], files["server_key"])
        ctx.load_verify_locations(files["root"])
        ctx.verify_mode = ssl.CERT_REQUIRED
        server = CmpHttpServer(0, echo, ssl_context=ctx, host="127.0.0.1")
    server.sni = []
    server.ssl_context.sni_callback = lambda sslobj, name, ctx: server.sni.append(name)
    with running(server):
        yield server


def test_tls_with_host_name_check(tls_pki):
    with tls_server(tls_pki) as server:
        t = transfer(server.port, server=f"localhost:{server.port}", tls_used=True, tls_trusted=tls_pki["root"])
        assert t.send(seq(b"a")) == seq(seq(b"a"))
        assert t.url == f"https://localhost:{server.port}/"
        t2 = transfer(server.port, server=f"https://127.0.0.1:{server.port}", tls_used=True,
                      tls_trusted=tls_pki["root"])
        assert t2.send(seq(b"b")) == seq(seq(b"b"))
        assert server.sni == ["localhost", None]  # never a port; no SNI for an IP address


def test_tls_host_option(tls_pki):
    with tls_server(tls_pki) as server:
        ok = transfer(server.port, tls_used=True, tls_trusted=tls_pki["root"], tls_host="localhost")
        assert ok.send(seq(b"a")) == seq(seq(b"a"))
        bad = transfer(server.port, server=f"localhost:{server.port}", tls_used=True,
                       tls_trusted=tls_pki["root"], tls_host="other.example")
        with pytest.raises(TransferError) as err:
            bad.send(seq(b"a"))
        assert "TLS server certificate verification failed" in str(err.value)
        assert "other.example" in str(err.value)
        assert server.sni == ["localhost", "other.example"]


def test_tls_untrusted_server_fails_only_with_tls_trusted(tls_pki):
    with tls_server(tls_pki) as server:
        with pytest.raises(TransferError, match="verification failed"):
            transfer(server.port, tls_used=True, tls_trusted=tls_pki["other_root"]).send(seq(b"a"))
        # like openssl: without -tls_trusted the server is not authenticated
        assert transfer(server.port, tls_used=True).send(seq(b"a")) == seq(seq(b"a"))


def test_plain_http_to_a_tls_server_fails_cleanly(tls_pki):
    with tls_server(tls_pki) as server:
        with pytest.raises(TransferError) as err:
            transfer(server.port, msg_timeout=5).send(seq(b"a"))
        assert "\n" not in str(err.value)


def test_tls_client_certificate(tls_pki):
    with tls_server(tls_pki, require_client_cert=True) as server:
        t = transfer(server.port, server=f"localhost:{server.port}", tls_used=True, tls_trusted=tls_pki["root"],
                     tls_cert=tls_pki["client"], tls_key=tls_pki["client_key"], tls_keypass="pass:secret")
        assert t.send(seq(b"a")) == seq(seq(b"a"))
        with pytest.raises(TransferError):
            transfer(server.port, tls_used=True, tls_trusted=tls_pki["root"], tls_host="localhost").send(seq(b"a"))


def test_tls_credential_errors(tls_pki):
    with pytest.raises(ConfigError, match="missing -tls_key option"):
        transfer(1, tls_used=True, tls_cert=tls_pki["client"])
    with pytest.raises(ConfigError, match="missing -tls_cert option"):
        transfer(1, tls_used=True, tls_key=tls_pki["other_key"])
    with pytest.raises(CredentialError, match="does not match the TLS certificate"):
        transfer(1, tls_used=True, tls_cert=tls_pki["client"], tls_key=tls_pki["other_key"])
    # TLS options are ignored without -tls_used, as openssl does
    assert transfer(1, tls_cert=tls_pki["client"]).ssl_context is None


def test_tls_key_that_cannot_leave_its_token(tls_pki):
    from cmpkit_file.credentials import load_certs

    class TokenKey:  # a Signer without private_key, as a PKCS#11 key is
        def __init__(self, public):
            self._public = public

        def public_key(self):
            return self._public

        def sign(self, data, digest, pss=False):
            raise AssertionError("not used for TLS")

    class Loader:
        def cert(self, source, what, passarg=None):
            certs = load_certs(source)
            return certs[0], certs[1:]

        def key(self, source, passarg, what):
            return TokenKey(x509.load_der_x509_certificate(self.cert(tls_pki["client"], "")[0]).public_key())

        def certs_option(self, name, what, passarg=None):
            return []

    values = cfg(server="h", tls_used=True, tls_cert=tls_pki["client"], tls_key="pkcs11:object=k")
    with pytest.raises(CredentialError, match="PKCS#11"):
        HttpTransport(values, Loader(), environ={})


# ------------------------------------------------------------------ a real proxy

@pytest.mark.slow
def test_through_tinyproxy(srv, tls_pki, tmp_path):
    tinyproxy = "/usr/bin/tinyproxy"
    if not os.path.exists(tinyproxy):
        pytest.skip("tinyproxy is not installed")
    with tls_server(tls_pki) as tls_srv:
        port = _free_port()
        log = tmp_path / "tinyproxy.log"
        conf = tmp_path / "tinyproxy.conf"
        conf.write_text(f"Port {port}\nListen 127.0.0.1\nTimeout 30\nAllow 127.0.0.1\nMaxClients 10\n"
                        f"LogFile \"{log}\"\nLogLevel Info\nConnectPort {tls_srv.port}\n")
        proc = subprocess.Popen([tinyproxy, "-d", "-c", str(conf)], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        try:
            _wait_for_port(port)
            proxy = f"http://127.0.0.1:{port}"
            t = transfer(srv.port, proxy=proxy)
            assert t.send(seq(b"a")) == seq(seq(b"a")) and t.send(seq(b"b")) == seq(seq(b"b"))
            t = transfer(srv.port, environ={"http_proxy": proxy}, server=f"127.0.0.1:{srv.port}/pkix/")
            assert t.send(seq(b"c")) == seq(seq(b"c"))
            t = transfer(tls_srv.port, environ={"https_proxy": proxy}, server=f"localhost:{tls_srv.port}",
                         tls_used=True, tls_trusted=tls_pki["root"])
            assert t.send(seq(b"d")) == seq(seq(b"d"))
            assert tls_srv.sni == ["localhost"]
            text = log.read_text()
            assert f"POST http://127.0.0.1:{srv.port}/ " in text
            assert f"POST http://127.0.0.1:{srv.port}/pkix/ " in text
            assert f"CONNECT localhost:{tls_srv.port} " in text
        finally:
            proc.terminate()
            proc.wait(10)


# ------------------------------------------------------------------ helpers

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for_port(port: int, timeout: float = 10) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port}")


class _Canned(socketserver.StreamRequestHandler):
    """Reads one request (headers and Content-Length body), answers with canned bytes, closes."""

    def handle(self):
        length = 0
        while True:
            line = self.rfile.readline()
            if line in (b"\r\n", b"\n", b""):
                break
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        self.rfile.read(length)
        self.wfile.write(self.server.answer)


@contextlib.contextmanager
def canned(answer: bytes):
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Canned)
    server.daemon_threads = True
    server.answer = answer
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


@contextlib.contextmanager
def silent_server():
    """Accepts connections (through the backlog) and never answers."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(5)
        yield s.getsockname()[1]
