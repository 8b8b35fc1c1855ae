"""Every cmpkit hook, typed and documented: the contract between the core and its plugins.

A plugin is a module (or object) with functions marked ``@cmpkit.hookimpl`` whose names are
hook names below. Plugins are found through the ``cmpkit.plugins`` entry-point group; the
bundled ones (file, http, mock, pkcs11) are registered exactly like a third party's.
Firstresult hooks are asked in turn: a plugin returns None for "not mine".
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Optional, Sequence

import pluggy

if TYPE_CHECKING:  # pragma: no cover
    from .core.keys import Signer
    from .core.message import PKIMessage
    from .core.options import Config, Option

hookspec = pluggy.HookspecMarker("cmpkit")


class LoadContext:
    """What a loader may need besides the source: pass phrases, prompting policy, format hints.

    :ivar batch: never prompt (``-batch``).
    :ivar get_pass: ``get_pass(arg, what)`` resolves a pass phrase source such as
        ``pass:...``, ``env:VAR``, ``file:path``, ``fd:N`` or ``stdin``; with ``arg`` None it
        prompts for ``what`` unless ``batch``, returning None when it may not prompt.
    :ivar config: the run's Config (read-only), for options such as ``-engine``.
    """

    def __init__(self, batch: bool = True, get_pass: Optional[Callable] = None, config: Any = None):
        self.batch = batch
        self.config = config
        self._get_pass = get_pass

    def get_pass(self, arg: Optional[str], what: str) -> Optional[bytes]:
        if self._get_pass is None:
            from .core.passphrase import read_pass
            return read_pass(arg, what, batch=self.batch)
        return self._get_pass(arg, what)


@hookspec
def cmpkit_options() -> "Sequence[Option]":
    """Declare the command-line/config options a plugin owns.

    Each Option is declared once (name, kind, default, help, man-page group); the parser,
    the config-file reader, ``-help`` and the documentation are all generated from it.
    Must not import heavy modules: ``cmpkit -help`` calls it.

    :return: a sequence of :class:`cmpkit.core.options.Option`.
    """


@hookspec(firstresult=True)
def cmpkit_load_key(source: str, passarg: Optional[str], keyform: Optional[str], what: str,
                    ctx: LoadContext) -> "Optional[Signer]":
    """Load a private key as a signing handle, or return None if ``source`` is not yours.

    :param source: the option value, e.g. ``key.pem``, ``file:key.p12``, ``pkcs11:...``.
    :param passarg: pass phrase source given with the matching option (``-keypass`` ...) or None.
    :param keyform: ``-keyform`` value (PEM, DER, P12, ENGINE) or None for "guess".
    :param what: a description for messages and prompts, e.g. "private key for -key".
    :param ctx: the LoadContext.
    :return: a :class:`cmpkit.core.keys.Signer`; a token key must not leave its token.
    """


@hookspec(firstresult=True)
def cmpkit_load_public_key(source: str, passarg: Optional[str], keyform: Optional[str], what: str,
                           ctx: LoadContext):
    """Load a public key (``-newkey`` when no POPO signature is needed), or None if not yours.

    :return: a ``cryptography`` public key object.
    """


@hookspec(firstresult=True)
def cmpkit_load_certs(source: str, passarg: Optional[str], certform: Optional[str], what: str,
                      ctx: LoadContext) -> "Optional[list[bytes]]":
    """Load certificates from one source, or return None if ``source`` is not yours.

    :param source: one file name or URI (lists are split by the caller).
    :return: DER-encoded certificates, in file order; empty sources are an error.
    """


@hookspec(firstresult=True)
def cmpkit_get_transfer(config: "Config") -> "Optional[Callable[[bytes], bytes]]":
    """Choose how request messages reach the server for this run, or None if not yours.

    The result is a callable taking a DER request and returning the DER response; it may
    have a ``close()`` method, called when the run ends. Raise TransferError on failure.
    Built-in choices: in-process mock (``-use_mock_srv``), HTTP(S) (``-server``).
    File replay (``-reqin``/``-rspin``) wraps the chosen transfer through
    :func:`cmpkit_wrap_transfer`.
    """


@hookspec
def cmpkit_wrap_transfer(config: "Config", transfer: "Optional[Callable[[bytes], bytes]]"
                         ) -> "Optional[Callable[[bytes], bytes]]":
    """Wrap the chosen transfer (capture, replay), returning the wrapper or None to leave it.

    Called for every plugin in turn; each wrapper sees what the previous one returned.
    """


@hookspec(firstresult=True)
def cmpkit_serve(config: "Config", handler: "Callable[[bytes], bytes]") -> "Optional[bool]":
    """Run a server front for the mock CMP server (``-port``), or return None if not yours.

    :param handler: turns one DER request into one DER response (never raises for bad input).
    :return: True when the server has finished (e.g. after ``-max_msgs``).
    """


@hookspec(firstresult=True)
def cmpkit_verification_policy(config: "Config"):
    """Return the object that decides which certificates and chains are trusted, or None.

    The policy has ``verify_chain(cert_der, untrusted, trusted, purpose)`` raising
    VerifyError with the subject and reason, as :mod:`cmpkit.core.verify` documents.
    The bundled default is used when no plugin answers.
    """


@hookspec
def cmpkit_message_sent(message: "PKIMessage", der: bytes) -> None:
    """Observe every message the client (or mock server) sends; must not modify it."""


@hookspec
def cmpkit_message_received(message: "PKIMessage", der: bytes) -> None:
    """Observe every message the client (or mock server) receives; must not modify it."""
