"""From a Config to a finished command: load credentials through hooks, apply openssl cmp's
defaults and fallbacks, run the client (or the mock server) and write the outputs atomically."""
from __future__ import annotations

import datetime
import logging
import os
import re
import sys
import tempfile
import time
from typing import Optional

from .errors import CmpError, ConfigError, CredentialError
from .hookspecs import LoadContext

log = logging.getLogger("cmpkit")

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


_PIN_VALUE = re.compile(r"(?i)(pin-value=)[^&;?#]*")


def shown_source(source: str) -> str:
    """A credential source as it may appear in a message: any URI ``pin-value`` hidden."""
    return _PIN_VALUE.sub(r"\1***", source)


class Loader:
    """Loads keys and certificates through the plugin hooks, with the run's pass phrase policy."""

    def __init__(self, cfg, hook=None):
        from .plugins import hook as get_hook
        self.cfg = cfg
        self.hook = hook or get_hook()
        self.ctx = LoadContext(batch=bool(cfg.get("batch")), config=cfg)

    def certs(self, sources, what: str, passarg=None) -> list:
        """All certificates of a list of sources (each may hold several)."""
        out = []
        for src in sources:
            got = self.hook.cmpkit_load_certs(source=src, passarg=passarg, certform=None, what=what, ctx=self.ctx)
            if got is None:
                raise CredentialError(f"no plugin can load {what} from '{shown_source(src)}'")
            out.extend(got)
        return out

    def certs_option(self, name: str, what: str, passarg=None) -> list:
        return self.certs(self.cfg.get_list(name) if self.cfg.get(name) else [], what,
                          passarg if passarg is not None else self.cfg.get("otherpass"))

    def cert(self, source: str, what: str, passarg=None) -> tuple[bytes, list]:
        """(first certificate, the rest) of one source."""
        certs = self.certs([source], what, passarg)
        return certs[0], certs[1:]

    def key(self, source: str, passarg, what: str):
        got = self.hook.cmpkit_load_key(source=source, passarg=passarg, keyform=self.cfg.get("keyform"),
                                        what=what, ctx=self.ctx)
        if got is None:
            raise CredentialError(f"no plugin can load {what} from '{shown_source(source)}'")
        return got

    def public_key(self, source: str, passarg, what: str):
        got = self.hook.cmpkit_load_public_key(source=source, passarg=passarg, keyform=self.cfg.get("keyform"),
                                               what=what, ctx=self.ctx)
        if got is None:
            raise CredentialError(f"no plugin can load {what} from '{shown_source(source)}'")
        return got

    def passphrase(self, arg: Optional[str], what: str) -> Optional[bytes]:
        return self.ctx.get_pass(arg, what)


def _dn(cfg, name: str):
    """DER of a DN option, None if unset; "/" gives the NULL-DN."""
    value = cfg.get(name)
    if value is None:
        return None
    from .core.names import parse_dn
    return parse_dn(value, f"-{name}").public_bytes()


def _spki(public_key) -> bytes:
    from cryptography.hazmat.primitives import serialization
    return public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def _parse_geninfo(text: str) -> list:
    """-geninfo OID:int:N[,OID:int:N...] or OID:str:text as openssl parses it."""
    from pyasn1.codec.der import encoder
    from pyasn1.type import char, univ
    out = []
    rest = text
    while True:
        rest = rest.lstrip()
        oid, sep, rest = rest.partition(":")
        if not sep:
            raise ConfigError(f"missing ':' in -geninfo argument '{text}'")
        parts = oid.split(".")
        if len(parts) < 2 or not all(p.isdigit() for p in parts):
            raise ConfigError(f"invalid OID '{oid}' in -geninfo argument")
        kind, sep, rest = rest.partition(":")
        if not sep or kind.lower() not in ("int", "str"):
            raise ConfigError(f"missing 'int:' or 'str:' in -geninfo argument '{text}'")
        value, sep, rest = rest.partition(",")
        if kind.lower() == "int":
            v = value.strip()
            if not v or not (v.lstrip("+-").isdigit()):
                raise ConfigError(f"cannot parse int in -geninfo argument '{text}'")
            out.append((oid, encoder.encode(univ.Integer(int(v)))))
        else:
            out.append((oid, encoder.encode(char.UTF8String(value))))
        if not sep:
            return out


def _read_csr(cfg, loader) -> Optional[bytes]:
    src = cfg.get("csr")
    if src is None:
        return None
    from cmpkit_file.credentials import load_csr
    return load_csr(src)


def build_client_settings(cfg, loader: Loader):
    """ClientSettings for the configured command: openssl cmp's setup_*_ctx in one place."""
    from cryptography import x509

    from .core.client import ClientSettings

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
    if cert_src is not None:
        s.cert, s.cert_chain = loader.cert(cert_src, "CMP client certificate (-cert)", cfg.get("keypass"))
        if s.signer is not None:
            from cmpkit_file.credentials import check_key_matches_cert
            check_key_matches_cert(s.signer, s.cert, "-cert and -key")
        if cfg.get("own_trusted"):
            own = loader.certs_option("own_trusted", "trusted certs for the own CMP signer cert (-own_trusted)")
            _policy(cfg).verify_chain(s.cert, s.cert_chain + loader_untrusted(cfg, loader), own,
                                      purpose=None, check_status=True)
    s.extracerts = loader.certs_option("extracerts", "extra certificates (-extracerts)")
    from .core.algs import digest_name, mac_name
    s.digest = digest_name(cfg.get("digest") or "sha256")  # fails early for an unknown name
    s.mac = mac_name(cfg.get("mac") or "hmac-sha1")

    # ---- server authentication (setup_verification_ctx)
    s.untrusted = loader_untrusted(cfg, loader) + s.cert_chain
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
    s.policy = _policy(cfg)
    s.verify_options = getattr(s.policy, "options", None)
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
    if cmd == "rr" and s.old_cert is None and s.csr is None:
        raise ConfigError("missing -oldcert for certificate to be revoked and no -csr given")
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
    if enroll or cmd == "p10cr":
        if cfg.get("certout") is None:
            raise ConfigError("-certout not given, nowhere to save newly enrolled certificate")
    if enroll:
        newkey_src = cfg.get("newkey")
        if newkey_src is None and key_src is None and s.csr is None and s.old_cert is None and cfg.get("reqin") is None:
            raise ConfigError("missing -newkey (or -key) to be certified and no -csr, -oldcert, -cert or -reqin "
                              "option given, which could provide fallback public key")
        if newkey_src is None and s.popo not in (-1, 0):
            if s.csr is not None:
                raise ConfigError("no -newkey option given with private key for POPO, -csr option provides "
                                  "just public key" + (", and -key option superseded by -csr" if key_src else ""))
            if key_src is None:
                raise ConfigError("missing -newkey (or -key) option for key to be certified and for POPO")
        if s.popo == 2:
            raise ConfigError("-popo 2 (KEYENC) is not supported")
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
    if s.cert is not None:
        s.sender = x509.load_der_x509_certificate(s.cert).subject.public_bytes()
    elif s.old_cert is not None and cfg.get("subject") is None:
        s.sender = x509.load_der_x509_certificate(s.old_cert).subject.public_bytes()
    elif cfg.get("subject") is not None:
        s.sender = _dn(cfg, "subject")
    s.recipient = _recipient(cfg, s)
    if cfg.get("geninfo"):
        s.geninfo = _parse_geninfo(cfg.get("geninfo"))
    infotype = cfg.get("infotype")
    if infotype is not None:
        if infotype not in INFOTYPES:
            raise ConfigError(f"unknown OID name in -infotype option: '{infotype}'")
        if cmd == "genm":
            s.infotypes = [(INFOTYPES[infotype], None)]
        else:
            log.warning("-infotype option is ignored for commands other than 'genm'")
    total = cfg.get("total_timeout")
    s.total_timeout = total if total is not None else 0
    msg_timeout = cfg.get("msg_timeout")
    if total and msg_timeout and total > 0 and msg_timeout > 0 and total < msg_timeout:
        raise ConfigError(f"-total_timeout argument = {total} must not be < {msg_timeout} (-msg_timeout)")
    return s


def loader_untrusted(cfg, loader) -> list:
    return loader.certs_option("untrusted", "untrusted certificates (-untrusted)")


def _policy(cfg):
    """The verification policy: a plugin's (cmpkit_verification_policy) or the bundled default."""
    from .plugins import hook
    policy = hook().cmpkit_verification_policy(config=cfg)
    if policy is None:
        from .app.crl_files import crls_from_config
        from .core.verify import DefaultVerificationPolicy, VerifyOptions
        policy = DefaultVerificationPolicy(VerifyOptions.from_config(cfg, crls_from_config(cfg)), clock=time.time)
    return policy


def _recipient(cfg, s) -> Optional[bytes]:
    from cryptography import x509
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
    from cryptography import x509

    from .core import bodies
    from .core.x509conf import extensions_from_section, parse_sans, policy_oids_extension

    ref = None
    if s.old_cert is not None:
        ref = x509.load_der_x509_certificate(s.old_cert)
    elif s.cert is not None:
        ref = x509.load_der_x509_certificate(s.cert)
    csr = x509.load_der_x509_csr(s.csr) if s.csr is not None else None
    tpl = bodies.Template()
    # public key: -newkey, else -key, else the CSR's, else the reference certificate's
    if s.newkey_public is not None:
        tpl.public_key = _spki(s.newkey_public)
    elif csr is not None:
        tpl.public_key = _spki(csr.public_key())
    elif ref is not None:
        tpl.public_key = _spki(ref.public_key())
    # extensions: CSR's, overridden by -reqexts/-policies; SANs from -sans or the reference cert
    exts = {}
    if csr is not None:
        for e in csr.extensions:
            exts[e.oid.dotted_string] = e
    conf = _conf(cfg)
    for opt in ("reqexts", "policies"):
        section = cfg.get(opt)
        if section is not None:
            if conf is None:
                raise ConfigError(f"-{opt} needs a config file with section [{section}]")
            for e in extensions_from_section(conf, section, f"-{opt}", public_key=s.newkey_public):
                exts[e.oid.dotted_string] = e
    if cfg.get("policies") is not None and cfg.get("policy_oids") is not None:
        raise ConfigError("cannot have policies both via -policies and via -policy_oids")
    san_oid = x509.SubjectAlternativeName.oid.dotted_string
    sans = cfg.get("sans")
    if sans is not None:
        if san_oid in exts and cfg.get("reqexts") is not None:
            raise ConfigError("cannot have Subject Alternative Names both via -reqexts and via -sans")
        names, critical = parse_sans(sans)
        if names:  # "critical" alone only sets a flag for no names: no extension, as openssl
            exts[san_oid] = x509.Extension(x509.SubjectAlternativeName.oid, critical,
                                           x509.SubjectAlternativeName(names))
    elif san_oid not in exts and ref is not None and not cfg.get("san_nodefault"):
        try:
            e = ref.extensions.get_extension_for_class(x509.SubjectAlternativeName)
            exts[san_oid] = e
        except x509.ExtensionNotFound:
            pass
    if cfg.get("policy_oids") is not None:
        e = policy_oids_extension(cfg.get("policy_oids"), bool(cfg.get("policy_oids_critical")))
        exts[e.oid.dotted_string] = e
    tpl.extensions = list(exts.values())
    # subject: -subject ("/" = none), else CSR's, else (kur, or ir/cr without SANs) the reference cert's
    subj = cfg.get("subject")
    if subj is not None:
        name = _dn(cfg, "subject")
        tpl.subject = name if name != b"\x30\x00" else None
    elif csr is not None:
        tpl.subject = csr.subject.public_bytes()
    elif ref is not None and (s.cmd == "kur" or san_oid not in exts):
        tpl.subject = ref.subject.public_bytes()
    # issuer: -issuer ("/" = none), else the reference certificate's issuer
    iss = cfg.get("issuer")
    if iss is not None:
        name = _dn(cfg, "issuer")
        tpl.issuer = name if name != b"\x30\x00" else None
    elif ref is not None:
        tpl.issuer = ref.issuer.public_bytes()
    days = cfg.get("days")
    if days:
        now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
        tpl.not_before, tpl.not_after = now, now + datetime.timedelta(days=days)
    return tpl


_CONF_CACHE = {}


def _conf(cfg):
    """The loaded config file (for extension sections), or None."""
    path = getattr(cfg, "config_path", None)
    if not path:
        return None
    if path not in _CONF_CACHE:
        from .core.conf import load_config
        _CONF_CACHE[path] = load_config(path)
    return _CONF_CACHE[path]


# ---------------------------------------------------------------- outputs

def write_atomically(path: str, data: bytes, mode: Optional[int] = None) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same directory and a rename;
    the file gets ``mode`` (default 0666), less the umask, as a plain open() and openssl give."""
    directory, name = os.path.split(os.path.abspath(path))
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    tmp = os.path.join(directory, f".{name}.{os.getpid()}.cmpkit-tmp")
    try:
        try:
            fd = os.open(tmp, flags, 0o666 if mode is None else mode)
        except FileExistsError:  # left by a killed run with our pid: a fresh random name
            fd, tmp = tempfile.mkstemp(prefix=f".{name}.", dir=directory)
            os.fchmod(fd, (0o666 if mode is None else mode) & ~_umask())
    except OSError as exc:
        raise CmpError(f"cannot write '{path}': {exc.strerror}") from None
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except OSError as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise CmpError(f"cannot write '{path}': {exc.strerror}") from None


def _umask() -> int:
    umask = os.umask(0o022)
    os.umask(umask)
    return umask


def certs_bytes(certs: list, certform: Optional[str]) -> bytes:
    form = (certform or "PEM").upper()
    if form == "PEM":
        import base64
        out = []
        for c in certs:
            b64 = base64.encodebytes(c).decode().replace("\n", "")
            lines = "\n".join(b64[i:i + 64] for i in range(0, len(b64), 64))
            out.append(f"-----BEGIN CERTIFICATE-----\n{lines}\n-----END CERTIFICATE-----\n")
        return "".join(out).encode()
    if form in ("DER", "ASN1"):
        if len(certs) > 1:
            log.warning("saving more than one certificate in non-PEM format")
        return b"".join(certs)
    raise ConfigError(f"unsupported -certform '{certform}' for writing certificates (PEM or DER)")


def save_certs(path: Optional[str], certs: list, what: str, certform) -> None:
    if path is None:
        return
    log.info("received %d %s certificate(s), saving to file '%s'", len(certs), what, path)
    write_atomically(path, certs_bytes(certs, certform))


# ---------------------------------------------------------------- running

PROVIDERS_BUILT_IN = ("default", "base", "legacy")  # what cryptography's OpenSSL has loaded anyway
PROPERTIES_MET = ("provider=default", "fips=no", "-fips")  # mandatory properties the default provider has


def check_engines_and_providers(cfg) -> None:
    """-engine, -provider and -propquery fail where openssl's would find nothing to load or fetch.

    cmpkit loads no OpenSSL engine or provider module: its algorithms are those of
    cryptography's OpenSSL (default provider), and ``pkcs11`` as engine or provider is served
    by the pkcs11 plugin.
    """
    from .plugins import get_manager, load_failures
    wanted = []
    for name in cfg.get_list("engine"):
        if name != "pkcs11":
            raise ConfigError(f'invalid engine "{name}": cmpkit uses no OpenSSL engines '
                              "(-engine pkcs11 is served by the pkcs11 plugin)")
        wanted.append("-engine pkcs11")
    for name in cfg.get_list("provider"):
        if name == "pkcs11":
            wanted.append("-provider pkcs11")
        elif name not in PROVIDERS_BUILT_IN:
            raise ConfigError(f"unable to load provider {name}: cmpkit has {', '.join(PROVIDERS_BUILT_IN)}"
                              " and pkcs11 (the pkcs11 plugin)")
    if wanted and not get_manager().has_plugin("pkcs11"):
        why = dict(load_failures).get("pkcs11", "not installed or blocked")
        raise ConfigError(f"{wanted[0]} needs the pkcs11 plugin, which is not loaded: {why}")
    query = cfg.get("propquery") or ""
    for clause in (c.strip() for c in query.split(",")):
        if clause and not clause.startswith("?") and clause.replace(" ", "") not in PROPERTIES_MET:
            raise ConfigError(f"no algorithms match -propquery '{query}': cmpkit's come from OpenSSL's "
                              f"default provider ({', '.join(PROPERTIES_MET[:2])})")


def load_rand_files(cfg) -> None:
    """-rand: every file of the list (separated by the OS path separator) must be readable, as
    openssl requires. Their bytes seed nothing: cryptography and os.urandom draw from the
    operating system's generator, which needs no seed."""
    for name in filter(None, (cfg.get("rand") or "").split(os.pathsep)):
        try:
            with open(name, "rb") as fh:
                while fh.read(1 << 16):
                    pass
        except OSError as exc:
            raise CmpError(f"cannot load {name} into RNG: {exc.strerror}") from None


def write_rand_file(cfg) -> None:
    """-writerand: 1024 bytes of fresh random state, owner-only (0600) as openssl writes them."""
    name = cfg.get("writerand")
    if name:
        write_atomically(name, os.urandom(1024), mode=0o600)


def run_client(cfg) -> int:
    """Run the configured command -repeat times; 0 on success."""
    from .core.client import Client
    from .plugins import hook as get_hook

    hook = get_hook()
    if cfg.get("server") is not None and cfg.get("use_mock_srv"):
        raise ConfigError("cannot use both -server and -use_mock_srv options")
    if cfg.get("server") is None and not cfg.get("use_mock_srv") and cfg.get("rspin") is None:
        raise ConfigError("missing -server or -use_mock_srv or -rspin option")
    loader = Loader(cfg, hook)
    settings = build_client_settings(cfg, loader)
    transfer = hook.cmpkit_get_transfer(config=cfg)
    for wrapped in hook.cmpkit_wrap_transfer(config=cfg, transfer=transfer):
        if wrapped is not None:
            transfer = wrapped
    if transfer is None:
        raise ConfigError("no transfer available: give -server, -use_mock_srv or -rspin")

    def sent(msg, der):
        hook.cmpkit_message_sent(message=msg, der=der)

    def received(msg, der):
        hook.cmpkit_message_received(message=msg, der=der)

    client = Client(settings, transfer, sent, received)
    try:
        for _ in range(cfg.get("repeat") or 1):
            result = client.run()
            _write_outputs(cfg, settings, result)
    finally:
        close = getattr(transfer, "close", None)
        if close:
            close()
    return 0


def _write_outputs(cfg, s, result) -> None:
    certform = cfg.get("certform")
    if cfg.get("extracertsout") is not None:
        save_certs(cfg.get("extracertsout"), result.extra_certs, "extra", certform)
    if s.cmd in ("ir", "cr", "kur", "p10cr"):
        certout, chainout = cfg.get("certout"), cfg.get("chainout")
        if chainout is not None and chainout == certout:
            save_certs(chainout, [result.cert] + result.chain, "newly enrolled cert and chain", certform)
        else:
            save_certs(chainout, result.chain, "chain", certform)
            save_certs(certout, [result.cert], "newly enrolled", certform)
        save_certs(cfg.get("cacertsout"), result.ca_pubs, "CA", certform)
    if s.cmd == "genm":
        if not result.itavs:
            log.info("genp does not contain any ITAV")
        for oid, _value in result.itavs:
            name = INFOTYPE_NAMES.get(oid)
            sys.stdout.write(f"genp contains ITAV of type: {'id-it-' + name if name else oid}\n")
        sys.stdout.flush()


def run_server(cfg) -> int:
    """-port: serve the mock server over HTTP until -max_msgs or interrupted."""
    from .plugins import hook as get_hook
    hook = get_hook()
    if cfg.get("tls_used"):
        raise ConfigError("-tls_used option not supported with -port option")
    if cfg.get("server") is not None or cfg.get("use_mock_srv"):
        raise ConfigError("the -port option excludes -server and -use_mock_srv")
    if cfg.get("reqin") is not None or cfg.get("reqout") is not None:
        raise ConfigError("the -port option does not support -reqin and -reqout")
    if cfg.get("rspin") is not None or cfg.get("rspout") is not None:
        raise ConfigError("the -port option does not support -rspin and -rspout")
    from cmpkit_mock.plugin import build_server
    server = build_server(cfg)
    done = hook.cmpkit_serve(config=cfg, handler=server.handle)
    if done is None:
        raise ConfigError("no plugin can serve -port (is the http plugin blocked?)")
    return 0
