"""The options the file plugin owns: message capture and replay around any transport
(-reqin, -reqin_new_tid, -reqout, -rspin, -rspout; see :mod:`cmpkit_file.replay`).

Cheap to import (``cmpkit -help`` reads it): only the Option record and the group names.
``order`` is the option's place in the openssl-cmp man page, which ``-help`` keeps.
"""
from __future__ import annotations

from cmpkit.core.optdecl import DEBUG
from cmpkit.core.options import Option

OPTIONS = (
    # ---- client-side debugging (-batch and -repeat are the core's, -use_mock_srv the mock plugin's)
    Option("reqin", "str", "Take the request messages to send from file(s)", DEBUG, "filenames", order=72),
    Option("reqin_new_tid", "flag", "Give requests read with -reqin a fresh transactionID", DEBUG, order=73),
    Option("reqout", "str", "Save the request messages to file(s)", DEBUG, "filenames", order=74),
    Option("rspin", "str", "Take the response messages from file(s) instead of a server", DEBUG, "filenames",
           order=75),
    Option("rspout", "str", "Save the response messages used to file(s)", DEBUG, "filenames", order=76),
)
