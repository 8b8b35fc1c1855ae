"""Plain HTTP to ``-server`` without httpx: the path of a one-shot ``http://`` transaction.

httpx (with its cookie, auth, multipart and URL modules) and an HTTP client's SSL set-up cost
tens of milliseconds of every cold start, more than a whole transaction on loopback. For plain
``http`` without a proxy :class:`~cmpkit_http.client.HttpTransport` hands its exchanges to a
:class:`PlainSender` instead: the connection handling of
:class:`~cmpkit_http.transport.Http1Transport` (one kept connection, HTTP/1.0 keep-alive
honoured, header and body in one send with TCP_NODELAY, so no delayed-ACK stall) on a plain
socket, the request bytes http.client writes, and every failure mapped to the same one-line
:class:`~cmpkit.errors.TransferError` as the httpx path. A simple response (status line,
header fields, Content-Length) is read directly, as http.client reads it; any other (chunked,
folded fields, 1xx, a broken one) is handed, from its first byte, to http.client itself.
Neither http.client (with the email package) nor ssl is imported for a simple exchange. URLs whose host or path httpx would
rewrite (IDNA, percent-encoding, dot segments, IPv6) keep the httpx path, so nothing changes
for them; TLS and proxies do too.
"""
from __future__ import annotations

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
    """What :meth:`HttpTransport._read_body` reads of an httpx response: over http.client's
    response (an unusual answer), or over the bytes of a simple one (:class:`_Simple`)."""

    def __init__(self, sender: "PlainSender", sock, response, start: float, limit):
        self.sender, self.sock, self.response = sender, sock, response
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
            except OSError as exc:
                raise _Fail(f"response body: {exc!r}", exc) from exc
            except Exception as exc:
                if _is_http_exception(exc):  # only an unusual response has http.client's
                    raise _Fail(f"response body: {exc!r}", exc) from exc
                raise
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
        if not reusable_after(self.response):
            if self.sender.sock is self.sock:
                self.sender.drop()
            else:
                self.sock.close()
        self.response.close()


def _is_http_exception(exc) -> bool:
    import http.client
    return isinstance(exc, http.client.HTTPException)


# http.client's reading of a response, for the simple ones: a status line "HTTP/1.x NNN reason",
# at most 100 header fields "name: value" (no folding), a Content-Length, no Transfer-Encoding
_STATUS = rb"HTTP/1\.([01]) ([0-9]{3})(?: (.*))?"
_FIELD = rb"([!#$%&'*+.^_`|~0-9A-Za-z-]+):[ \t]*(.*)"


def _simple_head(head: bytes):
    """(version, status, reason, [(name, value)], length) as http.client reads ``head``, or
    None when it is not a simple one (then http.client itself reads it)."""
    lines = head.split(b"\r\n")
    m = re.fullmatch(_STATUS, lines[0])
    if m is None or len(lines) > 101 or max(map(len, lines)) > 65536:
        return None
    status = int(m.group(2))
    if not 200 <= status <= 599 or status in (204, 304):
        return None
    fields = []
    for line in lines[1:]:
        f = re.fullmatch(_FIELD, line)
        if f is None:
            return None
        fields.append((f.group(1).decode("latin-1"), f.group(2).decode("latin-1")))
    first = {}
    for name, value in fields:
        first.setdefault(name.lower(), value)
    length = first.get("content-length", "")
    if "transfer-encoding" in first or not length.isdigit() or not length.isascii():
        return None
    reason = (m.group(3) or b"").decode("latin-1").strip()
    return (10 if m.group(1) == b"0" else 11), status, reason, fields, first, int(length)


def _will_close(version: int, first: dict) -> bool:
    """http.client's HTTPResponse._check_close (first field of each name)."""
    conn = first.get("connection")
    if version == 11:
        return bool(conn and "close" in conn.lower())
    if first.get("keep-alive"):
        return False
    if conn and "keep-alive" in conn.lower():
        return False
    pconn = first.get("proxy-connection")
    return not (pconn and "keep-alive" in pconn.lower())


class _Simple:
    """A simple response read from the socket directly (see :func:`_simple_head`)."""

    def __init__(self, sender: "PlainSender", sock, head, rest: bytes, start: float, limit):
        version, self.status, self.reason, self.fields, first, length = head
        self.will_close = _will_close(version, first)
        self.version = version
        self.sender, self.sock, self.rest = sender, sock, rest
        if len(rest) > length:  # more than announced: the connection is not reused
            self.rest, self.will_close = rest[:length], True
        self.length = length  # what is still to be read, as http.client's HTTPResponse.length
        self.start, self.limit = start, limit

    def getheaders(self):
        return self.fields

    def read1(self, n: int) -> bytes:
        if self.rest:
            chunk, self.rest = self.rest[:n], self.rest[n:]
        elif self.length:
            chunk = self.sock.recv(min(n, self.length))
        else:
            chunk = b""
        self.length -= len(chunk)
        return chunk

    def isclosed(self) -> bool:
        return self.length == 0

    def close(self) -> None:
        pass


class _Replay:
    """A socket stand-in for http.client: the bytes already received, then the socket's."""

    def __init__(self, prefix: bytes, sock):
        self.prefix, self.sock = prefix, sock

    def makefile(self, mode, *args, **kwargs):
        import io

        replay = self

        class Raw(io.RawIOBase):
            def readable(self):
                return True

            def readinto(self, b):
                if replay.prefix:
                    n = min(len(b), len(replay.prefix))
                    b[:n], replay.prefix = replay.prefix[:n], replay.prefix[n:]
                    return n
                return replay.sock.recv_into(b)
        return io.BufferedReader(Raw())


class PlainSender:
    """HTTP/1.x POSTs to one ``http://host:port`` over at most one kept socket: the request in
    one send with TCP_NODELAY, a simple response read directly, any other by http.client."""

    def __init__(self, host: str, port: int, path: str, content_type: str, reason):
        """``reason``: the http client's text of an exception (``cmpkit_http.client._reason``)."""
        self.host, self.port, self.path = host.lower(), port, path
        self.content_type, self.reason = content_type, reason
        self.host_header = self.host if port == 80 else f"{self.host}:{port}"
        self.sock = None

    def drop(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    close = drop

    def _connection(self, timeout):
        import socket
        sock = self.sock
        if sock is not None and dropped(sock):
            self.drop()
            sock = None
        if sock is None:
            try:  # as http.client's connect; an ASCII host as bytes: no IDNA codec to load
                sock = socket.create_connection((self.host.encode("ascii"), self.port), timeout)
            except TimeoutError as exc:
                raise _Fail(f"connect timed out: {exc}", exc, "connect") from exc
            except OSError as exc:
                raise _Fail(str(exc), exc, "connect-error") from exc
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                pass
            self.sock = sock
        sock.settimeout(timeout)
        return sock

    def _request(self, t, request_der: bytes) -> bytes:
        """The request as http.client writes it (putrequest, putheader, endheaders(body))."""
        lines = [f"POST {self.path} HTTP/1.1"]
        for name, value in (("Host", self.host_header), ("User-Agent", "cmpkit"),
                            ("Accept", self.content_type), ("Accept-Encoding", "identity"),
                            ("Content-Type", self.content_type),
                            ("Connection", "close" if t.keep_alive == 0 else "keep-alive"),
                            ("Content-Length", str(len(request_der)))):
            lines.append(f"{name}: {value}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + request_der

    def _exchange(self, t, request_der: bytes, start: float, limit):
        sock = self._connection(limit)
        try:
            sock.sendall(self._request(t, request_der))  # header and body leave in one send
        except TimeoutError as exc:
            self.drop()
            raise _Fail(str(exc), exc, "read") from exc
        except OSError as exc:
            self.drop()
            raise _Fail(str(exc), exc) from exc
        buf = b""
        try:
            while b"\r\n\r\n" not in buf and len(buf) <= 2 * 65536:
                data = sock.recv(65536)
                if not data:
                    break
                buf += data
        except TimeoutError as exc:
            self.drop()
            raise _Fail(f"no response: {exc}", exc, "read") from exc
        except OSError as exc:
            if not buf:
                self.drop()
                raise _Fail(f"bad or no HTTP response: {exc!r}", exc) from exc
        head, sep, rest = buf.partition(b"\r\n\r\n")
        simple = _simple_head(head) if sep else None
        if simple is not None:
            return _Response(self, sock, _Simple(self, sock, simple, rest, start, limit), start, limit)
        return self._by_http_client(sock, buf, start, limit)

    def _by_http_client(self, sock, received: bytes, start: float, limit):
        """An unusual response: http.client reads it, from its first byte."""
        import http.client
        response = http.client.HTTPResponse(_Replay(received, sock), method="POST")
        try:
            response.begin()
        except TimeoutError as exc:
            self.drop()
            raise _Fail(f"no response: {exc}", exc, "read") from exc
        except (http.client.HTTPException, OSError) as exc:
            self.drop()
            raise _Fail(f"bad or no HTTP response: {exc!r}", exc) from exc
        return _Response(self, sock, response, start, limit)

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


def reusable_after(response) -> bool:
    """May the connection of an http.client ``response`` carry the next request? Only when the
    server keeps it and the body was read whole (both transports' rule)."""
    return not response.will_close and (response.isclosed() or response.length == 0)


def dropped(sock) -> bool:
    """Has the server closed (or written to) an idle connection? Then it cannot be reused."""
    import select
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(readable)
