"""Certificate path validation with every openssl-verification-options option, as OpenSSL 3.0 does it."""
# Engine choice (deliberate): ``cryptography.x509.verification`` is strict and fast, but it has no
# CRLs, no policy processing (-policy_check, -explicit_policy, -inhibit_any, -inhibit_map), no
# partial chains, no way to switch time checks off (-no_check_time) and no ``-x509_strict``-style
# relaxations, so it cannot honour the option set ``openssl cmp`` documents. This package is
# therefore an RFC 5280 section 6 path validation written the way OpenSSL 3.0's
# ``X509_verify_cert()`` walks it (chain building with trusted-first, check order, error wording),
# built only on cryptography's primitives: certificate/CRL parsing, public-key signature checks
# and ``CertificateRevocationList.is_signature_valid``. No cryptography is hand-rolled here.
#
# The package does no I/O: no files (the shell loads -crls: cmpkit.app.crl_files), no
# environment, no clock (the caller passes the time: ``verify_chain(now=...)``,
# ``DefaultVerificationPolicy(clock=...)``).
#
# Modules: options (VerifyOptions), reasons (OpenSSL's error codes and texts, the raised error),
# certs (parsed certificates, the CertStore of a run), path (chain building, check order),
# checks (purpose, key usage, CA, extensions, key strength, Suite B, host/email/IP),
# revocation (CRLs), name_constraints, policy_tree, policy (the entry points below).
#
# Failures raise cmpkit.errors.VerifyError whose message is one line naming the certificate
# (``/CN=...``), its depth and OpenSSL's reason text; the exception (a
# reasons.CertificateVerifyError) also carries ``code`` (a reasons.Reason, OpenSSL's X509_V_ERR
# number), ``reason``, ``depth`` and ``subject``.
#
# The names below are imported on first use (PEP 562): a run whose options need no certificate
# check (a PBM-protected enrollment) imports neither the path validation nor cryptography.x509.
import importlib

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .certs import name_oneline
    from .options import ENROLLED, VerifyOptions
    from .policy import DefaultVerificationPolicy, check_signer_key_usage, verify_chain

_LAZY = {"name_oneline": "certs", "ENROLLED": "options", "VerifyOptions": "options",
         "DefaultVerificationPolicy": "policy", "check_signer_key_usage": "policy", "verify_chain": "policy"}


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    globals()[name] = value
    return value


__all__ = ["ENROLLED", "DefaultVerificationPolicy", "VerifyOptions", "check_signer_key_usage", "name_oneline",
           "verify_chain"]
