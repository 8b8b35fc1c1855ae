"""Plain HTTP to ``-server`` without httpx: the path of a one-shot ``http://`` transaction.

httpx (with its cookie, auth, multipart and URL modules) and an HTTP client's SSL set-up cost
tens of milliseconds of every cold start, more than a whole transaction on loopback. For plain
``http`` without a proxy :class:`~cmpkit_http.client.HttpTransport` hands its exchanges to a
:class:`PlainSender` instead: the same http.client connection handling as
:class:`~cmpkit_http.transport.Http1Transport` (one kept connection, HTTP/1.0 keep-alive
honoured, header and body in one send with TCP_NODELAY, so no delayed-ACK stall), the same
request headers in the same order, and every failure mapped to the same one-line
:class:`~cmpkit.errors.TransferError` as the httpx path. URLs whose host or path httpx would
rewrite (IDNA, percent-encoding, dot segments, IPv6) keep the httpx path, so nothing changes
for them; TLS and proxies do too.
"""
from __future__ import annotations

import http.client
import re
import time

from cmpkit.errors import TransferError

# what httpx leaves as it is: an ASCII host name or IPv4 address, and a path (with query) of
# unreserved characters and sub-delimiters without dot segments
_HOST = r"[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\Z"
_PATH = r"/[A-Za-z0-9/._~!$&'()*+,;=:@-]*(?:\?[A-Za-z0-9/._~!$&'()*+,;=:@?-]*)?\Z"


def _ipv4_ok(host: str) -> bool:
    """httpx checks a dotted-quad host as an IPv4 address (no octet > 255, no leading zero)."""
    parts = host.split(".")
    if len(parts) != 4 or not all(p.isdigit() for p in parts):
        return True  # not IPv4-style: a host name
    return all(int(p) <= 255 and (p == "0" or not p.startswith("0")) for p in parts)


def simple_url(host: str, path: str) -> bool:
    """True when httpx would take ``host`` and ``path`` unchanged (then no httpx is needed)."""
    if not host or not re.match(_HOST, host) or not _ipv4_ok(host) or not re.match(_PATH, path):
        return False
    segments = path.split("?", 1)[0].split("/")
    return "." not in segments and ".." not in segments


class _Slow(Exception):
    """The round trip exceeded its time limit while the body was being read."""


class _Fail(Exception):
    """A transfer failure as httpx's exception would have it: ``timeout`` (None: not one,
    "connect", "read") and the text and cause that make its message."""

    def __init__(self, text: str, cause: BaseException, timeout=None):
        super().__init__(text)
        self.__cause__, self.timeout = cause, timeout


class _Response:
    """What :meth:`HttpTransport._read_body` reads of an httpx response, over http.client's."""

    def __init__(self, sender: "PlainSender", conn, response, start: float, limit):
        self.sender, self.conn, self.response = sender, conn, response
        self.start, self.limit = start, limit
        self.status_code = response.status
        self.reason_phrase = response.reason.encode("latin-1", "replace").decode("ascii", errors="ignore")
        self.http_version = "HTTP/1.0" if response.version == 10 else "HTTP/1.1"
        headers: dict = {}
        for name, value in response.getheaders():  # several of a name: joined, as httpx's get
            key = name.lower()
            headers[key] = f"{headers[key]}, {value}" if key in headers else value
        self.headers = headers

    def iter_raw(self):
        while True:
            try:
                chunk = self.response.read1(65536)
            except TimeoutError as exc:
                raise _Fail(f"response body: {exc}", exc, "read") from exc
            except (http.client.HTTPException, OSError) as exc:
                raise _Fail(f"response body: {exc!r}", exc) from exc
            if not chunk:
                if self.response.length:  # http.client's read1 does not raise IncompleteRead
                    text = f"response body truncated: {self.response.length} bytes of its Content-Length missing"
                    raise _Fail(text, None)
                return
            yield chunk
            # checked after the reader took the chunk, as the httpx path does
            if self.limit is not None and time.monotonic() - self.start > self.limit:
                raise _Slow()

    def close(self) -> None:
        whole = self.response.isclosed() or self.response.length == 0
        if self.response.will_close or not whole:
            if self.sender.conn is self.conn:
                self.sender.drop()
            else:
                self.conn.close()
        self.response.close()


class PlainSender:
    """HTTP/1.x POSTs to one ``http://host:port`` over at most one kept connection."""

    def __init__(self, host: str, port: int, path: str, content_type: str, reason):
        """``reason``: the http client's text of an exception (``cmpkit_http.client._reason``)."""
        self.host, self.port, self.path = host.lower(), port, path
        self.content_type, self.reason = content_type, reason
        self.host_header = self.host if port == 80 else f"{self.host}:{port}"
        self.conn = None

    def drop(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    close = drop

    def _connection(self, timeout):
        conn = self.conn
        if conn is not None and (conn.sock is None or _dropped(conn.sock)):
            self.drop()
            conn = None
        if conn is None:
            conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
            try:
                conn.connect()
            except TimeoutError as exc:
                raise _Fail(f"connect timed out: {exc}", exc, "connect") from exc
            except OSError as exc:
                conn.close()
                raise _Fail(str(exc), exc, "connect-error") from exc
            self.conn = conn
        conn.sock.settimeout(timeout)
        return conn

    def _exchange(self, t, request_der: bytes, start: float, limit):
        conn = self._connection(limit)
        try:
            conn.putrequest("POST", self.path, skip_host=True, skip_accept_encoding=True)
            for name, value in (("Host", self.host_header), ("User-Agent", "cmpkit"),
                                ("Accept", self.content_type), ("Accept-Encoding", "identity"),
                                ("Content-Type", self.content_type),
                                ("Connection", "close" if t.keep_alive == 0 else "keep-alive"),
                                ("Content-Length", str(len(request_der)))):
                conn.putheader(name, value)
            conn.endheaders(request_der)  # header and body leave in one send
        except TimeoutError as exc:
            self.drop()
            raise _Fail(str(exc), exc, "read") from exc
        except OSError as exc:
            self.drop()
            raise _Fail(str(exc), exc) from exc
        try:
            response = conn.getresponse()
        except TimeoutError as exc:
            self.drop()
            raise _Fail(f"no response: {exc}", exc, "read") from exc
        except (http.client.HTTPException, OSError) as exc:
            self.drop()
            raise _Fail(f"bad or no HTTP response: {exc!r}", exc) from exc
        return _Response(self, conn, response, start, limit)

    def send(self, t, request_der: bytes, timeout=None) -> bytes:
        """One round trip for :meth:`cmpkit_http.client.HttpTransport.send` (``t``)."""
        limit, source = t._timeout(timeout)
        start = time.monotonic()
        where = t.url
        try:
            response = self._exchange(t, request_der, start, limit)
            try:
                return t._read_body(response, start, None, where)  # the time limit: in iter_raw
            finally:
                response.close()
        except _Slow:
            raise TransferError(_timeout_text("read", limit, source, where)) from None
        except _Fail as exc:
            if exc.timeout in ("connect", "read"):
                raise TransferError(_timeout_text(exc.timeout, limit, source, where)) from None
            if exc.timeout == "connect-error":
                raise TransferError(f"cannot connect to {where}: {self.reason(exc)}") from None
            raise TransferError(f"error exchanging messages with {where}: {self.reason(exc)}") from None


def _timeout_text(kind: str, limit, source: str, where: str) -> str:
    """:func:`cmpkit_http.client._timeout_text` for a connect or read timeout."""
    if source == "-total_timeout":
        return f"total timeout (-total_timeout) exceeded while exchanging a message with {where}"
    seconds = f"{limit:g} s" if limit is not None else "the time allowed"
    if kind == "connect":
        return f"cannot connect to {where} within {seconds} (-msg_timeout)"
    return f"no response within {seconds} (-msg_timeout) from {where}"


def _dropped(sock) -> bool:
    """Has the server closed (or written to) an idle connection? Then it cannot be reused."""
    import select
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(readable)
