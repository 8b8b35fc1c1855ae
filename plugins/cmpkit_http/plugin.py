"""The http plugin's hooks: HTTP(S) transport for -server (the schemes http and https), the HTTP front of the mock server for -port,
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


def open_http(url, config, ctx):
    """The HTTP(S) transport to ``-server`` (``url``), configured by the run's http options."""
    from .client import HttpTransport
    return HttpTransport(config, ctx)


@hookimpl
def cmpkit_transport_schemes():
    """http and https (and a -server without a scheme, which means http)."""
    return {"http": open_http, "https": open_http}


@hookimpl
def cmpkit_serve(config, handler, ctx):
    from .server import serve
    serve(config, handler, ctx)
    return True
