"""openssl cmp's setup_*_ctx() in one place: from a Config and loaded credentials to ClientSettings,
with the man page's defaults and fallbacks (protection, server authentication, request contents)."""
from __future__ import annotations

import datetime
import logging
from typing import Optional

from ..errors import ConfigError, CredentialError

log = logging.getLogger("cmpkit.client")

COMMANDS = ("ir", "cr", "kur", "p10cr", "rr", "genm")
INFOTYPES = {  # id-it-<name> (RFC 9810 / RFC 9480 / OpenSSL's names)
    "caProtEncCert": "1.3.6.1.5.5.7.4.1", "signKeyPairTypes": "1.3.6.1.5.5.7.4.2",
    "encKeyPairTypes": "1.3.6.1.5.5.7.4.3", "preferredSymmAlg": "1.3.6.1.5.5.7.4.4",
    "caKeyUpdateInfo": "1.3.6.1.5.5.7.4.5", "currentCRL": "1.3.6.1.5.5.7.4.6",
    "unsupportedOIDs": "1.3.6.1.5.5.7.4.7", "keyPairParamReq": "1.3.6.1.5.5.7.4.10",
    "keyPairParamRep": "1.3.6.1.5.5.7.4.11", "revPassphrase": "1.3.6.1.5.5.7.4.12",
    "implicitConfirm": "1.3.6.1.5.5.7.4.13", "confirmWaitTime": "1.3.6.1.5.5.7.4.14",
    "origPKIMessage": "1.3.6.1.5.5.7.4.15", "suppLangTags": "1.3.6.1.5.5.7.4.16",
    "caCerts": "1.3.6.1.5.5.7.4.17", "rootCaKeyUpdate": "1.3.6.1.5.5.7.4.18",
    "certReqTemplate": "1.3.6.1.5.5.7.4.19", "rootCaCert": "1.3.6.1.5.5.7.4.20",
    "certProfile": "1.3.6.1.5.5.7.4.21", "crlStatusList": "1.3.6.1.5.5.7.4.22",
    "crls": "1.3.6.1.5.5.7.4.23",
}
INFOTYPE_NAMES = {v: k for k, v in INFOTYPES.items()}


def plugin_option(cfg, name: str):
    """The value of an option a plugin declares (-server, -reqin, -msg_timeout ...), read by the shell
    for openssl's checks across options; None when it is unset or its plugin is not loaded."""
    return cfg.get(name) if name in cfg else None


_parsed_dns: dict = {"cfg": None}  # the DN options of the last Config: parsed (and warned about) once


def _dn(cfg, name: str):
    """DER of a DN option, None if unset; "/" gives the NULL-DN."""
    value = cfg.get(name)
    if value is None:
        return None
    if _parsed_dns["cfg"] is not cfg:
        _parsed_dns.clear()
        _parsed_dns["cfg"] = cfg
    if (name, value) not in _parsed_dns:
        from ..core.names import parse_dn_der  # parse_dn(...).public_bytes(), without cryptography.x509
        desc = {"expect_sender": "expected sender"}.get(name, name)  # as openssl names them in warnings
        _parsed_dns[(name, value)] = parse_dn_der(value, f"-{name}", desc)
    return _parsed_dns[(name, value)]


def _template_dn(cfg, name: str):
    """A CertTemplate name from a DN option: "/" (the NULL-DN) leaves the field out."""
    dn = _dn(cfg, name)
    return dn if dn != b"\x30\x00" else None


def _spki(public_key) -> bytes:
    from ..core.lazy import serialization  # issue 17: the enums without the package's ssh part
    return public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def _read_csr(cfg, loader) -> Optional[bytes]:
    src = cfg.get("csr")
    return None if src is None else loader.csr(src)


def build_client_settings(cfg, loader: Loader):
    """ClientSettings for the configured command: openssl cmp's setup_*_ctx in one place."""
    from ..core.lazy import x509  # imported when a certificate is parsed

    from ..core.client import ClientSettings

    cmd = cfg.get("cmd")
    if cmd is None:
        raise ConfigError("missing -cmd option (one of ir, cr, kur, p10cr, rr, genm)")
    if cmd not in COMMANDS:
        raise ConfigError(f"unknown -cmd argument '{cmd}' (one of ir, cr, kur, p10cr, rr, genm)")
    s = ClientSettings(cmd=cmd)
    enroll = cmd in ("ir", "cr", "kur")

    # ---- protection (setup_protection_ctx)
    secret_arg, key_src, cert_src = cfg.get("secret"), cfg.get("key"), cfg.get("cert")
    s.unprotected_requests = bool(cfg.get("unprotected_requests"))
    if not s.unprotected_requests and secret_arg is None and key_src is None:
        raise ConfigError("must give -key or -secret unless -unprotected_requests is used")
    if cfg.get("ref") is None and cert_src is None and cfg.get("subject") is None:
        raise ConfigError("must give -ref if no -cert and no -subject given")
    if secret_arg is None and (cert_src is None) != (key_src is None):
        raise ConfigError("must give both -cert and -key options or neither")
    if secret_arg is not None:
        s.secret = loader.passphrase(secret_arg, "-secret")
        if s.secret is None:
            raise ConfigError("no pass phrase for -secret")
        if cert_src is not None or key_src is not None:
            log.warning("-cert and -key not used for protection since -secret is given")
    if cfg.get("ref") is not None:
        s.ref = cfg.get("ref").encode()
    if key_src is not None:
        s.signer = loader.key(key_src, cfg.get("keypass"), "private key for CMP client certificate (-key)")
    if secret_arg is None and cfg.get("srvcert") is None and cfg.get("trusted") is None:
        log.warning("will not authenticate server due to missing -secret, -trusted, or -srvcert")
    cert_extras = []  # the further certificates of the -cert source, untrusted as -untrusted
    if cert_src is not None:
        s.cert, cert_extras = loader.cert(cert_src, "CMP client certificate (-cert)", cfg.get("keypass"))
        if s.signer is not None and s.secret is None:  # with -secret they do not protect: openssl
            from ..core.keys import check_key_matches_cert  # does not check that they match
            check_key_matches_cert(s.signer, s.cert, "-cert and -key")
        own = []
        if cfg.get("own_trusted"):
            own = loader.certs_option("own_trusted", "trusted certs for the own CMP signer cert (-own_trusted)")
            loader.verification_policy().verify_chain(s.cert, cert_extras + loader_untrusted(cfg, loader), own,
                                      purpose=None, check_status=True)
        s.cert_chain = own_chain(s.cert, loader_untrusted(cfg, loader) + cert_extras + own)
    s.extracerts = loader.certs_option("extracerts", "extra certificates (-extracerts)")
    from ..core.algs import digest_name, mac_name
    s.digest = digest_name(cfg.get("digest") or "sha256")  # fails early for an unknown name
    s.mac = mac_name(cfg.get("mac") or "hmac-sha1")
    # -pbmac1 (cmpkit's own): PBMAC1 with -mac as PRF and MAC, by default HMAC-SHA256 (RFC 9481 6.1.2)
    if cfg.get("pbmac1"):
        s.pbmac1 = True
        s.mac = mac_name(cfg.get("mac") or "hmacWithSHA256")
        if s.secret is None:
            log.warning("-pbmac1 has no effect without -secret")

    # ---- server authentication (setup_verification_ctx)
    s.untrusted = list(dict.fromkeys(loader_untrusted(cfg, loader) + cert_extras))
    if cfg.get("srvcert") is not None:
        s.srvcert, _ = loader.cert(cfg.get("srvcert"), "directly trusted CMP server certificate (-srvcert)",
                                   cfg.get("otherpass"))
    elif cfg.get("trusted"):
        s.trusted = loader.certs_option("trusted", "trusted certificates (-trusted)")
    s.expect_sender = _dn(cfg, "expect_sender")
    if s.expect_sender is None and s.srvcert is not None:
        s.expect_sender = x509.load_der_x509_certificate(s.srvcert).subject.public_bytes()
    s.ignore_keyusage = bool(cfg.get("ignore_keyusage"))
    s.unprotected_errors = bool(cfg.get("unprotected_errors"))
    s.policy = loader.verification_policy()
    if cfg.get("out_trusted"):
        s.out_trusted = loader.certs_option("out_trusted", "trusted certs for the new certificate (-out_trusted)")
        if not s.out_trusted:
            raise CredentialError("no certificates in -out_trusted")

    # ---- request contents (setup_request_ctx)
    s.csr = _read_csr(cfg, loader) if cmd != "genm" else None
    old_src = cfg.get("oldcert")
    if old_src is not None and cmd != "genm":
        what = {"kur": "certificate to be updated", "rr": "certificate to be revoked"}.get(
            cmd, "reference certificate (-oldcert)")
        s.old_cert, _ = loader.cert(old_src, what, cfg.get("keypass"))
    elif cmd == "kur" and s.cert is not None:
        s.old_cert = s.cert
    if cmd == "kur" and s.old_cert is None and s.csr is None:
        raise ConfigError("missing -oldcert for certificate to be updated and no -csr given")
    from .settings_32 import apply_rr_serial  # -issuer and -serial for rr (openssl 3.2+)
    apply_rr_serial(cfg, s, _dn)
    if cmd == "rr" and s.old_cert is None and s.csr is None and s.rev_serial is None:
        raise ConfigError("missing -oldcert or -issuer and -serial for certificate to be revoked and no -csr given")
    if cmd == "p10cr" and s.csr is None:
        raise ConfigError("missing PKCS#10 CSR for p10cr (-csr)")
    s.revreason = cfg.get("revreason") if cfg.get("revreason") is not None else -1
    if not (-1 <= s.revreason <= 10) or s.revreason == 7:
        raise ConfigError(f"invalid -revreason {s.revreason}: must be -1..10 except 7")
    if cmd != "rr" and s.revreason != -1:
        log.warning("-revreason option is ignored for commands other than 'rr'")
    s.implicit_confirm = bool(cfg.get("implicit_confirm"))
    s.disable_confirm = bool(cfg.get("disable_confirm"))
    popo = cfg.get("popo")
    s.popo = 1 if popo is None else popo
    _central_keygen(cfg, s, enroll)
    if enroll and cfg.get("reqout_only") is None:  # openssl 3.0 does not require -certout for p10cr
        if cfg.get("certout") is None:
            raise ConfigError("-certout not given, nowhere to save newly enrolled certificate")
    if enroll:
        newkey_src = cfg.get("newkey")
        if (newkey_src is None and key_src is None and s.csr is None and s.old_cert is None
                and plugin_option(cfg, "reqin") is None and not s.centralkeygen):
            raise ConfigError("missing -newkey (or -key) to be certified and no -csr, -oldcert, -cert or -reqin "
                              "option given, which could provide fallback public key")
        if newkey_src is None and s.popo not in (-1, 0):
            if s.csr is not None:
                raise ConfigError("no -newkey option given with private key for POPO, -csr option provides "
                                  "just public key" + (", and -key option superseded by -csr" if key_src else ""))
            if key_src is None:
                raise ConfigError("missing -newkey (or -key) option for key to be certified and for POPO")
        if newkey_src is not None:
            try:
                s.newkey_signer = loader.key(newkey_src, cfg.get("newkeypass"),
                                             "new private key for cert to be enrolled (-newkey)")
            except CredentialError as exc:
                if s.popo not in (-1, 0) and s.csr is None:
                    raise
                try:
                    s.newkey_public = loader.public_key(newkey_src, cfg.get("newkeypass"),
                                                        "fallback public key for cert to be enrolled (-newkey)")
                except CredentialError:
                    raise exc from None
        elif s.csr is None:
            s.newkey_signer = s.signer
        if s.newkey_signer is not None:
            s.newkey_public = s.newkey_signer.public_key()
        s.template = _template(cfg, loader, s)
    elif cmd == "p10cr" and cfg.get("newkey") is not None:
        log.warning("-newkey option is ignored for 'p10cr', 'rr', and 'genm' commands")

    # ---- header names: sender and recipient
    # the subject of -cert, else of -oldcert (man page: even with -subject; openssl 3.0 also for
    # p10cr and rr, not for genm), else -subject for ir/cr/kur (3.0 ignores it for the others)
    if s.cert is not None:
        s.sender = x509.load_der_x509_certificate(s.cert).subject.public_bytes()
    elif s.old_cert is not None:
        s.sender = x509.load_der_x509_certificate(s.old_cert).subject.public_bytes()
    elif cfg.get("subject") is not None and enroll:
        s.sender = _dn(cfg, "subject")
    s.recipient = _recipient(cfg, s)
    if cfg.get("geninfo"):
        from .settings_32 import parse_geninfo  # openssl 3.3's list syntax and messages
        s.geninfo = parse_geninfo(cfg.get("geninfo"), INFOTYPES)
    if cfg.get("profile") is not None:
        from .settings_32 import profile_itav
        s.geninfo = list(s.geninfo) + [profile_itav(cfg.get("profile"))]
    infotype = cfg.get("infotype")
    if infotype is not None:
        if infotype not in INFOTYPES:
            raise ConfigError(f"unknown OID name in -infotype option: '{infotype}'")
        if cmd == "genm":
            s.infotypes = [(INFOTYPES[infotype], None)]
        else:
            log.warning("-infotype option is ignored for commands other than 'genm'")
    from .genm import configure as configure_genm  # the info types of openssl 3.2-3.4 (RFC 9480 2.3)
    configure_genm(cfg, loader, s)
    total = cfg.get("total_timeout")
    s.total_timeout = total if total is not None else 0
    msg_timeout = plugin_option(cfg, "msg_timeout")  # the http plugin's
    if total and msg_timeout and total > 0 and msg_timeout > 0 and total < msg_timeout:
        raise ConfigError(f"-total_timeout argument = {total} must not be < {msg_timeout} (-msg_timeout)")
    if s.unprotected_requests:
        # -cert served as a default above (sender, template); unprotected requests carry neither it
        # nor its chain in extraCerts, and -ref (if any) as senderKID, not its key id (openssl 3.0)
        s.cert, s.cert_chain = None, []
    return s


def _central_keygen(cfg, s, enroll: bool) -> None:
    """-centralkeygen, -popo -1 and -newkeyout as openssl 3.5's setup_request_ctx() checks them."""
    popo = cfg.get("popo")
    if not enroll:
        msg = "option is ignored for commands other than 'ir', 'cr', and 'kur'"
        if cfg.get("centralkeygen"):   # not for -popo -1 alone: openssl 3.5 warns about -popo then
            log.warning("-popo -1 or -centralkeygen %s", msg)
        if cfg.get("newkeyout") is not None:
            log.warning("-newkeyout %s", msg)
        return
    s.centralkeygen = bool(cfg.get("centralkeygen"))
    if popo == -1 and not s.centralkeygen:
        log.info("POPO is disabled, which implies -centralkeygen")
        s.centralkeygen = True
    if s.centralkeygen:
        if popo is not None and popo > -1:
            raise ConfigError(f"-popo value {popo} is inconsistent with -centralkeygen")
        if not cfg.get("newkeyout"):
            raise ConfigError("-newkeyout not given, nowhere to save centrally generated key")
        s.popo = -1


def loader_untrusted(cfg, loader) -> list:
    return loader.certs_option("untrusted", "untrusted certificates (-untrusted)")


def own_chain(cert: bytes, pool: list) -> list:
    """The chain of the own CMP signer certificate sent after it in extraCerts, as openssl's
    OSSL_CMP_CTX_build_cert_chain (X509_build_chain from -untrusted, the further certificates of
    -cert and -own_trusted): its issuers as far as ``pool`` has them, without self-signed ones."""
    from ..core.client import build_chain
    return [c for c in build_chain(cert, pool) if not _self_signed(c)]


def _self_signed(cert_der: bytes) -> bool:
    """Subject and issuer equal and the certificate's own key verifies it (X509_self_signed)."""
    from cryptography import x509
    c = x509.load_der_x509_certificate(cert_der)
    if c.subject != c.issuer:
        return False
    try:
        c.verify_directly_issued_by(c)
    except Exception:  # noqa: BLE001 - any failure: not self-signed
        return False
    return True


def _recipient(cfg, s) -> Optional[bytes]:
    from ..core.lazy import x509
    r = _dn(cfg, "recipient")
    if r is not None:
        return r
    if s.srvcert is not None:
        return x509.load_der_x509_certificate(s.srvcert).subject.public_bytes()
    issuer = _dn(cfg, "issuer")
    if issuer is not None:
        return issuer
    for c in (s.old_cert, s.cert):
        if c is not None:
            return x509.load_der_x509_certificate(c).issuer.public_bytes()
    log.warning('missing -recipient, -srvcert, -issuer, -oldcert or -cert; recipient will be set to "NULL-DN"')
    return None


def _template(cfg, loader, s):
    """The CertTemplate of ir/cr/kur with the man page's fallbacks."""
    from ..core.lazy import x509

    from ..core import bodies

    ref = None
    if s.old_cert is not None:
        ref = x509.load_der_x509_certificate(s.old_cert)
    elif s.cert is not None:
        ref = x509.load_der_x509_certificate(s.cert)
    csr = x509.load_der_x509_csr(s.csr) if s.csr is not None else None
    tpl = bodies.Template()
    # public key (man page -newkey): -newkey, else the CSR's, else the reference certificate's,
    # else -key's (which signs the POPO all the same: with a -key that does not match -cert, as
    # openssl 3.0, the server sees the mismatch)
    if s.newkey_public is not None and cfg.get("newkey") is not None:
        tpl.public_key = _spki(s.newkey_public)
    elif csr is not None:
        tpl.public_key = _spki(csr.public_key())
    elif ref is not None:
        tpl.public_key = _spki(ref.public_key())
    elif s.newkey_public is not None:
        tpl.public_key = _spki(s.newkey_public)
    # extensions in openssl 3.0's order (crm_new: each further one is put first): the CSR's,
    # overridden by -reqexts/-policies; then SANs from -sans, else copied from the reference
    # certificate; then -policy_oids
    exts = {}
    if csr is not None:
        for e in csr.extensions:
            exts[e.oid.dotted_string] = e
    conf = _conf(cfg)
    reqexts_san = False
    san_oid = "2.5.29.17"  # x509.SubjectAlternativeName.oid, without importing cryptography.x509
    for opt in ("reqexts", "policies"):
        section = cfg.get(opt)
        if section is not None:
            if conf is None:
                raise ConfigError(f"-{opt} needs a config file with section [{section}]")
            from ..core.x509conf import extensions_from_section  # issue 17: only when given
            for e in extensions_from_section(conf, section, f"-{opt}", public_key=s.newkey_public):
                exts[e.oid.dotted_string] = e
                reqexts_san = reqexts_san or e.oid.dotted_string == san_oid
    if cfg.get("policies") is not None and cfg.get("policy_oids") is not None:
        raise ConfigError("cannot have policies both via -policies and via -policy_oids")
    names, san_critical = [], False
    sans = cfg.get("sans")
    if sans is not None:
        if reqexts_san:
            raise ConfigError("cannot have Subject Alternative Names both via -reqexts and via -sans")
        from ..core.x509conf import parse_sans
        names, san_critical = parse_sans(sans)  # "critical" alone only sets the flag
    # subject: -subject ("/" = none), else the CSR's, else (kur, or ir/cr without SANs given by
    # -sans or -reqexts; those copied from the reference certificate do not count) the reference cert's
    if cfg.get("subject") is not None:
        tpl.subject = _template_dn(cfg, "subject")
    elif csr is not None:
        tpl.subject = csr.subject.public_bytes()
    elif ref is not None and (s.cmd == "kur" or not (names or reqexts_san)):
        tpl.subject = ref.subject.public_bytes()
    # RFC 5280 4.2.1.6: the SAN extension is critical when the subject is empty (as openssl)
    critical = san_critical or tpl.subject is None
    san = None
    if names:
        san = x509.Extension(x509.SubjectAlternativeName.oid, critical, x509.SubjectAlternativeName(names))
    elif not reqexts_san and ref is not None and not cfg.get("san_nodefault"):
        try:
            copied = ref.extensions.get_extension_for_class(x509.SubjectAlternativeName)
            san = x509.Extension(copied.oid, critical, copied.value)
        except x509.ExtensionNotFound:
            pass
    ordered = list(exts.values())
    if san is not None:  # openssl 3.0 would keep a SAN of the CSR as a second one: cmpkit replaces it
        ordered = [san] + [e for e in ordered if e.oid.dotted_string != san_oid]
    if cfg.get("policy_oids") is not None:
        from ..core.x509conf import policy_oids_extension
        e = policy_oids_extension(cfg.get("policy_oids"), bool(cfg.get("policy_oids_critical")))
        ordered = [e] + [o for o in ordered if o.oid.dotted_string != e.oid.dotted_string]
    tpl.extensions = ordered
    # issuer: -issuer ("/" = none), else the reference certificate's issuer
    if cfg.get("issuer") is not None:
        tpl.issuer = _template_dn(cfg, "issuer")
    elif ref is not None:
        tpl.issuer = ref.issuer.public_bytes()
    days = cfg.get("days")
    if days:
        now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
        tpl.not_before, tpl.not_after = now, now + datetime.timedelta(days=days)
    return tpl


def _conf(cfg):
    """The loaded config file (for extension sections), or None."""
    return getattr(cfg, "conf", None)
