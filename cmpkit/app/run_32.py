"""Running the client options of openssl cmp 3.2/3.3 that change what a run writes: -reqout_only
(write the first request and exit, contacting no server) and -srvcertout (the validated
server certificate of the last response, or no file)."""
from __future__ import annotations

import logging
import os

from ..errors import CmpError

log = logging.getLogger("cmpkit")


def run_reqout_only(cfg) -> int:
    """-reqout_only FILE: build the first request of the command, save it (DER) and exit 0.
    The options for servers and their responses are ignored (with openssl's warnings)."""
    import time

    from ..core.client import ClientMachine
    from ..plugins import hook as get_hook
    from .credentials import Loader
    from .files import write_atomically
    from .settings import build_client_settings, plugin_option
    from .settings_32 import warn_reqout_only

    hook = get_hook()
    warn_reqout_only(cfg, plugin_option)
    settings = build_client_settings(cfg, Loader(cfg, hook))
    step = ClientMachine(settings).start(time.time())
    path = cfg.get("reqout_only")
    try:
        write_atomically(path, step.der)
    except CmpError as exc:  # openssl's words, then the cause
        raise CmpError(f"cannot write request PKIMessage to file '{path}': {str(exc).rpartition(': ')[2]}") from None
    hook.cmpkit_message_sent(message=step.message, der=step.der)
    return 0


def save_srvcert(cfg, machine, save_certs) -> None:
    """-srvcertout: the server certificate validated for the last response's signature, saved as
    -certform says (``save_certs``: run.save_certs); without one (MAC-based or no protection) the file is deleted if it exists."""
    path = cfg.get("srvcertout")
    if not path:
        return
    cert = machine.validated_srvcert
    if cert is not None:
        save_certs(path, [cert], "validated server", cfg.get("certform"))
    elif os.path.exists(path):
        log.info("deleting file '%s' since there is no validated server certificate", path)
        os.remove(path)
