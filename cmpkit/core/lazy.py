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
