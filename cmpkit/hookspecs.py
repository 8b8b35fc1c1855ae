"""Every cmpkit hook, typed and documented: the contract between the core and its plugins.

A plugin is a module (or object) with functions marked ``@cmpkit.hookimpl`` whose names are
hook names below. Plugins are found through the ``cmpkit.plugins`` entry-point group; the
bundled ones (file, http, mock, pkcs11) are registered exactly like a third party's.
Firstresult hooks are asked in turn: a plugin returns None for "not mine".
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Optional, Sequence

import pluggy

from .types import LoadContext, Signer, Transport, VerificationPolicy  # noqa: F401  (the contracts)

if TYPE_CHECKING:  # pragma: no cover
    from .core.message import PKIMessage
    from .core.options import Config, Option

hookspec = pluggy.HookspecMarker("cmpkit")


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
def cmpkit_load_csr(source: str, what: str, ctx: LoadContext) -> "Optional[bytes]":
    """Load a PKCS#10 certificate request (``-csr``), or return None if ``source`` is not yours.

    :param source: the option value (a file name or URI).
    :param what: a description for messages.
    :param ctx: the LoadContext.
    :return: the request as DER (its signature is not checked here).
    """


@hookspec(firstresult=True)
def cmpkit_get_transport(config: "Config", ctx: LoadContext) -> "Optional[Transport]":
    """Choose how request messages reach the server for this run, or return None if not yours.

    Built-in choices: the in-process mock server (``-use_mock_srv``), HTTP(S) (``-server``).
    Capture and replay (``-reqout``, ``-rspin`` ...) wrap the chosen transport through
    :func:`cmpkit_wrap_transport`.

    :param config: the run's Config.
    :param ctx: the LoadContext, for credentials the transport needs (TLS).
    :return: a :class:`cmpkit.types.Transport`; the shell closes it when the run ends.
    """


@hookspec
def cmpkit_wrap_transport(config: "Config", transport: "Optional[Transport]",
                          protect: "Callable[[PKIMessage], None]") -> "Optional[Transport]":
    """Wrap the chosen transport (capture, replay), or return None to leave it as it is.

    Called for every plugin in turn; each sees what the previous one returned. A wrapper that
    sends another request than the client's or replays a response returns a
    :class:`cmpkit.types.ReplayedResponse`.

    :param config: the run's Config.
    :param transport: the transport chosen so far (None: no server to contact).
    :param protect: protects a PKIMessage in place as the client protects its requests
        (for a substituted ``-reqin`` request).
    :return: the wrapping Transport, or None.
    """


@hookspec(firstresult=True)
def cmpkit_mock_server(config: "Config", ctx: LoadContext) -> "Optional[Callable[[bytes], bytes]]":
    """Build the CMP server that ``-port`` serves (and ``-use_mock_srv`` uses), or None if not yours.

    :param config: the run's Config (the ``-srv_*`` and ``-rsp_*`` options).
    :param ctx: the LoadContext for the server's credentials and verification policy.
    :return: a handler turning one DER request into one DER response; it never raises for
        bad input (it answers with a CMP error message).
    """


@hookspec(firstresult=True)
def cmpkit_serve(config: "Config", handler: "Callable[[bytes], bytes]", ctx: LoadContext) -> "Optional[bool]":
    """Run a server front for the CMP server (``-port``), or return None if not yours.

    :param config: the run's Config (``-port``, ``-max_msgs``, TLS options).
    :param handler: turns one DER request into one DER response (never raises for bad input).
    :param ctx: the LoadContext for the front's own credentials (TLS).
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
