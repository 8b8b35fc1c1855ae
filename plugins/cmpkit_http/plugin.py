"""The http plugin's hooks: HTTP(S) transport for -server, the HTTP front of the mock server for -port,
and the extension options -srv_tls_cert/-srv_tls_key/-srv_tls_keypass and the limits of -port
(-srv_request_timeout, -srv_idle_timeout, -srv_max_conns).

Nothing heavy is imported here: httpx, ssl and the server code load only when a hook is used.
"""
from __future__ import annotations

from cmpkit import hookimpl

MOCK_GROUP = "Mock server options"


@hookimpl
def cmpkit_options():
    from cmpkit.core.options import Option
    return [
        Option("srv_tls_cert", "str", "Mock server's TLS certificate (optionally with chain): serve HTTPS on -port",
               MOCK_GROUP, metavar="filename|uri", extension=True),
        Option("srv_tls_key", "str", "Private key of the mock server's TLS certificate (-srv_tls_cert)",
               MOCK_GROUP, metavar="filename|uri", extension=True),
        Option("srv_tls_keypass", "str", "Pass phrase source for -srv_tls_key (and -srv_tls_cert if PKCS#12)",
               MOCK_GROUP, metavar="arg", extension=True),
        Option("srv_request_timeout", "int", "Seconds a request to -port may take to arrive whole, from its "
               "first byte (else 408). Default 10", MOCK_GROUP, metavar="secs", extension=True, minimum=1),
        Option("srv_idle_timeout", "int", "Seconds a connection to -port may stay silent between requests. "
               "Default 60", MOCK_GROUP, metavar="secs", extension=True, minimum=1),
        Option("srv_max_conns", "int", "Connections to -port open at once; more get 503 at once. Default 100",
               MOCK_GROUP, metavar="n", extension=True, minimum=1),
    ]


@hookimpl
def cmpkit_get_transport(config, ctx):
    if not config.get("server") or config.get("use_mock_srv"):
        return None
    from .client import HttpTransport
    return HttpTransport(config, ctx)


@hookimpl
def cmpkit_serve(config, handler, ctx):
    from .server import serve
    serve(config, handler, ctx)
    return True
