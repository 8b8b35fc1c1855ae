"""cmpkit plugin for the mock server: the in-process transfer (-use_mock_srv) and
build_server(), which turns the -srv_* / -rsp_* / failure-injection options into a MockServer
the way ``openssl cmp``'s setup_srv_ctx() does."""
from __future__ import annotations

import logging
import time

from cmpkit.errors import ConfigError
from cmpkit.plugins import hookimpl

log = logging.getLogger("cmpkit")


@hookimpl
def cmpkit_options():
    return ()  # all mock server options are man-page options, declared in cmpkit.core.optdecl


class MockTransfer:
    """The in-process transfer: hands each request to one MockServer for the whole run."""

    def __init__(self, server):
        self.server = server

    def __call__(self, request_der: bytes) -> bytes:
        return self.server.handle(request_der)

    def close(self) -> None:
        pass


@hookimpl
def cmpkit_get_transfer(config):
    if not config.get("use_mock_srv"):
        return None
    log.info("will contact mock server")
    return MockTransfer(build_server(config))


def build_server(cfg, loader=None):
    """A MockServer configured from ``cfg`` (setup_srv_ctx() of openssl's apps/cmp.c).

    Credentials are loaded through the plugin hooks (``loader``: a cmpkit.session.Loader,
    made from ``cfg`` if None). ConfigError/CredentialError name the option at fault.
    """
    from cmpkit.session import Loader

    from .server import MockServer, MockSettings

    if loader is None:
        loader = Loader(cfg)
    s = MockSettings()
    srv_ref, srv_secret = cfg.get("srv_ref"), cfg.get("srv_secret")
    srv_cert, srv_key, srv_keypass = cfg.get("srv_cert"), cfg.get("srv_key"), cfg.get("srv_keypass")
    if srv_ref is None:
        if srv_cert is None:
            raise ConfigError("must give -srv_ref for mock server if no -srv_cert given")
    else:
        s.srv_ref = srv_ref.encode()
    if srv_secret is not None:
        s.srv_secret = loader.passphrase(srv_secret, "PBMAC secret of mock server")
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
            from cmpkit_file.credentials import check_key_matches_cert
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
    s.rsp_extracerts = loader.certs(cfg.get_list("rsp_extracerts"), "CMP extra certificates for mock server", other)
    s.rsp_capubs = loader.certs(cfg.get_list("rsp_capubs"), "caPubs for mock server", other)

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
    s.policy = _policy(cfg)
    s.verify_options = getattr(s.policy, "options", None)
    return MockServer(s)


def _policy(cfg):
    """The verification policy for client certificates: a plugin's, else the default one."""
    from cmpkit.plugins import hook
    policy = hook().cmpkit_verification_policy(config=cfg)
    if policy is None:
        from cmpkit.app.crl_files import crls_from_config
        from cmpkit.core.verify import DefaultVerificationPolicy, VerifyOptions
        policy = DefaultVerificationPolicy(VerifyOptions.from_config(cfg, crls_from_config(cfg)), clock=time.time)
    return policy
