"""Modules imported on their first use: a cold start pays only for what the run needs.

``from cmpkit.core.lazy import x509`` gives a stand-in for ``cryptography.x509`` (about a third
of a one-shot enrollment's import time, with its name parser's regular expressions) that
imports it when an attribute is first read, e.g. when a certificate is parsed. A PBM-protected
enrollment that never parses a certificate never imports it.
"""
from __future__ import annotations

import importlib


class LazyModule:
    """Stands for the module ``name``; imports it on the first attribute read."""

    def __init__(self, name: str):
        self._name = name
        self._module = None

    def __getattr__(self, attr: str):
        module = self._module
        if module is None:
            module = self._module = importlib.import_module(self._name)
        return getattr(module, attr)

    def __repr__(self) -> str:
        return f"<lazy module {self._name!r}>"


x509 = LazyModule("cryptography.x509")


# ---------------------------------------------------------------- serialization without its ssh part (issue 17)
# cryptography.hazmat.primitives.serialization's package imports its OpenSSH key code (ciphers,
# bcrypt: some 8 ms of a one-shot run). Its enums live in primitives._serialization and its key
# loaders are the Rust binding's functions themselves (the same objects, checked by
# tests/test_certshape.py); everything else, or any other cryptography layout, imports the package.
_LIGHT_ENUMS = ("Encoding", "PublicFormat", "PrivateFormat", "ParameterFormat", "NoEncryption",
                "BestAvailableEncryption", "KeySerializationEncryption")
_LIGHT_LOADERS = ("load_pem_private_key", "load_der_private_key", "load_pem_public_key", "load_der_public_key")


class LightSerialization(LazyModule):
    """Stands for ``cryptography.hazmat.primitives.serialization``: its enums and key loaders
    without importing the package, any other attribute from the package."""

    def __getattr__(self, attr: str):
        if self._module is None and (attr in _LIGHT_ENUMS or attr in _LIGHT_LOADERS):
            try:
                if attr in _LIGHT_ENUMS:
                    from cryptography.hazmat.primitives import _serialization as source
                else:
                    from cryptography.hazmat.bindings._rust import openssl as rust
                    source = rust.keys
                value = getattr(source, attr)
            except (ImportError, AttributeError):
                return super().__getattr__(attr)
            setattr(self, attr, value)  # read once
            return value
        return super().__getattr__(attr)


serialization = LightSerialization("cryptography.hazmat.primitives.serialization")
