"""The `cmpkit` command: argv -> Config -> client or mock server -> exit status; nothing else."""
from __future__ import annotations

import os
import sys

TRACE = 5  # -verbosity 8
# openssl's verbosity 0..8 (EMERG..TRACE) on Python logging levels (CRITICAL=50 ... DEBUG=10)
VERBOSITY_LEVELS = {0: 60, 1: 55, 2: 50, 3: 40, 4: 30, 5: 25, 6: 20, 7: 10, 8: TRACE}
_LABELS = {50: "critical", 40: "error", 30: "warning", 20: "info", 10: "debug", TRACE: "trace"}
HELP_ARGS = ([], ["-help"], ["--help"])  # answered from the declarations alone, without plugin discovery


def setup_logging(verbosity: int = 6):
    """The "cmpkit" logger writing openssl-style lines ("CMP info: ...") to stderr at ``verbosity``."""
    import logging

    class _Formatter(logging.Formatter):
        def format(self, record):
            label = _LABELS.get(record.levelno) or ("note" if record.levelno < logging.WARNING else "alert")
            return f"CMP {label}: {record.getMessage()}"

    # our lines show none of these, so records need not collect them (the logging HOWTO's
    # "Optimization" knobs): no caller lookup, thread, process or task names
    logging._srcfile = None
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    logging.logAsyncioTasks = False
    log = logging.getLogger("cmpkit")  # the components' loggers (cmpkit.client, ...) propagate to it
    if not any(getattr(h, "cmpkit_cli", False) for h in log.handlers):  # a library's NullHandler is no output
        handler = logging.StreamHandler(sys.stderr)
        handler.cmpkit_cli = True
        handler.setFormatter(_Formatter())
        log.addHandler(handler)
        log.propagate = False
    log.setLevel(VERBOSITY_LEVELS.get(verbosity, logging.INFO))
    return log


def all_options():
    """Core declarations plus what every plugin contributes through cmpkit_options (a plugin discovery)."""
    from . import plugin_cache
    from .core.optdecl import OPTIONS
    from .plugins import blocked_plugins, discovered, get_manager, load_failures
    pm = get_manager()
    contributed = [o for declared in pm.hook.cmpkit_options() for o in declared or ()]
    if not load_failures and len(discovered) == len(pm.get_plugins()):  # nothing registered by hand
        plugin_cache.remember(contributed, discovered, blocked_plugins)
    return list(OPTIONS) + contributed


def _help_without_discovery() -> bool:
    """`cmpkit`, `cmpkit -help`: print the help from the cached plugin options, if they are up to date."""
    from . import plugin_cache
    contributed = plugin_cache.plugin_options()
    if contributed is None:
        return False
    from .core.optdecl import GROUPS, OPTIONS
    from .core.options import format_help
    sys.stdout.write(format_help(list(OPTIONS) + contributed, GROUPS))
    return True


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv in HELP_ARGS and _help_without_discovery():
        return 1 if not argv else 0
    if argv in (["-version"], ["--version"]):
        sys.stdout.write(version_text())
        return 0
    log = setup_logging()
    _exit_cleanly_on_sigterm()
    from .errors import CmpError
    try:
        from .app.config_files import parse_command_line
        from .core.optdecl import GROUPS
        from .core.options import UnknownOptionError, format_help
        from .plugins import load_failures
        options = all_options()
        for name, reason in load_failures:
            log.warning("plugin '%s' not loaded: %s", name, reason)
        if not argv:
            sys.stdout.write(format_help(options, GROUPS))
            return 1
        _early_verbosity(argv)  # openssl applies -verbosity before reading the config file
        try:
            cfg = parse_command_line(argv, options)
        except UnknownOptionError as exc:
            raise _unknown_option(exc) from None
        if cfg.get("help"):
            sys.stdout.write(format_help(options, GROUPS))
            return 0
        if cfg.get("version"):
            sys.stdout.write(version_text())
            return 0
        if cfg.get("verbosity") is not None:
            setup_logging(cfg.get("verbosity"))
        from .app import run
        return run.run(cfg)
    except CmpError as exc:
        log.error("%s", " | ".join(line.strip() for line in str(exc).splitlines() if line.strip()))
        return 1  # one line even when a peer's text (e.g. errorDetails) spans several
    except KeyboardInterrupt:
        log.error("interrupted")
        return 1
    except Exception as exc:  # noqa: BLE001 - never a traceback for the user
        if os.environ.get("CMPKIT_DEBUG"):
            raise
        log.error("internal error: %s: %s (set CMPKIT_DEBUG=1 for details)", type(exc).__name__,
                  str(exc).splitlines()[0] if str(exc) else "")
        return 1


def version_text() -> str:
    """``cmpkit -version``: cmpkit's version and those of what does its cryptography."""
    import platform
    from importlib.metadata import PackageNotFoundError, version

    from . import __version__
    try:
        crypto = version("cryptography")
        from cryptography.hazmat.backends.openssl.backend import backend
        crypto += f" ({backend.openssl_version_text()})"
    except (PackageNotFoundError, ImportError):
        crypto = "not installed"
    return f"cmpkit {__version__} (Python {platform.python_version()}, cryptography {crypto})\n"


def _exit_cleanly_on_sigterm() -> None:
    """SIGTERM unwinds like Ctrl-C: outputs being written lose their temporary files, the PKCS#11
    sessions and connections close, and the status is 128 + 15 as for a killed process."""
    import signal

    def terminate(signum, _frame):
        raise SystemExit(128 + signum)
    try:
        signal.signal(signal.SIGTERM, terminate)
    except ValueError:  # not the main thread (cmpkit.cli.main called from a library's thread)
        pass


def _unknown_option(exc):
    """The unknown-option error, naming the plugins that are not loaded (their options are missing)."""
    from .errors import ConfigError
    from .plugins import blocked_plugins, load_failures
    missing = [f"'{name}' (blocked by CMPKIT_BLOCK_PLUGINS)" for name in blocked_plugins]
    missing += [f"'{name}' (failed to load)" for name, _ in load_failures]
    if not missing:
        return exc
    return ConfigError(f"{exc}; it may be an option of a plugin that is not loaded: {', '.join(missing)}")


def _early_verbosity(argv) -> None:
    for i, arg in enumerate(argv[:-1]):
        if arg.lstrip("-") == "verbosity" and arg.startswith("-") and argv[i + 1].isdigit():
            setup_logging(int(argv[i + 1]))


def console() -> None:
    """The ``cmpkit`` command and ``python -m cmpkit``: :func:`main` as a process of its own.

    Two settings for a short-lived process (issue 17; measured by bench/oneshot.py): the cyclic
    garbage collector runs every 50,000 container allocations instead of 700 (a cold start
    allocates hundreds of thousands while importing, none of which are garbage; a long-running
    ``-port`` server still collects), and the exit skips the interpreter's teardown of every
    module and object (several milliseconds), as mypy does: the exit functions run
    (``logging.shutdown``, plugins' own), the standard streams are flushed, then ``os._exit``.
    A library calling :func:`main` gets neither. With a thread other than daemons still running,
    a profiler or tracer active (``python -m cProfile -m cmpkit``), or an exit by exception
    (SIGTERM, Ctrl-C), the interpreter exits as usual.
    """
    import gc
    gc.set_threshold(50_000, *gc.get_threshold()[1:])
    code = main()
    _fast_exit(code)


def _fast_exit(code: int) -> None:
    import atexit
    import threading

    run_exit_functions = getattr(atexit, "_run_exitfuncs", None)  # CPython's; elsewhere the usual exit
    if (not isinstance(code, int) or run_exit_functions is None or sys.getprofile() is not None
            or sys.gettrace() is not None  # a profiler or debugger (python -m cProfile ...) reports after the run
            or any(not t.daemon for t in threading.enumerate() if t is not threading.main_thread())):
        sys.exit(code)
    run_exit_functions()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):  # a closed pipe or stream: the usual exit reports it
        sys.exit(code)
    os._exit(code)


if __name__ == "__main__":  # pragma: no cover
    console()
