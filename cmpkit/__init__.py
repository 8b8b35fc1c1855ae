"""cmpkit: a Certificate Management Protocol (RFC 4210/9810) toolkit; the public API, imported lazily.

Plugins and library users import from here (and from ``cmpkit.types``, ``cmpkit.hookspecs``,
``cmpkit.errors`` and ``cmpkit.core``), never from the shell's modules (``cmpkit.app``).
"""
from __future__ import annotations

import logging as _logging

# the "X as X" form marks a re-export for type checkers (PEP 484)
from .errors import (CmpError as CmpError, ConfigError as ConfigError, CredentialError as CredentialError,
                     DecodeError as DecodeError, PluginError as PluginError, ProtectionError as ProtectionError,
                     ServerError as ServerError, TransactionError as TransactionError,
                     TransferError as TransferError, VerifyError as VerifyError)

TYPE_CHECKING = False
if TYPE_CHECKING:  # what type checkers see of the public API's lazy names
    from .api import Client as Client, Enrollment as Enrollment, GeneralInfo as GeneralInfo

__version__ = "0.1.0"

# the components log to "cmpkit.client", "cmpkit.transport", "cmpkit.mock" ...; a library user sees
# nothing unless they configure logging (the logging HOWTO's advice for libraries); the CLI adds
# its own handler (cmpkit.cli.setup_logging)
_logging.getLogger("cmpkit").addHandler(_logging.NullHandler())

# name -> module that defines it; imported on first use, so `import cmpkit` stays cheap
_LAZY = {
    "PKIMessage": "cmpkit.core.message",
    "hookimpl": "cmpkit.plugins",
    "Transport": "cmpkit.types", "ReplayedResponse": "cmpkit.types", "Signer": "cmpkit.types",
    "VerificationPolicy": "cmpkit.types", "LoadContext": "cmpkit.types",
    "write_atomically": "cmpkit.app.files", "file_path": "cmpkit.app.files",
    "Client": "cmpkit.api", "Enrollment": "cmpkit.api", "GeneralInfo": "cmpkit.api",
}

__all__ = sorted(_LAZY) + ["CmpError", "ConfigError", "CredentialError", "DecodeError", "PluginError",
                           "ProtectionError", "ServerError", "TransactionError", "TransferError", "VerifyError"]


def __getattr__(name):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'cmpkit' has no attribute {name!r}")
    import importlib
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
