"""Config files for the command line: which file to read (``-config``, ``$OPENSSL_CONF``, openssl's
default), reading it and its includes, and the environment; the core only parses.

:mod:`cmpkit.core.conf` parses a file's text and :mod:`cmpkit.core.options` turns argv and a
parsed file into a Config; neither opens a file or reads an environment variable. This module
does both for them, with the error messages ``openssl cmp`` users know.
"""
from __future__ import annotations

import os
from typing import TYPE_CHECKING, Iterable, Mapping, Optional

from ..errors import ConfigError

if TYPE_CHECKING:  # pragma: no cover
    from ..core.conf import ConfFile
    from ..core.options import Config, Option


def openssl_default_config() -> Optional[str]:
    """openssl's built-in default config file: OPENSSLDIR/openssl.cnf."""
    import ssl
    cafile = ssl.get_default_verify_paths().openssl_cafile
    return os.path.join(os.path.dirname(cafile), "openssl.cnf") if cafile else None


def find_config_file(given: Optional[str], environ: Mapping[str, str]) -> Optional[str]:
    """The config file to read: ``-config`` (``given``; ``""`` = none), else ``$OPENSSL_CONF``, else
    openssl's default; the last two only if the file exists. None: no config file."""
    if given is not None:
        return given or None
    path = environ.get("OPENSSL_CONF")
    if path is None:
        path = openssl_default_config()
    if path and os.path.exists(path):
        return path
    return None


def read_file(name: str) -> bytes:
    """A config file's bytes (OSError "Is a directory" for a directory, on every platform)."""
    if os.path.isdir(name):
        raise OSError(21, "Is a directory")
    with open(name, "rb") as fh:
        return fh.read()


def include_files(name: str):
    """What ``.include name`` reads: None if nothing is there, else (is a directory, files): the file
    itself, or a directory's ``*.cnf`` and ``*.conf`` files in name order, as OpenSSL does."""
    if not os.path.exists(name):
        return None
    if not os.path.isdir(name):
        return False, [name]
    names = sorted(n for n in os.listdir(name)
                   if (len(n) > 5 and n.lower().endswith(".conf")) or (len(n) > 4 and n.lower().endswith(".cnf")))
    return True, [os.path.join(name, n) for n in names if os.path.isfile(os.path.join(name, n))]


def load_config(path: str, environ: Optional[Mapping[str, str]] = None) -> "ConfFile":
    """Read and parse the config file at ``path`` (and the files it includes).

    :param environ: for ``$ENV::name``, ``[ENV]`` lookups and ``OPENSSL_CONF_INCLUDE``; default ``os.environ``.
    :raises ConfigError: ``cannot load config file '<path>': <reason>`` for a missing,
        unreadable or malformed file (with the line number for syntax errors).
    """
    from ..core.conf import parse_config
    environ = os.environ if environ is None else environ
    try:
        return parse_config(path, read_file(path), read_file, include_files, environ)
    except OSError as exc:
        raise ConfigError(f"cannot load config file '{path}': {exc.strerror or exc}") from None


def _load(path: str, environ: Mapping[str, str]):
    return load_config(path, environ)  # (tests put a stand-in here)


def open_config(given: Optional[str], environ: Optional[Mapping[str, str]] = None):
    """The config file of a run (see :func:`find_config_file`), read and parsed, or None.

    :param given: the ``-config`` value (``""``: none), or None when ``-config`` is not given.
    :param environ: the environment (default ``os.environ``).
    """
    environ = os.environ if environ is None else environ
    path = find_config_file(given, environ)
    return None if path is None else _load(path, environ)


def parse_command_line(argv, options: Iterable["Option"], environ: Optional[Mapping[str, str]] = None) -> "Config":
    """:func:`cmpkit.core.options.parse_command_line` with the config file found and read here.

    :param argv: the arguments (without the program name).
    :param options: every option of the run (the core's and the plugins').
    :param environ: the environment for ``OPENSSL_CONF`` and the config file (default ``os.environ``).
    """
    from ..core.options import parse_command_line as parse
    return parse(argv, options, lambda given: open_config(given, environ))
