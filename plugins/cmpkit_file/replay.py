"""Message capture and replay around any transport: -reqout, -rspout, -reqin, -reqin_new_tid, -rspin.

Rules of the openssl cmp man page (and its read_write_req_resp):
- -reqout saves each request the client produced, one file per message, while names last;
- -reqin replaces each request by the next file's message (while names last); its
  recipNonce is set to the client's (the last response's senderNonce) and, with
  -reqin_new_tid, its transactionID to the client's; a message that was protected is then
  protected again as the client protects its own;
- -rspin takes each response from the next file instead of contacting the server (while
  names last; -reqin is ignored then); after that the wrapped transport is used, if any;
- -rspout saves each response actually used;
- with -reqin or -rspin in effect the client adopts the transactionID and nonces of the
  response (a :class:`cmpkit.types.ReplayedResponse`): it cannot check them against a request
  it did not make.
"""
from __future__ import annotations

import logging
from typing import Callable, Optional

from cmpkit import ReplayedResponse, Transport, write_atomically
from cmpkit.errors import CmpError, TransferError

log = logging.getLogger("cmpkit.transport")


def _names(cfg, name: str) -> list[str]:
    return cfg.get_list(name) if cfg.get(name) else []


def _read(path: str, what: str) -> bytes:
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except OSError as exc:
        raise TransferError(f"cannot read {what} message file '{path}': {exc.strerror}") from None


def _write(path: str, data: bytes, what: str) -> None:
    try:
        write_atomically(path, data)
    except CmpError as exc:
        raise TransferError(f"cannot write {what} message file '{path}': {exc}") from None


class ReplayTransport:
    """A Transport that wraps another one (or none) with the file options.

    :param cfg: the run's Config (-reqout, -rspout, -reqin, -reqin_new_tid, -rspin).
    :param inner: the wrapped Transport, None when there is no server to contact.
    :param protect: protects a substituted request in place as the client would.
    """

    def __init__(self, cfg, inner: Optional[Transport], protect: Callable):
        self.inner = inner
        self.protect = protect
        self.reqout = _names(cfg, "reqout")
        self.rspout = _names(cfg, "rspout")
        self.rspin = _names(cfg, "rspin")
        self.reqin = [] if self.rspin else _names(cfg, "reqin")
        if self.rspin and _names(cfg, "reqin"):
            log.warning("-reqin is ignored since -rspin is present")
        self.new_tid = bool(cfg.get("reqin_new_tid"))
        self._rspin_used = False

    def _substitute(self, path: str, request: bytes) -> bytes:
        """The recorded request of ``path``, fitted into the client's transaction."""
        from cmpkit.core.message import PKIMessage
        msg = PKIMessage.from_der(_read(path, "request"))
        own = PKIMessage.from_der(request)
        if self.new_tid:
            msg.set_header_field("transactionID", own.transaction_id)
        msg.set_header_field("recipNonce", own.recip_nonce)
        if msg.protection is not None:
            self.protect(msg)
        return msg.to_der()

    def send(self, request: bytes, timeout: Optional[float] = None) -> bytes:
        if self.reqout:
            _write(self.reqout.pop(0), request, "request")
        if self.rspin:
            response = ReplayedResponse(_read(self.rspin.pop(0), "response"))
            self._rspin_used = True
        else:
            sent = request
            if self.reqin:
                sent = self._substitute(self.reqin.pop(0), request)
            if self.inner is None:
                raise TransferError("too few -rspin filename arguments and no server to contact")
            if self._rspin_used:
                log.warning("too few -rspin filename arguments; resorting to contacting the server")
                self._rspin_used = False
            response = self.inner.send(sent, timeout)
            if sent is not request:
                response = ReplayedResponse(response)
        if self.rspout:
            _write(self.rspout.pop(0), response, "response")
        return response

    def close(self) -> None:
        if self.inner is not None:
            self.inner.close()


def wrap(cfg, transport: Optional[Transport], protect: Callable) -> Optional[ReplayTransport]:
    """The replay wrapper if any file option is set, else None (leave the transport as it is)."""
    if any(cfg.get(n) for n in ("reqin", "reqout", "rspin", "rspout")):
        return ReplayTransport(cfg, transport, protect)
    return None
