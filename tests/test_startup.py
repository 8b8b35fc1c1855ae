"""Start-up cost of a one-shot run (issue 17): plain http goes without httpx yet sends what the
httpx path sends and fails with the same messages; heavy modules load only when used."""
import socket
import threading

import pytest

from cmpkit.app.credentials import Loader
from cmpkit.errors import TransferError
from cmpkit_http.client import HttpTransport
from cmpkit_http.plain import simple_url

from .test_http import cfg


class Capture:
    """A one-connection server that records the raw request and answers with ``answer``."""

    def __init__(self, answer: bytes):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(1)
        self.port, self.request, self.answer = self.sock.getsockname()[1], b"", answer
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        conn, _ = self.sock.accept()
        with conn:
            conn.settimeout(10)
            while b"\r\n\r\n" not in self.request:
                self.request += conn.recv(65536)
            head, _, body = self.request.partition(b"\r\n\r\n")
            length = int(next(v for k, _, v in (h.partition(b":") for h in head.split(b"\r\n"))
                              if k.lower() == b"content-length"))
            while len(body) < length:
                body += conn.recv(65536)
            self.request = head + b"\r\n\r\n" + body
            conn.sendall(self.answer)
        self.sock.close()


def exchange(answer: bytes, plain: bool, **values):
    srv = Capture(answer)
    t = HttpTransport(cfg(server=f"127.0.0.1:{srv.port}/cmp/x", **values), Loader(), environ={})
    if not plain:  # the httpx path, as taken with TLS or a proxy
        t._plain = None
    else:
        assert t._plain is not None
    try:
        try:
            return t.send(b"\x30\x03\x02\x01\x05"), srv
        except TransferError as exc:
            return str(exc).replace(str(srv.port), "PORT"), srv
    finally:
        t.close()
        srv.thread.join(10)


OK = b"HTTP/1.0 200 OK\r\nContent-Type: application/pkixcmp\r\nContent-Length: 4\r\n\r\n\x30\x02\x05\x00"


@pytest.mark.parametrize("keep_alive", [None, 0])
def test_plain_http_sends_the_bytes_the_httpx_path_sends(keep_alive):
    values = {} if keep_alive is None else {"keep_alive": keep_alive}
    (body_p, plain), (body_h, via_httpx) = exchange(OK, True, **values), exchange(OK, False, **values)
    assert body_p == body_h == b"\x30\x02\x05\x00"
    assert plain.request == via_httpx.request.replace(str(via_httpx.port).encode(), str(plain.port).encode())
    assert plain.request.startswith(b"POST /cmp/x HTTP/1.1\r\nHost: 127.0.0.1:")


@pytest.mark.parametrize("answer", [
    b"HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nno",
    b"HTTP/1.0 200 OK\r\nContent-Type: text/html\r\nContent-Length: 2\r\n\r\nno",
    b"HTTP/1.0 200 OK\r\nContent-Type: application/pkixcmp\r\nContent-Length: 9\r\n\r\n\x30\x02",
    b"HTTP/1.0 200 OK\r\nContent-Type: application/pkixcmp\r\nContent-Length: 0\r\n\r\n",
    b"garbage\r\n\r\n",
    b"",
    b"HTTP/1.1 200 OK\r\nContent-Type: application/pkixcmp\r\n",  # cut in the header
    b"HTTP/1.1 500 \xe9chec\r\nContent-Length: 0\r\n\r\n",
    b"HTTP/1.1  200 OK\r\nContent-Length: 2\r\n\r\n\x30\x00",
])
def test_plain_http_fails_as_the_httpx_path_does(answer):
    plain, via_httpx = exchange(answer, True)[0], exchange(answer, False)[0]
    assert isinstance(plain, str) and plain == via_httpx


@pytest.mark.parametrize("answer", [
    OK,
    b"HTTP/1.1 200 OK\r\nContent-Type: application/pkixcmp\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"2\r\n\x30\x02\r\n2\r\n\x05\x00\r\n0\r\n\r\n",  # chunked: read by http.client
    b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Type: application/pkixcmp\r\nContent-Length: 4\r\n\r\n"
    b"\x30\x02\x05\x00",
    b"HTTP/1.0 200 OK\r\nContent-Type: application/pkixcmp;\r\n charset=x\r\nContent-Length: 4\r\n\r\n\x30\x02\x05\x00",
    b"HTTP/1.0 200 OK\r\ncontent-type:application/pkixcmp \r\nContent-Length: 4\r\n\r\n\x30\x02\x05\x00",
    b"HTTP/1.0 200 OK\r\nContent-Type: application/pkixcmp\r\n\r\n\x30\x02\x05\x00",  # until the end
    b"HTTP/1.1 200 OK\r\nContent-Type: application/pkixcmp\r\nContent-Length: 4\r\n\r\n\x30\x02\x05\x00extra",
    b"HTTP/1.0 200 OK\r\nContent-Type: application/pkixcmp\r\nContent-Length: x\r\n\r\n\x30\x00",
])
def test_plain_http_answers_as_the_httpx_path(answer):
    assert exchange(answer, True)[0] == exchange(answer, False)[0]


def test_plain_http_connection_refused_as_the_httpx_path():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    texts = []
    for plain in (True, False):
        t = HttpTransport(cfg(server=f"127.0.0.1:{port}"), Loader(), environ={})
        if not plain:
            t._plain = None
        with pytest.raises(TransferError) as exc:
            t.send(b"\x30\x00")
        texts.append(str(exc.value))
        t.close()
    assert texts[0] == texts[1] and "cannot connect to" in texts[0]


@pytest.mark.parametrize("host,path,simple", [
    ("127.0.0.1", "/", True), ("cmp.example.org", "/pkix/?a=b", True), ("Host-1", "/a;b=c/@:x", True),
    ("127.0.0.01", "/", False), ("256.1.1.1", "/", False), ("b\u00fccher.example", "/", False),
    ("::1", "/", False), ("h", "/a/../b", False), ("h", "/a/./b", False), ("h", "/a b", False),
    ("h", "/%41", False), ("h_1", "/", False),
])
def test_simple_url_only_where_httpx_changes_nothing(host, path, simple):
    assert simple_url(host, path) is simple
    if simple:
        import httpx
        url = httpx.URL(f"http://{host}:8080{path}")
        assert (url.host, url.raw_path.decode()) == (host.lower(), path)


@pytest.mark.slow
def test_a_pbm_enrollment_in_process_imports_neither_httpx_nor_stevedore(tmp_path):
    """After one discovery, an in-process run with -secret reads no entry points and needs no
    httpx, no path validation (nothing to validate) and no PKCS#11 URI parser."""
    from .pki import build
    from .tools import imports_of_pbm_enrollment
    imported = imports_of_pbm_enrollment(build(tmp_path), tmp_path)
    for module in ("httpx", "stevedore", "importlib.metadata", "cmpkit.core.verify.policy", "cmpkit_pkcs11.uri"):
        assert module not in imported


@pytest.mark.parametrize("text", [
    "/CN=leaf", "/", "/CN=a/O=b/OU=c/C=DE/ST=x/L=y", "/CN=a+O=b", "/O=z+CN=a+OU=m/C=US", "/CN=\u00fc\u00df\u4e2d",
    "/emailAddress=a@b.c/DC=example/DC=com", "/serialNumber=123/dnQualifier=q", "/CN=a\\/b\\+c\\\\d",
    "/CN=", "/CN=x/foo=bar/O=o", "/2.5.4.3=x/1.2.3.4=y", "/C=D", "/CN=a+CN=a", "/jurisdictionC=DE/CN=x",
    "/CN=" + "x" * 65, "/C=D\u00e9", "/emailAddress=\u00fc@x", "/CN=\udcff", "/1.2.99999999999999999999=x",
    "CN=x", "/CN", "/CN=a\\", "/OU=m+O=z+CN=a+L=q+ST=r+title=t", "/DC=b+DC=a+DC=c/CN=x+emailAddress=e@x",
])
def test_parse_dn_der_is_parse_dn_public_bytes(text, caplog):
    """The DER encoded without cryptography.x509 equals cryptography's encoding of parse_dn's
    Name, with the same warnings, or both fail with the same message."""
    from cmpkit.core.names import parse_dn, parse_dn_der
    from cmpkit.errors import ConfigError
    results = []
    for parse in (lambda: parse_dn(text, "-subject").public_bytes(), lambda: parse_dn_der(text, "-subject")):
        caplog.clear()
        try:
            results.append((parse(), [r.getMessage() for r in caplog.records]))
        except ConfigError as exc:
            results.append((str(exc), [r.getMessage() for r in caplog.records]))
    assert results[0] == results[1]
