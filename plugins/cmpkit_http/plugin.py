"""The http plugin's hooks: HTTP(S) transport for -server, the HTTP front of the mock server for -port,
and the options of both (:mod:`cmpkit_http.options`: -server, -proxy, -no_proxy, -path, -keep_alive,
-msg_timeout, the -tls_* options, -max_msgs and the extensions -srv_tls_cert/-srv_tls_key/-srv_tls_keypass
and the limits of -port: -srv_request_timeout, -srv_idle_timeout, -srv_max_conns, and -srv_workers).

Nothing heavy is imported here: httpx, ssl and the server code load only when a hook is used.
"""
from __future__ import annotations

from cmpkit import hookimpl


@hookimpl
def cmpkit_options():
    from .options import OPTIONS
    return OPTIONS


@hookimpl
def cmpkit_get_transport(config, ctx):
    # -use_mock_srv is the mock plugin's option: absent when that plugin is blocked
    if not config.get("server") or ("use_mock_srv" in config and config.get("use_mock_srv")):
        return None
    from .client import HttpTransport
    return HttpTransport(config, ctx)


@hookimpl
def cmpkit_serve(config, handler, ctx):
    from .server import serve
    serve(config, handler, ctx)
    return True
