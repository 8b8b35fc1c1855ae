"""Message capture and replay around any transfer: -reqout, -rspout, -reqin, -reqin_new_tid, -rspin.

Rules of the openssl cmp man page (and its read_write_req_resp):
- -reqout saves each request the client produced, one file per message, while names last;
- -reqin replaces each request by the next file's message (while names last); its
  recipNonce is updated to the last response's senderNonce and, with -reqin_new_tid, its
  transactionID to the client's; a message that was protected is then re-protected;
- -rspin takes each response from the next file instead of contacting the server (while
  names last; -reqin is ignored then); after that the wrapped transfer is used, if any;
- -rspout saves each response actually used;
- with -reqin or -rspin in effect the client adopts the transactionID and nonce of the
  response (it cannot check them against a request it did not make).
"""
from __future__ import annotations

import logging
from typing import Callable, Optional

from cmpkit.errors import TransferError

log = logging.getLogger("cmpkit")


def _names(cfg, name: str) -> list[str]:
    return cfg.get_list(name) if cfg.get(name) else []


def _read(path: str, what: str) -> bytes:
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except OSError as exc:
        raise TransferError(f"cannot read {what} message file '{path}': {exc.strerror}") from None


def _write(path: str, data: bytes, what: str) -> None:
    from cmpkit.session import write_atomically
    try:
        write_atomically(path, data)
    except Exception as exc:  # noqa: BLE001 - reported as a transfer problem with the file name
        raise TransferError(f"cannot write {what} message file '{path}': {exc}") from None


class ReplayTransfer:
    """Wraps a transfer (or none) with the file options; binds to the client for re-protection."""

    def __init__(self, cfg, inner: Optional[Callable[[bytes], bytes]]):
        self.inner = inner
        self.reqout = _names(cfg, "reqout")
        self.rspout = _names(cfg, "rspout")
        self.rspin = _names(cfg, "rspin")
        self.reqin = [] if self.rspin else _names(cfg, "reqin")
        if self.rspin and _names(cfg, "reqin"):
            log.warning("-reqin is ignored since -rspin is present")
        self.new_tid = bool(cfg.get("reqin_new_tid"))
        self.client = None
        self.last_exchange = None
        self._rspin_used = False

    def bind_client(self, client) -> None:
        """Called by the client: gives access to its nonces, transactionID and protection."""
        self.client = client

    def set_deadline_timeout(self, timeout):
        setter = getattr(self.inner, "set_deadline_timeout", None)
        if setter:
            setter(timeout)

    def _substitute(self, path: str) -> bytes:
        from cmpkit.core.message import PKIMessage
        msg = PKIMessage.from_der(_read(path, "request"))
        was_protected = msg.protection is not None
        c = self.client
        if c is not None:
            if self.new_tid:
                if c.transaction_id is None:
                    import os
                    c.transaction_id = os.urandom(16)
                msg.set_header_field("transactionID", c.transaction_id)
            msg.set_header_field("recipNonce", c.recip_nonce)
            if was_protected and not c.s.unprotected_requests:
                c._protect(msg)
        return msg.to_der()

    def __call__(self, request: bytes) -> bytes:
        if self.reqout:
            _write(self.reqout.pop(0), request, "request")
        replayed = False
        sent = request
        if self.rspin:
            response = _read(self.rspin.pop(0), "response")
            self._rspin_used = True
            replayed = True
        else:
            if self.reqin:
                sent = self._substitute(self.reqin.pop(0))
                replayed = True
            if self.inner is None:
                raise TransferError("too few -rspin filename arguments and no server to contact")
            if self._rspin_used:
                log.warning("too few -rspin filename arguments; resorting to contacting the server")
                self._rspin_used = False
            response = self.inner(sent)
        self.last_exchange = (sent, replayed)
        if self.rspout:
            _write(self.rspout.pop(0), response, "response")
        return response

    def close(self) -> None:
        close = getattr(self.inner, "close", None)
        if close:
            close()


def wrap(cfg, transfer):
    """The replay wrapper if any file option is set, else None (leave the transfer as it is)."""
    if any(cfg.get(n) for n in ("reqin", "reqout", "rspin", "rspout")):
        return ReplayTransfer(cfg, transfer)
    return None
