"""The http plugin's hooks: HTTP(S) transport for -server, the HTTP front of the mock server for -port,
and the extension options -srv_tls_cert/-srv_tls_key/-srv_tls_keypass.

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
