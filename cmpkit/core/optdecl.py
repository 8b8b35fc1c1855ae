"""Declares the core's `openssl cmp` options (man pages 3.1, 3.4 and 3.5) once, for parser, config reader and -help.

The core declares the options the core and the shell read; a plugin declares those it
implements through ``cmpkit_options`` (the bundled ones: the http plugin -proxy,
-no_proxy, -path, -keep_alive, -msg_timeout, the TLS options and -max_msgs; the file plugin
-reqin, -reqin_new_tid, -reqout, -rspin, -rspout; the mock plugin -use_mock_srv and the
mock server's options). This module also names the man page's option groups (:data:`GROUPS`,
in man-page order), which plugins use in their declarations too. -server is the core's: its URL
scheme chooses the transport plugin.

Kinds follow the value types of apps/cmp.c: ``flag`` ('-'), ``str`` ('s', '>', and 'M' of
-attime as far as the text goes), ``int`` ('n', 'N' = minimum 0, 'p' = minimum 1, plus the
ranges cmp.c checks after reading the number) and ``choice`` (a string from a fixed set).
``order`` is the option's position in the man page's SYNOPSIS (-help lists each group in that
order, whoever declares the options); options marked ``extension=True`` are cmpkit's own.
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
    _flag("help", GENERAL, "Display this summary of all options", order=1),
    _flag("version", GENERAL, "Print the versions of cmpkit, Python, cryptography and its OpenSSL, and exit",
          extension=True),
    _str("config", GENERAL, "filename",
         'Configuration file to use; "" = none. Default from environment variable OPENSSL_CONF', order=2),
    _str("section", GENERAL, "names",
         'Config file section(s) to read options from, later ones overriding earlier; '
         '"" = [default]. Default "cmp"', default="cmp", order=3),
    _nonneg("verbosity", GENERAL, "level",
            "Logging level 0..8: 3 = ERR, 4 = WARN, 6 = INFO, 7 = DEBUG, 8 = TRACE. Default 6",
            maximum=8, default=6, order=4),

    # ---- generic message
    Option("cmd", "choice", "CMP request to send: ir, cr, kur, p10cr, rr or genm", GENERIC,
           "ir|cr|kur|p10cr|rr|genm", choices=("ir", "cr", "kur", "p10cr", "rr", "genm"), order=5),
    _str("infotype", GENERIC, "name", "InfoType name to ask for in genm, e.g. signKeyPairTypes; specific support"
         " for caCerts, rootCaCert, certReqTemplate and crlStatusList", order=6),
    _str("geninfo", GENERIC, "values",
         "Comma-separated generalInfo ITAVs for the request header: OID:int:N or OID:str:text, "
         "e.g. '1.2.3.4:int:56789, id-kp:str:name'", order=7),
    # genm info types of openssl 3.2-3.4 (cmpkit.app.genm): fractional orders between the 3.1 positions
    _str("template", GENERIC, "filename",
         "File to save the certTemplate (DER) received in genp of type certReqTemplate", order=7.1),
    _str("keyspec", GENERIC, "filename",
         "Optional file to save the keySpec (DER) received in genp of type certReqTemplate", order=7.2),

    # ---- certificate enrollment
    _str("newkey", ENROLL, "filename|uri",
         "Key (private, or public without POPO signature) for the requested certificate. "
         "Default: -csr key, reference cert key, or -key", order=8),
    _str("newkeypass", ENROLL, "arg", "Pass phrase source for the -newkey key", order=9),
    # openssl 3.5 (central key generation, RFC 9483 4.1.6): not in the 3.1 SYNOPSIS, so ``order``
    # repeats the position of -newkeypass, which they follow there (-help keeps declaration order)
    _flag("centralkeygen", ENROLL, "Request central (server-side) key generation (implied by -popo -1);"
          " needs -newkeyout", order=9),
    _str("newkeyout", ENROLL, "filename",
         "File to save the centrally generated key in, PEM (PKCS#8; encrypted if -newkeypass is given)", order=9),
    _str("subject", ENROLL, "name",
         "Subject DN for the certificate template, e.g. /CN=x; \"/\" = none. Default from -csr or -oldcert", order=10),
    _str("issuer", ENROLL, "name",
         "Issuer DN for the certificate template; also fallback recipient. \"/\" = none", order=11),
    _nonneg("days", ENROLL, "number", "Requested validity of the new certificate in days, starting now", order=12),
    _str("reqexts", ENROLL, "name", "Config file section with extensions to request", order=13),
    _str("sans", ENROLL, "spec",
         "Subject Alternative Names (IP addresses, DNS names, URIs; \"critical\" flags them) to request", order=14),
    _flag("san_nodefault", ENROLL, "Do not copy Subject Alternative Names from the reference certificate", order=15),
    _str("policies", ENROLL, "name", "Config file section with certificate policies to request", order=16),
    _str("policy_oids", ENROLL, "names", "Certificate policy OID(s) to request", order=17),
    _flag("policy_oids_critical", ENROLL, "Mark the -policy_oids policies extension critical", order=18),
    _int("popo", ENROLL, "number",
         "Proof-of-possession method: -1 = none, 0 = RA verified, 1 = signature (default), 2 = key encipherment",
         minimum=-1, maximum=2, order=19),
    _str("csr", ENROLL, "filename",
         "PKCS#10 CSR (PEM or DER) to send with p10cr or to convert for ir/cr/kur/rr", order=20),
    _str("out_trusted", ENROLL, "filenames|uris",
         "Trust anchor(s) for checking the newly enrolled certificate", order=21),
    _flag("implicit_confirm", ENROLL, "Request implicit confirmation of the new certificate", order=22),
    _flag("disable_confirm", ENROLL,
          "Do not confirm the new certificate even without implicit confirmation (violates RFC 4210)", order=23),
    _str("certout", ENROLL, "filename", "File to save the newly enrolled certificate in", order=24),
    _str("chainout", ENROLL, "filename", "File to save the chain of the newly enrolled certificate in", order=25),

    # ---- certificate enrollment and revocation
    _str("oldcert", ENROLL_REV, "filename|uri",
         "Certificate to update (kur, default -cert) or revoke (rr); reference for template defaults", order=26),
    _int("revreason", ENROLL_REV, "number",
         "CRL reason code for rr: 0..6 or 8..10 (RFC 5280), or -1 for none (default)",
         choices=(-1, 0, 1, 2, 3, 4, 5, 6, 8, 9, 10), default=-1, order=27),

    # ---- message transfer (the http plugin declares -proxy, -no_proxy, -path, -keep_alive, -msg_timeout)
    # -server is the shell's: its URL scheme chooses the plugin that reaches the server (cmpkit_transport_schemes)
    _str("server", TRANSFER, "[http[s]://][userinfo@]host[:port][/path][?query][#fragment]",
         "CMP server to contact; its URL scheme chooses the transport (default http; https, or a plugin's)",
         order=28),
    _str("recipient", TRANSFER, "name",
         "DN of the recipient (the CA). Default: -srvcert subject, -issuer, -oldcert or -cert issuer", order=31),
    _nonneg("total_timeout", TRANSFER, "seconds",
            "Seconds a whole transaction (with polling) may take; 0 = no limit (default)", order=35),

    # ---- server authentication
    _str("trusted", SERVER_AUTH, "filenames|uris",
         "Trust anchors for signature-protected responses (ignored with -srvcert)", order=36),
    _str("untrusted", SERVER_AUTH, "filenames|uris",
         "Intermediate CA certificates for building CMP, TLS and new-certificate chains", order=37),
    _str("srvcert", SERVER_AUTH, "filename|uri", "Server certificate to pin and trust directly", order=38),
    _str("expect_sender", SERVER_AUTH, "name",
         "DN expected as sender of responses. Default -srvcert subject", order=39),
    _flag("ignore_keyusage", SERVER_AUTH,
          "Do not require digitalSignature key usage of the server's signer certificate", order=40),
    _flag("unprotected_errors", SERVER_AUTH,
          "Accept missing or invalid protection of negative responses (violates RFC 4210)", order=41),
    _str("extracertsout", SERVER_AUTH, "filename", "File to save the extraCerts of the last response in", order=42),
    _str("cacertsout", SERVER_AUTH, "filename",
         "File to save the caPubs certificates of the response, or those of genp of type caCerts, in", order=43),
    _str("oldwithold", SERVER_AUTH, "filename",
         "Root CA certificate to request an update for in genm of type rootCaCert", order=43.1),
    _str("newwithnew", SERVER_AUTH, "filename",
         "File to save the newWithNew certificate received in genp of type rootCaKeyUpdate", order=43.2),
    _str("newwithold", SERVER_AUTH, "filename",
         "File to save the newWithOld certificate received in genp of type rootCaKeyUpdate", order=43.3),
    _str("oldwithnew", SERVER_AUTH, "filename",
         "File to save the oldWithNew certificate received in genp of type rootCaKeyUpdate", order=43.4),
    _str("crlcert", SERVER_AUTH, "filename",
         "Certificate to request a CRL for in genm of type crlStatusList", order=43.5),
    _str("oldcrl", SERVER_AUTH, "filename", "CRL to request an update for in genm of type crlStatusList",
         order=43.6),
    _str("crlout", SERVER_AUTH, "filename", "File to save the CRL received in genp of type crls", order=43.7),

    # ---- client authentication
    _str("ref", CLIENT_AUTH, "value", "Reference value used as senderKID, e.g. with -secret", order=44),
    _str("secret", CLIENT_AUTH, "arg", "Pass phrase source of the shared secret for MAC (PBM) protection", order=45),
    _str("cert", CLIENT_AUTH, "filename|uri", "Client's CMP signer certificate (matching -key), plus chain", order=46),
    _str("own_trusted", CLIENT_AUTH, "filenames|uris", "Trust anchors for checking the chain of -cert", order=47),
    _str("key", CLIENT_AUTH, "filename|uri", "Client's private key for signature protection", order=48),
    _str("keypass", CLIENT_AUTH, "arg", "Pass phrase source for -key (and -cert, -oldcert if PKCS#12)", order=49),
    _str("digest", CLIENT_AUTH, "name", "Digest for protection and POPO signatures. Default sha256", order=50),
    _str("mac", CLIENT_AUTH, "name", "MAC algorithm for PBM protection. Default hmac-sha1", order=51),
    _str("extracerts", CLIENT_AUTH, "filenames|uris", "Certificates to add to the extraCerts of requests", order=52),
    _flag("unprotected_requests", CLIENT_AUTH, "Send requests without CMP-level protection", order=53),

    # ---- credentials format
    Option("certform", "choice", "Format for saving certificates: PEM (default) or DER", FORMAT, "PEM|DER",
           choices=("PEM", "DER"), default="PEM", order=54),
    Option("crlform", "choice", "Format for saving CRLs: PEM or DER (default)", FORMAT, "PEM|DER",
           choices=("PEM", "DER"), default="DER", order=54.5),
    Option("keyform", "choice", "Format of key input: PEM, DER, P12 or ENGINE. Default: guess", FORMAT,
           "PEM|DER|P12|ENGINE", choices=("PEM", "DER", "P12", "ENGINE"), order=55),
    _str("otherpass", FORMAT, "arg", "Pass phrase source for certificates of others (e.g. -trusted)", order=56),
    _str("engine", FORMAT, "id", "Crypto engine to use for keys (deprecated); only pkcs11 (the pkcs11 plugin,"
         " no OpenSSL engine needed)", order=57),

    # ---- providers
    _str("provider", PROVIDER, "name", "Provider to load (may be given several times): default, base and legacy"
         " are what cryptography's OpenSSL has loaded anyway; pkcs11 is the pkcs11 plugin",
         repeatable=True, order=58),
    _str("provider-path", PROVIDER, "path", "Directory to load providers from (no effect: cmpkit loads no"
         " OpenSSL provider modules)", order=59),
    _str("propquery", PROVIDER, "propq", "Property query for algorithm fetching: only what OpenSSL's default"
         " provider satisfies (e.g. fips=no, provider=default; optional ?properties) is accepted", order=60),

    # ---- random state
    _str("rand", RANDOM, "files", "Files to seed the random number generator from (each must be readable;"
         " the OS generator cmpkit uses needs no seed)", order=61),
    _str("writerand", RANDOM, "file", "File to write random state to at the end", order=62),

    # ---- TLS: the http plugin declares them

    # ---- client-side debugging (-reqin ... -rspout: the file plugin; -use_mock_srv: the mock plugin)
    _flag("batch", DEBUG, "Never prompt interactively, e.g. for pass phrases", order=70),
    Option("repeat", "int", "Run the transaction the given positive number of times. Default 1", DEBUG, "number",
           minimum=1, default=1, order=71),

    # ---- mock server: -port chooses the shell's server mode (-max_msgs: the http plugin; the rest: the mock plugin)
    _str("port", MOCK, "number", "Run as HTTP mock server listening on this port", order=78),

    # ---- certificate verification (openssl-verification-options), for CMP and TLS
    _flag("allow_proxy_certs", VERIFY, "Allow proxy certificates", order=103),
    Option("attime", "int", "Check certificates at this time (seconds since the epoch) instead of now", VERIFY,
           "timestamp", minimum=INT64_MIN, maximum=INT64_MAX, order=104),
    _flag("no_check_time", VERIFY, "Do not check certificate validity periods", order=105),
    _flag("check_ss_sig", VERIFY, "Check the signature of self-signed root certificates", order=106),
    _flag("crl_check", VERIFY, "Check the revocation status of the leaf certificate with CRLs", order=107),
    _flag("crl_check_all", VERIFY, "Check the revocation status of the whole chain with CRLs", order=108),
    _flag("explicit_policy", VERIFY, "Require an explicit certificate policy", order=109),
    _flag("extended_crl", VERIFY, "Support indirect CRLs and CRLs signed by other keys", order=110),
    _flag("ignore_critical", VERIFY, "Do not reject unknown critical extensions", order=111),
    _flag("inhibit_any", VERIFY, "Do not accept anyPolicy", order=112),
    _flag("inhibit_map", VERIFY, "Do not allow policy mapping", order=113),
    _flag("partial_chain", VERIFY, "Accept chains ending in any trusted certificate, not only a root", order=114),
    _str("policy", VERIFY, "arg", "Certificate policy OID to accept (may be a list)", order=115),
    _flag("policy_check", VERIFY, "Process certificate policies", order=116),
    _flag("policy_print", VERIFY, "Print diagnostics of policy processing", order=117),
    _str("purpose", VERIFY, "purpose", "Required certificate purpose, e.g. sslserver", order=118),
    _flag("suiteB_128", VERIFY, "Suite B 128-bit mode, allowing 192-bit algorithms", order=119),
    _flag("suiteB_128_only", VERIFY, "Suite B 128-bit only mode", order=120),
    _flag("suiteB_192", VERIFY, "Suite B 192-bit only mode", order=121),
    _flag("trusted_first", VERIFY, "Look for issuers in the trust store first (always on: no effect)",
          no_effect=True, order=122),
    _flag("no_alt_chains", VERIFY, "Do not look for alternative chains (no effect)", no_effect=True, order=123),
    _flag("use_deltas", VERIFY, "Use delta CRLs", order=124),
    _int("auth_level", VERIFY, "num", "Security level for keys and signatures in the chain", order=125),
    _int("verify_depth", VERIFY, "num", "Maximum number of intermediate certificates in a chain", order=126),
    _str("verify_email", VERIFY, "email", "Email address the -out_trusted checked certificate must match", order=127),
    _str("verify_hostname", VERIFY, "hostname",
         "Host name the -out_trusted checked certificate must match", order=128),
    _str("verify_ip", VERIFY, "ip", "IP address the -out_trusted checked certificate must match", order=129),
    _str("verify_name", VERIFY, "name", "Named verification policy, e.g. ssl_server", order=130),
    _flag("x509_strict", VERIFY, "Apply strict X.509 conformance checks", order=131),
    _flag("issuer_checks", VERIFY,
          "Print issuer search diagnostics (deprecated: no effect)", no_effect=True, order=132),

    # ---- options of openssl 3.2/3.3 (3.4 man page). ``order`` between two 3.1 positions keeps
    # the 3.4 SYNOPSIS order without renumbering the 3.1 options (x.5 = after position x)
    _str("profile", GENERIC, "name",
         "Certificate profile name to place in generalInfo field of request PKIHeader", order=6.5),
    _str("serial", ENROLL_REV, "number",
         "Serial number of certificate to be revoked in revocation request (rr), with -issuer; "
         "decimal or hex with 0x", order=26.5),
    _flag("no_cache_extracerts", SERVER_AUTH,
          "Do not keep certificates received in the extraCerts CMP message field", order=41.3),
    _str("srvcertout", SERVER_AUTH, "filename",
         "File to save the server cert used and validated for CMP response protection", order=41.6),
    _str("reqout_only", DEBUG, "filename",
         "Save the first CMP request created by the client to file and exit", order=74.5),

    # ---- cmpkit's own core options (not in the man page)
    _flag("pbmac1", CLIENT_AUTH,
          "Protect with PBMAC1 (RFC 9481 6.1.2) instead of PBM when -secret is given; "
          "-mac names its PRF and MAC, default hmacWithSHA256", extension=True),
    _str("crls", VERIFY, "filenames",
         "CRL file(s) (PEM or DER) for -crl_check and -crl_check_all", extension=True),
)
