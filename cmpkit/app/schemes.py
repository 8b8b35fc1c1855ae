"""Transports chosen by the server URL's scheme: the plugins' :func:`cmpkit.hookspecs.cmpkit_transport_schemes`
tables merged into one, a scheme served by two plugins being an error that names both.

``-server host[:port][/path]`` without a scheme means ``http``, as in openssl. The scheme is the
RFC 3986 one (a letter, then letters, digits, ``+``, ``-``, ``.``) before ``://``, matched in lower
case; anything else (``host/a?u=http://x``) has no scheme.
"""
from __future__ import annotations

import logging
import re
from typing import Callable, Optional

from ..errors import ConfigError, PluginError

log = logging.getLogger("cmpkit.transport")

DEFAULT_SCHEME = "http"
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://")


def scheme_of(url: str) -> str:
    """The URL's scheme in lower case; :data:`DEFAULT_SCHEME` when it has none."""
    m = _SCHEME.match(url)
    return m.group(1).lower() if m else DEFAULT_SCHEME


def scheme_table(pm=None) -> dict[str, tuple[str, Callable]]:
    """scheme -> (plugin name, factory) from every plugin's cmpkit_transport_schemes.

    :raise PluginError: a scheme declared by two plugins (naming both), or a malformed table.
    """
    if pm is None:
        from ..plugins import get_manager
        pm = get_manager()
    table: dict[str, tuple[str, Callable]] = {}
    for impl in pm.hook.cmpkit_transport_schemes.get_hookimpls():
        name = impl.plugin_name
        declared = impl.function()
        if declared is None:
            continue
        try:
            items = list(declared.items())
        except AttributeError:
            raise PluginError(f"plugin '{name}': cmpkit_transport_schemes must return a mapping "
                              "scheme -> factory") from None
        for scheme, factory in items:
            if not isinstance(scheme, str) or not _SCHEME.fullmatch(scheme + "://") or not callable(factory):
                raise PluginError(f"plugin '{name}': invalid transport scheme entry {scheme!r}")
            key = scheme.lower()
            if key in table and table[key][0] != name:
                first = table[key][0]
                raise PluginError(f"URL scheme '{key}' is served by two plugins: '{first}' and '{name}' "
                                  "(block one with CMPKIT_BLOCK_PLUGINS)")
            table[key] = (name, factory)
    return table


def open_transport(url: str, config, ctx, pm=None, what: str = "-server"):
    """The Transport to ``url`` from the plugin that serves its scheme.

    :raise ConfigError: no plugin serves the scheme (one line naming it and the served ones).
    """
    scheme = scheme_of(url)
    table = scheme_table(pm)
    entry: Optional[tuple] = table.get(scheme)
    if entry is None:
        served = ", ".join(sorted(table)) or "none"
        raise ConfigError(f"no plugin serves the URL scheme '{scheme}' of {what} '{url}' (served: {served})"
                          + _not_loaded())
    name, factory = entry
    log.debug("URL scheme '%s' served by plugin '%s'", scheme, name)
    transport = factory(url, config, ctx)
    if transport is None:
        raise PluginError(f"plugin '{name}' gave no transport for {what} '{url}'")
    from ..types import as_transport
    return as_transport(transport)


def _not_loaded() -> str:
    """The hint naming the plugins that are not loaded (one of them may serve the scheme)."""
    from ..plugins import blocked_plugins, load_failures
    missing = [f"'{name}' (blocked by CMPKIT_BLOCK_PLUGINS)" for name in blocked_plugins]
    missing += [f"'{name}' (failed to load)" for name, _ in load_failures]
    return f"; it may be served by a plugin that is not loaded: {', '.join(missing)}" if missing else ""
