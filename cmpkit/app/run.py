"""Running a command: the client with its transport, or the mock server behind -port; outputs
written when the transaction succeeded (-extracertsout also after a failure once a response was
taken, as openssl does); openssl's engine, provider and -rand checks; the
plugins' cmpkit_configure and cmpkit_unconfigure around it all.

Options that plugins declare (-server, -tls_used, -use_mock_srv, -reqin ...) are read here only
for openssl's checks across options, through :func:`cmpkit.app.settings.plugin_option`: a
blocked plugin's options are not declared, and count as not given.
"""
from __future__ import annotations

import functools
import logging
import os
from typing import Optional

from ..errors import CmpError, ConfigError
from .credentials import Loader
from .files import write_atomically
from .settings import INFOTYPE_NAMES, build_client_settings, plugin_option

log = logging.getLogger("cmpkit.client")


def run(cfg) -> int:
    """The whole run of a Config: cmpkit_configure, openssl's engine/provider/-rand checks, the client
    (or the server for -port), -writerand, and cmpkit_unconfigure whatever the outcome; 0 on success."""
    from ..plugins import hook as get_hook
    hook = get_hook()
    try:
        hook.cmpkit_configure(config=cfg)
        check_engines_and_providers(cfg)
        load_rand_files(cfg)
        try:
            if cfg.get("port") is not None:
                return run_server(cfg)
            return run_client(cfg)
        finally:
            write_rand_file(cfg)  # at the end, whatever the outcome, as openssl does
    finally:
        hook.cmpkit_unconfigure(config=cfg)


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
    write_atomically(path, _certs_bytes_again(certs, certform))


def _certs_bytes_again(certs: list, certform) -> bytes:
    """certs_bytes, a PEM result reused when the same certificates are saved again (issue 17: -repeat);
    other forms (whose warning openssl prints every time) are made each time."""
    if (certform or "PEM").upper() != "PEM" or not all(type(c) is bytes for c in certs):
        return certs_bytes(certs, certform)
    return _pem_file(tuple(certs))


@functools.lru_cache(maxsize=8)
def _pem_file(certs: tuple) -> bytes:
    return certs_bytes(list(certs), "PEM")


PROVIDERS_BUILT_IN = ("default", "base", "legacy")  # what cryptography's OpenSSL has loaded anyway
PROPERTIES_MET = ("provider=default", "fips=no", "-fips")  # mandatory properties the default provider has


def check_engines_and_providers(cfg) -> None:
    """-engine, -provider and -propquery fail where openssl's would find nothing to load or fetch.

    cmpkit loads no OpenSSL engine or provider module: its algorithms are those of
    cryptography's OpenSSL (default provider), and ``pkcs11`` as engine or provider is served
    by the pkcs11 plugin.
    """
    from ..plugins import get_manager, load_failures
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
    from .transaction import Client
    from ..plugins import hook as get_hook

    hook = get_hook()
    if cfg.get("reqout_only") is not None:  # openssl 3.3+: no server contacted
        from .run_32 import run_reqout_only
        return run_reqout_only(cfg)
    server, use_mock_srv = plugin_option(cfg, "server"), plugin_option(cfg, "use_mock_srv")
    if server is not None and use_mock_srv:
        raise ConfigError("cannot use both -server and -use_mock_srv options")
    if server is None and not use_mock_srv and plugin_option(cfg, "rspin") is None:
        raise ConfigError("missing -server or -use_mock_srv or -rspin option")
    loader = Loader(cfg, hook)
    settings = build_client_settings(cfg, loader)
    newkey_pass = _newkeyout_pass(cfg, loader, settings)
    check_outputs_writable(cfg)  # before the first request: no certificate issued and then lost
    client = Client(settings, None, lambda msg, der: hook.cmpkit_message_sent(message=msg, der=der),
                    lambda msg, der: hook.cmpkit_message_received(message=msg, der=der))
    if server is not None:  # the URL's scheme chooses the plugin (cmpkit_transport_schemes)
        from .schemes import open_transport
        transport = open_transport(server, cfg, loader)
    else:
        transport = hook.cmpkit_get_transport(config=cfg, ctx=loader)
    for wrapped in hook.cmpkit_wrap_transport(config=cfg, transport=transport, protect=client.reprotect):
        if wrapped is not None:
            transport = wrapped
    if transport is None:
        raise ConfigError("no transport available: give -server, -use_mock_srv or -rspin")
    client.transport = transport
    from .files import defer_directory_sync, sync_deferred_directories
    try:
        defer_directory_sync()  # -repeat rewrites the outputs: their directories flushed once, at the end
        for _ in range(cfg.get("repeat") or 1):
            try:
                result = client.run()
            except CmpError:
                # a response was taken (openssl: the context has a status): its extraCerts are
                # saved even though the command fails; the other outputs only on success
                if client.machine.status is not None:
                    save_certs(cfg.get("extracertsout"), client.machine.extra_certs_in, "extra",
                               cfg.get("certform"))
                raise
            _write_outputs(cfg, settings, result)
            _save_new_key(cfg, result, newkey_pass)
            from .run_32 import save_srvcert  # -srvcertout (openssl 3.2+)
            save_srvcert(cfg, client.machine, save_certs)
    finally:
        sync_deferred_directories()
        transport.close()
    return 0


OUTPUT_OPTIONS = ("certout", "chainout", "extracertsout", "cacertsout", "srvcertout")
OUTPUT_OPTIONS += ("newkeyout",)   # central key generation (openssl 3.5)
OUTPUT_OPTIONS += ("newwithnew", "newwithold", "oldwithnew", "template", "keyspec", "crlout")  # genm (3.2-3.4)


def _newkeyout_pass(cfg, loader, s) -> Optional[bytes]:
    """The pass phrase (-newkeypass) to encrypt the -newkeyout key with, read before the first request."""
    if not getattr(s, "centralkeygen", False) or cfg.get("newkeypass") is None:
        return None
    return loader.get_pass(cfg.get("newkeypass"), "Centrally generated private key password")


def _save_new_key(cfg, result, password: Optional[bytes]) -> None:
    """-newkeyout: the centrally generated key as PEM PKCS#8, mode 0600; encrypted (AES-256-CBC,
    PBES2) with -newkeypass if given, as openssl 3.5 saves it. Never logged."""
    key, path = getattr(result, "new_key", None), cfg.get("newkeyout")
    if key is None or not path:
        return
    from cryptography.hazmat.primitives import serialization
    enc = (serialization.BestAvailableEncryption(password) if password
           else serialization.NoEncryption())
    log.info("saving centrally generated key to file '%s'", path)
    write_atomically(path, key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, enc),
                     mode=0o600)


def check_outputs_writable(cfg) -> None:
    """ConfigError naming the option if an output file could not be written: its directory
    missing or not writable, or the name taken by a directory. openssl finds this out only
    after the certificate was issued and confirmed; cmpkit before the first request."""
    for option in OUTPUT_OPTIONS:
        path = cfg.get(option)
        if not path:
            continue
        directory = os.path.dirname(os.path.abspath(path))
        if os.path.isdir(path):
            raise ConfigError(f"cannot write -{option} file '{path}': it is a directory")
        if not os.path.isdir(directory):
            raise ConfigError(f"cannot write -{option} file '{path}': no directory '{directory}'")
        if not os.access(directory, os.W_OK | os.X_OK):
            raise ConfigError(f"cannot write -{option} file '{path}': directory '{directory}' is not writable")


# openssl's words for a PKIStatus in the line it prints after a transaction (3.0 libcrypto)
STATUS_TEXTS = {1: "granted with modifications", 4: "revocation warning - a revocation of the cert is imminent",
                5: "revocation notification - a revocation of the cert has occurred",
                6: "key update warning - update already done for the cert"}


def _write_outputs(cfg, s, result) -> None:
    """What openssl writes after a successful command, in its order: -extracertsout, -cacertsout
    and -chainout for every command (empty when there is nothing to save), -certout for a newly
    enrolled certificate. A status other than accepted is warned about first, as openssl does."""
    from .genm import save_outputs as save_genm_outputs  # -infotype caCerts, rootCaCert, ... (3.2-3.4)
    if s.cmd == "genm" and not save_genm_outputs(cfg, s, result, save_certs):
        if not result.itavs:
            log.info("genp does not contain any ITAV")
        from .genm import print_itavs
        print_itavs(result.itavs, INFOTYPE_NAMES)
    status = result.status
    if status is not None and status.status in STATUS_TEXTS:
        text = f"PKIStatus: {STATUS_TEXTS[status.status]}"
        if status.status != 1 and not status.failure_bits:
            text += "; <no failure info>"
        log.warning("received %s", text)
    certform = cfg.get("certform")
    save_certs(cfg.get("extracertsout"), result.extra_certs, "extra", certform)
    if result.ca_pubs is not None:  # None: genp of type caCerts without certificates
        save_certs(cfg.get("cacertsout"), result.ca_pubs, "CA", certform)
    certout, chainout = cfg.get("certout"), cfg.get("chainout")
    if result.cert is not None:
        if chainout is not None and chainout == certout:
            save_certs(chainout, [result.cert] + result.chain, "newly enrolled cert and chain", certform)
            chainout = None
        else:
            save_certs(certout, [result.cert], "newly enrolled", certform)
    save_certs(chainout, result.chain, "chain", certform)


def run_server(cfg) -> int:
    """-port: serve the mock server over HTTP until -max_msgs or interrupted."""
    from ..plugins import hook as get_hook
    hook = get_hook()
    given = {name: plugin_option(cfg, name)
             for name in ("tls_used", "server", "use_mock_srv", "reqin", "reqout", "rspin", "rspout")}
    if given["tls_used"]:
        raise ConfigError("-tls_used option not supported with -port option")
    if given["server"] is not None or given["use_mock_srv"]:
        raise ConfigError("the -port option excludes -server and -use_mock_srv")
    if given["reqin"] is not None or given["reqout"] is not None:
        raise ConfigError("the -port option does not support -reqin and -reqout")
    if given["rspin"] is not None or given["rspout"] is not None:
        raise ConfigError("the -port option does not support -rspin and -rspout")
    loader = Loader(cfg, hook)
    handler = hook.cmpkit_mock_server(config=cfg, ctx=loader)
    if handler is None:
        raise ConfigError("no plugin provides the CMP server for -port (is the mock plugin blocked?)")
    done = hook.cmpkit_serve(config=cfg, handler=handler, ctx=loader)
    if done is None:
        raise ConfigError("no plugin can serve -port (is the http plugin blocked?)")
    return 0
