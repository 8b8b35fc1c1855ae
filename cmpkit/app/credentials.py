"""Credentials of a run: keys, certificates and CSRs loaded through the plugins' hooks, pass phrases
from their sources, and the verification policy (the shell's LoadContext)."""
from __future__ import annotations

import re
from typing import Optional

from ..errors import CredentialError

_PIN_VALUE = r"(?i)(pin-value=)[^&;?#]*"  # compiled on first use (re caches it)


def shown_source(source: str) -> str:
    """A credential source as it may appear in a message: any URI ``pin-value`` hidden."""
    return re.sub(_PIN_VALUE, r"\1***", source)


class Loader:
    """Loads keys and certificates through the plugin hooks with the run's pass phrase policy;
    implements :class:`cmpkit.types.LoadContext`, which hooks receive as ``ctx``.

    :param cfg: the run's Config (or a mapping with ``get``), None for none.
    :param batch: never prompt; by default ``-batch`` of ``cfg``.
    :param get_pass: ``get_pass(arg, what)`` instead of reading pass phrase sources (tests).
    :param hook: the plugin hook caller; the process-wide one when None.
    """

    def __init__(self, cfg=None, hook=None, *, batch: Optional[bool] = None, get_pass=None):
        self.cfg = self.config = cfg
        self.batch = bool(cfg.get("batch")) if batch is None and cfg is not None else bool(batch)
        self._get_pass = get_pass
        self._hook = hook
        self._policy = None

    @property
    def hook(self):
        if self._hook is None:
            from ..plugins import hook as get_hook
            self._hook = get_hook()
        return self._hook

    # -- pass phrases and files
    def get_pass(self, arg: Optional[str], what: str) -> Optional[bytes]:
        if self._get_pass is not None:
            return self._get_pass(arg, what)
        from .passphrase import read_pass
        return read_pass(arg, what, batch=self.batch)

    passphrase = get_pass

    def read_file(self, source: str, what: str) -> bytes:
        from .files import read_bytes
        return read_bytes(source, what)

    def crl(self, source: str, what: str) -> bytes:
        from .genm import load_crl_file
        return load_crl_file(source, what)

    # -- through the plugins' hooks
    def _through(self, hook_name: str, source: str, what: str, **kwargs):
        got = getattr(self.hook, hook_name)(source=source, what=what, ctx=self, **kwargs)
        if got is None:
            raise CredentialError(f"no plugin can load {what} from '{shown_source(source)}'")
        return got

    def certs(self, sources, what: str, passarg=None) -> list:
        """All certificates of a list of sources (each may hold several)."""
        out = []
        for src in sources:
            out.extend(self._through("cmpkit_load_certs", src, what, passarg=passarg, certform=None))
        return out

    def certs_option(self, name: str, what: str, passarg=None) -> list:
        cfg = self.cfg
        return self.certs(cfg.get_list(name) if cfg.get(name) else [], what,
                          passarg if passarg is not None else cfg.get("otherpass"))

    def cert(self, source: str, what: str, passarg=None) -> tuple:
        """(first certificate, the rest) of one source."""
        certs = self.certs([source], what, passarg)
        return certs[0], certs[1:]

    def key(self, source: str, passarg, what: str):
        return self._through("cmpkit_load_key", source, what, passarg=passarg, keyform=self._form("keyform"))

    def public_key(self, source: str, passarg, what: str):
        return self._through("cmpkit_load_public_key", source, what, passarg=passarg, keyform=self._form("keyform"))

    def csr(self, source: str, what: str = "PKCS#10 CSR (-csr)") -> bytes:
        return self._through("cmpkit_load_csr", source, what)

    def _form(self, name: str):
        return self.cfg.get(name) if self.cfg is not None else None

    # -- verification
    def verification_policy(self):
        """A plugin's policy (cmpkit_verification_policy), else the bundled default; one per run."""
        if self._policy is None:
            policy = self.hook.cmpkit_verification_policy(config=self.cfg)
            if policy is None:
                from ..core.verify.options import VerifyOptions
                from .crl_files import crls_from_config
                policy = _DeferredPolicy(VerifyOptions.from_config(self.cfg, crls_from_config(self.cfg)))
            self._policy = policy
        return self._policy


class _DeferredPolicy:
    """The bundled DefaultVerificationPolicy with the run's (already checked) options, built on
    first use: building it imports the path validation and cryptography.x509, which a run that
    checks no certificate (PBM protection, no -out_trusted) never needs."""

    def __init__(self, options):
        import threading
        self._options, self._policy, self._lock = options, None, threading.Lock()

    def __getattr__(self, name: str):
        if self._policy is None:
            with self._lock:  # one policy (one CertStore) also when the mock's threads ask first
                if self._policy is None:
                    import time

                    from ..core.verify.policy import DefaultVerificationPolicy
                    self._policy = DefaultVerificationPolicy(self._options, clock=time.time)
        return getattr(self._policy, name)
