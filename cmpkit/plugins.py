"""Plugin manager: finds plugins through entry points (stevedore) and registers them with pluggy."""
from __future__ import annotations

import os

import pluggy

from . import hookspecs

ENTRY_POINT_GROUP = "cmpkit.plugins"
BLOCK_ENV = "CMPKIT_BLOCK_PLUGINS"  # comma/space separated entry-point names not to load

hookimpl = pluggy.HookimplMarker("cmpkit")

_manager: pluggy.PluginManager | None = None
load_failures: list[tuple[str, str]] = []  # (plugin name, reason) of plugins that failed to import
blocked_plugins: list[str] = []  # installed plugins not loaded because CMPKIT_BLOCK_PLUGINS names them
discovered: list[tuple[str, str]] = []  # (entry-point name, module name) of the plugins loaded from entry points


def blocked_names() -> set[str]:
    """Names listed in CMPKIT_BLOCK_PLUGINS."""
    return {n for n in os.environ.get(BLOCK_ENV, "").replace(",", " ").split() if n}


def _discover(pm: pluggy.PluginManager) -> None:
    from stevedore import ExtensionManager

    blocked = blocked_names()

    class _Manager(ExtensionManager):
        # stevedore keeps the entry points of a group for the process's lifetime in a class
        # attribute; a fresh one per discovery lets reset_manager() see newly installed plugins.
        ENTRY_POINT_CACHE: dict = {}

        # A blocked plugin is skipped before import: it may be the broken one.
        def _load_one_plugin(self, ep, *args, **kwargs):
            if ep.name in blocked:
                if ep.name not in blocked_plugins:
                    blocked_plugins.append(ep.name)
                return None
            return super()._load_one_plugin(ep, *args, **kwargs)

    def on_failure(_mgr, entry_point, exc):
        load_failures.append((entry_point.name, f"{type(exc).__name__}: {exc}"))

    for ext in _Manager(ENTRY_POINT_GROUP, on_load_failure_callback=on_failure):
        if not pm.has_plugin(ext.name) and not pm.is_registered(ext.plugin):
            pm.register(ext.plugin, name=ext.name)
            if getattr(ext.plugin, "__name__", None) == ext.entry_point.module:  # a module: importable again
                discovered.append((ext.name, ext.entry_point.module))


def _remembered(pm: pluggy.PluginManager) -> bool:
    """Register the plugins the last discovery found (cmpkit.plugin_cache), if that record is
    still valid: the entry points need not be read again. False when a discovery is needed."""
    import importlib

    from . import plugin_cache
    record = plugin_cache.plugin_modules()
    if record is None:
        return False
    plugins, blocked = record
    try:
        modules = [(name, importlib.import_module(module)) for name, module in plugins]
    except Exception:  # noqa: BLE001 - whatever changed since, a discovery finds and reports it
        return False
    for name, module in modules:
        pm.register(module, name=name)
    discovered.extend(plugins)
    blocked_plugins.extend(blocked)
    return True


def get_manager() -> pluggy.PluginManager:
    """The process-wide plugin manager, built on first use: from the remembered discovery while
    it is valid, else by reading the entry points."""
    global _manager
    if _manager is None:
        pm = pluggy.PluginManager("cmpkit")
        pm.add_hookspecs(hookspecs)
        if not _remembered(pm):
            _discover(pm)
        pm.check_pending()  # a misspelled hookimpl fails loudly
        _manager = pm
    return _manager


def reset_manager() -> None:
    """Forget the manager (tests, or after changing CMPKIT_BLOCK_PLUGINS or installing a plugin)."""
    global _manager
    from . import plugin_cache
    _manager = None
    load_failures.clear()
    blocked_plugins.clear()
    discovered.clear()
    plugin_cache.forget()


def hook():
    """Shortcut: ``hook().cmpkit_load_key(...)``."""
    return get_manager().hook
