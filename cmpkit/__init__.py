"""cmpkit: a Certificate Management Protocol (RFC 4210/9810) toolkit; the public API, imported lazily.

Plugins and library users import from here (and from ``cmpkit.types``, ``cmpkit.hookspecs``,
``cmpkit.errors`` and ``cmpkit.core``), never from the shell's modules (``cmpkit.app``).
"""
from __future__ import annotations

import logging as _logging

from .errors import (CmpError, ConfigError, CredentialError, DecodeError, PluginError,
                     ProtectionError, ServerError, TransactionError, TransferError, VerifyError)

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
    "Client": "cmpkit.api", "Enrollment": "cmpkit.api",
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
