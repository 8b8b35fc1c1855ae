"""The HTTP front of the mock server (-port, -max_msgs): POSTed DER requests in, DER responses out.

Like ``openssl cmp -port``, it listens on all interfaces (IPv6 and IPv4 where possible),
prints ``ACCEPT <addr>:<port> PID=<pid>`` on stdout once it accepts connections (``-port 0``
picks a free port), and answers each POST with ``Content-Type: application/pkixcmp``.
Unlike openssl's it serves several clients at once (one asyncio loop; the handler answers
one request at a time), and may serve HTTPS with the cmpkit extension options
``-srv_tls_cert``/``-srv_tls_key``/``-srv_tls_keypass``.

Like openssl's (3.0, ``apps/lib/http_server.c`` and ``cmp_server()`` in ``apps/cmp.c``) it
serves only the paths in :data:`SERVED_PATHS`, so that a client is tested against the path it
will use: the request target must begin with ``/`` (else ``400``), is %-decoded (a malformed
escape is ``400``), loses that ``/``, any further leading ``/`` and a doubled trailing ``/``,
and must then be, case-sensitively, empty or ``pkix/`` (``POST /``, ``POST /pkix/``,
``POST //pkix//`` and ``POST /%70kix/`` are served; ``/pkix``, ``/PKIX/``, ``/pkix/?q`` are
not). Another path gets ``404 Not Found``, checked after the body was read and found DER as
openssl does, and, as with openssl, counts as a message for ``-max_msgs``.

Requests that are not a single DER SEQUENCE, lack a Content-Length or exceed
:data:`MAX_REQUEST` bytes get ``400 Bad Request`` (and the connection is closed), other
methods ``405``/``501``; the server keeps serving. ``-max_msgs N`` stops it after N CMP
messages were answered. Nothing is printed for a client's faults beyond a log line.

No client can hold the server (:class:`Limits`, set with the extension options below): a
request must arrive whole, head and body, within ``-srv_request_timeout`` seconds of its
first byte (else ``408``), a connection may wait ``-srv_idle_timeout`` seconds between
requests, and beyond ``-srv_max_conns`` open connections a new one gets ``503`` at once.
"""
from __future__ import annotations

import asyncio
import logging
import os
import re
import socket
import ssl
import sys
import threading
from typing import Callable, Optional

from cmpkit.errors import ConfigError, CredentialError

log = logging.getLogger("cmpkit.server")

CONTENT_TYPE = "application/pkixcmp"
MAX_REQUEST = 100 * 1024  # bytes; a CMP request is a few kB
MAX_HEAD = 64 * 1024  # bytes of request line and headers
MAX_HEADERS = 100  # header lines, as http.client allows
_HEAD_END = re.compile(rb"\r?\n\r?\n")
_HEX = b"0123456789abcdefABCDEF"
SERVED_PATHS = ("", "pkix/")  # what openssl cmp -port serves (apps/cmp.c), compared case-sensitively
_OTHER_METHODS = {"GET", "HEAD", "PUT", "DELETE", "OPTIONS", "PATCH"}  # answered 405, others 501


def der_sequence_length(data: bytes) -> Optional[int]:
    """Total length of the DER SEQUENCE at the start of ``data`` (None if it is not one)."""
    if len(data) < 2 or data[0] != 0x30:
        return None
    first = data[1]
    if first < 0x80:
        return 2 + first
    n = first & 0x7F
    if n == 0 or n > 4 or len(data) < 2 + n:
        return None
    return 2 + n + int.from_bytes(data[2:2 + n], "big")


def request_path(target: bytes) -> Optional[str]:
    """The path that openssl's HTTP server derives from a request target, None if it refuses it (400).

    As ``http_server_get_asn1_req()``: the target must begin with ``/``, which is dropped; it is
    %-decoded in place (a ``%`` not followed by two hex digits is an error); then every further
    leading ``/`` is dropped and a trailing ``//`` (or ``///``...) shortened to one ``/``, that
    last step on the buffer as it was before decoding, as openssl's C does.
    """
    if not target.startswith(b"/"):
        return None
    buf = bytearray(target[1:]) + b"\0"
    end = len(buf) - 1  # openssl's 'end' stays at the end of the target as it was before decoding
    out = i = 0
    while i < end:
        if buf[i] != 0x25:  # '%'
            buf[out] = buf[i]
            i += 1
        elif i + 2 < end and buf[i + 1] in _HEX and buf[i + 2] in _HEX:
            buf[out] = int(buf[i + 1:i + 3], 16)
            i += 3
        else:
            return None
        out += 1
    buf[out] = 0
    start = 0
    while buf[start] == 0x2F:  # '/'
        start += 1
    while end >= start + 2 and buf[end - 2] == 0x2F and buf[end - 1] == 0x2F:
        end -= 1
    buf[end] = 0
    return bytes(buf[start:buf.index(0, start)]).decode("latin-1")


def _header_fields(block: bytes):
    """{lower-case name: value} of the header lines (RFC 9112 5), or a str saying what is wrong.

    Written out rather than through http.client.parse_headers, whose email parser is most of
    the cost of a small request; obsolete line folding is refused, as RFC 9112 allows.
    """
    fields: dict = {}
    if not block:
        return fields
    lines = block.split(b"\n")
    if len(lines) > MAX_HEADERS:
        return f"over {MAX_HEADERS} header lines"
    for line in lines:
        name, colon, value = line.rstrip(b"\r").partition(b":")
        if not colon or not name or name != name.strip():
            return f"malformed header line '{line[:60].decode('latin-1')}'"
        key = name.decode("latin-1").lower()
        value = value.strip().decode("latin-1")
        if fields.setdefault(key, value) != value and key in ("content-length", "transfer-encoding"):
            return f"conflicting {name.decode('latin-1')} headers"
    return fields


class Limits:
    """What one client may cost the server: seconds per request (head and body, from its
    first byte), seconds of silence between requests, and connections open at once."""

    __slots__ = ("request_timeout", "idle_timeout", "max_connections")

    def __init__(self, request_timeout: float = 10, idle_timeout: float = 60, max_connections: int = 100):
        self.request_timeout, self.idle_timeout, self.max_connections = request_timeout, idle_timeout, max_connections


class _Connection(asyncio.Protocol):
    """One client connection: reads requests (request line, headers, Content-Length body), answers each."""

    def __init__(self, server: "CmpHttpServer"):
        self.server = server
        self.transport = None
        self.peer = "?"
        self.buffer = bytearray()
        self.request = None  # (request line, body length, keep alive) of a request whose body is awaited
        self.closing = False
        self.timer = None  # the idle timer between requests, or the deadline of the request under way
        self.in_request = False

    # -- connection events
    def connection_made(self, transport):
        self.transport = transport
        peer = transport.get_extra_info("peername")
        self.peer = peer[0] if peer else "?"
        self.server.connections += 1
        if len(self.server.open_connections) >= self.server.limits.max_connections:
            log.warning("HTTP %s: %d connections open (-srv_max_conns), refusing another", self.peer,
                        len(self.server.open_connections))
            self._send(503, "Service Unavailable", close=True)
            return
        self.server.open_connections.add(self)
        self._between_requests()

    def connection_lost(self, exc):
        if self.timer is not None:
            self.timer.cancel()
        self.server.open_connections.discard(self)
        if self.request is not None and not self.closing:
            log.warning("truncated HTTP request from %s: %d of %d bytes", self.peer, len(self.buffer),
                        self.request[1])

    def data_received(self, data):
        if self.closing:
            return
        if not self.in_request:
            self._request_started()
        self.buffer += data
        self._process()

    def _set_timer(self, seconds: float, callback) -> None:
        if self.timer is not None:
            self.timer.cancel()
        self.timer = self.server.loop.call_later(seconds, callback)

    def _between_requests(self):
        """No request under way: the idle timer runs (bytes arriving do not restart it)."""
        self.in_request = False
        self._set_timer(self.server.limits.idle_timeout, self._idle)

    def _request_started(self):
        """The first byte of a request: it must be complete within -srv_request_timeout."""
        self.in_request = True
        self._set_timer(self.server.limits.request_timeout, self._too_slow)

    def _idle(self):
        log.debug("HTTP %s: idle for %s s, closing the connection", self.peer, self.server.limits.idle_timeout)
        self.closing = True
        self.transport.close()

    def _too_slow(self):
        self._reject(408, "Request Timeout", f"request not complete within {self.server.limits.request_timeout} s "
                     "(-srv_request_timeout)")

    # -- requests
    def _process(self):
        while not self.closing:
            if self.request is None:
                end = _HEAD_END.search(self.buffer)
                if end is None:
                    if len(self.buffer) > MAX_HEAD:
                        self._reject(431, "Request Header Fields Too Large", "request head too long")
                    return
                head = bytes(self.buffer[:end.start()])
                del self.buffer[:end.end()]
                self.request = self._read_head(head)
                if self.request is None:
                    return
            length = self.request[1]
            if len(self.buffer) < length:
                return
            body = bytes(self.buffer[:length])
            del self.buffer[:length]
            self._answer(body)
            if not self.closing:  # the next request's deadline starts with its first byte
                self._request_started() if self.buffer else self._between_requests()

    def _read_head(self, head: bytes):
        """(request line, Content-Length, keep-alive) of a POST head, or None after rejecting it."""
        line, _, rest = head.partition(b"\n")
        line = line.rstrip(b"\r")
        words = line.split()
        shown = line[:80].decode("latin-1")
        if len(words) != 3 or not words[2].startswith(b"HTTP/"):
            return self._reject(400, "Bad Request", f"bad request line '{shown}'")
        try:
            major, minor = (int(n) for n in words[2][5:].split(b".", 1))
        except ValueError:
            return self._reject(400, "Bad Request", f"bad HTTP version in '{shown}'")
        if major != 1:
            return self._reject(505, "HTTP Version Not Supported", f"HTTP version of '{shown}'")
        headers = _header_fields(rest)
        if isinstance(headers, str):
            return self._reject(*((431, "Request Header Fields Too Large") if headers.startswith("over")
                                  else (400, "Bad Request")), headers)
        method = words[0].decode("latin-1")
        if method != "POST":
            if method in _OTHER_METHODS:
                return self._reject(405, "Method Not Allowed", f"{method}: only POST is served", ("Allow: POST",))
            return self._reject(501, "Not Implemented", f"unsupported method '{method[:20]}'")
        path = request_path(words[1])
        if path is None:
            return self._reject(400, "Bad Request", f"request target does not begin with '/' or has a bad "
                                f"%-escape: '{words[1][:60].decode('latin-1')}'")
        connection = headers.get("connection", "").lower()
        keep_alive = "close" not in connection and (minor >= 1 or "keep-alive" in connection)
        if headers.get("transfer-encoding"):
            return self._reject(411, "Length Required", "chunked request bodies are not supported")
        length_text = headers.get("content-length")
        if length_text is None:
            return self._reject(411, "Length Required", "request without Content-Length")
        length_text = length_text.strip()
        if not length_text.isdigit():
            return self._reject(400, "Bad Request", f"invalid Content-Length '{length_text[:40]}'")
        if len(length_text) > len(str(MAX_REQUEST)):  # no arithmetic on a number of any length
            return self._reject(400, "Bad Request", f"Content-Length of {len(length_text)} digits exceeds {MAX_REQUEST} bytes")
        length = int(length_text)
        if length > MAX_REQUEST:
            return self._reject(400, "Bad Request", f"request of {length} bytes exceeds {MAX_REQUEST} bytes")
        if minor >= 1 and headers.get("expect", "").lower() == "100-continue":
            self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        return line, length, keep_alive, path

    def _answer(self, body: bytes):
        line, length, keep_alive, path = self.request
        self.request = None
        if der_sequence_length(body) != length:
            return self._reject(400, "Bad Request", "request content is not one DER-encoded message")
        if path not in SERVED_PATHS:
            last = self.server.count_refused()
            if last is None:
                return self._reject(503, "Service Unavailable", "-max_msgs already reached")
            self._reject(404, "Not Found", f"expecting empty path or 'pkix/' but got '{path[:60]}'")
            if last:
                log.info("handled %d messages (-max_msgs); stopping", self.server.messages)
                self.server.stop_soon()
            return
        response, last = self.server.answer(body)
        if last is None:
            return self._reject(503, "Service Unavailable", "-max_msgs already reached")
        if response is None:
            return self._reject(500, "Internal Server Error", "the mock server failed on a request")
        log.debug("HTTP %s: %s -> 200", self.peer, line.decode("latin-1"))
        self._send(200, "OK", response, CONTENT_TYPE, close=last or not keep_alive)
        if last:
            log.info("handled %d messages (-max_msgs); stopping", self.server.messages)
            self.server.stop_soon()

    # -- responses, written in one piece (no delayed-ACK stall between header and body)
    def _send(self, status: int, reason: str, body: bytes = b"", content_type: Optional[str] = None,
              extra: tuple = (), close: bool = False):
        lines = [f"HTTP/1.1 {status} {reason}", "Server: cmpkit", f"Content-Length: {len(body)}",
                 "Connection: close" if close else "Connection: keep-alive"]
        if content_type:
            lines.append(f"Content-Type: {content_type}")
        lines.extend(extra)
        self.transport.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
        if close:
            self.closing = True
            self.transport.close()  # after the buffered response is sent

    def _reject(self, status: int, reason: str, why: str, extra: tuple = ()):
        """Answer a client's fault with a short error and close the connection; always None."""
        log.warning("rejected HTTP request from %s: %s %s: %s", self.peer, status, reason, why)
        self.request = None
        self._send(status, reason, extra=extra, close=True)
        return None


class CmpHttpServer:
    """The HTTP front of ``handler``: one asyncio loop, the handler called in it for one request at a time.

    Bound (and listening) when made; :meth:`serve` runs it until -max_msgs or :meth:`shutdown`.
    """

    request_queue_size = 64

    def __init__(self, port: int, handler: Callable[[bytes], bytes], max_msgs: int = 0,
                 ssl_context=None, host: Optional[str] = None, limits: Optional[Limits] = None):
        self.handler = handler
        self.limits = limits or Limits()
        self.max_msgs = max_msgs
        self.messages = 0  # CMP messages answered
        self.connections = 0  # connections accepted
        self.ssl_context = ssl_context
        self.open_connections: set = set()
        self.loop: Optional[asyncio.AbstractEventLoop] = None
        self._stop: Optional[asyncio.Event] = None
        self._shutdown_requested = threading.Event()
        self._finished = threading.Event()
        families = [(socket.AF_INET6, "::"), (socket.AF_INET, "0.0.0.0")] if host is None else \
            [(socket.AF_INET6 if ":" in host else socket.AF_INET, host)]
        last = None
        for family, address in families:
            try:
                self.socket = self._listen(family, address, port)
                break
            except OSError as exc:
                last = exc
        else:
            raise ConfigError(f"cannot listen on port {port}: {last.strerror or last}")
        self.server_address = self.socket.getsockname()

    def _listen(self, family, address: str, port: int) -> socket.socket:
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                try:
                    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)  # IPv4 too
                except (OSError, AttributeError):
                    pass
            sock.bind((address, port))
            sock.listen(self.request_queue_size)
        except OSError:
            sock.close()
            raise
        sock.setblocking(False)
        return sock

    @property
    def port(self) -> int:
        return self.server_address[1]

    @property
    def accept_line(self) -> str:
        host = self.server_address[0]
        host = f"[{host}]" if ":" in host else host
        return f"ACCEPT {host}:{self.port} PID={os.getpid()}"

    def count_refused(self) -> Optional[bool]:
        """Count a request refused for its path as a message, as openssl does: whether it was the
        last one by -max_msgs, None if -max_msgs was already reached."""
        if self.max_msgs and self.messages >= self.max_msgs:
            return None
        self.messages += 1
        return bool(self.max_msgs) and self.messages >= self.max_msgs

    def answer(self, request: bytes) -> tuple:
        """(the handler's response, whether it is the last one by -max_msgs).

        The response is None if the handler failed (logged); ``(None, None)`` means that
        -max_msgs was already reached.
        """
        if self.max_msgs and self.messages >= self.max_msgs:
            return None, None
        try:
            response = self.handler(request)
        except Exception as exc:  # noqa: BLE001 - the server must survive a handler bug
            log.error("mock server failed on a request: %s: %s", type(exc).__name__, exc)
            return None, False
        self.messages += 1
        return response, bool(self.max_msgs) and self.messages >= self.max_msgs

    def serve(self) -> None:
        """Serve until -max_msgs messages were answered or :meth:`shutdown` (or Ctrl-C)."""
        try:
            asyncio.run(self._serve())
        finally:
            self.server_close()
            self._finished.set()

    async def _serve(self) -> None:
        self._stop = asyncio.Event()
        self.loop = asyncio.get_running_loop()
        self.loop.set_exception_handler(_loop_error)
        if self._shutdown_requested.is_set():
            return
        server = await self.loop.create_server(lambda: _Connection(self), sock=self.socket, ssl=self.ssl_context,
                                               ssl_handshake_timeout=self.limits.request_timeout if self.ssl_context else None,
                                               backlog=self.request_queue_size)
        try:
            await self._stop.wait()
        finally:
            server.close()
            for connection in list(self.open_connections):
                connection.closing = True
                connection.transport.close()
            await asyncio.sleep(0)  # the closing transports flush what they hold

    def stop_soon(self) -> None:
        """Stop serving (called in the loop)."""
        self._stop.set()

    def shutdown(self) -> None:
        """Stop :meth:`serve` from another thread and wait until it has returned."""
        self._shutdown_requested.set()
        loop = self.loop
        if loop is not None:
            try:
                loop.call_soon_threadsafe(self._stop.set)
            except RuntimeError:  # the loop has already ended
                pass
        self._finished.wait()

    def server_close(self) -> None:
        self.socket.close()


def _loop_error(loop, context):
    """Failures asyncio reports outside a protocol callback (a TLS handshake, a reset): one log line."""
    exc = context.get("exception")
    log.warning("HTTP connection failed: %s", exc or context.get("message", "unknown error"))


def _option(cfg, name: str):
    """An option's value, None if it is unset or not declared (plugin options may be absent)."""
    try:
        return cfg.get(name)
    except KeyError:
        return None


def parse_port(text) -> int:
    value = str(text).strip()
    if not value.isdigit() or len(value) > 5 or int(value) > 65535:
        raise ConfigError(f"invalid -port argument '{text}': must be a port number 0..65535")
    return int(value)


def server_ssl_context(cfg, loader):
    """The HTTPS context of -srv_tls_cert/-srv_tls_key/-srv_tls_keypass, or None for plain HTTP."""
    cert_src, key_src, keypass = (_option(cfg, n) for n in ("srv_tls_cert", "srv_tls_key", "srv_tls_keypass"))
    if cert_src is None and key_src is None:
        return None
    if cert_src is None or key_src is None:
        raise ConfigError("must give both -srv_tls_cert and -srv_tls_key options or neither")
    from .client import load_cert_chain_der, private_key_of
    leaf, chain = loader.cert(cert_src, "mock server TLS certificate (-srv_tls_cert)", keypass)
    signer = loader.key(key_src, keypass, "mock server TLS private key (-srv_tls_key)")
    from cmpkit.core.keys import check_key_matches_cert
    check_key_matches_cert(signer, leaf, "-srv_tls_cert and -srv_tls_key")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        load_cert_chain_der(ctx, private_key_of(signer, "-srv_tls_key", key_src), [leaf] + chain)
    except ssl.SSLError as exc:
        raise CredentialError(f"unable to use -srv_tls_cert '{cert_src}' and -srv_tls_key '{key_src}': "
                              f"{exc.reason or exc}") from None
    return ctx


def make_server(cfg, handler: Callable[[bytes], bytes], loader=None, host: Optional[str] = None) -> CmpHttpServer:
    """A bound (not yet serving) server for the Config's -port, -max_msgs, -srv_tls_* and limit options."""
    port = parse_port(cfg.get("port"))
    max_msgs = cfg.get("max_msgs") or 0
    if max_msgs < 0:
        raise ConfigError(f"-max_msgs argument must be >= 0, not {max_msgs}")
    return CmpHttpServer(port, handler, max_msgs, server_ssl_context(cfg, loader), host, limits_of(cfg))


def limits_of(cfg) -> Limits:
    """-srv_request_timeout, -srv_idle_timeout and -srv_max_conns (defaults where not given)."""
    limits = Limits()
    for option, attr, low in (("srv_request_timeout", "request_timeout", 1), ("srv_idle_timeout", "idle_timeout", 1),
                              ("srv_max_conns", "max_connections", 1)):
        value = _option(cfg, option)
        if value is not None:
            if value < low:
                raise ConfigError(f"-{option} must be at least {low}, not {value}")
            setattr(limits, attr, value)
    return limits


def serve(cfg, handler: Callable[[bytes], bytes], loader=None) -> None:
    """``-port``: announce ``ACCEPT addr:port PID=pid`` on stdout and serve until -max_msgs."""
    server = make_server(cfg, handler, loader)
    sys.stdout.write(server.accept_line + "\n")
    sys.stdout.flush()
    server.serve()
