"""The public entry points: verify_chain, check_signer_key_usage and the bundled DefaultVerificationPolicy."""
from __future__ import annotations

import dataclasses
import logging
from typing import Callable, Optional, Sequence

from ...errors import ConfigError, VerifyError
from .certs import CertStore
from .options import ENROLLED, PURPOSES, VerifyOptions
from .path import _Ctx
from .reasons import _Fail

log = logging.getLogger("cmpkit.verify")


def verify_chain(cert_der: bytes, untrusted: Sequence[bytes], trusted: Sequence[bytes],
                 opts: Optional[VerifyOptions] = None, purpose: Optional[str] = None,
                 check_status: bool = True, *, now: Optional[float] = None,
                 store: Optional[CertStore] = None) -> list:
    """Validate ``cert_der`` against the ``trusted`` anchors with help of ``untrusted`` certs.

    :param purpose: an OpenSSL purpose name overriding ``opts``' -purpose/-verify_name, or None.
    :param check_status: False drops the revocation and most other flags, as OpenSSL does for
        a newly enrolled certificate (time, -partial_chain and -policy_check stay).
    :param now: the current time (POSIX seconds), the time validity periods and CRLs are
        checked at; needed unless ``opts`` has -attime or -no_check_time (else TypeError).
    :param store: the certificate store of the run (parses and signature checks done once);
        None: a store for this call only.
    :return: the chain as DER, from ``cert_der`` up to and including the trust anchor.
    :raises VerifyError: one line: subject, depth and OpenSSL's reason for the first failure
        (a :class:`~cmpkit.core.verify.reasons.CertificateVerifyError` with ``code``,
        ``reason``, ``depth`` and ``subject``).
    """
    opts = opts or VerifyOptions()
    if not check_status:
        opts = opts.without_status_checks()
    if purpose is not None and purpose not in PURPOSES:
        raise ConfigError(f"unknown certificate purpose '{purpose}'")
    store = store if store is not None else CertStore()
    try:
        leaf = store.cert(bytes(cert_der))
    except Exception as exc:  # noqa: BLE001 - garbage instead of a certificate
        raise VerifyError(f"cannot parse the certificate to verify: {exc}") from None
    ctx = _Ctx(opts, purpose or opts.effective_purpose, store.pool(untrusted), store.pool(trusted), store,
               now)
    try:
        chain = ctx.run(leaf)
    except _Fail as fail:
        raise fail.error(leaf) from None
    except Exception as exc:  # noqa: BLE001 - a certificate this engine cannot handle: no traceback
        log.debug("verification of %s aborted", leaf.name, exc_info=True)
        raise VerifyError(f"certificate verification failed for {leaf.name}: cannot process "
                          f"certificates ({type(exc).__name__}: {exc})") from None
    return [c.der for c in chain]


def check_signer_key_usage(cert_der: bytes, ignore_keyusage: bool, store: Optional[CertStore] = None) -> None:
    """A CMP protection certificate with keyUsage must allow digitalSignature (RFC 4210 5.1.3.3),
    unless ``-ignore_keyusage`` is given. ``store``: the run's certificate store (the policy's
    ``store``), so that a certificate checked for every message is parsed once."""
    if ignore_keyusage:
        return
    try:
        c = (store if store is not None else CertStore()).parsed(bytes(cert_der))  # only read
    except Exception as exc:  # noqa: BLE001
        raise VerifyError(f"cannot parse the CMP signer certificate: {exc}") from None
    if c.ku is not None and "digital_signature" not in c.ku:
        raise VerifyError(f"CMP signer certificate {c.name} has keyUsage without digitalSignature "
                          "(use -ignore_keyusage to accept it)")


class DefaultVerificationPolicy:
    """The bundled verification policy: OpenSSL's rules with the run's verification options.

    Returned when no plugin answers ``cmpkit_verification_policy``. As in ``openssl cmp``,
    -verify_hostname/-verify_ip/-verify_email apply only to the newly enrolled certificate
    (``purpose=ENROLLED``, the -out_trusted check), and -attime does not apply to it (apps/cmp.c
    clears X509_V_FLAG_USE_CHECK_TIME on the -out_trusted store: new certs are current anyway);
    other purposes are OpenSSL purpose names.

    ``clock`` returns the current time in POSIX seconds (the shell passes ``time.time``); the
    policy reads it once per question. ``store`` is the run's :class:`CertStore`: one policy per
    run, so each certificate is parsed once and each signature checked once per run.
    """

    def __init__(self, options: Optional[VerifyOptions] = None, *, clock: Callable[[], float]):
        self.options = options or VerifyOptions()
        self.clock = clock
        self.store = CertStore()

    def verify_chain(self, cert_der: bytes, untrusted: Sequence[bytes], trusted: Sequence[bytes],
                     purpose: Optional[str] = None, check_status: bool = True) -> list:
        """The validated chain (leaf first), or VerifyError.

        Successful verdicts are remembered for the rest of the current second: with fixed
        options the result depends only on the certificates and on the time, which OpenSSL's
        checks read in whole seconds. A transaction checks the same chain for every message.
        """
        now = self.clock()
        key = (bytes(cert_der), tuple(map(bytes, untrusted)), tuple(map(bytes, trusted)), purpose, check_status,
               int(now))
        chain = self.store.verdict(self.options, key)
        if chain is None:
            opts = self.options
            if purpose == ENROLLED:
                opts = dataclasses.replace(opts, attime=None)
            else:
                opts = dataclasses.replace(opts, verify_hostname=None, verify_email=None, verify_ip=None)
            chain = verify_chain(cert_der, untrusted, trusted, opts, purpose=None if purpose == ENROLLED else purpose,
                                 check_status=check_status, now=now, store=self.store)
            self.store.remember(self.options, key, chain)
        return list(chain)
