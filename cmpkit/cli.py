"""The `cmpkit` command: argv -> Config -> client or mock server -> exit status; nothing else."""
from __future__ import annotations

import logging
import os
import sys

TRACE = 5  # -verbosity 8
# openssl's verbosity 0..8 (EMERG..TRACE) on Python logging levels
VERBOSITY_LEVELS = {0: logging.CRITICAL + 10, 1: logging.CRITICAL + 5, 2: logging.CRITICAL,
                    3: logging.ERROR, 4: logging.WARNING, 5: logging.INFO + 5, 6: logging.INFO,
                    7: logging.DEBUG, 8: TRACE}
_LABELS = {logging.CRITICAL: "critical", logging.ERROR: "error", logging.WARNING: "warning",
           logging.INFO: "info", logging.DEBUG: "debug", TRACE: "trace"}


class _Formatter(logging.Formatter):
    def format(self, record):
        label = _LABELS.get(record.levelno) or ("note" if record.levelno < logging.WARNING else "alert")
        return f"CMP {label}: {record.getMessage()}"


def setup_logging(verbosity: int = 6) -> logging.Logger:
    log = logging.getLogger("cmpkit")
    if not log.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(_Formatter())
        log.addHandler(handler)
        log.propagate = False
    log.setLevel(VERBOSITY_LEVELS.get(verbosity, logging.INFO))
    return log


def all_options():
    """Core declarations plus what every plugin contributes through cmpkit_options."""
    from .core.optdecl import OPTIONS
    from .plugins import hook
    out = list(OPTIONS)
    for contributed in hook().cmpkit_options():
        out.extend(contributed or ())
    return out


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    log = setup_logging()
    from .errors import CmpError
    try:
        from .core.options import format_help, parse_command_line
        from .plugins import load_failures
        options = all_options()
        for name, reason in load_failures:
            log.warning("plugin '%s' not loaded: %s", name, reason)
        if not argv:
            sys.stdout.write(format_help(options))
            return 1
        _early_verbosity(argv)  # openssl applies -verbosity before reading the config file
        core = [o for o in options if o in _core_set()]
        cfg = parse_command_line(argv, [o for o in options if o not in core])
        if cfg.get("help"):
            sys.stdout.write(format_help(options))
            return 0
        if cfg.get("verbosity") is not None:
            setup_logging(cfg.get("verbosity"))
        from . import session
        session.check_engines_and_providers(cfg)
        session.load_rand_files(cfg)
        try:
            if cfg.get("port") is not None:
                return session.run_server(cfg)
            return session.run_client(cfg)
        finally:
            session.write_rand_file(cfg)  # at the end, whatever the outcome, as openssl does
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


def _early_verbosity(argv) -> None:
    for i, arg in enumerate(argv[:-1]):
        if arg.lstrip("-") == "verbosity" and arg.startswith("-") and argv[i + 1].isdigit():
            setup_logging(int(argv[i + 1]))


def _core_set():
    from .core.optdecl import OPTIONS
    return set(OPTIONS)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
