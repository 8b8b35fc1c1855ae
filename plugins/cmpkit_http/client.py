"""The client's HTTP(S) transport: -server/-path/-proxy/-no_proxy parsing as openssl does, keep-alive, timeouts and TLS.

:class:`HttpTransport` is the :class:`cmpkit.types.Transport` that the ``cmpkit_transport_schemes``
hook hands to the shell for the schemes http and https of ``-server``. It POSTs each request with
``Content-Type: application/pkixcmp`` over one ``httpx.Client`` with the
:class:`~cmpkit_http.transport.Http1Transport` (so a transaction reuses its connection, also
when the server answers HTTP/1.0 with keep-alive as openssl does) and turns every failure into a one-line :class:`~cmpkit.errors.TransferError`.

Behaviour follows OpenSSL 3.0's ``apps/cmp.c`` and ``crypto/http``:

* ``-server [http[s]://][userinfo@]host[:port][/path][?query][#fragment]``: userinfo and
  fragment are ignored, the query stays part of the path, the default port is 443 only with
  the scheme ``https`` (which needs ``-tls_used``), else 80; ``-path`` replaces the path.
* the proxy is ``-proxy``, else ``http_proxy``/``HTTP_PROXY`` (``https_proxy``/``HTTPS_PROXY``
  with TLS); an empty value means none; it is skipped when the server's host is listed
  in ``-no_proxy``, else ``no_proxy``/``NO_PROXY``. Of a proxy URL only host and port count.
* ``-keep_alive``: 0 = ``Connection: close``, 1 = keep the connection if the server agrees,
  2 = fail if it does not. ``-msg_timeout`` bounds each round trip (0 = no limit); as the
  man page says and openssl 3.0 does, without it only ``-total_timeout`` limits a round trip
  (:data:`DEFAULT_MSG_TIMEOUT`); that deadline arrives with each :meth:`HttpTransport.send`.
* TLS: without ``-tls_trusted`` the server is not authenticated (as openssl); with it the
  certificate chain and the name ``-tls_host`` (default: the server's host) are checked.
  That name is also sent as SNI (never with a port; not at all for IP addresses).
"""
from __future__ import annotations

import logging
import os
import re
import time
from typing import Optional

from cmpkit.core.lazy import LazyModule
from cmpkit.errors import ConfigError, CredentialError, TransferError

# imported on first use: a plain-http run (cmpkit_http.plain) needs none of them, and ssl maps
# libssl (megabytes of a one-shot run's memory)
secrets, ssl, tempfile = LazyModule("secrets"), LazyModule("ssl"), LazyModule("tempfile")

log = logging.getLogger("cmpkit.transport")

CONTENT_TYPE = "application/pkixcmp"
DEFAULT_MSG_TIMEOUT = 0  # seconds (0 = none) when -msg_timeout is not given, as openssl 3.0 does
MAX_RESPONSE = 100 * 1024  # bytes, OpenSSL's OSSL_HTTP_DEFAULT_MAX_RESP_LEN


# ------------------------------------------------------------------ URLs

def parse_url(text: str, what: str = "-server") -> tuple:
    """Split ``[scheme://][userinfo@]host[:port][/path][?query][#fragment]`` as OpenSSL does.

    :return: ``(scheme, userinfo, host, port, path)``: scheme and userinfo as given ("" when
        absent), host without IPv6 brackets, port an int (None when absent or given as "0",
        which OpenSSL treats as "default"), path starting with "/" and keeping any query,
        without the fragment.
    :raise ConfigError: naming ``what`` for a URL OpenSSL would reject.
    """
    def bad(reason: str):
        return ConfigError(f"cannot parse {what} URL '{text}': {reason}")

    rest = text
    scheme = ""
    pos = text.find("://")
    if pos >= 0:
        scheme, rest = text[:pos], text[pos + 3:]
        if not scheme:
            raise bad("empty scheme")
    if scheme not in ("", "http", "https"):
        raise bad(f"invalid URL scheme '{scheme}' (http or https)")
    userinfo = ""
    if "@" in rest:
        userinfo, rest = rest.split("@", 1)
    if rest.startswith("["):
        end = rest.find("]")
        if end < 0:
            raise bad("missing ']' after IPv6 address")
        host, rest = rest[1:end], rest[end + 1:]
    else:
        m = re.match(r"[^:/?#]*", rest)
        host, rest = m.group(0), rest[m.end():]
    port = None
    if rest.startswith(":"):
        m = re.match(r":([0-9]+)", rest)
        if m is None or len(m.group(1)) > 5 or int(m.group(1)) > 65535:
            raise bad(f"invalid port number '{rest[1:]}'")
        if m.group(1) != "0":
            port = int(m.group(1))
        rest = rest[m.end():]
    if rest and rest[0] not in "/?#":
        raise bad(f"invalid path '{rest}'")
    path = rest.split("#", 1)[0]
    if not path.startswith("/"):
        path = "/" + path
    return scheme, userinfo, host, port, path


def parse_server(text: str, tls_used: bool) -> tuple:
    """``-server`` as openssl parses it: ``(scheme, userinfo, host, port, path)``.

    ``scheme`` is the one in effect ("https" with ``-tls_used``); the port defaults to 443
    only when the URL says ``https://`` (openssl 3.0 uses 80 for ``-server host -tls_used``).
    """
    scheme, userinfo, host, port, path = parse_url(text, "-server")
    if scheme == "https" and not tls_used:
        raise ConfigError("missing -tls_used option since -server URL indicates https")
    if port is None:
        port = 443 if scheme == "https" else 80
    return ("https" if tls_used else "http"), userinfo, host, port, path


def strip_brackets(host: str) -> str:
    return host[1:-1] if len(host) >= 2 and host[0] == "[" and host[-1] == "]" else host


def format_origin(scheme: str, host: str, port: int) -> str:
    return f"{scheme}://{'[' + host + ']' if ':' in host else host}:{port}"


def proxy_for(server_host: str, tls: bool, proxy: Optional[str] = None, no_proxy: Optional[str] = None,
              environ=None) -> tuple:
    """The proxy to use for ``server_host`` as OpenSSL's OSSL_HTTP_adapt_proxy chooses it.

    :return: ``(proxy_text, where_from)`` or ``(None, None)`` for a direct connection.
    """
    env = os.environ if environ is None else environ
    source = "-proxy"
    if proxy is None:
        for name in (("https_proxy", "HTTPS_PROXY") if tls else ("http_proxy", "HTTP_PROXY")):
            if env.get(name) is not None:
                proxy, source = env[name], f"environment variable {name}"
                break
    if not proxy:
        return None, None
    if no_proxy is None:
        no_proxy = env.get("no_proxy")
        if no_proxy is None:
            no_proxy = env.get("NO_PROXY")
    if no_proxy and strip_brackets(server_host) in re.split(r"[,\s]+", no_proxy):
        return None, None
    return proxy, source


def proxy_origin(proxy: str, source: str) -> str:
    """``http://host:port`` of a proxy URL: only host and port count; port 443 for ``https://``."""
    scheme, _user, host, port, _path = parse_url(proxy, f"proxy (from {source})")
    if not host:
        raise ConfigError(f"missing host in proxy URL '{proxy}' (from {source})")
    if port is None:
        port = 443 if scheme == "https" else 80
    return format_origin("http", host, port)


# ------------------------------------------------------------------ TLS

def _named_ssl_context_class():
    """The class _NamedSSLContext, defined on first use (it subclasses ssl.SSLContext)."""
    global _NamedSSLContext
    if _NamedSSLContext is None:
        class _NamedSSLContext(ssl.SSLContext):
            """An SSLContext that always uses ``tls_name`` for SNI and for the host name check.

            httpx/httpcore pass the URL's host (or, through a proxy tunnel, the target's host);
            ``-tls_host`` must win in both cases.
            """

            tls_name: Optional[str] = None

            def wrap_socket(self, sock, *args, server_hostname=None, **kwargs):
                return super().wrap_socket(sock, *args, server_hostname=self.tls_name or server_hostname, **kwargs)
    return _NamedSSLContext


_NamedSSLContext = None


def _issuer_chain(leaf_der: bytes, pool: list) -> list:
    """The certificates of ``pool`` that lead from ``leaf_der`` towards a root, without the root."""
    from cryptography import x509
    certs = []
    for der in pool:
        try:
            certs.append((der, x509.load_der_x509_certificate(der)))
        except ValueError:
            continue
    chain, current, used = [], x509.load_der_x509_certificate(leaf_der), {leaf_der}
    while True:
        nxt = next(((d, c) for d, c in certs if d not in used and c.subject == current.issuer), None)
        if nxt is None or nxt[1].subject == nxt[1].issuer:  # not found, or a self-signed root
            return chain
        chain.append(nxt[0])
        used.add(nxt[0])
        current = nxt[1]


def load_cert_chain_der(ctx: ssl.SSLContext, key, certs: list) -> None:
    """Give ``ctx`` a private key (a ``cryptography`` key) and certificates (DER, leaf first).

    ssl reads credentials only from files: they go through a 0600 temporary file holding
    the key encrypted with a one-time pass phrase, deleted right after loading.
    """
    from cryptography.hazmat.primitives import serialization
    from cryptography.x509 import load_der_x509_certificate
    once = secrets.token_hex(16).encode()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.BestAvailableEncryption(once))
    pem += b"".join(load_der_x509_certificate(c).public_bytes(serialization.Encoding.PEM) for c in certs)
    fd, path = tempfile.mkstemp(prefix=".cmpkit-tls-", suffix=".pem")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(pem)
        ctx.load_cert_chain(path, password=once)
    finally:
        os.unlink(path)


def private_key_of(signer, option: str, source: str):
    """The ``cryptography`` key behind a Signer; ssl cannot use a key that stays in a token."""
    key = getattr(signer, "private_key", None)
    if key is None:
        raise CredentialError(f"{option} '{source}': keys that cannot leave their token (e.g. PKCS#11) "
                              "are not supported for TLS")
    return key


def _certs_option(cfg, loader, name: str, what: str) -> list:
    """The certificates of a list option (with -otherpass), loaded through the LoadContext."""
    return loader.certs(cfg.get_list(name), what, cfg.get("otherpass")) if cfg.get(name) else []


def build_ssl_context(cfg, loader, host: str) -> ssl.SSLContext:
    """The TLS client context of ``-tls_used`` with -tls_cert/-tls_key/-tls_keypass/-tls_extra/
    -tls_trusted/-tls_host, as openssl's setup_ssl_ctx builds it."""
    ctx = _named_ssl_context_class()(ssl.PROTOCOL_TLS_CLIENT)
    ctx.tls_name = cfg.get("tls_host") or strip_brackets(host)
    ctx.verify_flags &= ~getattr(ssl, "VERIFY_X509_PARTIAL_CHAIN", 0)
    if cfg.get("tls_trusted"):
        trusted = _certs_option(cfg, loader, "tls_trusted", "trusted certs for TLS (-tls_trusted)")
        if not trusted:
            raise CredentialError("no certificates in -tls_trusted")
        ctx.load_verify_locations(cadata=b"".join(trusted))
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.check_hostname = True
        ctx.hostname_checks_common_name = True  # openssl also checks the subject's CN
    else:
        log.warning("-tls_used given without -tls_trusted; will not authenticate the TLS server")
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    cert_src, key_src, keypass = cfg.get("tls_cert"), cfg.get("tls_key"), cfg.get("tls_keypass")
    if cert_src is not None or key_src is not None or keypass is not None:
        if key_src is None:
            raise ConfigError("missing -tls_key option")
        if cert_src is None:
            raise ConfigError("missing -tls_cert option")
        leaf, extras = loader.cert(cert_src, "TLS client certificate (-tls_cert)", keypass)
        signer = loader.key(key_src, keypass, "TLS client private key (-tls_key)")
        from cmpkit.core.keys import check_key_matches_cert
        try:
            check_key_matches_cert(signer, leaf, "-tls_cert and -tls_key")
        except CredentialError:
            raise CredentialError(f"TLS private key '{key_src}' does not match the TLS certificate "
                                  f"'{cert_src}'") from None
        pool = extras + _certs_option(cfg, loader, "untrusted", "untrusted certificates (-untrusted)")
        chain = _issuer_chain(leaf, pool)
        tls_extra = _certs_option(cfg, loader, "tls_extra", "extra certificates for TLS (-tls_extra)")
        try:
            load_cert_chain_der(ctx, private_key_of(signer, "-tls_key", key_src), [leaf] + chain + tls_extra)
        except ssl.SSLError as exc:
            raise CredentialError(f"unable to use TLS client certificate '{cert_src}' and key '{key_src}': "
                                  f"{_ssl_reason(exc)}") from None
    return ctx


# ------------------------------------------------------------------ errors

def _ssl_reason(exc: ssl.SSLError) -> str:
    text = getattr(exc, "verify_message", None) or getattr(exc, "reason", None) or str(exc)
    return re.sub(r"\s*\(_ssl\.c:\d+\)", "", str(text)).strip()


def _reason(exc: BaseException) -> str:
    """A short reason for a transport exception, from its innermost OS or SSL error."""
    seen, e = set(), exc
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if isinstance(e, ssl.SSLCertVerificationError):
            return f"TLS server certificate verification failed: {_ssl_reason(e)}"
        if isinstance(e, ssl.SSLError):
            return f"TLS error: {_ssl_reason(e)}"
        if isinstance(e, OSError) and e.strerror:
            return e.strerror[:1].lower() + e.strerror[1:]
        e = e.__cause__ or e.__context__
    text = str(exc).strip().splitlines()
    text = re.sub(r"\s*\(_ssl\.c:\d+\)", "", text[0]) if text else ""
    return text or type(exc).__name__


def _cmp_error_text(body: bytes) -> Optional[str]:
    """The status text of a CMP error message in ``body``, or None if it is not one."""
    if not body or body[0] != 0x30:
        return None
    try:
        from cmpkit.core import bodies
        from cmpkit.core.message import PKIMessage
        msg = PKIMessage.from_der(body)
        if msg.body_type != "error":
            return None
        si, code, details = bodies.read_error(msg.body_content)
    except Exception:  # noqa: BLE001 - any undecodable body is just "not a CMP error"
        return None
    text = si.describe()
    if code is not None:
        text += f"; errorCode: {code}"
    if details:
        text += f"; errorDetails: {'; '.join(details)}"
    return text


def _timeout_text(exc, limit, source: str, where: str) -> str:
    import httpx
    if source == "-total_timeout":
        return f"total timeout (-total_timeout) exceeded while exchanging a message with {where}"
    seconds = f"{limit:g} s" if limit is not None else "the time allowed"
    if isinstance(exc, httpx.ConnectTimeout):
        return f"cannot connect to {where} within {seconds} (-msg_timeout)"
    return f"no response within {seconds} (-msg_timeout) from {where}"


def content_type_ok(value: Optional[str]) -> bool:
    """``application/pkixcmp``, case-insensitive, parameters after ';' ignored (as openssl)."""
    return value is not None and value.split(";", 1)[0].strip().lower() == CONTENT_TYPE


def _connection_kept(response) -> bool:
    """Did the server grant a persistent connection?"""
    tokens = {t.strip().lower() for t in response.headers.get("connection", "").split(",")}
    if "close" in tokens:
        return False
    return "keep-alive" in tokens or response.http_version == "HTTP/1.1"


# ------------------------------------------------------------------ the transfer

class HttpTransport:
    """The :class:`cmpkit.types.Transport` over HTTP(S) to ``-server``.

    :param cfg: the run's Config (server, path, proxy, no_proxy, keep_alive, msg_timeout, tls_*).
    :param loader: the run's :class:`cmpkit.types.LoadContext` for the TLS credentials (only
        needed with ``-tls_used``).
    :param environ: the environment for proxy defaults (tests); ``os.environ`` when None.
    """

    def __init__(self, cfg, loader=None, environ=None):
        server = cfg.get("server")
        if not server:
            raise ConfigError("missing -server option")
        self.tls = bool(cfg.get("tls_used"))
        scheme, _userinfo, host, port, path = parse_server(server, self.tls)
        if not host:
            raise ConfigError(f"missing host in -server argument '{server}'")
        given_path = cfg.get("path")
        if given_path is not None:
            path = given_path if given_path.startswith("/") else "/" + given_path
        self.host, self.port, self.path = host, port, path
        self.url = format_origin(scheme, host, port) + path
        from .plain import simple_url  # a URL httpx takes unchanged needs no check by httpx
        if not simple_url(host, path):
            import httpx
            try:
                httpx.URL(self.url).host  # .host decodes IDNA labels
            except Exception as exc:  # noqa: BLE001 - httpx raises InvalidURL, idna errors, ...
                raise ConfigError(f"invalid -server argument '{server}': {exc}") from None
        keep_alive = cfg.get("keep_alive")
        self.keep_alive = 1 if keep_alive is None else keep_alive
        msg_timeout = cfg.get("msg_timeout")
        self.msg_timeout = DEFAULT_MSG_TIMEOUT if msg_timeout is None else msg_timeout
        proxy, source = proxy_for(host, self.tls, cfg.get("proxy"), cfg.get("no_proxy"), environ)
        self.proxy = proxy_origin(proxy, source) if proxy else None
        if self.proxy:
            import httpx
            try:
                httpx.URL(self.proxy).host
            except Exception as exc:  # noqa: BLE001
                raise ConfigError(f"invalid proxy '{proxy}' (from {source}): {exc}") from None
        self.ssl_context = None
        if self.tls:
            if loader is None:
                raise ConfigError("-tls_used needs the run's credentials loader")
            self.ssl_context = build_ssl_context(cfg, loader, host)
        self._client = None
        self._plain = None  # plain http without a proxy: no httpx (cmpkit_http.plain)
        if not self.tls and not self.proxy and simple_url(host, path):
            from .plain import PlainSender
            self._plain = PlainSender(host, port, path, CONTENT_TYPE, _reason)
        log.info("will contact %s%s", self.url, f" via {self.proxy}" if self.proxy else "")

    def close(self) -> None:
        if self._plain is not None:
            self._plain.close()
        if self._client is not None:
            self._client.close()
            self._client = None

    # -- internals
    def _http_client(self):
        if self._client is None:
            import httpx
            from .transport import Http1Transport
            transport = Http1Transport(ssl_context=self.ssl_context, proxy=self.proxy)
            self._transport = transport  # send() hands requests to it directly (see _request)
            self._client = httpx.Client(transport=transport, trust_env=False, follow_redirects=False)
            self._client.headers.clear()
            self._client.headers.update({"User-Agent": "cmpkit", "Accept": CONTENT_TYPE,
                                         "Accept-Encoding": "identity"})
        return self._client

    def _timeout(self, left: Optional[float] = None) -> tuple:
        """(seconds or None, which option limits it) for an exchange that may take ``left`` seconds
        until the transaction's -total_timeout (None: no deadline)."""
        limit, source = (self.msg_timeout if self.msg_timeout > 0 else None), "-msg_timeout"
        if left is not None:
            left = max(0.001, left)
            if limit is None or left < limit:
                limit, source = left, "-total_timeout"
        return limit, source

    def send(self, request_der: bytes, timeout: Optional[float] = None) -> bytes:
        if self._plain is not None:
            return self._plain.send(self, request_der, timeout)
        import httpx
        client = self._http_client()
        limit, source = self._timeout(timeout)
        start = time.monotonic()
        headers = {"Content-Type": CONTENT_TYPE,
                   "Connection": "close" if self.keep_alive == 0 else "keep-alive"}
        where = self.url + (f" via proxy {self.proxy}" if self.proxy else "")
        try:
            response = self._transport.handle_request(self._request(client, request_der, headers, limit), lean=True)
            try:
                body = self._read_body(response, start, limit, where)
            finally:
                response.close()
        except httpx.TimeoutException as exc:
            raise TransferError(_timeout_text(exc, limit, source, where)) from None
        except httpx.ProxyError as exc:
            raise TransferError(f"proxy {self.proxy} refused the connection to {self.url}: {_reason(exc)}") from None
        except httpx.ConnectError as exc:
            raise TransferError(f"cannot connect to {where}: {_reason(exc)}") from None
        except (httpx.TransportError, httpx.InvalidURL) as exc:
            raise TransferError(f"error exchanging messages with {where}: {_reason(exc)}") from None
        return body

    def _request(self, client, request_der: bytes, headers: dict, limit):
        """The request of one message with the header lines ``client.build_request`` makes (the
        client's headers, then the message's; Host and Content-Length added by httpx), httpx
        building them once: send() passes it straight to the transport and gets a lean response.
        httpx.Client's per-request machinery (URL merging, cookie jar, auth, redirects, which this
        client never uses) and httpx's Request/Response objects cost about a third of the
        transport's CPU time per message with -keep_alive 0 (issue 17)."""
        import httpx
        key = tuple(headers.items())
        if getattr(self, "_head", (None,))[0] != key:  # the first message: httpx makes the header lines
            first = httpx.Request("POST", httpx.URL(self.url), content=request_der,
                                  headers=[*client.headers.raw, *headers.items()])
            self._head = (key, first.url, [(k, v) for k, v in first.headers.raw if k.lower() != b"content-length"])
        from .transport import LeanRequest
        _key, url, lines = self._head
        return LeanRequest("POST", url, [*lines, (b"Content-Length", str(len(request_der)).encode("ascii"))],
                           request_der, {"timeout": {"connect": limit, "read": limit, "write": limit, "pool": limit}})

    def _read_body(self, response, start: float, limit, where: str) -> bytes:
        chunks, size = [], 0
        for chunk in response.iter_raw():
            size += len(chunk)
            if size > MAX_RESPONSE:
                if response.status_code != 200:
                    break  # enough of an error page
                raise TransferError(f"response from {where} exceeds the maximum length of {MAX_RESPONSE} bytes")
            chunks.append(chunk)
            if limit is not None and time.monotonic() - start > limit:
                import httpx
                raise httpx.ReadTimeout("round trip too slow")
        body = b"".join(chunks)
        ctype = response.headers.get("content-type")
        if response.status_code != 200:
            reason = response.reason_phrase or ""
            text = (f"HTTP error {response.status_code}{' ' + reason if reason else ''} from {where}"
                    f" (content type {ctype or 'none'})")
            cmp_text = _cmp_error_text(body)
            if cmp_text:
                text += f": CMP error message: {cmp_text}"
            raise TransferError(text)
        if not content_type_ok(ctype):
            what = f"unexpected content type '{ctype}'" if ctype else "missing content type"
            raise TransferError(f"{what} in response from {where} (expected {CONTENT_TYPE})")
        if self.keep_alive == 2 and not _connection_kept(response):
            raise TransferError(f"server {self.url} did not keep the connection open, "
                                "but -keep_alive 2 requires persistent connections")
        if not body:
            raise TransferError(f"empty response from {where}")
        return body
