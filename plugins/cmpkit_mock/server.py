"""The mock CMP server's I/O side: a lock and the clock around the sans-IO machine of cmpkit.core.server.

Use: ``MockServer(MockSettings(...)).handle(request_der) -> response_der``, from any thread.
The server logic (OpenSSL's cmp_server.c plus the mock CA of apps/lib/cmp_mock_srv.c) is
:class:`cmpkit.core.server.CmpServer`; ``MockSettings`` is its configuration,
:class:`cmpkit.core.server.ServerSettings`.
"""
from __future__ import annotations

import threading
import time

from cmpkit.core.server import CmpServer, ServerSettings

MockSettings = ServerSettings

__all__ = ["MockServer", "MockSettings"]


class MockServer:
    """One mock CMP server: serializes requests and stamps them with the current time."""

    def __init__(self, settings: MockSettings):
        self.machine = CmpServer(settings)
        self._lock = threading.Lock()

    @property
    def s(self) -> MockSettings:
        """The settings (the machine's)."""
        return self.machine.s

    def handle(self, request_der: bytes) -> bytes:
        """Answer one DER request with one DER response; never raises for bad input."""
        with self._lock:
            return self.machine.handle(request_der, time.time())

    __call__ = handle  # a MockServer is itself a transfer: transfer(request_der) -> response_der
