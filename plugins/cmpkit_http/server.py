"""The HTTP front of the mock server (-port, -max_msgs, -srv_workers): :class:`cmpkit_http.asgi.CmpAsgiApp`
served by uvicorn.

Like ``openssl cmp -port``, it listens on all interfaces (IPv6 and IPv4 where possible), prints
``ACCEPT <addr>:<port> PID=<pid>`` on stdout once it accepts connections (``-port 0`` picks a free
port), and answers each POST with ``Content-Type: application/pkixcmp``; the paths served and the
answers to faulty requests are the ASGI application's (:mod:`cmpkit_http.asgi`). Unlike openssl's
it serves several clients at once, may serve HTTPS with the cmpkit extension options
``-srv_tls_cert``/``-srv_tls_key``/``-srv_tls_keypass``, and with ``-srv_workers N`` runs N worker
processes on the one listening socket (each with its own copy of the mock server's state; the CA
mode needs ``-srv_db`` then, a database file the workers share, and each worker opens its own
connection to it). ``-max_msgs`` counts over all workers; when one worker ends, the others are
ended; workers end with the process that forked them.

uvicorn is used with its httptools parser and uvloop where installed (the ``fast`` extra), else
with h11 and asyncio. A small protocol wrapper (:func:`guarded_protocol`) adds what uvicorn does
not offer, so that no client can hold the server (:class:`Limits`, set with the extension options):
a request must arrive whole, head and body, within ``-srv_request_timeout`` seconds of its first
byte (else ``408``; uvicorn has no deadline for a request), a connection may wait
``-srv_idle_timeout`` seconds before its first request and between requests (uvicorn's
keep-alive timeout covers only the latter), beyond ``-srv_max_conns`` open connections a new one
gets ``503`` at once (uvicorn's ``limit_concurrency`` answers only once a request arrived), a
request head is limited to :data:`MAX_HEAD` bytes and :data:`MAX_HEADERS` lines (``431``), the TLS
handshake must end within ``-srv_request_timeout`` too (uvicorn leaves asyncio's 60 s), a response
leaves in one write (uvicorn writes head and body apart: with the client's delayed ACK that
costs 40 ms a response), and an
HTTP/1.0 client asking for keep-alive (``openssl cmp`` does) keeps its connection (uvicorn closes
it; with h11 this is not possible: install the ``fast`` extra). Malformed HTTP gets ``400`` from
uvicorn and the server keeps serving. ``-max_msgs N`` stops the server after N CMP messages;
SIGTERM and Ctrl-C stop it after the responses under way were sent.
"""
from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import ssl
import sys
import threading
from typing import Callable, Optional

from cmpkit.errors import ConfigError, CredentialError

from .asgi import (CONTENT_TYPE, MAX_REQUEST, SERVED_PATHS, TARGET_KEY, CmpAsgiApp, MessageCounter,  # noqa: F401
                   der_sequence_length, request_path)

log = logging.getLogger("cmpkit.server")

MAX_HEAD = 64 * 1024  # bytes of request line and headers
MAX_HEADERS = 100  # header lines, as http.client allows


class Limits:
    """What one client may cost the server: seconds per request (head and body, from its
    first byte), seconds of silence between requests, and connections open at once."""

    __slots__ = ("request_timeout", "idle_timeout", "max_connections")

    def __init__(self, request_timeout: float = 10, idle_timeout: float = 60, max_connections: int = 100):
        self.request_timeout, self.idle_timeout, self.max_connections = request_timeout, idle_timeout, max_connections


def _status_bytes(status: int, reason: str, extra: bytes = b"") -> bytes:
    return (b"HTTP/1.1 %d %s\r\nserver: cmpkit\r\ncontent-length: 0\r\nconnection: close\r\n%s\r\n"
            % (status, reason.encode(), extra))


class _Guard:
    """The limits uvicorn lacks, mixed into its HTTP protocol class (see the module docstring).

    The httptools protocol reports where a request begins, its head ends and it is complete
    (parser callbacks); with h11 a request counts from its first byte until its response.
    """

    front: "CmpHttpServer"  # set by guarded_protocol()
    parser_events = False  # whether the parser reports request boundaries (httptools) or not (h11)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._refused = False
        self._rejected = False
        self._deadline = None
        self._head_bytes = 0
        self._head_done = True
        self._header_lines = 0

    # -- connection events
    def connection_made(self, transport):
        front = self.front
        front.connections += 1
        if len(self.server_state.connections) >= front.limits.max_connections:
            peer = transport.get_extra_info("peername")
            log.warning("HTTP %s: %d connections open (-srv_max_conns), refusing another", peer[0] if peer else "?",
                        len(self.server_state.connections))
            self._refused = True
            transport.write(_status_bytes(503, "Service Unavailable"))
            transport.close()
            return
        super().connection_made(transport)
        self.timeout_keep_alive_task = self.loop.call_later(front.limits.idle_timeout, self.timeout_keep_alive_handler)

    def connection_lost(self, exc):
        if self._refused:
            return
        self._cancel_deadline()
        if self.parser_events and not self._head_done and not self._rejected and self._head_bytes:
            log.warning("truncated HTTP request head from %s", (self.client or ("?",))[0])
        super().connection_lost(exc)

    def data_received(self, data):
        if self._refused or self._rejected:
            return
        if self._deadline is None:
            self._request_started()
        if not self._head_done:
            self._head_bytes += len(data)
        super().data_received(data)
        if self.parser_events and not self._head_done and self._head_bytes > MAX_HEAD and not self._rejected:
            self._reject(431, "Request Header Fields Too Large", "request head too long")

    # -- request events
    def _request_started(self):
        if self._deadline is None:
            self._head_done, self._head_bytes, self._header_lines = False, 0, 0
            self._deadline = self.loop.call_later(self.front.limits.request_timeout, self._too_slow)

    def _request_received(self):
        self._cancel_deadline()

    def _cancel_deadline(self):
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _too_slow(self):
        self._deadline = None
        self._reject(408, "Request Timeout",
                     f"request not complete within {self.front.limits.request_timeout} s (-srv_request_timeout)")

    def _reject(self, status: int, reason: str, why: str) -> None:
        log.warning("rejected HTTP request from %s: %s %s: %s", (self.client or ("?",))[0], status, reason, why)
        self._rejected = True
        self._cancel_deadline()
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(_status_bytes(status, reason))
            self.transport.close()

    def send_400_response(self, msg: str) -> None:
        """uvicorn's answer to malformed HTTP, as the application's other rejections: no body."""
        if not self._rejected:
            self._reject(400, "Bad Request", "malformed HTTP request")

    def on_response_complete(self) -> None:
        if not self.parser_events:
            self._cancel_deadline()  # h11: the request counts until its response
        super().on_response_complete()


class _HttpToolsGuard(_Guard):
    """The httptools protocol's callbacks: request boundaries, header lines, raw target, 1.0 keep-alive."""

    parser_events = True

    def on_message_begin(self) -> None:
        self._request_started()
        super().on_message_begin()

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_lines += 1
        if self._header_lines > MAX_HEADERS:
            self._reject(431, "Request Header Fields Too Large", f"over {MAX_HEADERS} header lines")
            raise ValueError("too many header lines")  # stops the parser
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._head_done = True
        super().on_headers_complete()
        self.scope.setdefault("extensions", {})[TARGET_KEY] = self.url
        if self.cycle is not None:
            if self.scope.get("http_version") == "1.0" and self.parser.should_keep_alive():
                self.cycle.keep_alive = True  # openssl's client: HTTP/1.0 with Connection: keep-alive
            self.cycle.transport = _Corked(self.transport, self.loop)

    def on_message_complete(self) -> None:
        self._request_received()
        super().on_message_complete()


class _H11Guard(_Guard):
    """h11's protocol: each response leaves in one write too (the cycle a request creates is given
    the corked transport before the application runs)."""

    def handle_events(self) -> None:
        super().handle_events()
        cycle = getattr(self, "cycle", None)
        if cycle is not None and not isinstance(cycle.transport, _Corked):
            cycle.transport = _Corked(self.transport, self.loop)


class _Corked:
    """The transport as a response sees it: uvicorn's writes of head and body leave in one piece (one
    syscall and segment, at the end of the loop iteration) instead of two."""

    __slots__ = ("transport", "loop", "parts")

    def __init__(self, transport, loop):
        self.transport, self.loop, self.parts = transport, loop, []

    def write(self, data: bytes) -> None:
        if not self.parts:
            self.loop.call_soon(self.flush)
        self.parts.append(data)

    def flush(self) -> None:
        if self.parts:
            data = b"".join(self.parts)
            self.parts.clear()
            if not self.transport.is_closing():
                self.transport.write(data)

    def close(self) -> None:
        self.flush()
        self.transport.close()

    def is_closing(self) -> bool:
        return self.transport.is_closing()

    def __getattr__(self, name):
        return getattr(self.transport, name)


def guarded_protocol(front: "CmpHttpServer", http: str = "auto"):
    """uvicorn's HTTP protocol class (httptools where installed or ``http`` is "httptools", else h11)
    with :class:`_Guard` mixed in."""
    if http != "h11":
        try:
            from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
            return type("CmpHttpToolsProtocol", (_HttpToolsGuard, HttpToolsProtocol), {"front": front})
        except ImportError:
            if http == "httptools":
                raise
    from uvicorn.protocols.http.h11_impl import H11Protocol
    return type("CmpH11Protocol", (_H11Guard, H11Protocol), {"front": front})


class _ToCmpkitLog(logging.Handler):
    """uvicorn's own log lines go to cmpkit's log as debug lines (the front logs the client faults)."""

    def emit(self, record):
        if record.levelno >= logging.ERROR:
            log.error("HTTP server: %s", record.getMessage())
        else:
            log.debug("HTTP server: %s", record.getMessage())


def _route_uvicorn_logs() -> None:
    logger = logging.getLogger("uvicorn")
    if not any(isinstance(h, _ToCmpkitLog) for h in logger.handlers):
        logger.addHandler(_ToCmpkitLog())
    logger.propagate = False


class _SharedCounter(MessageCounter):
    """-max_msgs over all worker processes: a counter in shared memory (made before the fork)."""

    def __init__(self, max_msgs: int):
        super().__init__(max_msgs)
        import multiprocessing
        self._shared = multiprocessing.get_context("fork").Value("q", 0)

    @property
    def value(self) -> int:
        return self._shared.value

    def take(self) -> Optional[bool]:
        with self._shared.get_lock():
            if self.max_msgs and self._shared.value >= self.max_msgs:
                return None
            self._shared.value += 1
            return bool(self.max_msgs) and self._shared.value >= self.max_msgs

    def give_back(self) -> None:
        with self._shared.get_lock():
            self._shared.value -= 1


class CmpHttpServer:
    """The HTTP front of ``handler``: uvicorn serving :class:`CmpAsgiApp` on a socket bound when made.

    :meth:`serve` runs it until -max_msgs, :meth:`shutdown` (from another thread), SIGTERM or Ctrl-C;
    with ``workers`` > 1 it forks that many worker processes that serve the one socket.
    """

    request_queue_size = 64
    http = "auto"  # uvicorn's HTTP parser: "auto" (httptools where installed), "httptools" or "h11"

    def __init__(self, port: int, handler: Callable[[bytes], bytes], max_msgs: int = 0,
                 ssl_context=None, host: Optional[str] = None, limits: Optional[Limits] = None, workers: int = 1):
        self.handler = handler
        self.limits = limits or Limits()
        self.max_msgs = max_msgs
        self.workers = workers
        self.connections = 0  # connections accepted (in this process)
        self.ssl_context = ssl_context
        counter = _SharedCounter(max_msgs) if workers > 1 and max_msgs else MessageCounter(max_msgs)
        self.app = CmpAsgiApp(handler, counter=counter, on_last=self.stop_soon)
        self._uvicorn = None
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
    def messages(self) -> int:
        """CMP messages answered (and requests refused for their path), over all workers."""
        return self.app.messages

    @property
    def accept_line(self) -> str:
        host = self.server_address[0]
        host = f"[{host}]" if ":" in host else host
        return f"ACCEPT {host}:{self.port} PID={os.getpid()}"

    def _uvicorn_server(self):
        import uvicorn
        _route_uvicorn_logs()
        config = uvicorn.Config(self.app, http=guarded_protocol(self, self.http), lifespan="off", log_config=None,
                                access_log=False, proxy_headers=False, server_header=False, date_header=False,
                                headers=[("server", "cmpkit")], timeout_keep_alive=self.limits.idle_timeout,
                                h11_max_incomplete_event_size=MAX_HEAD, backlog=self.request_queue_size,
                                timeout_graceful_shutdown=self.limits.request_timeout)
        config.load()
        config.ssl = self.ssl_context
        return uvicorn.Server(config)

    def serve(self) -> None:
        """Serve until -max_msgs messages were answered, :meth:`shutdown`, SIGTERM or Ctrl-C."""
        try:
            if self.workers > 1:
                self._serve_workers()
            else:
                self._serve_here()
        finally:
            self.server_close()
            self._finished.set()

    def _serve_here(self) -> None:
        server = self._uvicorn = self._uvicorn_server()
        if self._shutdown_requested.is_set():
            return
        factory = server.config.get_loop_factory()  # uvloop where installed
        loop = factory() if factory is not None else asyncio.new_event_loop()
        loop.set_exception_handler(_loop_error)
        create_server = loop.create_server

        async def create_server_with_limits(*args, **kwargs):
            # the TLS handshake within -srv_request_timeout too (uvicorn leaves asyncio's 60 s)
            if kwargs.get("ssl") is not None:
                kwargs.setdefault("ssl_handshake_timeout", self.limits.request_timeout)
            return await create_server(*args, **kwargs)
        loop.create_server = create_server_with_limits
        try:
            loop.run_until_complete(server.serve(sockets=[self.socket]))
        finally:
            try:
                loop.run_until_complete(loop.shutdown_asyncgens())
            finally:
                loop.close()

    def _serve_workers(self) -> None:
        """Fork the workers, wait for them; when one ends (-max_msgs) or on a signal, end the others."""
        import uvicorn  # noqa: F401 - imported once, before the fork
        sys.stdout.flush()
        sys.stderr.flush()
        children, parent = set(), os.getpid()
        try:
            for _ in range(self.workers):
                pid = os.fork()
                if pid == 0:  # a worker
                    code = 0
                    try:
                        _end_with_parent(parent)
                        self._serve_here()
                    except SystemExit as exc:
                        code = exc.code if isinstance(exc.code, int) else 1
                    except BaseException as exc:  # noqa: BLE001 - Ctrl-C, or a failure: no traceback
                        if not isinstance(exc, KeyboardInterrupt):
                            log.error("-srv_workers: worker failed: %s: %s", type(exc).__name__, exc)
                        code = 1
                    finally:
                        sys.stdout.flush()
                        sys.stderr.flush()
                        os._exit(code)
                children.add(pid)
            ending = False
            while children:
                pid, status = os.wait()
                children.discard(pid)
                code = os.waitstatus_to_exitcode(status)
                if code != 0 and not ending:
                    log.warning("-srv_workers: worker %d ended with status %d; ending the others", pid, code)
                ending = True
                for other in children:  # one worker ended (-max_msgs): the service ends
                    _kill(other)
        finally:
            for other in children:
                _kill(other)
            for other in children:
                try:
                    os.waitpid(other, 0)
                except ChildProcessError:
                    pass

    def stop_soon(self) -> None:
        """Stop serving (called in the loop: -max_msgs)."""
        if self._uvicorn is not None:
            self._uvicorn.should_exit = True

    def shutdown(self) -> None:
        """Stop :meth:`serve` from another thread and wait until it has returned."""
        self._shutdown_requested.set()
        self.stop_soon()
        while not self._finished.wait(0.05):
            self.stop_soon()  # in case the uvicorn server was made after the first call

    def server_close(self) -> None:
        self.socket.close()


def _end_with_parent(parent: int) -> None:
    """A worker gets SIGTERM when the process that forked it dies, even by SIGKILL (Linux)."""
    try:
        import ctypes
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent:  # the parent died before that
        raise SystemExit(0)


def _loop_error(loop, context):
    """Failures asyncio reports outside a protocol callback (a TLS handshake, a reset): one log line."""
    exc = context.get("exception")
    log.warning("HTTP connection failed: %s", exc or context.get("message", "unknown error"))


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        pass


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
    """A bound (not yet serving) server for the Config's -port, -max_msgs, -srv_tls_*, -srv_workers and limit options."""
    port = parse_port(cfg.get("port"))
    max_msgs = cfg.get("max_msgs") or 0
    if max_msgs < 0:
        raise ConfigError(f"-max_msgs argument must be >= 0, not {max_msgs}")
    workers = _option(cfg, "srv_workers") or 1
    if workers < 1:
        raise ConfigError(f"-srv_workers must be at least 1, not {workers}")
    if workers > 1 and not hasattr(os, "fork"):
        raise ConfigError("-srv_workers above 1 needs a system with fork()")
    if workers > 1 and _option(cfg, "srv_ca_cert") is not None and not _option(cfg, "srv_db"):
        raise ConfigError("-srv_workers above 1 in CA mode needs -srv_db, a database file the workers share "
                          "(with a CA state in memory per worker, serial numbers would repeat)")
    return CmpHttpServer(port, handler, max_msgs, server_ssl_context(cfg, loader), host, limits_of(cfg), workers)


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
