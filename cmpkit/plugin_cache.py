"""Remembers what the last plugin discovery found: the plugins' modules and the options they declare.

A full discovery (:func:`cmpkit.plugins.get_manager`) imports stevedore and importlib.metadata
to read the entry points, which costs tens of milliseconds of every cold start. After one,
:func:`remember` writes the plugins found (entry-point name and module), those blocked and the
options they declare to ``$XDG_CACHE_HOME/cmpkit/`` (default ``~/.cache/cmpkit/``). While
nothing it depends on has changed, :func:`plugin_modules` lets every command import the
plugins directly (no entry-point scan), and :func:`plugin_options` lets ``-help`` print them
without importing the plugins or pluggy at all. The record depends on:

- the interpreter, cmpkit's version and ``CMPKIT_BLOCK_PLUGINS``;
- every ``sys.path`` entry and its modification time, which changes when a distribution
  (and so an entry point) is installed or removed there, as stevedore's own cache assumes;
  when only the time changed (e.g. ``python -m cmpkit`` writing its output into the current
  directory, which is on the path), the record still holds if the entry's distributions
  (``*.dist-info``, ``*.egg-info``, ``*.egg-link``, ``*.pth``) and the names of cmpkit's and
  the plugins' packages in it are the same as when it was written;
- every source file of cmpkit and of the plugins' packages that was loaded, and its
  modification time.

A plugin whose import fails is never remembered (the record is written only after a discovery
without failures), so it is reported by every run. Failing to read or write the cache is never
an error. ``CMPKIT_NO_CACHE=1`` turns it off.
"""
from __future__ import annotations

import marshal
import os
import sys

FORMAT = 4  # bump when the record's layout changes (2: Option.order; 3: the plugins' modules; 4: paths)
_DIST_SUFFIXES = (".dist-info", ".egg-info", ".egg-link", ".pth")


def _directory() -> str:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "cmpkit")


def _path() -> str:
    """One record per interpreter and module search path (``python -m cmpkit`` puts the current
    directory first, the ``cmpkit`` script its own directory: they do not overwrite each other)."""
    import binascii  # the same CRC-32 as zlib's, without importing zlib (issue 17)
    crc = binascii.crc32("\0".join([sys.executable, *sys.path]).encode())
    return os.path.join(_directory(), f"plugin-options-{crc:08x}.marshal")


def _mtime(path: str):
    try:
        return os.stat(path or ".").st_mtime_ns
    except OSError:
        return None


def _key() -> tuple:
    from . import __version__
    return (FORMAT, __version__, sys.version, sys.executable, os.environ.get("CMPKIT_BLOCK_PLUGINS", ""),
            tuple(sys.path))


def _listing(path: str, packages) -> list:
    """What in a sys.path directory can add, remove or shadow a plugin: its distributions and
    the modules named like cmpkit's and the plugins' packages (sorted names)."""
    try:
        names = os.listdir(path or ".")
    except OSError:
        return []
    return sorted(n for n in names if n.endswith(_DIST_SUFFIXES) or n.partition(".")[0] in packages)


def _paths_unchanged(paths, packages) -> bool:
    """Each sys.path entry has its recorded modification time, or else the same listing."""
    return all(_mtime(p) == t or (t is not None and _mtime(p) is not None and _listing(p, packages) == listing)
               for p, t, listing in paths)


_record_read = False
_record = None


def _valid_record():
    """The record of the last discovery, or None if there is none or it may be out of date (read once)."""
    global _record_read, _record
    if not _record_read:
        _record_read, _record = True, None
        if not os.environ.get("CMPKIT_NO_CACHE"):
            try:
                with open(_path(), "rb") as fh:
                    record = marshal.load(fh)
                if (record["key"] == _key() and all(_mtime(f) == t for f, t in record["files"])
                        and _paths_unchanged(record["paths"], set(record["packages"]))):
                    _record = record
            except Exception:  # noqa: BLE001 - a missing, foreign or damaged cache only costs a discovery
                pass
    return _record


def forget() -> None:
    """Read the record again on next use (tests, or after installing a plugin in this process)."""
    global _record_read, _record
    _record_read, _record = False, None


def plugin_options():
    """The plugins' options as the last discovery found them, or None if that may be out of date."""
    record = _valid_record()
    if record is None:
        return None
    try:
        from .core.options import Option
        return [Option(*fields) for fields in record["options"]]
    except Exception:  # noqa: BLE001
        return None


def plugin_modules():
    """([(entry-point name, module name)], [blocked names]) of the last discovery, or None."""
    record = _valid_record()
    if record is None:
        return None
    return [tuple(p) for p in record["plugins"]], list(record["blocked"])


def remember(options, plugins, blocked=()) -> None:
    """Record a discovery without failures: the plugins' ``options``, the ``plugins`` found as
    (entry-point name, module name) and the ``blocked`` entry-point names."""
    plugins, blocked = [tuple(p) for p in plugins], list(blocked)
    record = _valid_record()
    if os.environ.get("CMPKIT_NO_CACHE") or (
            record is not None and plugin_options() == list(options)
            and [tuple(p) for p in record["plugins"]] == plugins and list(record["blocked"]) == blocked):
        return  # off, or already on record: only a change is written
    packages = {module.partition(".")[0] for _name, module in plugins} | {"cmpkit"}
    files = sorted({m.__file__ for name, m in list(sys.modules.items())
                    if name.partition(".")[0] in packages and getattr(m, "__file__", None)})
    try:
        data = marshal.dumps({"key": _key(), "files": [(f, _mtime(f)) for f in files],
                              "packages": sorted(packages),
                              "paths": [(p, _mtime(p), _listing(p, packages)) for p in sys.path],
                              "options": [tuple(o) for o in options], "plugins": plugins,
                              "blocked": blocked})
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
