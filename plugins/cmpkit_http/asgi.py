"""The mock server's HTTP side as a plain ASGI application: POSTed DER requests in, DER responses out.

:class:`CmpAsgiApp` wraps a handler ``handle(request_der) -> response_der`` (the mock server's)
and can be mounted in any ASGI server; ``cmpkit -port`` serves it with uvicorn
(:mod:`cmpkit_http.server`), and the tests drive it in process with ``httpx.ASGITransport``.

It answers as ``openssl cmp -port`` does (3.0, ``apps/lib/http_server.c`` and ``cmp_server()`` in
``apps/cmp.c``): only the paths in :data:`SERVED_PATHS` are served, so that a client is tested
against the path it will use. The request target must begin with ``/`` (else ``400``), is
%-decoded (a malformed escape is ``400``), loses that ``/``, any further leading ``/`` and a
doubled trailing ``/``, and must then be, case-sensitively, empty or ``pkix/`` (``POST /``,
``POST /pkix/``, ``POST //pkix//`` and ``POST /%70kix/`` are served; ``/pkix``, ``/PKIX/``,
``/pkix/?q`` are not). Another path gets ``404 Not Found``, checked after the body was read and
found DER as openssl does, and, as with openssl, counts as a message for ``-max_msgs``.

Requests that are not a single DER SEQUENCE or exceed :data:`MAX_REQUEST` bytes get ``400 Bad
Request``, a missing Content-Length (or a chunked body) ``411``, other methods ``405``/``501``,
an HTTP version other than 1.x ``505``; each of these closes the connection. A handler failure
is a ``500``. Responses carry ``Content-Type: application/pkixcmp`` and say whether the connection
is kept (``Connection: keep-alive`` also for an HTTP/1.0 client that asked for it, as openssl's
client does). ``-max_msgs N``: after N messages the ``on_last`` callback stops the server, and
a request beyond them gets ``503``.

The handler is synchronous and CPU-bound; by default it is called in the event loop, which it
holds for one handler call (about 1 ms for the mock) at a time. With ``in_thread=True`` it runs in
one worker thread, one request at a time, while the loop keeps serving the other connections
(for a handler that blocks, e.g. on a database). Measured with bench/throughput.py (8 concurrent
``openssl cmp`` clients, 2 cores shared with other work, 19 interleaved pairs of runs): the
plain call gave 0.64-1.37x openssl's throughput (median 0.82x), the thread 0.68-1.33x (median
0.79x; ahead only in the 4 runs on the most loaded machine). The hand-over to the thread costs
about 55 us of CPU per request (GIL, loop wake-up; 53 against 108 us with an echo handler), and
with the clients on the same cores no core is left for the overlap to use.

The target is read from ``scope["extensions"]["cmpkit.target"]`` when the server puts the raw
request target there (cmpkit's uvicorn front does), else rebuilt from ``raw_path`` and
``query_string``.
"""
from __future__ import annotations

import logging
import threading
from typing import Callable, Optional

log = logging.getLogger("cmpkit.server")

CONTENT_TYPE = "application/pkixcmp"
MAX_REQUEST = 100 * 1024  # bytes; a CMP request is a few kB
_HEX = b"0123456789abcdefABCDEF"
SERVED_PATHS = ("", "pkix/")  # what openssl cmp -port serves (apps/cmp.c), compared case-sensitively
_OTHER_METHODS = {"GET", "HEAD", "PUT", "DELETE", "OPTIONS", "PATCH"}  # answered 405, others 501
TARGET_KEY = "cmpkit.target"  # the scope extension holding the raw request target
_COMMON_PATHS = {b"/pkix/": "pkix/"}  # request_path() of the usual target, without its byte loop


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


def request_target(scope) -> bytes:
    """The raw request target: the server's own record of it, else raw_path [+ '?' query]."""
    target = (scope.get("extensions") or {}).get(TARGET_KEY)
    if target is not None:
        return target
    raw = scope.get("raw_path") or scope.get("path", "").encode("utf-8")
    query = scope.get("query_string") or b""
    return raw + b"?" + query if query else raw


class MessageCounter:
    """-max_msgs: the CMP messages answered, in this process (a subclass may share it between workers)."""

    def __init__(self, max_msgs: int = 0):
        self.max_msgs = max_msgs
        self._value = 0
        self._lock = threading.Lock()

    @property
    def value(self) -> int:
        return self._value

    def _add(self, n: int) -> int:
        with self._lock:
            self._value += n
            return self._value

    def take(self) -> Optional[bool]:
        """Count one message: whether it is the last by -max_msgs, None if they were all used up."""
        with self._lock:
            if self.max_msgs and self._value >= self.max_msgs:
                return None
            self._value += 1
            return bool(self.max_msgs) and self._value >= self.max_msgs

    def give_back(self) -> None:
        """Uncount a message whose handler failed."""
        self._add(-1)


class CmpAsgiApp:
    """The ASGI callable: each POST body goes to ``handler``; see the module docstring for the rules."""

    def __init__(self, handler: Callable[[bytes], bytes], max_msgs: int = 0,
                 on_last: Optional[Callable[[], None]] = None, counter: Optional[MessageCounter] = None,
                 in_thread: bool = False):
        self.handler = handler
        self.counter = counter if counter is not None else MessageCounter(max_msgs)
        self.on_last = on_last
        self.in_thread = in_thread
        self._executor = None

    async def _call_handler(self, body: bytes) -> bytes:
        """The handler's answer: computed in the loop, or with ``in_thread`` in one worker thread (one
        request at a time, so the handler needs no locking) while the loop serves other connections."""
        if not self.in_thread:
            return self.handler(body)
        if self._executor is None:  # made on first use: after a worker process was forked
            from concurrent.futures import ThreadPoolExecutor
            self._executor = ThreadPoolExecutor(1, thread_name_prefix="cmpkit-handler")
        import asyncio
        return await asyncio.get_running_loop().run_in_executor(self._executor, self.handler, body)

    @property
    def messages(self) -> int:
        return self.counter.value

    async def __call__(self, scope, receive, send) -> None:
        kind = scope["type"]
        if kind == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if kind != "http":
            return
        await self._http(scope, receive, send)

    async def _http(self, scope, receive, send) -> None:
        peer = (scope.get("client") or ("?",))[0]
        version = scope.get("http_version", "1.1")
        method = scope["method"]
        if version not in ("1.0", "1.1"):
            return await _reject(send, peer, 505, f"HTTP version {version[:10]}")
        if method != "POST":
            if method in _OTHER_METHODS:
                return await _reject(send, peer, 405, f"{method}: only POST is served", [(b"allow", b"POST")])
            return await _reject(send, peer, 501, f"unsupported method '{method[:20]}'")
        target = request_target(scope)
        path = _COMMON_PATHS.get(target) or request_path(target)
        if path is None:
            return await _reject(send, peer, 400, "request target does not begin with '/' or has a bad "
                                 f"%-escape: '{target[:60].decode('latin-1')}'")
        connection, length_text, chunked = b"", None, False
        for name, value in scope.get("headers", ()):
            if name == b"connection":
                connection += b"," + value.lower()
            elif name == b"content-length":
                if length_text is not None and length_text != value.strip():
                    return await _reject(send, peer, 400, "conflicting Content-Length headers")
                length_text = value.strip()
            elif name == b"transfer-encoding":
                chunked = True
        keep_alive = b"close" not in connection and (version == "1.1" or b"keep-alive" in connection)
        if chunked:
            return await _reject(send, peer, 411, "chunked request bodies are not supported")
        if length_text is None:
            return await _reject(send, peer, 411, "request without Content-Length")
        if not length_text.isdigit():
            return await _reject(send, peer, 400, f"invalid Content-Length '{length_text[:40].decode('latin-1')}'")
        if len(length_text) > len(str(MAX_REQUEST)):  # no arithmetic on a number of any length
            return await _reject(send, peer, 400, f"Content-Length of {len(length_text)} digits exceeds "
                                 f"{MAX_REQUEST} bytes")
        length = int(length_text)
        if length > MAX_REQUEST:
            return await _reject(send, peer, 400, f"request of {length} bytes exceeds {MAX_REQUEST} bytes")
        body = await _read_body(receive, length)
        if body is None:
            log.warning("truncated HTTP request from %s (expected %d bytes)", peer, length)
            return
        if der_sequence_length(body) != length:
            return await _reject(send, peer, 400, "request content is not one DER-encoded message")
        if path not in SERVED_PATHS:
            last = self.counter.take()
            if last is None:
                return await _reject(send, peer, 503, "-max_msgs already reached")
            await _reject(send, peer, 404, f"expecting empty path or 'pkix/' but got '{path[:60]}'")
            return self._stop() if last else None
        last = self.counter.take()
        if last is None:
            return await _reject(send, peer, 503, "-max_msgs already reached")
        try:
            response = await self._call_handler(body)
        except Exception as exc:  # noqa: BLE001 - the server must survive a handler bug
            self.counter.give_back()
            log.error("mock server failed on a request: %s: %s", type(exc).__name__, exc)
            return await _reject(send, peer, 500, "the mock server failed on a request")
        log.debug("HTTP %s: POST %s -> 200", peer, target[:60].decode("latin-1"))
        await _respond(send, 200, response, keep_alive and not last, CONTENT_TYPE)
        if last:
            self._stop()

    def _stop(self) -> None:
        log.info("handled %d messages (-max_msgs); stopping", self.counter.value)
        if self.on_last is not None:
            self.on_last()


async def _read_body(receive, length: int) -> Optional[bytes]:
    """The request body of Content-Length ``length`` (None if the client left before sending it all)."""
    parts, got = [], 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return None
        chunk = message.get("body", b"")
        got += len(chunk)
        if got > length:  # a server that let more through than announced
            return b""
        parts.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(parts) if got == length else None


_REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed", 411: "Length Required",
            500: "Internal Server Error", 501: "Not Implemented", 503: "Service Unavailable",
            505: "HTTP Version Not Supported"}


async def _respond(send, status: int, body: bytes, keep_alive: bool, content_type: Optional[str] = None,
                   extra: list = ()) -> None:
    headers = [(b"content-length", b"%d" % len(body)),
               (b"connection", b"keep-alive" if keep_alive else b"close")]
    if content_type:
        headers.append((b"content-type", content_type.encode("latin-1")))
    headers.extend(extra)
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})


async def _reject(send, peer: str, status: int, why: str, extra: list = ()) -> None:
    """Answer a client's fault with an empty error response and close the connection."""
    log.warning("rejected HTTP request from %s: %s %s: %s", peer, status, _REASONS.get(status, ""), why)
    await _respond(send, status, b"", False, extra=extra)
