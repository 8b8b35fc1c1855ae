"""The options the http plugin owns: the HTTP(S) transfer to -server (message transfer and TLS
options) and the HTTP front of the mock server (-max_msgs, and the extensions -srv_tls_cert,
-srv_tls_key, -srv_tls_keypass).

Cheap to import (``cmpkit -help`` reads it): only the Option record and the group names.
``order`` is the option's place in the openssl-cmp man page, which ``-help`` keeps.
"""
from __future__ import annotations

from cmpkit.core.optdecl import MOCK, TLS, TRANSFER
from cmpkit.core.options import Option

_URL = "[http[s]://][userinfo@]host[:port][/path][?query][#fragment]"

OPTIONS = (
    # ---- message transfer (-server, -recipient and -total_timeout are the core's; the schemes http and https
    # of -server are this plugin's)
    Option("proxy", "str", "HTTP(S) proxy for reaching -server. Default from http_proxy/https_proxy environment",
           TRANSFER, _URL, order=29),
    Option("no_proxy", "str", "Servers not to reach through the proxy. Default from no_proxy/NO_PROXY environment",
           TRANSFER, "addresses", order=30),
    Option("path", "str", "HTTP path (CMP alias) at the server. Default from -server, else \"/\"",
           TRANSFER, "remote_path", order=32),
    Option("keep_alive", "int", "Persistent HTTP connections: 0 = no, 1 = request (default), 2 = require",
           TRANSFER, "value", minimum=0, maximum=2, default=1, order=33),
    Option("msg_timeout", "int", "Seconds a message round trip may take; 0 = no limit. Default -total_timeout",
           TRANSFER, "seconds", minimum=0, order=34),

    # ---- TLS connection
    Option("tls_used", "flag", "Use TLS (https) with -server, also when no other TLS option is given",
           TLS, order=63),
    Option("tls_cert", "str", "Client's TLS certificate, possibly with chain", TLS, "filename|uri", order=64),
    Option("tls_key", "str", "Private key of the client's TLS certificate", TLS, "filename|uri", order=65),
    Option("tls_keypass", "str", "Pass phrase source for -tls_key (and -tls_cert if PKCS#12)",
           TLS, "arg", order=66),
    Option("tls_extra", "str", "Extra certificates to send in the TLS handshake", TLS, "filenames|uris", order=67),
    Option("tls_trusted", "str", "Trust anchors for the TLS server certificate (enables host name check)",
           TLS, "filenames|uris", order=68),
    Option("tls_host", "str", "Host name or IP address to check in the TLS server certificate. Default -server",
           TLS, "name", order=69),

    # ---- mock server: its HTTP front (-port is the core's: it chooses the shell's server mode)
    Option("max_msgs", "int", "Number of requests the HTTP mock server handles; 0 = no limit (default)",
           MOCK, "number", minimum=0, default=0, order=79),
    Option("srv_tls_cert", "str", "Mock server's TLS certificate (optionally with chain): serve HTTPS on -port",
           MOCK, metavar="filename|uri", extension=True),
    Option("srv_tls_key", "str", "Private key of the mock server's TLS certificate (-srv_tls_cert)",
           MOCK, metavar="filename|uri", extension=True),
    Option("srv_tls_keypass", "str", "Pass phrase source for -srv_tls_key (and -srv_tls_cert if PKCS#12)",
           MOCK, metavar="arg", extension=True),
    Option("srv_request_timeout", "int", "Seconds a request to -port may take to arrive whole, from its "
           "first byte (else 408). Default 10", MOCK, metavar="secs", extension=True, minimum=1),
    Option("srv_idle_timeout", "int", "Seconds a connection to -port may stay silent between requests. "
           "Default 60", MOCK, metavar="secs", extension=True, minimum=1),
    Option("srv_max_conns", "int", "Connections to -port open at once; more get 503 at once. Default 100",
           MOCK, metavar="n", extension=True, minimum=1),
    # ---- -port's worker processes (uvicorn front)
    Option("srv_workers", "int", "Worker processes serving -port, to use every core. Default 1. Each worker "
           "has its own in-memory mock state, so a transaction must complete on one worker unless a shared store "
           "is used: with N > 1 the OpenSSL-compatible mock needs keep-alive for polling and certConf (so the default "
           "is 1, not the core count: a client with -keep_alive 0 would lose its transaction)", MOCK, metavar="n",
           extension=True, minimum=1),
)
