"""The contracts between cmpkit's parts, in one place: Transport, Signer and VerificationPolicy.

Each is a :class:`typing.Protocol`: a third party implements one by writing a class with the
same methods, without inheriting from anything of cmpkit's. This module imports nothing of
cmpkit, so the core, the shell and every plugin may import it.
"""
from __future__ import annotations

from typing import Optional, Protocol, Sequence, runtime_checkable


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
    """A response (DER) from a transport wrapper that did not simply pass the client's request on.

    ``sent`` is the request that actually went out (``-reqin`` substituted it), or None for the
    client's own. ``adopt`` tells the client to take the transactionID and nonces of the
    response instead of checking them against its request, as openssl does with ``-reqin``
    and ``-rspin``.
    """

    sent: Optional[bytes]
    adopt: bool

    def __new__(cls, response: bytes, sent: Optional[bytes] = None, adopt: bool = True):
        self = super().__new__(cls, response)
        self.sent, self.adopt = sent, adopt
        return self


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
