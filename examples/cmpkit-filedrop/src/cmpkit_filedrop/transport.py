"""FileDropTransport: each request written as ``DIR/<n>-<id>.req``, its response read from
``DIR/<n>-<id>.rsp`` once a courier has put it there."""
from __future__ import annotations

import os
import time
import uuid
from typing import Optional
from urllib.parse import unquote, urlsplit

from cmpkit.errors import ConfigError, TransferError

POLL_INTERVAL = 0.05  # seconds between looks for the response file


class FileDropTransport:
    """A :class:`cmpkit.types.Transport` over a drop directory.

    :param directory: the drop directory (must exist).
    :param wait: seconds to wait for a response when the caller gives no timeout.
    """

    def __init__(self, directory: str, wait: Optional[float] = None):
        if not os.path.isdir(directory):
            raise ConfigError(f"filedrop: no directory '{directory}'")
        self.directory = directory
        self.wait = wait if wait is not None else float(os.environ.get("CMPKIT_FILEDROP_WAIT", "60"))
        self.session = uuid.uuid4().hex[:12]
        self.count = 0

    @classmethod
    def from_url(cls, url: str) -> "FileDropTransport":
        """``filedrop://DIR`` (an absolute path: ``filedrop:///var/spool/cmp``, or relative:
        ``filedrop://spool``)."""
        parts = urlsplit(url)
        path = unquote(parts.netloc + parts.path)
        if not path:
            raise ConfigError(f"filedrop: missing directory in '{url}'")
        return cls(path)

    def send(self, request: bytes, timeout: Optional[float] = None) -> bytes:
        self.count += 1
        base = os.path.join(self.directory, f"{self.count:04d}-{self.session}")
        tmp = base + ".req.tmp"
        try:
            with open(tmp, "wb") as fh:
                fh.write(request)
            os.replace(tmp, base + ".req")
        except OSError as exc:
            raise TransferError(f"filedrop: cannot write request {base}.req: {exc.strerror}") from None
        deadline = time.monotonic() + (timeout if timeout else self.wait)
        rsp = base + ".rsp"
        while not os.path.exists(rsp):
            if time.monotonic() > deadline:
                raise TransferError(f"filedrop: no response {rsp} in time")
            time.sleep(POLL_INTERVAL)
        try:
            with open(rsp, "rb") as fh:
                data = fh.read()
        except OSError as exc:
            raise TransferError(f"filedrop: cannot read response {rsp}: {exc.strerror}") from None
        for name in (base + ".req", rsp):
            try:
                os.remove(name)
            except OSError:
                pass
        return data

    def close(self) -> None:
        pass
