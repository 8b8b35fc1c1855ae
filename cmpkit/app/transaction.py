"""Drives the core's client machine: a real clock, real waits and a Transport carry one transaction."""
from __future__ import annotations

import logging
import time
from typing import Callable, Optional

from ..core.client import ClientMachine, ClientSettings, Done, Result, Send, Wait, _upper
from ..core.message import PKIMessage
from ..types import ReplayedResponse, Transport, as_transport

log = logging.getLogger("cmpkit.client")


class Client:
    """Runs one CMP transaction per :meth:`run` over ``transport`` (a Transport or a function
    request DER -> response DER).

    :param on_sent: ``on_sent(message, der)`` for every request sent (cmpkit_message_sent).
    :param on_received: ``on_received(message, der)`` for every response (cmpkit_message_received).
    :param clock: POSIX seconds now (messageTime, -total_timeout); :func:`time.time` by default.
    :param sleep: waits the server's checkAfter while polling; :func:`time.sleep` by default.
    """

    def __init__(self, settings: ClientSettings, transport, on_sent: Optional[Callable] = None,
                 on_received: Optional[Callable] = None, clock: Optional[Callable[[], float]] = None,
                 sleep: Optional[Callable[[float], None]] = None):
        self.machine = ClientMachine(settings)
        self.transport: Optional[Transport] = None if transport is None else as_transport(transport)
        self.on_sent, self.on_received = on_sent, on_received
        self.clock = clock or (lambda: time.time())
        self.sleep = sleep or (lambda seconds: time.sleep(seconds))

    @property
    def s(self) -> ClientSettings:
        return self.machine.s

    def reprotect(self, msg: PKIMessage) -> None:
        """Protect a request a transport wrapper substituted (-reqin) as the client's own."""
        self.machine.reprotect(msg)

    def run(self) -> Result:
        machine, clock = self.machine, self.clock
        step = machine.start(clock())
        while not isinstance(step, Done):
            if isinstance(step, Wait):
                self.sleep(step.seconds)
                step = machine.resume(clock())
                continue
            rsp, adopt = self._exchange(step)
            step = machine.receive(rsp, clock(), adopt)
        return step.result

    def _exchange(self, step: Send) -> tuple:
        """(decoded response, adopt?) for the request of ``step``."""
        timeout = self.machine.time_left(self.clock())
        log.info("sending %s", _upper(step.message.body_type))
        if self.on_sent:
            self.on_sent(step.message, step.der)
        rsp_der = self.transport.send(step.der, timeout)
        rsp = PKIMessage.from_der(rsp_der)
        log.info("received %s", _upper(rsp.body_type))
        if self.on_received:
            self.on_received(rsp, rsp_der)
        return rsp, isinstance(rsp_der, ReplayedResponse)
