"""Declares every `openssl cmp` option (man page openssl-cmp 3.1) once, for parser, config reader and -help.

Kinds follow the value types of apps/cmp.c: ``flag`` ('-'), ``str`` ('s', '>', and 'M' of
-attime as far as the text goes), ``int`` ('n', 'N' = minimum 0, 'p' = minimum 1, plus the
ranges cmp.c checks after reading the number) and ``choice`` (a string from a fixed set).
Options marked ``extension=True`` are cmpkit's own; plugins declare theirs via cmpkit_options.
"""
from __future__ import annotations

from .options import Option

GENERAL = "General options"
GENERIC = "Generic message options"
ENROLL = "Certificate enrollment options"
ENROLL_REV = "Certificate enrollment and revocation options"
TRANSFER = "Message transfer options"
SERVER_AUTH = "Server authentication options"
CLIENT_AUTH = "Client authentication options"
FORMAT = "Credentials format options"
PROVIDER = "Provider options"
RANDOM = "Random state options"
TLS = "TLS connection options"
DEBUG = "Client-side debugging options"
MOCK = "Mock server options"
VERIFY = "Certificate verification options"

#: Group order of the man page (and of -help).
GROUPS = (GENERAL, GENERIC, ENROLL, ENROLL_REV, TRANSFER, SERVER_AUTH, CLIENT_AUTH, FORMAT,
          PROVIDER, RANDOM, TLS, DEBUG, MOCK, VERIFY)

INT64_MIN, INT64_MAX = -2 ** 63, 2 ** 63 - 1


def _flag(name, group, help, **kw):
    return Option(name, "flag", help, group, **kw)


def _str(name, group, metavar, help, **kw):
    return Option(name, "str", help, group, metavar, **kw)


def _int(name, group, metavar, help, **kw):
    return Option(name, "int", help, group, metavar, **kw)


def _nonneg(name, group, metavar, help, **kw):  # openssl 'N'
    return Option(name, "int", help, group, metavar, minimum=0, **kw)


OPTIONS = (
    # ---- general (no group heading in the man page's SYNOPSIS)
    _flag("help", GENERAL, "Display this summary of all options"),
    _str("config", GENERAL, "filename",
         'Configuration file to use; "" = none. Default from environment variable OPENSSL_CONF'),
    _str("section", GENERAL, "names",
         'Config file section(s) to read options from, later ones overriding earlier; '
         '"" = [default]. Default "cmp"', default="cmp"),
    _nonneg("verbosity", GENERAL, "level",
            "Logging level 0..8: 3 = ERR, 4 = WARN, 6 = INFO, 7 = DEBUG, 8 = TRACE. Default 6",
            maximum=8, default=6),

    # ---- generic message
    Option("cmd", "choice", "CMP request to send: ir, cr, kur, p10cr, rr or genm", GENERIC,
           "ir|cr|kur|p10cr|rr|genm", choices=("ir", "cr", "kur", "p10cr", "rr", "genm")),
    _str("infotype", GENERIC, "name", "InfoType name to ask for in genm, e.g. signKeyPairTypes"),
    _str("geninfo", GENERIC, "OID:int:N", "generalInfo integer to put in the request header, e.g. 1.2.3.4:int:56789"),

    # ---- certificate enrollment
    _str("newkey", ENROLL, "filename|uri",
         "Key (private, or public without POPO signature) for the requested certificate. "
         "Default: -csr key, reference cert key, or -key"),
    _str("newkeypass", ENROLL, "arg", "Pass phrase source for the -newkey key"),
    _str("subject", ENROLL, "name",
         "Subject DN for the certificate template, e.g. /CN=x; \"/\" = none. Default from -csr or -oldcert"),
    _str("issuer", ENROLL, "name",
         "Issuer DN for the certificate template; also fallback recipient. \"/\" = none"),
    _nonneg("days", ENROLL, "number", "Requested validity of the new certificate in days, starting now"),
    _str("reqexts", ENROLL, "name", "Config file section with extensions to request"),
    _str("sans", ENROLL, "spec",
         "Subject Alternative Names (IP addresses, DNS names, URIs; \"critical\" flags them) to request"),
    _flag("san_nodefault", ENROLL, "Do not copy Subject Alternative Names from the reference certificate"),
    _str("policies", ENROLL, "name", "Config file section with certificate policies to request"),
    _str("policy_oids", ENROLL, "names", "Certificate policy OID(s) to request"),
    _flag("policy_oids_critical", ENROLL, "Mark the -policy_oids policies extension critical"),
    _int("popo", ENROLL, "number",
         "Proof-of-possession method: -1 = none, 0 = RA verified, 1 = signature (default), 2 = key encipherment",
         minimum=-1, maximum=2),
    _str("csr", ENROLL, "filename", "PKCS#10 CSR (PEM or DER) to send with p10cr or to convert for ir/cr/kur/rr"),
    _str("out_trusted", ENROLL, "filenames|uris", "Trust anchor(s) for checking the newly enrolled certificate"),
    _flag("implicit_confirm", ENROLL, "Request implicit confirmation of the new certificate"),
    _flag("disable_confirm", ENROLL,
          "Do not confirm the new certificate even without implicit confirmation (violates RFC 4210)"),
    _str("certout", ENROLL, "filename", "File to save the newly enrolled certificate in"),
    _str("chainout", ENROLL, "filename", "File to save the chain of the newly enrolled certificate in"),

    # ---- certificate enrollment and revocation
    _str("oldcert", ENROLL_REV, "filename|uri",
         "Certificate to update (kur, default -cert) or revoke (rr); reference for template defaults"),
    _int("revreason", ENROLL_REV, "number",
         "CRL reason code for rr: 0..6 or 8..10 (RFC 5280), or -1 for none (default)",
         choices=(-1, 0, 1, 2, 3, 4, 5, 6, 8, 9, 10), default=-1),

    # ---- message transfer
    _str("server", TRANSFER, "[http[s]://][userinfo@]host[:port][/path][?query][#fragment]",
         "CMP server to contact over HTTP(S); default port 80, or 443 with https"),
    _str("proxy", TRANSFER, "[http[s]://][userinfo@]host[:port][/path][?query][#fragment]",
         "HTTP(S) proxy for reaching -server. Default from http_proxy/https_proxy environment"),
    _str("no_proxy", TRANSFER, "addresses",
         "Servers not to reach through the proxy. Default from no_proxy/NO_PROXY environment"),
    _str("recipient", TRANSFER, "name",
         "DN of the recipient (the CA). Default: -srvcert subject, -issuer, -oldcert or -cert issuer"),
    _str("path", TRANSFER, "remote_path", "HTTP path (CMP alias) at the server. Default from -server, else \"/\""),
    _nonneg("keep_alive", TRANSFER, "value",
            "Persistent HTTP connections: 0 = no, 1 = request (default), 2 = require",
            maximum=2, default=1),
    _nonneg("msg_timeout", TRANSFER, "seconds",
            "Seconds a message round trip may take; 0 = no limit. Default -total_timeout"),
    _nonneg("total_timeout", TRANSFER, "seconds",
            "Seconds a whole transaction (with polling) may take; 0 = no limit (default)"),

    # ---- server authentication
    _str("trusted", SERVER_AUTH, "filenames|uris",
         "Trust anchors for signature-protected responses (ignored with -srvcert)"),
    _str("untrusted", SERVER_AUTH, "filenames|uris",
         "Intermediate CA certificates for building CMP, TLS and new-certificate chains"),
    _str("srvcert", SERVER_AUTH, "filename|uri", "Server certificate to pin and trust directly"),
    _str("expect_sender", SERVER_AUTH, "name", "DN expected as sender of responses. Default -srvcert subject"),
    _flag("ignore_keyusage", SERVER_AUTH, "Do not require digitalSignature key usage of the server's signer certificate"),
    _flag("unprotected_errors", SERVER_AUTH,
          "Accept missing or invalid protection of negative responses (violates RFC 4210)"),
    _str("extracertsout", SERVER_AUTH, "filename", "File to save the extraCerts of the last response in"),
    _str("cacertsout", SERVER_AUTH, "filename", "File to save the caPubs certificates of the response in"),

    # ---- client authentication
    _str("ref", CLIENT_AUTH, "value", "Reference value used as senderKID, e.g. with -secret"),
    _str("secret", CLIENT_AUTH, "arg", "Pass phrase source of the shared secret for MAC (PBM) protection"),
    _str("cert", CLIENT_AUTH, "filename|uri", "Client's CMP signer certificate (matching -key), plus chain"),
    _str("own_trusted", CLIENT_AUTH, "filenames|uris", "Trust anchors for checking the chain of -cert"),
    _str("key", CLIENT_AUTH, "filename|uri", "Client's private key for signature protection"),
    _str("keypass", CLIENT_AUTH, "arg", "Pass phrase source for -key (and -cert, -oldcert if PKCS#12)"),
    _str("digest", CLIENT_AUTH, "name", "Digest for protection and POPO signatures. Default sha256"),
    _str("mac", CLIENT_AUTH, "name", "MAC algorithm for PBM protection. Default hmac-sha1"),
    _str("extracerts", CLIENT_AUTH, "filenames|uris", "Certificates to add to the extraCerts of requests"),
    _flag("unprotected_requests", CLIENT_AUTH, "Send requests without CMP-level protection"),

    # ---- credentials format
    Option("certform", "choice", "Format for saving certificates: PEM (default) or DER", FORMAT, "PEM|DER",
           choices=("PEM", "DER"), default="PEM"),
    Option("keyform", "choice", "Format of key input: PEM, DER, P12 or ENGINE. Default: guess", FORMAT,
           "PEM|DER|P12|ENGINE", choices=("PEM", "DER", "P12", "ENGINE")),
    _str("otherpass", FORMAT, "arg", "Pass phrase source for certificates of others (e.g. -trusted)"),
    _str("engine", FORMAT, "id", "Crypto engine to use for keys (deprecated); only pkcs11 (the pkcs11 plugin,"
         " no OpenSSL engine needed)"),

    # ---- providers
    _str("provider", PROVIDER, "name", "Provider to load (may be given several times): default, base and legacy"
         " are what cryptography's OpenSSL has loaded anyway; pkcs11 is the pkcs11 plugin",
         repeatable=True),
    _str("provider-path", PROVIDER, "path", "Directory to load providers from (no effect: cmpkit loads no"
         " OpenSSL provider modules)"),
    _str("propquery", PROVIDER, "propq", "Property query for algorithm fetching: only what OpenSSL's default"
         " provider satisfies (e.g. fips=no, provider=default; optional ?properties) is accepted"),

    # ---- random state
    _str("rand", RANDOM, "files", "Files to seed the random number generator from (each must be readable;"
         " the OS generator cmpkit uses needs no seed)"),
    _str("writerand", RANDOM, "file", "File to write random state to at the end"),

    # ---- TLS
    _flag("tls_used", TLS, "Use TLS (https) with -server, also when no other TLS option is given"),
    _str("tls_cert", TLS, "filename|uri", "Client's TLS certificate, possibly with chain"),
    _str("tls_key", TLS, "filename|uri", "Private key of the client's TLS certificate"),
    _str("tls_keypass", TLS, "arg", "Pass phrase source for -tls_key (and -tls_cert if PKCS#12)"),
    _str("tls_extra", TLS, "filenames|uris", "Extra certificates to send in the TLS handshake"),
    _str("tls_trusted", TLS, "filenames|uris", "Trust anchors for the TLS server certificate (enables host name check)"),
    _str("tls_host", TLS, "name", "Host name or IP address to check in the TLS server certificate. Default -server"),

    # ---- client-side debugging
    _flag("batch", DEBUG, "Never prompt interactively, e.g. for pass phrases"),
    Option("repeat", "int", "Run the transaction the given positive number of times. Default 1", DEBUG, "number",
           minimum=1, default=1),
    _str("reqin", DEBUG, "filenames", "Take the request messages to send from file(s)"),
    _flag("reqin_new_tid", DEBUG, "Give requests read with -reqin a fresh transactionID"),
    _str("reqout", DEBUG, "filenames", "Save the request messages to file(s)"),
    _str("rspin", DEBUG, "filenames", "Take the response messages from file(s) instead of a server"),
    _str("rspout", DEBUG, "filenames", "Save the response messages used to file(s)"),
    _flag("use_mock_srv", DEBUG, "Use the built-in mock server in-process instead of -server"),

    # ---- mock server
    _str("port", MOCK, "number", "Run as HTTP mock server listening on this port"),
    _nonneg("max_msgs", MOCK, "number", "Number of requests the HTTP mock server handles; 0 = no limit (default)",
            default=0),
    _str("srv_ref", MOCK, "value", "Server's senderKID reference when no -srv_cert is given"),
    _str("srv_secret", MOCK, "arg", "Pass phrase source of the server's shared secret (PBM)"),
    _str("srv_cert", MOCK, "filename|uri", "Server's signer certificate"),
    _str("srv_key", MOCK, "filename|uri", "Server's private key for signing responses"),
    _str("srv_keypass", MOCK, "arg", "Pass phrase source for -srv_key (and -srv_cert)"),
    _str("srv_trusted", MOCK, "filenames|uris", "Trust anchors for authenticating clients"),
    _str("srv_untrusted", MOCK, "filenames|uris", "Intermediate certificates for checking client protection"),
    _str("rsp_cert", MOCK, "filename|uri", "Certificate the mock server issues"),
    _str("rsp_extracerts", MOCK, "filenames|uris", "Extra certificates for the mock server's certificate responses"),
    _str("rsp_capubs", MOCK, "filenames|uris", "CA certificates for the caPubs of the mock server's ip"),
    _nonneg("poll_count", MOCK, "number", "Times the client must poll before getting the certificate. Default 0",
            default=0),
    _nonneg("check_after", MOCK, "number", "checkAfter seconds to put in poll responses. Default 1", default=1),
    _flag("grant_implicitconf", MOCK, "Grant implicit confirmation of the new certificate"),
    _nonneg("pkistatus", MOCK, "number", "PKIStatus for responses: 0 (accepted, default) .. 6 (keyUpdateWarning)",
            maximum=6, default=0),
    _nonneg("failure", MOCK, "number", "One failure info bit to set in responses: 0 (badAlg) .. 26 (duplicateCertReq)",
            maximum=26),
    _nonneg("failurebits", MOCK, "number", "Failure info bits to set in responses as a number: 0 .. 2^27 - 1",
            maximum=2 ** 27 - 1, default=0),
    _str("statusstring", MOCK, "arg", "Status text to put in responses"),
    _flag("send_error", MOCK, "Answer every request with an error message"),
    _flag("send_unprotected", MOCK, "Send responses without CMP-level protection"),
    _flag("send_unprot_err", MOCK, "Send negative responses without protection (violates RFC 4210)"),
    _flag("accept_unprotected", MOCK, "Accept requests with missing or invalid protection"),
    _flag("accept_unprot_err", MOCK, "Accept unprotected error messages from clients (no effect so far)"),
    _flag("accept_raverified", MOCK, "Accept RAVERIFIED as proof-of-possession"),

    # ---- certificate verification (openssl-verification-options), for CMP and TLS
    _flag("allow_proxy_certs", VERIFY, "Allow proxy certificates"),
    Option("attime", "int", "Check certificates at this time (seconds since the epoch) instead of now", VERIFY,
           "timestamp", minimum=INT64_MIN, maximum=INT64_MAX),
    _flag("no_check_time", VERIFY, "Do not check certificate validity periods"),
    _flag("check_ss_sig", VERIFY, "Check the signature of self-signed root certificates"),
    _flag("crl_check", VERIFY, "Check the revocation status of the leaf certificate with CRLs"),
    _flag("crl_check_all", VERIFY, "Check the revocation status of the whole chain with CRLs"),
    _flag("explicit_policy", VERIFY, "Require an explicit certificate policy"),
    _flag("extended_crl", VERIFY, "Support indirect CRLs and CRLs signed by other keys"),
    _flag("ignore_critical", VERIFY, "Do not reject unknown critical extensions"),
    _flag("inhibit_any", VERIFY, "Do not accept anyPolicy"),
    _flag("inhibit_map", VERIFY, "Do not allow policy mapping"),
    _flag("partial_chain", VERIFY, "Accept chains ending in any trusted certificate, not only a root"),
    _str("policy", VERIFY, "arg", "Certificate policy OID to accept (may be a list)"),
    _flag("policy_check", VERIFY, "Process certificate policies"),
    _flag("policy_print", VERIFY, "Print diagnostics of policy processing"),
    _str("purpose", VERIFY, "purpose", "Required certificate purpose, e.g. sslserver"),
    _flag("suiteB_128", VERIFY, "Suite B 128-bit mode, allowing 192-bit algorithms"),
    _flag("suiteB_128_only", VERIFY, "Suite B 128-bit only mode"),
    _flag("suiteB_192", VERIFY, "Suite B 192-bit only mode"),
    _flag("trusted_first", VERIFY, "Look for issuers in the trust store first (always on: no effect)",
          no_effect=True),
    _flag("no_alt_chains", VERIFY, "Do not look for alternative chains (no effect)", no_effect=True),
    _flag("use_deltas", VERIFY, "Use delta CRLs"),
    _int("auth_level", VERIFY, "num", "Security level for keys and signatures in the chain"),
    _int("verify_depth", VERIFY, "num", "Maximum number of intermediate certificates in a chain"),
    _str("verify_email", VERIFY, "email", "Email address the -out_trusted checked certificate must match"),
    _str("verify_hostname", VERIFY, "hostname", "Host name the -out_trusted checked certificate must match"),
    _str("verify_ip", VERIFY, "ip", "IP address the -out_trusted checked certificate must match"),
    _str("verify_name", VERIFY, "name", "Named verification policy, e.g. ssl_server"),
    _flag("x509_strict", VERIFY, "Apply strict X.509 conformance checks"),
    _flag("issuer_checks", VERIFY, "Print issuer search diagnostics (deprecated: no effect)", no_effect=True),

    # ---- cmpkit's own core options (not in the man page)
    _str("crls", VERIFY, "filenames",
         "CRL file(s) (PEM or DER) for -crl_check and -crl_check_all", extension=True),
)
