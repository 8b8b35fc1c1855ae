"""Every cmpkit hook, typed and documented: the contract between the core and its plugins.

A plugin is a module (or object) with functions marked ``@cmpkit.hookimpl`` whose names are
hook names below. Plugins are found through the ``cmpkit.plugins`` entry-point group; the
bundled ones (file, http, mock, pkcs11) are registered exactly like a third party's.
Firstresult hooks are asked in turn: a plugin returns None for "not mine".

The hooks are grouped by the stage of a run that calls them, in data-flow order: options,
configure, credentials, transport, verification, server, observation, unconfigure.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Mapping, Optional, Sequence

import pluggy

from .types import LoadContext, Signer, Transport, VerificationPolicy  # noqa: F401  (the contracts)

if TYPE_CHECKING:  # pragma: no cover
    from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

    from .core.message import PKIMessage
    from .core.options import Config, Option

hookspec = pluggy.HookspecMarker("cmpkit")


# -------------------------------------------------------------------------------------------------
# Options: what the command line, the config file and -help accept
# -------------------------------------------------------------------------------------------------

@hookspec
def cmpkit_options() -> "Sequence[Option]":
    """Declare the command-line/config options a plugin owns.

    Each Option is declared once (name, kind, default, help, man-page group and, for an
    ``openssl cmp`` option, its ``order`` in the man page); the parser, the config-file reader,
    ``-help`` and the documentation are all generated from it. A plugin declares the options
    whose behaviour it implements; when the plugin is blocked or fails to load, its options
    are unknown. Must not import heavy modules: ``cmpkit -help`` calls it.

    :return: a sequence of :class:`cmpkit.core.options.Option`.
    """


# -------------------------------------------------------------------------------------------------
# Configure: the run's Config is built
# -------------------------------------------------------------------------------------------------

@hookspec
def cmpkit_configure(config: "Config") -> None:
    """Set up for a run, once, right after its Config is built from the command line and the
    config file (not for ``-help``). Every plugin is called, before the hooks that load
    credentials, choose the transport or build the server.

    :func:`cmpkit_unconfigure` is called when the run ends, even when this hook raised.

    :param config: the run's Config (read-only).
    """


# -------------------------------------------------------------------------------------------------
# Credentials: keys, certificates and requests from files, tokens, ...
# -------------------------------------------------------------------------------------------------

@hookspec(firstresult=True)
def cmpkit_load_key(source: str, passarg: Optional[str], keyform: Optional[str], what: str,
                    ctx: LoadContext) -> "Optional[Signer]":
    """Load a private key as a signing handle, or return None if ``source`` is not yours.

    :param source: the option value, e.g. ``key.pem``, ``file:key.p12``, ``pkcs11:...``.
    :param passarg: pass phrase source given with the matching option (``-keypass`` ...) or None.
    :param keyform: ``-keyform`` value (PEM, DER, P12, ENGINE) or None for "guess".
    :param what: a description for messages and prompts, e.g. "private key for -key".
    :param ctx: the LoadContext.
    :return: a :class:`cmpkit.types.Signer`; a token key must not leave its token.
    """


@hookspec(firstresult=True)
def cmpkit_load_public_key(source: str, passarg: Optional[str], keyform: Optional[str], what: str,
                           ctx: LoadContext) -> "Optional[PublicKeyTypes]":
    """Load a public key (``-newkey`` when no POPO signature is needed), or None if not yours.

    :param source: the option value (a public or private key's file name or URI).
    :param passarg: pass phrase source given with the option (``-newkeypass``) or None.
    :param keyform: ``-keyform`` value (PEM, DER, P12, ENGINE) or None for "guess".
    :param what: a description for messages and prompts.
    :param ctx: the LoadContext.
    :return: a ``cryptography`` public key object.
    """


@hookspec(firstresult=True)
def cmpkit_load_certs(source: str, passarg: Optional[str], certform: Optional[str], what: str,
                      ctx: LoadContext) -> "Optional[list[bytes]]":
    """Load certificates from one source, or return None if ``source`` is not yours.

    :param source: one file name or URI (lists are split by the caller).
    :param passarg: pass phrase source for an encrypted source (``-otherpass``, ``-keypass`` ...) or None.
    :param certform: the expected format, or None for "guess".
    :param what: a description for messages and prompts, e.g. "trusted certs (-trusted)".
    :param ctx: the LoadContext.
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


# -------------------------------------------------------------------------------------------------
# Transport: how requests reach the server
# -------------------------------------------------------------------------------------------------

@hookspec(firstresult=True)
def cmpkit_get_transport(config: "Config", ctx: LoadContext) -> "Optional[Transport]":
    """Choose how request messages reach the server for this run, or return None if not yours.

    Asked only when ``-server`` is not given (a ``-server`` URL's scheme chooses the transport:
    :func:`cmpkit_transport_schemes`). Built-in choice: the in-process mock server (``-use_mock_srv``).
    Capture and replay (``-reqout``, ``-rspin`` ...) wrap the chosen transport through
    :func:`cmpkit_wrap_transport`.

    :param config: the run's Config.
    :param ctx: the LoadContext, for credentials the transport needs (TLS).
    :return: a :class:`cmpkit.types.Transport`; the shell closes it when the run ends.
    """


@hookspec
def cmpkit_transport_schemes() -> "Mapping[str, Callable[[str, Config, LoadContext], Transport]]":
    """Declare the URL schemes whose servers a plugin reaches, as httpx's ``mounts`` and requests'
    ``Session.mount`` do: ``-server scheme://...`` (and ``cmpkit.Client("scheme://...")``) takes
    the transport of the plugin that declares ``scheme``, with no other configuration. A
    ``-server`` without a scheme means ``http``, as in openssl. Every plugin is asked; a scheme
    declared by two plugins is an error naming both, whatever the order of the plugins.

    Must be cheap (no heavy imports): the factories import what they need when called.

    :return: a mapping from a lower-case scheme (``"http"``, ``"filedrop"`` ...) to a factory
        ``factory(url, config, ctx)`` that returns the :class:`cmpkit.types.Transport` to the
        server ``url`` names (the ``-server`` value as given); ``config`` is the run's Config
        (for the plugin's options), ``ctx`` the LoadContext. The shell closes the transport
        when the run ends. A factory raises :class:`cmpkit.ConfigError` for a URL it cannot use.
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


# -------------------------------------------------------------------------------------------------
# Verification: which certificates and chains are trusted
# -------------------------------------------------------------------------------------------------

@hookspec(firstresult=True)
def cmpkit_verification_policy(config: "Config") -> "Optional[VerificationPolicy]":
    """Return the object that decides which certificates and chains are trusted, or None.

    The policy has ``verify_chain(cert_der, untrusted, trusted, purpose)`` raising
    VerifyError with the subject and reason, as :mod:`cmpkit.core.verify` documents.
    The bundled default is used when no plugin answers.

    :param config: the run's Config (the certificate verification options).
    :return: a :class:`cmpkit.types.VerificationPolicy`, or None for the bundled default.
    """


# -------------------------------------------------------------------------------------------------
# Server: the mock server behind -port (and -use_mock_srv)
# -------------------------------------------------------------------------------------------------

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


# -------------------------------------------------------------------------------------------------
# Observation: every message sent and received
# -------------------------------------------------------------------------------------------------

@hookspec
def cmpkit_message_sent(message: "PKIMessage", der: bytes) -> None:
    """Observe every message the client (or mock server) sends; must not modify it.

    :param message: the message, decoded.
    :param der: the message as sent, DER.
    """


@hookspec
def cmpkit_message_received(message: "PKIMessage", der: bytes) -> None:
    """Observe every message the client (or mock server) receives; must not modify it.

    :param message: the message, decoded.
    :param der: the message as received, DER.
    """


# -------------------------------------------------------------------------------------------------
# Unconfigure: the run has ended
# -------------------------------------------------------------------------------------------------

@hookspec
def cmpkit_unconfigure(config: "Config") -> None:
    """Release what the run held (sessions, connections, files), once, when the run ends, whatever
    the outcome: success, an error, an interrupt, or a :func:`cmpkit_configure` that raised.
    Every plugin is called; an implementation should not raise (the run's own error would be
    lost).

    :param config: the run's Config.
    """
