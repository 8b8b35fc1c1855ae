"""The mock server's CA mode, shell side: :func:`build_ca_server` turns the -srv_ca_* options (and
the -srv_* / -rsp_* ones that keep their meaning) into a :class:`CAMockServer`, the clock and
the SQLite store (:mod:`cmpkit_mock.ca_store`) around :class:`cmpkit.core.ca.machine.CAServer`.

``CAMockServer.handle(request_der) -> response_der`` has MockServer's shape, so -use_mock_srv
and -port use it unchanged. No global lock: the store serializes its steps (SQLite), the
verification policy is used under a lock of its own.
"""
from __future__ import annotations

import logging
import threading
import time

from cmpkit.errors import ConfigError

log = logging.getLogger("cmpkit")


class _LockedPolicy:
    """A verification policy used by one thread at a time (its caches are not thread-safe)."""

    def __init__(self, policy):
        self._policy, self._lock = policy, threading.Lock()
        self.store = getattr(policy, "store", None)

    def verify_chain(self, *args, **kw):
        with self._lock:
            return self._policy.verify_chain(*args, **kw)


class CAMockServer:
    """The CA machine with the current time and a store; callable from any thread."""

    def __init__(self, settings, store, clock=time.time):
        from cmpkit.core.ca.machine import CAServer
        if settings.policy is not None and not isinstance(settings.policy, _LockedPolicy):
            settings.policy = _LockedPolicy(settings.policy)
        self.machine = CAServer(settings, store)
        self.store, self.clock = store, clock

    @property
    def s(self):
        return self.machine.s

    def handle(self, request_der: bytes) -> bytes:
        return self.machine.handle(request_der, self.clock())

    __call__ = handle


def _private_key(signer, what: str):
    key = getattr(signer, "private_key", None)
    if key is None:
        raise ConfigError(f"{what} must be a software key (issuing with a token key is not supported)")
    return key


def build_ca_server(cfg, loader) -> CAMockServer:
    """A CAMockServer from the options (see :mod:`cmpkit_mock.options`, CA_OPTIONS)."""
    from cmpkit.core.ca.issue import IssuePolicy
    from cmpkit.core.ca.machine import CASettings
    from cmpkit.core.keys import check_key_matches_cert

    from .ca_store import SQLiteStore

    ca_cert_src, ca_key_src = cfg.get("srv_ca_cert"), cfg.get("srv_ca_key")
    if ca_cert_src is None or ca_key_src is None:
        raise ConfigError("must give both -srv_ca_cert and -srv_ca_key for the mock server's CA mode")
    if cfg.get("rsp_cert") is not None:
        raise ConfigError("-rsp_cert cannot be combined with -srv_ca_cert: in CA mode the mock server issues")
    keypass = cfg.get("srv_ca_keypass")
    ca_cert, ca_chain = loader.cert(ca_cert_src, "CA certificate of the mock server", keypass)
    ca_signer = loader.key(ca_key_src, keypass, "private key of the mock server's CA")
    check_key_matches_cert(ca_signer, ca_cert, "-srv_ca_cert and -srv_ca_key")
    s = CASettings(ca_cert=ca_cert, ca_key=_private_key(ca_signer, "-srv_ca_key"), ca_chain=list(ca_chain))

    srv_ref, srv_secret = cfg.get("srv_ref"), cfg.get("srv_secret")
    if srv_ref is not None:
        s.srv_ref = srv_ref.encode()
    if srv_secret is not None:
        s.srv_secret = loader.get_pass(srv_secret, "PBMAC secret of mock server")
    srv_cert, srv_key, srv_keypass = cfg.get("srv_cert"), cfg.get("srv_key"), cfg.get("srv_keypass")
    if (srv_cert is None) != (srv_key is None):
        raise ConfigError("must give both -srv_cert and -srv_key options or neither")
    if srv_cert is not None:
        s.srv_cert, s.srv_chain = loader.cert(srv_cert, "certificate of the mock server", srv_keypass)
        s.srv_signer = loader.key(srv_key, srv_keypass, "private key for mock server cert")
        check_key_matches_cert(s.srv_signer, s.srv_cert, "-srv_cert and -srv_key")
    other = cfg.get("otherpass")
    s.srv_trusted = loader.certs(cfg.get_list("srv_trusted"), "certs trusted by mock server", other)
    s.srv_untrusted = loader.certs(cfg.get_list("srv_untrusted"), "untrusted certificates for mock server", other)
    s.rsp_extracerts = loader.certs(cfg.get_list("rsp_extracerts"), "CMP extra certificates for mock server", other)
    s.rsp_capubs = loader.certs(cfg.get_list("rsp_capubs"), "caPubs for mock server", other)
    s.grant_implicitconf = bool(cfg.get("grant_implicitconf"))
    s.accept_unprotected = bool(cfg.get("accept_unprotected"))
    s.accept_raverified = bool(cfg.get("accept_raverified"))
    s.policy = loader.verification_policy()
    max_days = cfg.get("srv_max_days")
    s.issue = IssuePolicy(max_days=365 if max_days is None else max_days)
    if s.issue.max_days < 1:
        raise ConfigError("-srv_max_days must be at least 1")
    window = cfg.get("srv_time_window")
    s.time_window = 600 if window is None else window
    wait = cfg.get("srv_confirm_wait")
    s.confirm_wait = 300 if wait is None else wait
    _modern_options(cfg, s)
    for opt in ("poll_count", "pkistatus", "failure", "failurebits", "statusstring", "send_error",
                "send_unprotected", "send_unprot_err",
                # OpenSSL's mock answers from these; the CA answers from its own state
                "ref_cert", "rsp_key", "rsp_crl", "rsp_newwithnew", "rsp_newwithold", "rsp_oldwithnew"):
        if cfg.get(opt):
            log.warning("-%s has no effect in the mock server's CA mode", opt)
    if s.srv_secret is None and s.srv_trusted == [] and not s.accept_unprotected:
        log.warning("mock CA accepts only requests signed with certificates it issued "
                    "(no -srv_secret, -srv_trusted or -accept_unprotected)")
    store = SQLiteStore(cfg.get("srv_db"))
    log.info("mock server in CA mode, state in %s", store.path)
    return CAMockServer(s, store)


def _modern_options(cfg, s) -> None:
    """-srv_crl_url and -srv_keygen_type (RFC 9480/9483 features of the CA mode)."""
    from cmpkit.core.ca.keygen import DEFAULT_KEY_TYPE, check_key_type
    url = cfg.get("srv_crl_url")
    if url is not None:
        if not url or not url.isascii() or any(c.isspace() for c in url) or ":" not in url:
            raise ConfigError(f"-srv_crl_url must be a URI (like http://ca.example/ca.crl), not {url!r}")
        s.crl_url = url
    try:
        s.keygen_type = check_key_type(cfg.get("srv_keygen_type") or DEFAULT_KEY_TYPE)
    except ValueError as exc:
        raise ConfigError(f"-srv_keygen_type: {exc}") from None
