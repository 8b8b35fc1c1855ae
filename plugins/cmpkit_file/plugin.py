"""The file plugin's hooks: keys, certificates and CSRs from files (PEM, DER, PKCS#12), and message
replay and capture with files around any transport, with its options (:mod:`cmpkit_file.options`).

Sources that are not files (``pkcs11:``, ``org.openssl.engine:`` and other URIs) and
``-keyform ENGINE`` are left to other plugins: the loaders answer None for them.
Heavy modules (cryptography) are imported only when a hook actually loads something.
"""
from __future__ import annotations

from typing import Optional

from cmpkit import hookimpl


def _mine(source: str, form: Optional[str]) -> bool:
    from .credentials import is_file_source
    return (form or "").upper() != "ENGINE" and is_file_source(source)


def _password(passarg: Optional[str], what: str, ctx):
    """A callable giving the pass phrase: asked for only when the file is encrypted."""
    return lambda: ctx.get_pass(passarg, what)


@hookimpl
def cmpkit_options():
    """-reqin, -reqin_new_tid, -reqout, -rspin, -rspout (:mod:`cmpkit_file.options`)."""
    from .options import OPTIONS
    return OPTIONS


@hookimpl
def cmpkit_load_key(source, passarg, keyform, what, ctx):
    if not _mine(source, keyform):
        return None
    from cmpkit.core.keys import SoftwareKey

    from .credentials import load_private_key
    return SoftwareKey(load_private_key(source, _password(passarg, what, ctx), keyform, what))


@hookimpl
def cmpkit_load_public_key(source, passarg, keyform, what, ctx):
    if not _mine(source, keyform):
        return None
    from .credentials import load_public_key
    return load_public_key(source, _password(passarg, what, ctx), keyform, what)


@hookimpl
def cmpkit_load_certs(source, passarg, certform, what, ctx):
    if not _mine(source, certform):
        return None
    from .credentials import load_certs
    return load_certs(source, _password(passarg, what, ctx), certform, what)


@hookimpl
def cmpkit_load_csr(source, what, ctx):
    if not _mine(source, None):
        return None
    from .credentials import load_csr
    return load_csr(source, what)


@hookimpl
def cmpkit_wrap_transport(config, transport, protect):
    """-reqin/-reqout/-rspin/-rspout: capture and replay around whatever transport was chosen."""
    from .replay import wrap
    return wrap(config, transport, protect)
