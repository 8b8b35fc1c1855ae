"""Parse PKCS#11 URIs (RFC 7512) into a Pkcs11Uri that names a module, a token and objects.

``pkcs11:<path attributes separated by ";">[?<query attributes separated by "&">]``

Path attributes: token, manufacturer, serial, model, slot-manufacturer, slot-description,
slot-id, library-manufacturer, library-description, library-version, object, id, type.
Query attributes: pin-value, pin-source, module-name, module-path.
Values are percent-decoded (``id`` to bytes, the others to UTF-8 text). Vendor attributes
(``x-...``) are kept in ``vendor`` and otherwise ignored, as RFC 7512 asks; any other unknown
attribute, a repeated attribute, a bad percent escape or a bad value is a ConfigError.
The PIN (``pin-value``) never appears in a repr or a message: see :meth:`Pkcs11Uri.redacted`.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Optional
from urllib.parse import unquote_to_bytes

from cmpkit.errors import ConfigError

SCHEME = "pkcs11:"

PATH_ATTRS = ("token", "manufacturer", "serial", "model", "slot-manufacturer", "slot-description",
              "slot-id", "library-manufacturer", "library-description", "library-version",
              "object", "id", "type")
QUERY_ATTRS = ("pin-value", "pin-source", "module-name", "module-path")
TYPES = ("private", "public", "cert", "secret-key", "data")

_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")
_NAME = re.compile(r"[A-Za-z0-9-]+\Z")


def is_pkcs11_uri(source: Optional[str]) -> bool:
    """True when ``source`` is a PKCS#11 URI (the scheme is case-insensitive)."""
    return isinstance(source, str) and source[:len(SCHEME)].lower() == SCHEME


@dataclass(frozen=True)
class Pkcs11Uri:
    """The attributes of one PKCS#11 URI; None means "not given" (matches anything)."""

    token: Optional[str] = None
    manufacturer: Optional[str] = None
    serial: Optional[str] = None
    model: Optional[str] = None
    slot_manufacturer: Optional[str] = None
    slot_description: Optional[str] = None
    slot_id: Optional[int] = None
    library_manufacturer: Optional[str] = None
    library_description: Optional[str] = None
    library_version: Optional[tuple[int, int]] = None
    object: Optional[str] = None
    id: Optional[bytes] = None
    type: Optional[str] = None
    pin_value: Optional[str] = field(default=None, repr=False)
    pin_source: Optional[str] = None
    module_name: Optional[str] = None
    module_path: Optional[str] = None
    vendor: dict = field(default_factory=dict, compare=False)

    def redacted(self) -> str:
        """A description of the URI for messages: its object-naming attributes, never the PIN."""
        parts = []
        for name in PATH_ATTRS:
            value = getattr(self, name.replace("-", "_"))
            if value is None:
                continue
            if name == "id":
                value = "%" + "%".join(f"{b:02x}" for b in value) if value else ""
            elif name == "library-version":
                value = f"{value[0]}.{value[1]}"
            parts.append(f"{name}={value}")
        return SCHEME + ";".join(parts)

    def __str__(self) -> str:
        return self.redacted()


def _decode(raw: str, name: str) -> bytes:
    if _BAD_ESCAPE.search(raw):
        raise ConfigError(f"invalid percent-encoding in attribute '{name}' of PKCS#11 URI")
    return unquote_to_bytes(raw)


def _text(raw: str, name: str) -> str:
    try:
        return _decode(raw, name).decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"attribute '{name}' of PKCS#11 URI is not valid UTF-8") from None


def _value(name: str, raw: str):
    """The typed value of one standard attribute."""
    if name == "id":
        return _decode(raw, name)
    text = _text(raw, name)
    if name == "type":
        if text not in TYPES:
            raise ConfigError(f"invalid type '{text}' in PKCS#11 URI (use one of: {', '.join(TYPES)})")
    elif name == "slot-id":
        if not text.isdigit() or not text.isascii():
            raise ConfigError(f"invalid slot-id '{text}' in PKCS#11 URI (a decimal number is expected)")
        return int(text)
    elif name == "library-version":
        m = re.fullmatch(r"(\d+)(?:\.(\d+))?", text)
        if not m:
            raise ConfigError(f"invalid library-version '{text}' in PKCS#11 URI (use M or M.N)")
        return int(m.group(1)), int(m.group(2) or 0)
    return text


def _split(component: str, sep: str, allowed: tuple, where: str, values: dict, vendor: dict) -> None:
    if not component:
        return
    for item in component.split(sep):
        if not item:
            raise ConfigError(f"empty attribute in the {where} of PKCS#11 URI")
        raw_name, eq, raw = item.partition("=")
        if not eq:
            # Never echo the item: it could be a mistyped PIN.
            raise ConfigError(f"attribute without '=' in the {where} of PKCS#11 URI")
        name = raw_name.lower()
        if not _NAME.match(name):
            raise ConfigError(f"invalid attribute name in the {where} of PKCS#11 URI")
        if name.startswith("x-"):
            vendor.setdefault(name, []).append(_text(raw, name))
            continue
        if name not in allowed:
            other = "query" if where == "path" else "path"
            hint = (f" (it belongs in the {other})"
                    if name in (QUERY_ATTRS if where == "path" else PATH_ATTRS) else "")
            raise ConfigError(f"unknown attribute '{raw_name}' in the {where} of PKCS#11 URI{hint}")
        if name in values:
            raise ConfigError(f"attribute '{name}' appears more than once in PKCS#11 URI")
        values[name] = _value(name, raw)


def parse_pkcs11_uri(text: str) -> Pkcs11Uri:
    """The Pkcs11Uri for ``text``; ConfigError (one line, without the PIN) when malformed."""
    if not is_pkcs11_uri(text):
        raise ConfigError("not a PKCS#11 URI (it must start with 'pkcs11:')")
    rest = text[len(SCHEME):]
    if "#" in rest:
        raise ConfigError("a PKCS#11 URI must not contain '#' (percent-encode it as %23)")
    path, _, query = rest.partition("?")
    values: dict = {}
    vendor: dict = {}
    _split(path, ";", PATH_ATTRS, "path", values, vendor)
    _split(query, "&", QUERY_ATTRS, "query", values, vendor)
    if "pin-value" in values and "pin-source" in values:
        raise ConfigError("PKCS#11 URI gives both pin-value and pin-source (use one)")
    return Pkcs11Uri(**{k.replace("-", "_"): v for k, v in values.items()}, vendor=vendor)
