"""The HTTP front of the mock server (-port, -max_msgs): POSTed DER requests in, DER responses out.

Like ``openssl cmp -port``, it listens on all interfaces (IPv6 and IPv4 where possible),
prints ``ACCEPT <addr>:<port> PID=<pid>`` on stdout once it accepts connections (``-port 0``
picks a free port), and answers each POST with ``Content-Type: application/pkixcmp``.
Unlike openssl's it serves several clients at once (calls into the handler are serialized),
accepts any request path, and may serve HTTPS with the cmpkit extension options
``-srv_tls_cert``/``-srv_tls_key``/``-srv_tls_keypass``.

Requests that are not a single DER SEQUENCE, lack a Content-Length or exceed
:data:`MAX_REQUEST` bytes get ``400 Bad Request`` (and the connection is closed), other
methods ``405``/``501``; the server keeps serving. ``-max_msgs N`` stops it after N CMP
messages were answered. Nothing is printed for a client's faults beyond a log line.
"""
from __future__ import annotations

import logging
import os
import socket
import socketserver
import ssl
import sys
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Callable, Optional

from cmpkit.errors import ConfigError, CredentialError

log = logging.getLogger("cmpkit")

CONTENT_TYPE = "application/pkixcmp"
MAX_REQUEST = 100 * 1024  # bytes; a CMP request is a few kB
IDLE_TIMEOUT = 60  # seconds a connection may stay silent (idle keep-alive, slow or truncated requests)


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


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "cmpkit"
    sys_version = ""
    timeout = IDLE_TIMEOUT
    disable_nagle_algorithm = True

    def setup(self):
        super().setup()
        if isinstance(self.request, ssl.SSLSocket):
            self.request.do_handshake()  # in this connection's thread, bounded by the timeout

    # -- logging: one quiet line, never to stderr directly
    def log_message(self, fmt, *args):
        log.debug("HTTP %s: %s", self.client_address[0], fmt % args)

    def log_request(self, code="-", size="-"):
        log.debug("HTTP %s: %s -> %s", self.client_address[0], self.requestline, code)

    # -- responses written in one piece (no delayed-ACK stall between header and body)
    def _send(self, status: int, reason: str, body: bytes = b"", content_type: Optional[str] = None,
              extra: tuple = ()):
        if status >= 400:
            self.close_connection = True
        lines = [f"{self.protocol_version} {status} {reason}", f"Server: {self.server_version}",
                 f"Content-Length: {len(body)}",
                 "Connection: close" if self.close_connection else "Connection: keep-alive"]
        if content_type:
            lines.append(f"Content-Type: {content_type}")
        lines.extend(extra)
        self.wfile.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
        self.log_request(status)

    def send_error(self, code, message=None, explain=None):
        """Errors found by http.server itself (bad request line, headers...): short, no HTML."""
        try:
            reason = self.responses[code][0]
        except KeyError:
            reason = message or "Error"
        self.close_connection = True
        log.warning("rejected HTTP request from %s: %s %s", self.client_address[0], code, message or reason)
        self._send(code, reason)

    def _reject(self, status: int, reason: str, why: str, extra: tuple = ()):
        log.warning("rejected HTTP request from %s: %s", self.client_address[0], why)
        self._send(status, reason, extra=extra)

    def do_GET(self):
        self._reject(405, "Method Not Allowed", f"{self.command} {self.path}: only POST is served", ("Allow: POST",))

    do_HEAD = do_PUT = do_DELETE = do_OPTIONS = do_PATCH = do_GET

    def do_POST(self):
        if self.headers.get("Transfer-Encoding"):
            return self._reject(411, "Length Required", "chunked request bodies are not supported")
        length_text = self.headers.get("Content-Length")
        if length_text is None:
            return self._reject(411, "Length Required", "request without Content-Length")
        if not length_text.strip().isdigit():
            return self._reject(400, "Bad Request", f"invalid Content-Length '{length_text}'")
        length = int(length_text)
        if length > MAX_REQUEST:
            return self._reject(400, "Bad Request", f"request of {length} bytes exceeds {MAX_REQUEST} bytes")
        body = self.rfile.read(length)
        if len(body) < length:
            log.warning("truncated HTTP request from %s: %d of %d bytes", self.client_address[0], len(body), length)
            self.close_connection = True
            return
        if der_sequence_length(body) != length:
            return self._reject(400, "Bad Request", "request content is not one DER-encoded message")
        response, last = self.server.answer(body)
        if last is None:
            return self._reject(503, "Service Unavailable", "-max_msgs already reached")
        if response is None:
            return self._reject(500, "Internal Server Error", "the mock server failed on a request")
        if last:
            self.close_connection = True
        self._send(200, "OK", response, CONTENT_TYPE)
        if last:
            log.info("handled %d messages (-max_msgs); stopping", self.server.messages)
            threading.Thread(target=self.server.shutdown, daemon=True).start()


class CmpHttpServer(socketserver.ThreadingMixIn, HTTPServer):
    """A threading HTTP server in front of ``handler``; :meth:`serve` runs it until -max_msgs."""

    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    request_queue_size = 64

    def __init__(self, port: int, handler: Callable[[bytes], bytes], max_msgs: int = 0,
                 ssl_context=None, host: Optional[str] = None):
        self.handler = handler
        self.max_msgs = max_msgs
        self.messages = 0  # CMP messages answered
        self.connections = 0  # connections accepted
        self._handler_lock = threading.Lock()
        self._ssl_context = ssl_context
        families = [(socket.AF_INET6, "::"), (socket.AF_INET, "0.0.0.0")] if host is None else \
            [(socket.AF_INET6 if ":" in host else socket.AF_INET, host)]
        last = None
        for family, address in families:
            self.address_family = family
            try:
                super().__init__((address, port), _Handler)
                break
            except OSError as exc:
                last = exc
        else:
            raise ConfigError(f"cannot listen on port {port}: {last.strerror or last}")

    def server_bind(self):
        if self.address_family == socket.AF_INET6:
            try:
                self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
            except (OSError, AttributeError):
                pass
        socketserver.TCPServer.server_bind(self)  # not HTTPServer's: no reverse DNS lookup
        self.server_name, self.server_port = self.server_address[:2]
        if self._ssl_context is not None:
            self.socket = self._ssl_context.wrap_socket(self.socket, server_side=True,
                                                        do_handshake_on_connect=False)

    @property
    def port(self) -> int:
        return self.server_address[1]

    @property
    def accept_line(self) -> str:
        host = self.server_address[0]
        host = f"[{host}]" if ":" in host else host
        return f"ACCEPT {host}:{self.port} PID={os.getpid()}"

    def process_request(self, request, client_address):
        self.connections += 1  # only the accepting thread counts
        super().process_request(request, client_address)

    def answer(self, request: bytes) -> tuple:
        """(the handler's response, whether it is the last one by -max_msgs).

        The response is None if the handler failed (logged); ``(None, None)`` means that
        -max_msgs was already reached.
        """
        with self._handler_lock:
            if self.max_msgs and self.messages >= self.max_msgs:
                return None, None
            try:
                response = self.handler(request)
            except Exception as exc:  # noqa: BLE001 - the server must survive a handler bug
                log.error("mock server failed on a request: %s: %s", type(exc).__name__, exc)
                return None, False
            self.messages += 1
            return response, bool(self.max_msgs) and self.messages >= self.max_msgs

    def handle_error(self, request, client_address):
        exc = sys.exc_info()[1]
        log.warning("connection from %s failed: %s", client_address[0], exc or "unknown error")

    def serve(self) -> None:
        """Serve until -max_msgs messages were answered (or forever)."""
        try:
            self.serve_forever(poll_interval=0.05)
        finally:
            self.server_close()


def _option(cfg, name: str):
    """An option's value, None if it is unset or not declared (plugin options may be absent)."""
    try:
        return cfg.get(name)
    except KeyError:
        return None


def parse_port(text) -> int:
    value = str(text).strip()
    if not value.isdigit() or int(value) > 65535:
        raise ConfigError(f"invalid -port argument '{text}': must be a port number 0..65535")
    return int(value)


def server_ssl_context(cfg, loader=None):
    """The HTTPS context of -srv_tls_cert/-srv_tls_key/-srv_tls_keypass, or None for plain HTTP."""
    cert_src, key_src, keypass = (_option(cfg, n) for n in ("srv_tls_cert", "srv_tls_key", "srv_tls_keypass"))
    if cert_src is None and key_src is None:
        return None
    if cert_src is None or key_src is None:
        raise ConfigError("must give both -srv_tls_cert and -srv_tls_key options or neither")
    from .client import load_cert_chain_der, private_key_of
    if loader is None:
        from cmpkit.session import Loader
        loader = Loader(cfg)
    leaf, chain = loader.cert(cert_src, "mock server TLS certificate (-srv_tls_cert)", keypass)
    signer = loader.key(key_src, keypass, "mock server TLS private key (-srv_tls_key)")
    from cmpkit_file.credentials import check_key_matches_cert
    check_key_matches_cert(signer, leaf, "-srv_tls_cert and -srv_tls_key")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        load_cert_chain_der(ctx, private_key_of(signer, "-srv_tls_key", key_src), [leaf] + chain)
    except ssl.SSLError as exc:
        raise CredentialError(f"unable to use -srv_tls_cert '{cert_src}' and -srv_tls_key '{key_src}': "
                              f"{exc.reason or exc}") from None
    return ctx


def make_server(cfg, handler: Callable[[bytes], bytes], loader=None, host: Optional[str] = None) -> CmpHttpServer:
    """A bound (not yet serving) server for the Config's -port, -max_msgs and srv_tls_* options."""
    port = parse_port(cfg.get("port"))
    max_msgs = cfg.get("max_msgs") or 0
    if max_msgs < 0:
        raise ConfigError(f"-max_msgs argument must be >= 0, not {max_msgs}")
    return CmpHttpServer(port, handler, max_msgs, server_ssl_context(cfg, loader), host)


def serve(cfg, handler: Callable[[bytes], bytes], loader=None) -> None:
    """``-port``: announce ``ACCEPT addr:port PID=pid`` on stdout and serve until -max_msgs."""
    server = make_server(cfg, handler, loader)
    sys.stdout.write(server.accept_line + "\n")
    sys.stdout.flush()
    server.serve()
