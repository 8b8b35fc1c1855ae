"""The pkcs11 plugin's hooks: private keys, public keys and certificates in PKCS#11 tokens.

Sources are RFC 7512 URIs (``pkcs11:token=...;object=...;type=private?module-name=softhsm2``);
other sources get None, so the file plugin handles them. With ``-engine pkcs11`` (or
``-provider pkcs11``) and ``-keyform ENGINE``, libp11's engine key IDs are accepted too:
``<slot>:<hex id>``, ``[slot_<n>-](id_<hex>|label_<text>)``. As with openssl, such a key ID or
URI may also be given as ``org.openssl.engine:pkcs11:<key id>``, with any ``-keyform``.

The PIN comes from the URI (``pin-value``, or ``pin-source`` naming a file whose first line
it is), else from the pass phrase option that goes with the key option (``-keypass``,
``-newkeypass``, ...), else from a prompt (not with ``-batch``). It is asked for only when a
token needs a login. The module: see :mod:`cmpkit_pkcs11.token` (``module-path``,
``module-name``, ``$PKCS11_MODULE``, ``$PKCS11_MODULE_PATH``, p11-kit's proxy). PyKCS11 is imported only when a
``pkcs11:`` source is actually loaded. The sessions a run opened are closed (and the modules
finalised) in ``cmpkit_unconfigure``, when the run ends.
"""
from __future__ import annotations

import re
import sys
from typing import Optional

from cmpkit.errors import CredentialError
from cmpkit import hookimpl

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .uri import Pkcs11Uri

# start-up cost: the URI module (a dataclass) is imported only when a source is a PKCS#11 one,
# and these patterns are compiled (and cached by re) only for an engine key ID
_ENGINE_ID = r"(?:slot_(\d+)-?)?(?:id_([0-9A-Fa-f]+)|label_(.+))?\Z"  # re.DOTALL
_ENGINE_SLOT_ID = r"(\d+):([0-9A-Fa-f]+)\Z"
ENGINE_SCHEME = "org.openssl.engine:pkcs11:"  # openssl's "-key org.openssl.engine:{engineid}:{keyid}"


def _config_list(config, name: str) -> list:
    if config is None:
        return []
    try:
        if hasattr(config, "get_list"):
            return [str(v) for v in config.get_list(name)]
        value = config.get(name)
    except Exception:  # noqa: BLE001 - a Config without this option
        return []
    if value is None or value is False:
        return []
    return [str(v) for v in value] if isinstance(value, (list, tuple)) else re.split(r"[,\s]+", str(value))


def pkcs11_engine_selected(config) -> bool:
    """True with ``-engine pkcs11`` or ``-provider pkcs11``."""
    return "pkcs11" in _config_list(config, "engine") or "pkcs11" in _config_list(config, "provider")


def engine_key_id(text: str) -> Pkcs11Uri:
    """The Pkcs11Uri for one of libp11's engine key IDs (``0:01``, ``slot_0-label_k1``, ``id_01``)."""
    from .uri import Pkcs11Uri
    m = re.match(_ENGINE_SLOT_ID, text)
    if m:
        slot, hex_id, label = m.group(1), m.group(2), None
    else:
        m = re.match(_ENGINE_ID, text, re.DOTALL)
        if not m or not text or not (m.group(2) or m.group(3)):
            raise CredentialError("the pkcs11 engine needs a pkcs11: URI or an engine key "
                                  "ID such as 'slot_0-label_mykey', 'id_01' or '0:01'")
        slot, hex_id, label = m.groups()
    if hex_id and len(hex_id) % 2:
        hex_id = "0" + hex_id
    return Pkcs11Uri(slot_id=int(slot) if slot is not None else None,
                     id=bytes.fromhex(hex_id) if hex_id else None, object=label)


def is_pkcs11_uri(source: Optional[str]) -> bool:
    """True when ``source`` is a PKCS#11 URI (as :func:`cmpkit_pkcs11.uri.is_pkcs11_uri`, without importing it)."""
    return isinstance(source, str) and source[:7].lower() == "pkcs11:"


def parse_pkcs11_uri(source: str) -> Pkcs11Uri:
    """:func:`cmpkit_pkcs11.uri.parse_pkcs11_uri`, imported on first use."""
    from .uri import parse_pkcs11_uri as parse
    return parse(source)


def _uri_for(source: str, form: Optional[str], ctx) -> Optional[Pkcs11Uri]:
    """The URI a source names, or None when the source is not this plugin's."""
    if is_pkcs11_uri(source):
        return parse_pkcs11_uri(source)
    if isinstance(source, str) and source.startswith(ENGINE_SCHEME):
        key_id = source[len(ENGINE_SCHEME):]
        return parse_pkcs11_uri(key_id) if is_pkcs11_uri(key_id) else engine_key_id(key_id)
    if (form or "").upper() == "ENGINE" and pkcs11_engine_selected(getattr(ctx, "config", None)):
        return engine_key_id(source)
    return None


def _read_pin_file(source: str, label: str) -> bytes:
    from cmpkit import file_path
    other_scheme = re.match(r"[A-Za-z][A-Za-z0-9+.-]+:", source) and not source.startswith("file:")
    if other_scheme or source.startswith("|"):
        raise CredentialError(f"unsupported pin-source for PKCS#11 token '{label}' (use a file name or a "
                              f"file: URI)")
    path = file_path(source, f"the pin-source of PKCS#11 token '{label}'")
    try:
        with open(path, "rb") as fh:
            line = fh.readline(4097)
    except OSError as exc:
        raise CredentialError(f"cannot read the PIN file '{path}' for PKCS#11 token '{label}': "
                              f"{exc.strerror or exc}") from None
    return line.rstrip(b"\n").rstrip(b"\r")


def _pin(uri: Pkcs11Uri, passarg: Optional[str], what: str, ctx):
    """The PIN callable for the token layer: asked for only when a login is needed."""
    def get(label: str) -> Optional[bytes]:
        if uri.pin_value is not None:
            return uri.pin_value.encode("utf-8")
        if uri.pin_source is not None:
            return _read_pin_file(uri.pin_source, label)
        if ctx is None:
            return None
        if passarg is not None:
            return ctx.get_pass(passarg, what)
        return ctx.get_pass(None, f"PIN of PKCS#11 token '{label}' ({what})")
    return get


@hookimpl
def cmpkit_load_key(source, passarg, keyform, what, ctx):
    uri = _uri_for(source, keyform, ctx)
    if uri is None:
        return None
    from .token import load_private_key
    return load_private_key(uri, _pin(uri, passarg, what, ctx), what)


@hookimpl
def cmpkit_load_public_key(source, passarg, keyform, what, ctx):
    uri = _uri_for(source, keyform, ctx)
    if uri is None:
        return None
    from .token import load_public_key
    return load_public_key(uri, _pin(uri, passarg, what, ctx), what)


@hookimpl
def cmpkit_load_certs(source, passarg, certform, what, ctx):
    if not is_pkcs11_uri(source):
        return None
    uri = parse_pkcs11_uri(source)
    from .token import load_certs
    return load_certs(uri, _pin(uri, passarg, what, ctx), what)


@hookimpl
def cmpkit_unconfigure(config):
    """The run has ended: log out of the tokens, close the sessions and finalise the modules."""
    token = sys.modules.get(f"{__package__}.token")
    if token is not None:  # loaded only if the run used a token; nothing to close otherwise
        token.close_all()
