"""cmpkit: a Certificate Management Protocol (RFC 4210/9810) toolkit; public API, imported lazily."""
from __future__ import annotations

from .errors import (CmpError, ConfigError, CredentialError, DecodeError, PluginError,
                     ProtectionError, TransactionError, TransferError, VerifyError)

__version__ = "0.1.0"

__all__ = ["PKIMessage", "hookimpl", "CmpError", "ConfigError", "CredentialError", "DecodeError",
           "PluginError", "ProtectionError", "TransactionError", "TransferError", "VerifyError"]


def __getattr__(name):  # lazy: `import cmpkit` must stay cheap
    if name == "PKIMessage":
        from .core.message import PKIMessage
        return PKIMessage
    if name == "hookimpl":
        from .plugins import hookimpl
        return hookimpl
    raise AttributeError(f"module 'cmpkit' has no attribute {name!r}")
