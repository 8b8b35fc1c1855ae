"""cmpkit plugin for the mock server: the in-process transport (-use_mock_srv), the server for -port,
and build_server(), which turns the -srv_* / -rsp_* / failure-injection options into a MockServer
the way ``openssl cmp``'s setup_srv_ctx() does. Its options: :mod:`cmpkit_mock.options`."""
from __future__ import annotations

import logging

from cmpkit.errors import ConfigError
from cmpkit import hookimpl

log = logging.getLogger("cmpkit.mock")


@hookimpl
def cmpkit_options():
    """-use_mock_srv and the mock server's options (:mod:`cmpkit_mock.options`)."""
    from .options import OPTIONS
    return OPTIONS


class MockTransport:
    """The in-process Transport: hands each request to one MockServer for the whole run."""

    def __init__(self, server):
        self.server = server

    def send(self, request: bytes, timeout=None) -> bytes:
        return self.server.handle(request)

    def close(self) -> None:
        pass


@hookimpl
def cmpkit_get_transport(config, ctx):
    if not config.get("use_mock_srv"):
        return None
    log.info("will contact mock server")
    return MockTransport(build_server(config, ctx))


def open_mock(url, config, ctx):
    """``mock:`` URLs (e.g. ``-server mock://``): the in-process mock server, as -use_mock_srv."""
    log.info("will contact mock server")
    return MockTransport(build_server(config, ctx))


@hookimpl
def cmpkit_transport_schemes():
    """``mock://``: the in-process mock server configured by the -srv_*/-rsp_* options."""
    return {"mock": open_mock}


@hookimpl
def cmpkit_mock_server(config, ctx):
    return build_server(config, ctx).handle


def build_server(cfg, loader):
    """A MockServer configured from ``cfg`` (setup_srv_ctx() of openssl's apps/cmp.c).

    Credentials are loaded through ``loader`` (the run's :class:`cmpkit.types.LoadContext`).
    ConfigError/CredentialError name the option at fault.
    """
    from cmpkit.core.keys import check_key_matches_cert

    from .server import MockServer, MockSettings

    if cfg.get("srv_ca_cert") is not None or cfg.get("srv_ca_key") is not None:  # CA mode (cmpkit_mock.ca)
        from .ca import build_ca_server
        return build_ca_server(cfg, loader)

    s = MockSettings()
    srv_ref, srv_secret = cfg.get("srv_ref"), cfg.get("srv_secret")
    srv_cert, srv_key, srv_keypass = cfg.get("srv_cert"), cfg.get("srv_key"), cfg.get("srv_keypass")
    if srv_ref is None:
        if srv_cert is None:
            raise ConfigError("must give -srv_ref for mock server if no -srv_cert given")
    else:
        s.srv_ref = srv_ref.encode()
    if srv_secret is not None:
        s.srv_secret = loader.get_pass(srv_secret, "PBMAC secret of mock server")
    elif srv_cert is None:
        raise ConfigError("mock server credentials must be given if -use_mock_srv or -port is used")
    else:
        log.warning("mock server will not be able to handle PBM-protected requests since -srv_secret is not given")
    if srv_secret is None and (srv_cert is None) != (srv_key is None):
        raise ConfigError("must give both -srv_cert and -srv_key options or neither")
    if srv_cert is not None:
        s.srv_cert, s.srv_chain = loader.cert(srv_cert, "certificate of the mock server", srv_keypass)
    if srv_key is not None:
        s.srv_signer = loader.key(srv_key, srv_keypass, "private key for mock server cert")
        if s.srv_cert is not None:
            check_key_matches_cert(s.srv_signer, s.srv_cert, "-srv_cert and -srv_key")

    other = cfg.get("otherpass")
    if cfg.get("srv_trusted"):
        s.srv_trusted = loader.certs(cfg.get_list("srv_trusted"), "certs trusted by mock server", other)
    else:
        log.warning("mock server will not be able to handle signature-protected requests since "
                    "-srv_trusted is not given")
    s.srv_untrusted = loader.certs(cfg.get_list("srv_untrusted"), "untrusted certificates for mock server", other)

    if cfg.get("rsp_cert") is None:
        log.warning("no -rsp_cert given for mock server")
    else:
        s.rsp_cert, _ = loader.cert(cfg.get("rsp_cert"), "cert to be returned by the mock server",
                                    cfg.get("keypass"))
    _central_keygen(cfg, loader, s)
    if cfg.get("ref_cert") is not None:  # openssl 3.2+: what rr and kur's oldCertID must name
        s.ref_cert, _ = loader.cert(cfg.get("ref_cert"), "reference cert to be expected by the mock server",
                                    cfg.get("otherpass"))
    s.no_cache_extracerts = bool(cfg.get("no_cache_extracerts"))
    s.rsp_extracerts = loader.certs(cfg.get_list("rsp_extracerts"), "CMP extra certificates for mock server", other)
    s.rsp_capubs = loader.certs(cfg.get_list("rsp_capubs"), "caPubs for mock server", other)
    _genm_answers(cfg, loader, s, other)

    s.poll_count = cfg.get("poll_count") or 0
    check_after = cfg.get("check_after")
    s.check_after = 1 if check_after is None else check_after
    s.grant_implicitconf = bool(cfg.get("grant_implicitconf"))
    failure, failurebits = cfg.get("failure"), cfg.get("failurebits") or 0
    if failure is not None:
        if not 0 <= failure <= 26:
            raise ConfigError("-failure out of range, should be >= 0 and <= 26")
        if failurebits:
            log.warning("-failurebits overrides -failure")
        else:
            failurebits = 1 << failure
    if not 0 <= failurebits < 1 << 27:
        raise ConfigError("-failurebits out of range")
    s.failurebits = failurebits
    pkistatus = cfg.get("pkistatus") or 0
    if not 0 <= pkistatus <= 6:
        raise ConfigError(f"-pkistatus {pkistatus} out of range, should be >= 0 and <= 6")
    s.pkistatus = pkistatus
    s.statusstring = cfg.get("statusstring")
    for flag in ("send_error", "send_unprotected", "send_unprot_err", "accept_unprotected",
                 "accept_unprot_err", "accept_raverified"):
        setattr(s, flag, bool(cfg.get(flag)))
    s.policy = loader.verification_policy()
    return MockServer(s)


def _central_keygen(cfg, loader, s) -> None:
    """-rsp_key/-rsp_keypass: the private key the mock returns, enveloped for the requester, when a
    request asks for central key generation (openssl 3.5's mock; not checked against -rsp_cert,
    as a test of the client's check needs a mismatching one)."""
    src = cfg.get("rsp_key")
    if src is None:
        if cfg.get("rsp_keypass") is not None:
            log.warning("-rsp_keypass is ignored without -rsp_key")
        return
    signer = loader.key(src, cfg.get("rsp_keypass"), "private key to be returned by the mock server (-rsp_key)")
    key = getattr(signer, "private_key", None)
    if key is None:
        raise ConfigError("-rsp_key must be a key in a file (its private key is sent to the client)")
    s.rsp_key = key


def _genm_answers(cfg, loader, s, other) -> None:
    """-rsp_newwithnew, -rsp_newwithold, -rsp_oldwithnew and -rsp_crl: the mock's answers to genm
    of type rootCaCert and crlStatusList (RFC 9480 2.3, openssl 3.2-3.4)."""
    for name, what in (("rsp_newwithnew", "NewWithNew cert the mock server returns in rootCaKeyUpdate"),
                       ("rsp_newwithold", "NewWithOld cert the mock server returns in rootCaKeyUpdate"),
                       ("rsp_oldwithnew", "OldWithNew cert the mock server returns in rootCaKeyUpdate")):
        if cfg.get(name) is not None:
            setattr(s, name, loader.cert(cfg.get(name), what, other)[0])
    if cfg.get("rsp_crl") is not None:
        s.rsp_crl = loader.crl(cfg.get("rsp_crl"), "CRL to be returned by the mock server")
