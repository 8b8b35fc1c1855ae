"""The shell side of the genm info types with specific support in openssl cmp 3.2-3.4 (RFC 9480 2.3):
caCerts, rootCaCert, certReqTemplate and crlStatusList.

:func:`configure` (called by :func:`cmpkit.app.settings.build_client_settings`) checks their options
as openssl does (required ones, options ignored for other info types), loads -oldwithold, -crlcert
and -oldcrl and puts the request's ITAV into the settings. :func:`save_outputs` (called by
:mod:`cmpkit.app.run` on success) checks the genp's answer (the rootCaKeyUpdate certificates are
verified as the man page says) and saves -cacertsout, -newwithnew, -newwithold, -oldwithnew,
-template, -keyspec and -crlout; an output with nothing received is deleted, as openssl does.
The DER structures are :mod:`cmpkit.core.genm_types`.
"""
from __future__ import annotations

import logging
import os
from typing import Optional

from ..core.lazy import LazyModule
from ..errors import CmpError, ConfigError, CredentialError, DecodeError, TransactionError, VerifyError
from .files import write_atomically

log = logging.getLogger("cmpkit")
gt = LazyModule("cmpkit.core.genm_types")  # issue 17: a run without -infotype never reads these structures

SPECIFIC = ("caCerts", "rootCaCert", "certReqTemplate", "crlStatusList")
ROOT_OPTIONS = ("oldwithold", "newwithnew", "newwithold", "oldwithnew")
TEMPLATE_OPTIONS = ("template", "keyspec")


def configure(cfg, loader, s) -> None:
    """openssl's checks and request contents for -infotype with specific support (settings ``s``)."""
    infotype = cfg.get("infotype") if s.cmd == "genm" else None
    if infotype is not None and infotype not in SPECIFIC:  # openssl 3.4's do_genm (a plain genm
        # stays silent, as openssl 3.0: 3.4's "no -infotype option given for genm" is not given)
        log.warning("No specific support for -infotype %s available", infotype)
    if infotype != "rootCaCert":
        for name in ROOT_OPTIONS:
            if cfg.get(name) is not None:
                log.warning("-%s option is ignored unless -cmd 'genm' and -infotype rootCaCert is given", name)
    if infotype != "certReqTemplate":
        for name in TEMPLATE_OPTIONS:
            if cfg.get(name) is not None:
                log.warning("-%s option is ignored unless -cmd 'genm' and -infotype 'certReqTemplate' is given",
                            name)
    if infotype == "certReqTemplate" and cfg.get("template") is None:
        raise ConfigError("missing -template option for genm with infotype certReqTemplate")
    if infotype == "caCerts" and cfg.get("cacertsout") is None:
        raise ConfigError("Missing -cacertsout option for -infotype caCerts")
    if infotype == "rootCaCert":
        if cfg.get("newwithnew") is None:
            raise ConfigError("Missing -newwithnew option for -infotype rootCaCert")
        value = None
        if cfg.get("oldwithold") is None:
            log.warning("No -oldwithold given, will use all certs given with -trusted as trust anchors for "
                        "verifying the newWithNew cert")
        else:
            value, _ = loader.cert(cfg.get("oldwithold"), "OldWithOld cert for genm with -infotype rootCaCert",
                                   cfg.get("otherpass"))
        s.infotypes = [(gt.OID_ROOT_CA_CERT, value)]
    if infotype == "crlStatusList":
        if cfg.get("oldcrl") is None and cfg.get("crlcert") is None:
            raise ConfigError("Missing -oldcrl and no -crlcert given for -infotype crlStatusList")
        if cfg.get("crlout") is None:
            raise ConfigError("Missing -crlout for -infotype crlStatusList")
        s.infotypes = [(gt.OID_CRL_STATUS_LIST, crl_status_list(cfg, loader))]
    if infotype in ("caCerts", "certReqTemplate"):
        s.infotypes = [(gt.INFOTYPE_OIDS[infotype], None)]


def crl_status_list(cfg, loader) -> bytes:
    """The CRLStatusList of -crlcert and -oldcrl (the certificate's data preferred)."""
    from cryptography import x509
    cert = crl = None
    if cfg.get("crlcert") is not None:
        der, _ = loader.cert(cfg.get("crlcert"), "Cert for genm with -infotype crlStatusList", cfg.get("otherpass"))
        cert = x509.load_der_x509_certificate(der)
    if cfg.get("oldcrl") is not None:
        crl = x509.load_der_x509_crl(load_crl_file(cfg.get("oldcrl"), "CRL for genm with -infotype crlStatusList"))
    if cert is not None and crl is not None and cert.issuer != crl.issuer:
        log.warning("-oldcrl and -crlcert have different issuer")
    return gt.crl_status_list_der([gt.crl_status_for(cert, crl)])


def load_crl_file(path: str, what: str) -> bytes:
    """The DER of the (first) CRL in a PEM or DER file; CredentialError naming ``what``."""
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError as exc:
        raise CredentialError(f"cannot load {what} from '{path}': {exc.strerror or exc}") from None
    try:
        return gt.crl_from_bytes(data)
    except DecodeError:
        raise CredentialError(f"unable to load {what} from '{path}': not a PEM or DER CRL") from None


# ---------------------------------------------------------------- after the genp

def _answer(result, oid: str, name: str) -> Optional[bytes]:
    """The value of the one ITAV of type ``oid`` the genp must carry (None if absent)."""
    found = [v for o, v in result.itavs if o == oid]
    if len(result.itavs) != 1 or len(found) != 1:
        raise TransactionError(f"invalid genp: expected exactly one ITAV, of type id-it-{name}; got "
                               f"{len(result.itavs)} ITAV(s), {len(found)} of that type")
    return found[0]


def save_outputs(cfg, s, result, save_certs) -> bool:
    """Check and save what a genp answered to an -infotype with specific support; False for other
    info types (the genp's ITAVs are then printed as before). ``save_certs`` is run.py's."""
    infotype = cfg.get("infotype")
    if infotype not in SPECIFIC:
        return False
    try:
        if infotype == "caCerts":
            value = _answer(result, gt.OID_CA_CERTS, "caCerts")
            if value is None:
                log.warning("no CA certificates provided by server")
                result.ca_pubs = None  # nothing saved, as openssl
            else:
                result.ca_pubs = gt.read_certs(value)
        elif infotype == "rootCaCert":
            _root_ca_key_update(cfg, s, _answer(result, gt.OID_ROOT_CA_KEY_UPDATE, "rootCaKeyUpdate"), save_certs)
        elif infotype == "certReqTemplate":
            _cert_req_template(cfg, _answer(result, gt.OID_CERT_REQ_TEMPLATE, "certReqTemplate"))
        else:
            _crls(cfg, _answer(result, gt.OID_CRLS, "crls"))
    except (DecodeError, ValueError) as exc:  # ValueError: cryptography's parsers
        raise TransactionError(f"invalid genp content: {exc}") from None
    return True


def print_itavs(itavs, names: dict) -> None:
    """The ITAVs of a genp for an info type without specific support: each on stdout as openssl 3.0
    prints them (scripts read that line), one of a known type also logged as openssl 3.4's
    print_itavs does ("ITAV #n from genp infoType=id-it-...")."""
    import sys
    for i, (oid, _value) in enumerate(itavs, 1):
        name = names.get(oid)
        if name is not None:
            log.info("ITAV #%d from genp infoType=id-it-%s", i, name)
        sys.stdout.write(f"genp contains ITAV of type: {'id-it-' + name if name else oid}\n")
    sys.stdout.flush()


def _delete(path: Optional[str], what: str) -> None:
    if path is None:
        return
    try:
        os.remove(path)
    except FileNotFoundError:
        pass
    except OSError:
        raise CmpError(f"Failed to delete {path}, which should be done to indicate there is no {what}") from None


def _save_or_delete(path: Optional[str], cert: Optional[bytes], what: str, certform, save_certs) -> None:
    if cert is None:
        _delete(path, what)
    else:
        save_certs(path, [cert], what, certform)


def _root_ca_key_update(cfg, s, value, save_certs) -> None:
    update = gt.read_root_ca_key_update(value) if value is not None else None
    old = s.infotypes[0][1] if s.infotypes else None
    if update is not None:
        trusted = [old] if old is not None else list(s.trusted)
        untrusted = [update.new_with_old] if update.new_with_old is not None else []
        _verify_new_with_new(s, update, trusted, untrusted)
        if update.old_with_new is not None:
            if old is None:
                log.warning("oldWithNew certificate received in genp for verifying oldWithOld, "
                            "but oldWithOld was not provided")
            else:
                try:  # with newWithNew as the only trust anchor
                    s.policy.verify_chain(update.old_with_new, [], [update.new_with_new], purpose=None,
                                          check_status=False)
                except VerifyError as exc:
                    raise VerifyError("invalid rootcakeyupdate: failed to validate oldWithNew certificate received "
                                      f"in genp using newWithNew as trust anchor: {exc}") from None
    else:
        log.info("no root CA certificate update available")
    certform = cfg.get("certform")
    _save_or_delete(cfg.get("newwithnew"), update and update.new_with_new, "NewWithNew cert from genp", certform,
                    save_certs)
    _save_or_delete(cfg.get("newwithold"), update and update.new_with_old, "NewWithOld cert from genp", certform,
                    save_certs)
    _save_or_delete(cfg.get("oldwithnew"), update and update.old_with_new, "OldWithNew cert from genp", certform,
                    save_certs)


def _verify_new_with_new(s, update, trusted, untrusted) -> None:
    """newWithNew with newWithOld as untrusted intermediate and ``trusted`` as trust anchors. A
    self-signed newWithNew is a root of its own for chain building: then newWithOld is validated
    and newWithNew must be directly issued by it (same subject and key, its signature)."""
    try:
        s.policy.verify_chain(update.new_with_new, untrusted, trusted, purpose=None, check_status=False)
        return
    except VerifyError as exc:
        error = exc
    if update.new_with_old is not None:
        from cryptography import x509
        try:
            s.policy.verify_chain(update.new_with_old, [], trusted, purpose=None, check_status=False)
            x509.load_der_x509_certificate(update.new_with_new).verify_directly_issued_by(
                x509.load_der_x509_certificate(update.new_with_old))
            return
        except VerifyError as exc:
            error = exc
        except (ValueError, TypeError, Exception) as exc:  # noqa: BLE001 - cryptography's signature errors
            error = f"newWithNew not issued by newWithOld ({type(exc).__name__})"
    raise VerifyError("invalid rootcakeyupdate: failed to validate newWithNew certificate received in genp "
                      f"using trust store: {error}")


def _cert_req_template(cfg, value) -> None:
    template_file, keyspec_file = cfg.get("template"), cfg.get("keyspec")
    if value is None:
        log.warning("no certificate request template available")
        _delete(template_file, "certTemplate from genp")
        _delete(keyspec_file, "keySpec from genp")
        return
    template, key_spec = gt.read_cert_req_template(value)
    write_atomically(template_file, template)
    log.info("stored certTemplate from genp to file '%s'", template_file)
    if key_spec is not None and log.isEnabledFor(logging.INFO):  # as openssl's print_keyspec
        import sys
        log.info("Key specifications contained in keySpec from genp:")
        sys.stderr.write("".join(line + "\n" for line in gt.describe_key_spec(key_spec))
                         + "End of key specifications contained in keySpec from genp\n")
        sys.stderr.flush()
    if keyspec_file is not None:
        if key_spec is None:
            log.warning("no key specifications available")
            _delete(keyspec_file, "keySpec from genp")
        else:
            write_atomically(keyspec_file, key_spec)
            log.info("stored keySpec from genp to file '%s'", keyspec_file)


def _crls(cfg, value) -> None:
    path = cfg.get("crlout")
    crls = gt.read_crls(value) if value is not None else []
    if not crls:
        log.info("no CRL update available")
        _delete(path, "CRL from genp of type 'crls'")
        return
    form = (cfg.get("crlform") or "DER").upper()
    data = crls[0]
    if form == "PEM":
        import base64
        b64 = base64.b64encode(data).decode()
        data = ("-----BEGIN X509 CRL-----\n" + "".join(b64[i:i + 64] + "\n" for i in range(0, len(b64), 64))
                + "-----END X509 CRL-----\n").encode()
    log.info("received CRL from genp of type 'crls', saving to file '%s'", path)
    write_atomically(path, data)
