"""The contracts between cmpkit's parts, in one place: Transport, Signer, VerificationPolicy, LoadContext.

Each is a :class:`typing.Protocol`: a third party implements one by writing a class with the
same methods, without inheriting from anything of cmpkit's. This module imports nothing of
cmpkit, so the core, the shell and every plugin may import it.
"""
from __future__ import annotations

from typing import Any, Optional, Protocol, Sequence, runtime_checkable


@runtime_checkable
class Transport(Protocol):
    """Carries one CMP request to a server and brings back the server's response.

    The shell chooses a transport by the server URL's scheme (``http``, ``https``, a third
    party's) or takes the in-process mock server; capture and replay (``-reqout``, ``-rspin``
    ...) wrap another transport through this contract alone.
    """

    def send(self, request: bytes, timeout: Optional[float] = None) -> bytes:
        """Send one DER-encoded PKIMessage and return the DER-encoded response.

        :param request: the request, DER.
        :param timeout: seconds this exchange may take at most (None: no limit of the caller's).
        :return: the response, DER (not checked: the client decodes and checks it).
        :raises cmpkit.TransferError: the exchange failed (connection, HTTP, timeout, file).
        """

    def close(self) -> None:
        """Release connections and files; called once, when the run ends."""


class ReplayedResponse(bytes):
    """A response (DER) that does not answer the client's own request: a transport wrapper
    replayed it from a file (``-rspin``) or sent a recorded request instead of the client's
    (``-reqin``). The client then adopts the response's transactionID and nonces instead of
    checking them against its request, as openssl does in these cases."""


@runtime_checkable
class Signer(Protocol):
    """A private key that can sign; a token key never leaves its token.

    ECDSA signatures are returned DER-encoded (Ecdsa-Sig-Value).
    """

    def public_key(self):
        """:return: the ``cryptography`` public key object of this key."""

    def sign(self, data: bytes, digest: Optional[str], pss: bool = False) -> bytes:
        """Sign ``data`` (the signer hashes it).

        :param digest: a hash name such as "sha256" (None for Ed25519/Ed448).
        :param pss: RSASSA-PSS (salt length = digest length, MGF1 with the same digest)
            instead of PKCS#1 v1.5.
        :return: the signature.
        """


@runtime_checkable
class VerificationPolicy(Protocol):
    """Decides which certificates and chains are trusted (the bundled one follows OpenSSL)."""

    def verify_chain(self, cert_der: bytes, untrusted: Sequence[bytes], trusted: Sequence[bytes],
                     purpose: Optional[str] = None, check_status: bool = True) -> list:
        """Validate ``cert_der`` up to one of ``trusted`` with help of ``untrusted``.

        :param purpose: an OpenSSL purpose name, ``"enrolled"`` for a newly enrolled
            certificate (-out_trusted), or None for the policy's default.
        :param check_status: False skips revocation checks (a newly enrolled certificate).
        :return: the chain as DER, leaf first, ending with the trust anchor.
        :raises cmpkit.VerifyError: one line naming the subject and the reason.
        """


@runtime_checkable
class LoadContext(Protocol):
    """What the run offers a plugin that loads credentials or builds a transport or server:
    pass phrases, loading through the other plugins' hooks, file reading and the
    verification policy. The shell implements it (:class:`cmpkit.app.credentials.Loader`).

    :ivar batch: never prompt (``-batch``).
    :ivar config: the run's Config (read-only), for options such as ``-engine``.
    """

    batch: bool
    config: Any

    def get_pass(self, arg: Optional[str], what: str) -> Optional[bytes]:
        """Resolve a pass phrase source (``pass:...``, ``env:VAR``, ``file:path``, ``fd:N``,
        ``stdin``); with ``arg`` None prompt for ``what`` unless ``batch``.

        :return: the pass phrase, or None when there is none and prompting is not allowed.
        """

    def read_file(self, source: str, what: str) -> bytes:
        """The content of a file named by a path or ``file:`` URI; CredentialError naming ``what``."""

    def certs(self, sources: Sequence[str], what: str, passarg: Optional[str] = None) -> list:
        """Every certificate (DER) of the given sources, in order, through the loading hooks."""

    def cert(self, source: str, what: str, passarg: Optional[str] = None) -> tuple:
        """(first certificate, the other certificates) of one source, as DER."""

    def key(self, source: str, passarg: Optional[str], what: str) -> Signer:
        """A signing handle for the private key ``source`` names (a file, ``pkcs11:`` URI ...)."""

    def public_key(self, source: str, passarg: Optional[str], what: str):
        """The ``cryptography`` public key ``source`` names (a public or private key)."""

    def csr(self, source: str, what: str) -> bytes:
        """The DER of the PKCS#10 request ``source`` names."""

    def crl(self, source: str, what: str) -> bytes:
        """The DER of the (first) CRL in the PEM or DER file ``source``; CredentialError naming ``what``."""

    def verification_policy(self) -> VerificationPolicy:
        """The run's verification policy (a plugin's, else the bundled OpenSSL-like one)."""


class FunctionTransport:
    """A Transport over a plain function ``request DER -> response DER`` (an in-process server,
    a test double): the whole of a mock transport."""

    def __init__(self, answer):
        self.answer = answer

    def send(self, request: bytes, timeout: Optional[float] = None) -> bytes:
        return self.answer(request)

    def close(self) -> None:
        close = getattr(self.answer, "close", None)
        if close is not None:
            close()


def as_transport(obj) -> Transport:
    """``obj`` if it is a Transport, else a :class:`FunctionTransport` over the callable ``obj``."""
    return obj if hasattr(obj, "send") else FunctionTransport(obj)
