"""An httpx transport on the standard library's http.client: one kept connection, HTTP/1.0 keep-alive honoured.

Why not httpx's default transport: its HTTP/1.1 engine (httpcore on h11) closes every
connection whose response says ``HTTP/1.0``, even with ``Connection: keep-alive``, and that is
exactly how ``openssl cmp -port`` answers. openssl's server keeps a transaction only while its
connection lasts, so the certConf that followed on a new connection was refused
("unexpected pkibody"). http.client keeps such connections, sends header and body in one
segment and sets TCP_NODELAY, so there is no delayed-ACK stall either.

httpx stays the interface (request building, headers, timeouts, the exception tree); this
module only moves bytes, mapping socket, TLS and protocol failures to httpx's exceptions.
"""
from __future__ import annotations

import http.client
import ssl
from typing import Optional

import httpx

from .plain import dropped, reusable_after  # the connection rules of both transports


class Http1Transport(httpx.BaseTransport):
    """HTTP/1.x over at most one persistent connection, direct or through an HTTP proxy.

    :param ssl_context: the TLS client context for ``https`` URLs (None: plain HTTP only).
    :param proxy: ``http://host:port`` of a proxy, or None. Plain HTTP goes to it with an
        absolute request target; HTTPS is tunnelled with CONNECT.
    """

    def __init__(self, ssl_context: Optional[ssl.SSLContext] = None, proxy: Optional[str] = None):
        self.ssl_context = ssl_context
        self.proxy = httpx.URL(proxy) if proxy else None
        self._conn: Optional[http.client.HTTPConnection] = None
        self._origin = None

    # -- connections
    def _new_connection(self, url: httpx.URL, timeout) -> http.client.HTTPConnection:
        host, port = url.host, url.port or (443 if url.scheme == "https" else 80)
        via = (self.proxy.host, self.proxy.port or 80) if self.proxy else (host, port)
        if url.scheme == "https":
            context = self.ssl_context or ssl.create_default_context()
            conn = _HTTPSConnection(via[0], via[1], timeout=timeout, context=context)
        else:
            conn = _HTTPConnection(via[0], via[1], timeout=timeout)
        if self.proxy and url.scheme == "https":
            conn.set_tunnel(host, port)
        try:
            conn.connect()
        except TimeoutError as exc:
            raise httpx.ConnectTimeout(f"connect timed out: {exc}") from exc
        except OSError as exc:
            conn.close()
            if self.proxy and str(exc).startswith("Tunnel connection failed"):
                raise httpx.ProxyError(str(exc)) from exc
            raise httpx.ConnectError(str(exc)) from exc
        return conn

    def _connection(self, url: httpx.URL, timeout) -> http.client.HTTPConnection:
        origin = (url.scheme, url.host, url.port)
        conn = self._conn
        if conn is not None and (origin != self._origin or conn.sock is None or dropped(conn.sock)):
            self._drop()
            conn = None
        if conn is None:
            conn = self._new_connection(url, timeout)
            self._conn, self._origin = conn, origin
        conn.sock.settimeout(timeout)
        return conn

    def _drop(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    # -- the httpx contract
    def handle_request(self, request: httpx.Request, lean: bool = False) -> httpx.Response:
        """The httpx contract; with ``lean`` (cmpkit's own client, a :class:`LeanRequest`) the
        http.client response comes back as a :class:`LeanResponse` instead of an httpx.Response."""
        timeouts = request.extensions.get("timeout", {})
        conn = self._connection(request.url, timeouts.get("connect"))
        conn.sock.settimeout(timeouts.get("read"))
        tunnelled = self.proxy is not None and request.url.scheme == "https"
        target = str(request.url) if self.proxy and not tunnelled else request.url.raw_path.decode("ascii")
        try:
            conn.putrequest(request.method, target, skip_host=True, skip_accept_encoding=True)
            for name, value in request.headers.raw:
                conn.putheader(name.decode("latin-1"), value.decode("latin-1"))
            conn.endheaders(request.read())  # header and body leave in one send
        except TimeoutError as exc:
            self._drop()
            raise httpx.WriteTimeout(str(exc)) from exc
        except OSError as exc:
            self._drop()
            raise httpx.WriteError(str(exc)) from exc
        try:
            response = conn.getresponse()
        except TimeoutError as exc:
            self._drop()
            raise httpx.ReadTimeout(f"no response: {exc}") from exc
        except (http.client.HTTPException, OSError) as exc:
            self._drop()
            raise httpx.RemoteProtocolError(f"bad or no HTTP response: {exc!r}") from exc
        version = b"HTTP/1.0" if response.version == 10 else b"HTTP/1.1"
        if lean:
            return LeanResponse(_Body(self, conn, response), version)
        return httpx.Response(response.status, headers=response.getheaders(),
                              stream=_Body(self, conn, response),
                              extensions={"http_version": version,
                                          "reason_phrase": response.reason.encode("latin-1", "replace")})

    def close(self) -> None:
        self._drop()


class LeanRequest:
    """What handle_request reads of an httpx.Request, given directly: method, url (an httpx.URL),
    the header lines (``headers.raw``), the body (``read()``) and the timeouts (``extensions``)."""

    __slots__ = ("method", "url", "headers", "_body", "extensions")

    def __init__(self, method: str, url: httpx.URL, lines: list, body: bytes, extensions: dict):
        self.method, self.url, self._body, self.extensions = method, url, body, extensions
        self.headers = _RawLines(lines)

    def read(self) -> bytes:
        return self._body


class _RawLines:
    __slots__ = ("raw",)

    def __init__(self, raw: list):
        self.raw = raw


class LeanResponse:
    """What cmpkit's client reads of an httpx.Response, straight from http.client's: status_code,
    reason_phrase, http_version, headers.get (case-insensitive, repeated fields joined with ", "
    as httpx joins them), iter_raw() and close(); the body's chunks and errors are _Body's."""

    def __init__(self, body: "_Body", version: bytes):
        self._body, response = body, body.response
        self.status_code = response.status
        self.reason_phrase = response.reason.encode("latin-1", "replace").decode("ascii", errors="ignore")
        self.http_version = version.decode("ascii")
        self.headers = _HeaderView(response.msg)

    def iter_raw(self):
        return iter(self._body)

    def close(self) -> None:
        self._body.close()


class _HeaderView:
    __slots__ = ("_msg",)

    def __init__(self, msg):
        self._msg = msg

    def get(self, name: str, default=None):
        values = self._msg.get_all(name)
        return ", ".join(values) if values else default


class _OneSend:
    """http.client sends a request's header block and its body in two send() calls (two
    segments with TCP_NODELAY, two syscalls, the peer woken twice); a bytes body is appended
    to the header block here so that the request leaves in one send (openssl writes two)."""

    def _send_output(self, message_body=None, encode_chunked=False):
        if isinstance(message_body, (bytes, bytearray)) and not encode_chunked:
            self._buffer.extend((b"", b""))
            msg = b"\r\n".join(self._buffer) + message_body
            del self._buffer[:]
            self.send(msg)
            return
        super()._send_output(message_body, encode_chunked=encode_chunked)


class _HTTPConnection(_OneSend, http.client.HTTPConnection):
    pass


class _HTTPSConnection(_OneSend, http.client.HTTPSConnection):
    pass


class _Body(httpx.SyncByteStream):
    """A response body read in chunks; the connection is kept only if the body was read whole."""

    def __init__(self, transport: Http1Transport, conn, response: http.client.HTTPResponse):
        self.transport, self.conn, self.response = transport, conn, response

    def __iter__(self):
        while True:
            try:
                chunk = self.response.read1(65536)
            except TimeoutError as exc:
                raise httpx.ReadTimeout(f"response body: {exc}") from exc
            except (http.client.HTTPException, OSError) as exc:
                raise httpx.ReadError(f"response body: {exc!r}") from exc
            if not chunk:
                if self.response.length:  # http.client's read1 does not raise IncompleteRead
                    raise httpx.ReadError(f"response body truncated: {self.response.length} bytes "
                                          "of its Content-Length missing")
                return
            yield chunk

    def close(self) -> None:
        if not reusable_after(self.response):
            if self.transport._conn is self.conn:
                self.transport._drop()
            else:
                self.conn.close()
        self.response.close()


