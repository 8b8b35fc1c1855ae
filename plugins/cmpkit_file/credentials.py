"""Keys, certificates and CSRs from files (PEM, DER, PKCS#12; plain paths and file: URIs).

Formats are recognised from the content, as ``openssl cmp`` does, unless a form is given:
PEM accepts only PEM; DER accepts binary input (a DER structure or PKCS#12); P12 (and no
form) accepts anything; ENGINE is not a file format, so loaders return None for it.
A pass phrase is asked for (the ``password`` callable is called) only when the content
turns out to be encrypted. Every failure is one CredentialError line naming the file and
``what``, never a pass phrase.
"""
from __future__ import annotations

import base64
import os
import re
from typing import Callable, Optional, Union

from cryptography.exceptions import UnsupportedAlgorithm
from cmpkit.core.lazy import serialization  # its enums and loaders without the ssh part

from cmpkit import file_path
from cmpkit.errors import ConfigError, CredentialError, DecodeError
from cmpkit.core.lazy import x509  # imported when a certificate is read

Password = Union[bytes, str, None, Callable[[], Union[bytes, str, None]]]

FORMS = ("PEM", "DER", "P12", "ENGINE")
MAX_FILE_SIZE = 16 * 1024 * 1024  # far beyond any credential file; stops /dev/zero and the like

# OpenSSL does not check an RSA key's consistency when loading it either (and verifies its CRT
# results when signing); cryptography's check costs some 40 ms per 2048-bit key.
_NO_RSA_CHECK = {"unsafe_skip_rsa_key_validation": True}
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]+:")
_PEM_BLOCK = re.compile(rb"-----BEGIN ([^\r\n-]+)-----(.*?)-----END \1-----", re.DOTALL)
_PRIVATE_LABELS = {b"PRIVATE KEY", b"ENCRYPTED PRIVATE KEY", b"RSA PRIVATE KEY", b"EC PRIVATE KEY",
                   b"DSA PRIVATE KEY"}
_PUBLIC_LABELS = {b"PUBLIC KEY", b"RSA PUBLIC KEY"}
_CERT_LABELS = {b"CERTIFICATE", b"X509 CERTIFICATE", b"TRUSTED CERTIFICATE"}
_CSR_LABELS = {b"CERTIFICATE REQUEST", b"NEW CERTIFICATE REQUEST"}


# ---------------------------------------------------------------- sources and files

def is_file_source(source: str) -> bool:
    """True for plain paths and ``file:`` URIs; False for other URIs (``pkcs11:``, engines)."""
    if source.startswith("file:"):
        return True
    return not (_SCHEME.match(source) and not os.path.exists(source))


def _error(what: str, path: str, reason: str, cls=CredentialError) -> CredentialError:
    """The one-line error for a file that could not be loaded."""
    return cls(f"cannot load {what} from '{path}': {reason}")


def _read(source: str, what: str) -> tuple[str, bytes]:
    path = file_path(source, what)
    if not path:
        raise CredentialError(f"cannot load {what}: no file name given")
    if os.path.isdir(path):
        raise _error(what, path, "it is a directory")
    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_FILE_SIZE + 1)
    except OSError as exc:
        raise CredentialError(f"cannot read {what} from '{path}': {exc.strerror or exc}") from None
    if not data:
        raise _error(what, path, "the file is empty")
    if len(data) > MAX_FILE_SIZE:
        raise _error(what, path, "the file is too large")
    return path, data


def _form(form: Optional[str]) -> Optional[str]:
    if form is None or form == "":
        return None
    upper = form.upper()
    if upper not in FORMS:
        raise ConfigError(f"unknown key or certificate format '{form}' (use PEM, DER, P12 or ENGINE)")
    return upper


def _is_pem(data: bytes) -> bool:
    return b"-----BEGIN " in data


def _pem_blocks(data: bytes) -> list[tuple[bytes, bytes]]:
    """(label, whole block) of each complete PEM block, in file order."""
    return [(m.group(1), m.group(0) + b"\n") for m in _PEM_BLOCK.finditer(data)]


def _labels(blocks) -> str:
    names = sorted({label.decode("ascii", "replace") for label, _ in blocks})
    return ", ".join(names) if names else "no complete PEM block"


def looks_like_pkcs12(data: bytes) -> bool:
    """The start of a PFX: SEQUENCE { INTEGER 3, SEQUENCE ... } (DER or BER lengths)."""
    if len(data) < 8 or data[0] != 0x30:
        return False
    first = data[1]
    pos = 2 if first <= 0x80 else 2 + (first & 0x7F)
    return data[pos:pos + 4] == b"\x02\x01\x03\x30"


def _check_binary_form(form: Optional[str], pem: bool, path: str, what: str) -> None:
    if form == "PEM" and not pem:
        raise _error(what, path, "not in PEM format (PEM was requested)")
    if form == "DER" and pem:
        raise _error(what, path, "it is PEM, not DER (DER was requested)")


# ---------------------------------------------------------------- pass phrases

class _NotThisFormat(CredentialError):
    """The content is not of the format just tried (the caller may try another one)."""


class _Password:
    """Resolves the password argument once, and only when asked."""

    def __init__(self, password: Password):
        self._source = password
        self._resolved = False
        self._value: Optional[bytes] = None

    def get(self) -> Optional[bytes]:
        if not self._resolved:
            value = self._source() if callable(self._source) else self._source
            self._value = value.encode() if isinstance(value, str) else value
            self._resolved = True
        return self._value


def _decrypting(load, password: _Password, path: str, what: str, kind: str):
    """Call ``load(pass)``: first without a pass phrase, then with one if the data is encrypted."""
    try:
        return load(None)
    except TypeError:  # cryptography: "Password was not given but private key is encrypted"
        pass
    except ValueError:
        raise _error(what, path, f"not a valid {kind}", _NotThisFormat) from None
    except UnsupportedAlgorithm:
        raise _error(what, path, f"unsupported key type in {kind}") from None
    secret = password.get()
    if secret is None:
        raise _error(what, path, "it is encrypted and no pass phrase was given")
    try:
        return load(secret)
    except (ValueError, TypeError):
        raise _error(what, path, f"wrong pass phrase or corrupt encrypted {kind}") from None
    except UnsupportedAlgorithm:
        raise _error(what, path, f"unsupported encryption or key type in {kind}") from None


def _load_pkcs12(data: bytes, password: _Password, path: str, what: str):
    """(key or None, [certificates]) of a PKCS#12 file, the key's certificate first."""
    from cryptography.hazmat.primitives.serialization import pkcs12

    def parse(secret):
        key, cert, extra = pkcs12.load_key_and_certificates(data, secret)
        return key, ([cert] if cert is not None else []) + list(extra)

    try:
        return parse(None)  # also opens files made with an empty pass phrase
    except ValueError:
        pass
    except UnsupportedAlgorithm:
        raise _error(what, path, "unsupported algorithm in PKCS#12 file") from None
    secret = password.get()
    if secret is None:
        raise _error(what, path, "the PKCS#12 file is encrypted and no pass phrase was given")
    try:
        return parse(secret)
    except ValueError:
        # cryptography (48) cannot read an ML-DSA key from PKCS#12 either, and says the same
        raise _error(what, path, "wrong pass phrase or corrupt PKCS#12 file (or an ML-DSA key, which the "
                     "installed cryptography cannot read from PKCS#12: use a PKCS#8 PEM or DER key file)") from None
    except UnsupportedAlgorithm:
        raise _error(what, path, "unsupported algorithm in PKCS#12 file") from None


# ---------------------------------------------------------------- loaders

def _private_from(path: str, data: bytes, password: _Password, form: Optional[str], what: str):
    pem = _is_pem(data)
    _check_binary_form(form, pem, path, what)
    if pem:
        blocks = _pem_blocks(data)
        for label, block in blocks:
            if label in _PRIVATE_LABELS:
                return _decrypting(lambda p: serialization.load_pem_private_key(block, p, **_NO_RSA_CHECK),
                                   password, path, what, "PEM private key")
        raise _error(what, path, f"no private key in the PEM file (it holds: {_labels(blocks)})")
    if looks_like_pkcs12(data):
        key, _certs = _load_pkcs12(data, password, path, what)
        if key is None:
            raise _error(what, path, "no private key in the PKCS#12 file")
        return key
    try:
        return _decrypting(lambda p: serialization.load_der_private_key(data, p, **_NO_RSA_CHECK),
                           password, path, what, "DER private key")
    except _NotThisFormat:
        raise _error(what, path, "not a private key in PEM, DER or PKCS#12 format", _NotThisFormat) from None


def load_private_key(source: str, password: Password = None, keyform: Optional[str] = None,
                     what: str = "private key"):
    """A ``cryptography`` private key from a file, or None when ``keyform`` is ENGINE.

    :param source: a path or ``file:`` URI.
    :param password: the pass phrase, or a callable returning it (called only if encrypted).
    :param keyform: PEM, DER, P12, ENGINE or None (recognise the format).
    :param what: what is loaded, for messages, e.g. "private key for -key".
    """
    form = _form(keyform)
    if form == "ENGINE":
        return None
    path, data = _read(source, what)
    try:
        return _private_from(path, data, _Password(password), form, what)
    except CredentialError:
        _refuse_slh_dsa(path, data, what)
        raise


def load_public_key(source: str, password: Password = None, keyform: Optional[str] = None,
                    what: str = "public key"):
    """A ``cryptography`` public key from a public key file (SPKI or PKCS#1, PEM or DER) or
    from a private key file (then ``password`` may be needed); None when ``keyform`` is ENGINE."""
    form = _form(keyform)
    if form == "ENGINE":
        return None
    path, data = _read(source, what)
    try:
        return _public_from(path, data, password, form, what)
    except CredentialError:
        _refuse_slh_dsa(path, data, what)
        raise


def _public_from(path: str, data: bytes, password: Password, form: Optional[str], what: str):
    pem = _is_pem(data)
    _check_binary_form(form, pem, path, what)
    if pem:
        blocks = _pem_blocks(data)
        for label, block in blocks:
            if label in _PUBLIC_LABELS:
                try:
                    return serialization.load_pem_public_key(block)
                except (ValueError, UnsupportedAlgorithm):
                    raise _error(what, path, "not a valid PEM public key") from None
        if any(label in _PRIVATE_LABELS for label, _ in blocks):
            return _private_from(path, data, _Password(password), form, what).public_key()
        raise _error(what, path, f"no public or private key in the PEM file (it holds: {_labels(blocks)})")
    if not looks_like_pkcs12(data):
        try:
            return serialization.load_der_public_key(data)
        except (ValueError, UnsupportedAlgorithm):
            pass
    try:
        return _private_from(path, data, _Password(password), form, what).public_key()
    except _NotThisFormat:
        pass
    raise _error(what, path, "not a public or private key in PEM, DER or PKCS#12 format")


# ---------------------------------------------------------------- SLH-DSA: recognised, refused
# DER of the SLH-DSA OIDs 2.16.840.1.101.3.4.3.20-31 (RFC 9909) but the last octet (0x14-0x1F)
_SLH_DSA_OID_HEAD = bytes.fromhex("06096086480165030403")


def _contains_slh_dsa(data: bytes) -> bool:
    """Whether DER (or the PEM blocks of) ``data`` names an SLH-DSA algorithm."""
    chunks = [data]
    if _is_pem(data):
        for _label, block in _pem_blocks(data):
            body = block.split(b"-----", 2)[2].rsplit(b"-----END", 1)[0]
            try:
                chunks.append(base64.b64decode(b"".join(line for line in body.split() if b":" not in line)))
            except ValueError:
                pass
    for chunk in chunks:
        pos = chunk.find(_SLH_DSA_OID_HEAD)
        while pos >= 0:
            last = chunk[pos + len(_SLH_DSA_OID_HEAD):pos + len(_SLH_DSA_OID_HEAD) + 1]
            if last and 0x14 <= last[0] <= 0x1F:
                return True
            pos = chunk.find(_SLH_DSA_OID_HEAD, pos + 1)
    return False


def _refuse_slh_dsa(path: str, data: bytes, what: str) -> None:
    """CredentialError if ``data`` holds an SLH-DSA key or certificate (cryptography lacks SLH-DSA)."""
    if _contains_slh_dsa(data):
        from cmpkit.core.algs import SLH_DSA_UNSUPPORTED
        raise _error(what, path, SLH_DSA_UNSUPPORTED) from None


def _cert_der(der: bytes) -> bytes:
    return x509.load_der_x509_certificate(der).public_bytes(serialization.Encoding.DER)


def _pem_cert(label: bytes, block: bytes) -> bytes:
    if label == b"TRUSTED CERTIFICATE":  # OpenSSL's certificate followed by its trust settings
        from cmpkit.core.der import read_tlv
        body = block.split(b"-----", 2)[2].rsplit(b"-----END", 1)[0]
        raw = base64.b64decode(b"".join(body.split()), validate=True)
        _tag, _start, end = read_tlv(raw)
        return _cert_der(raw[:end])
    plain = _plain_pem_cert(block)
    if plain is not None:
        return plain
    return x509.load_pem_x509_certificate(block).public_bytes(serialization.Encoding.DER)


def _plain_pem_cert(block: bytes) -> Optional[bytes]:
    """The DER of a PEM certificate in the standard layout (no headers, canonical base64 in lines of
    64 characters, the last shorter) holding a plain-form certificate (core/certshape.py), which
    cryptography returns unchanged; else None: the caller parses with cryptography (issue 17)."""
    head, sep, rest = block.partition(b"-----\n")
    body, sep2, _tail = rest.rpartition(b"\n-----END ")
    if not sep or not sep2 or head != b"-----BEGIN CERTIFICATE" or _tail not in (b"CERTIFICATE-----",
                                                                                b"CERTIFICATE-----\n"):
        return None
    lines = body.split(b"\n")
    if any(len(line) != 64 for line in lines[:-1]) or not 0 < len(lines[-1]) <= 64:
        return None
    text = b"".join(lines)
    try:
        raw = base64.b64decode(text, validate=True)
    except ValueError:
        return None
    if base64.b64encode(raw) != text:  # canonical padding bits, as cryptography's decoder wants
        return None
    from cmpkit.core.certshape import plain_certificate_spki
    return raw if plain_certificate_spki(raw) is not None else None


def load_certs(source: str, password: Password = None, certform: Optional[str] = None,
               what: str = "certificates") -> list[bytes]:
    """The DER certificates of a file in file order: PEM (any number), DER (one) or PKCS#12
    (the key's certificate first). A file without certificates is an error."""
    form = _form(certform)
    if form == "ENGINE":
        raise ConfigError(f"cannot load {what}: ENGINE is not a certificate format")
    path, data = _read(source, what)
    try:
        certs = _certs_from(path, data, password, form, what)
    except CredentialError:
        _refuse_slh_dsa(path, data, what)
        raise
    for cert in certs:
        _refuse_slh_dsa(path, cert, what)
    return certs


def _certs_from(path: str, data: bytes, password: Password, form: Optional[str], what: str) -> list[bytes]:
    pem = _is_pem(data)
    _check_binary_form(form, pem, path, what)
    if pem:
        blocks = _pem_blocks(data)
        out = []
        for label, block in blocks:
            if label in _CERT_LABELS:
                try:
                    out.append(_pem_cert(label, block))
                except (ValueError, x509.InvalidVersion, DecodeError):
                    reason = f"certificate number {len(out) + 1} in the PEM file is not valid"
                    raise _error(what, path, reason) from None
        if not out:
            raise _error(what, path, f"no certificate in the PEM file (it holds: {_labels(blocks)})")
        return out
    if looks_like_pkcs12(data):
        _key, certs = _load_pkcs12(data, _Password(password), path, what)
        if not certs:
            raise _error(what, path, "no certificate in the PKCS#12 file")
        return [c.public_bytes(serialization.Encoding.DER) for c in certs]
    try:
        return [_cert_der(data)]
    except (ValueError, x509.InvalidVersion):
        raise _error(what, path, "not a certificate in PEM, DER or PKCS#12 format") from None


def load_cert(source: str, password: Password = None, certform: Optional[str] = None,
              what: str = "certificate") -> bytes:
    """The first certificate of a file (see :func:`load_certs`)."""
    return load_certs(source, password, certform, what)[0]


def load_csr(source: str, what: str = "PKCS#10 CSR (-csr)") -> bytes:
    """The DER of a PKCS#10 certificate request in a PEM or DER file (signature not checked)."""
    path, data = _read(source, what)
    if _is_pem(data):
        blocks = _pem_blocks(data)
        for label, block in blocks:
            if label in _CSR_LABELS:
                try:
                    return x509.load_pem_x509_csr(block).public_bytes(serialization.Encoding.DER)
                except ValueError:
                    raise _error(what, path, "not a valid PEM CSR", DecodeError) from None
        raise _error(what, path, f"no certificate request in the PEM file (it holds: {_labels(blocks)})",
                     DecodeError)
    try:
        return x509.load_der_x509_csr(data).public_bytes(serialization.Encoding.DER)
    except ValueError:
        raise _error(what, path, "not a PKCS#10 CSR in PEM or DER format", DecodeError) from None


