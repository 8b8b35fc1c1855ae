"""Remembers the options the discovered plugins declare, so that `cmpkit -help` starts without stevedore and pluggy.

A full discovery (:func:`cmpkit.plugins.get_manager`) imports stevedore, importlib.metadata and
pluggy, which is most of a cold ``-help``. After one, :func:`remember` writes what the plugins
declared to ``$XDG_CACHE_HOME/cmpkit/`` (default ``~/.cache/cmpkit/``); :func:`plugin_options`
gives it back while nothing it depends on has changed:

- the interpreter, cmpkit's version and ``CMPKIT_BLOCK_PLUGINS``;
- every ``sys.path`` entry and its modification time, which changes when a distribution
  (and so an entry point) is installed or removed there, as stevedore's own cache assumes;
- every source file of cmpkit and of the plugins' packages that was loaded, and its
  modification time.

Only ``-help`` reads it; every other command discovers the plugins anew. Failing to read or
write the cache is never an error. ``CMPKIT_NO_CACHE=1`` turns it off.
"""
from __future__ import annotations

import marshal
import os
import sys

FORMAT = 2  # bump when the record's layout changes (2: Option.order)


def _directory() -> str:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "cmpkit")


def _path() -> str:
    import zlib
    return os.path.join(_directory(), f"plugin-options-{zlib.crc32(sys.executable.encode()):08x}.marshal")


def _mtime(path: str):
    try:
        return os.stat(path or ".").st_mtime_ns
    except OSError:
        return None


def _key() -> tuple:
    from . import __version__
    return (FORMAT, __version__, sys.version, sys.executable, os.environ.get("CMPKIT_BLOCK_PLUGINS", ""),
            tuple((p, _mtime(p)) for p in sys.path))


def plugin_options():
    """The plugins' options as the last discovery found them, or None if that may be out of date."""
    if os.environ.get("CMPKIT_NO_CACHE"):
        return None
    try:
        with open(_path(), "rb") as fh:
            record = marshal.load(fh)
        if record["key"] != _key() or any(_mtime(f) != t for f, t in record["files"]):
            return None
        from .core.options import Option
        return [Option(*fields) for fields in record["options"]]
    except Exception:  # noqa: BLE001 - a missing, foreign or damaged cache only costs a discovery
        return None


def remember(options, plugin_modules) -> None:
    """Record the plugins' ``options`` (plugin modules: the names of the modules that hold the hooks)."""
    if os.environ.get("CMPKIT_NO_CACHE") or plugin_options() == list(options):
        return  # off, or already on record: every command discovers, only a change is written
    packages = {name.partition(".")[0] for name in plugin_modules} | {"cmpkit"}
    files = sorted({m.__file__ for name, m in list(sys.modules.items())
                    if name.partition(".")[0] in packages and getattr(m, "__file__", None)})
    try:
        data = marshal.dumps({"key": _key(), "files": [(f, _mtime(f)) for f in files],
                              "options": [tuple(o) for o in options]})
    except ValueError:  # an option default marshal cannot store: no cache
        return
    from .errors import CmpError
    from .app.files import write_atomically
    path = _path()
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        write_atomically(path, data)
    except (OSError, CmpError):
        pass
