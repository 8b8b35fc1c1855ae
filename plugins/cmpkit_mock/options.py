"""The options the mock plugin owns: the in-process mock server (-use_mock_srv) and what the mock
server is configured with (the -srv_* credentials, the -rsp_* contents, polling, status and
failure injection; see :func:`cmpkit_mock.plugin.build_server`).

Cheap to import (``cmpkit -help`` reads it): only the Option record and the group names.
``order`` is the option's place in the openssl-cmp man page, which ``-help`` keeps.
"""
from __future__ import annotations

from cmpkit.core.optdecl import DEBUG, MOCK
from cmpkit.core.options import Option


def _flag(name, help, order, group=MOCK):
    return Option(name, "flag", help, group, order=order)


def _str(name, metavar, help, order):
    return Option(name, "str", help, MOCK, metavar, order=order)


def _nonneg(name, help, order, **kw):  # openssl 'N'
    return Option(name, "int", help, MOCK, "number", minimum=0, order=order, **kw)


OPTIONS = (
    # ---- client-side debugging
    _flag("use_mock_srv", "Use the built-in mock server in-process instead of -server", 77, DEBUG),

    # ---- mock server (-port is the core's, -max_msgs the http plugin's)
    _str("srv_ref", "value", "Server's senderKID reference when no -srv_cert is given", 80),
    _str("srv_secret", "arg", "Pass phrase source of the server's shared secret (PBM)", 81),
    _str("srv_cert", "filename|uri", "Server's signer certificate", 82),
    _str("srv_key", "filename|uri", "Server's private key for signing responses", 83),
    _str("srv_keypass", "arg", "Pass phrase source for -srv_key (and -srv_cert)", 84),
    _str("srv_trusted", "filenames|uris", "Trust anchors for authenticating clients", 85),
    _str("srv_untrusted", "filenames|uris", "Intermediate certificates for checking client protection", 86),
    _str("ref_cert", "filename|uri", "Certificate to be expected for rr and any oldCertID in kur messages", 86.5),
    _str("rsp_cert", "filename|uri", "Certificate the mock server issues", 87),
    # openssl 3.5: not in the 3.1 SYNOPSIS; ``order`` repeats that of -rsp_cert, which they follow
    _str("rsp_key", "filename|uri", "Private key the mock server returns with -rsp_cert for central key generation", 87),
    _str("rsp_keypass", "arg", "Pass phrase source for -rsp_key", 87),
    _str("rsp_crl", "filename|uri", "CRL the mock server returns in genp of type crls", 87.5),
    _str("rsp_extracerts", "filenames|uris", "Extra certificates for the mock server's certificate responses", 88),
    _str("rsp_capubs", "filenames|uris", "CA certificates for the caPubs of the mock server's ip", 89),
    _str("rsp_newwithnew", "filename|uri", "newWithNew certificate the mock server returns in rootCaKeyUpdate",
         89.1),
    _str("rsp_newwithold", "filename|uri", "newWithOld certificate the mock server returns in rootCaKeyUpdate",
         89.2),
    _str("rsp_oldwithnew", "filename|uri", "oldWithNew certificate the mock server returns in rootCaKeyUpdate",
         89.3),
    _nonneg("poll_count", "Times the client must poll before getting the certificate. Default 0", 90, default=0),
    _nonneg("check_after", "checkAfter seconds to put in poll responses. Default 1", 91, default=1),
    _flag("grant_implicitconf", "Grant implicit confirmation of the new certificate", 92),
    _nonneg("pkistatus", "PKIStatus for responses: 0 (accepted, default) .. 6 (keyUpdateWarning)", 93,
            maximum=6, default=0),
    _nonneg("failure", "One failure info bit to set in responses: 0 (badAlg) .. 26 (duplicateCertReq)", 94,
            maximum=26),
    _nonneg("failurebits", "Failure info bits to set in responses as a number: 0 .. 2^27 - 1", 95,
            maximum=2 ** 27 - 1, default=0),
    _str("statusstring", "arg", "Status text to put in responses", 96),
    _flag("send_error", "Answer every request with an error message", 97),
    _flag("send_unprotected", "Send responses without CMP-level protection", 98),
    _flag("send_unprot_err", "Send negative responses without protection (violates RFC 4210)", 99),
    _flag("accept_unprotected", "Accept requests with missing or invalid protection", 100),
    _flag("accept_unprot_err", "Accept unprotected error messages from clients (no effect so far)", 101),
    _flag("accept_raverified", "Accept RAVERIFIED as proof-of-possession", 102),
)


def _ext_str(name, metavar, help):
    return Option(name, "str", help, MOCK, metavar, extension=True)


def _ext_int(name, help, default):
    return Option(name, "int", help, MOCK, "number", minimum=0, default=default, extension=True)


# ---- the CA mode (cmpkit's own; see cmpkit_mock.ca): giving -srv_ca_cert and -srv_ca_key turns it on
CA_OPTIONS = (
    _ext_str("srv_ca_cert", "filename|uri", "CA mode: the CA certificate the mock server issues with "
             "(with -srv_ca_key; instead of -rsp_cert)"),
    _ext_str("srv_ca_key", "filename|uri", "CA mode: the CA's private key (RSA, EC, Ed25519, Ed448 or ML-DSA)"),
    _ext_str("srv_ca_keypass", "arg", "CA mode: pass phrase source for -srv_ca_key"),
    _ext_str("srv_db", "filename", "CA mode: SQLite file keeping issued certificates and transactions "
             "(shared by server processes; default: in memory)"),
    _ext_int("srv_max_days", "CA mode: maximum validity of issued certificates in days. Default 365", 365),
    _ext_int("srv_time_window", "CA mode: seconds a request's messageTime may be off (badTime). Default 600",
             600),
    _ext_int("srv_confirm_wait", "CA mode: seconds to wait for certConf before revoking. Default 300", 300),
    # CA mode meets RFC 9480/9483 (cmpkit_mock.ca): CRL distribution point, central key generation
    _ext_str("srv_crl_url", "URL", "CA mode: CRL distribution point URI put in issued certificates and the "
             "CRL (a crlStatusList may name it); default: none"),
    _ext_str("srv_keygen_type", "type", "CA mode: key type of centrally generated keys when the template names "
             "no algorithm: EC[:curve], RSA[:bits], Ed25519, Ed448, ML-DSA-44/65/87. Default EC:P-256"),
)
OPTIONS = OPTIONS + CA_OPTIONS
