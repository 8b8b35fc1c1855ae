"""Pass phrase sources as openssl-passphrase-options(1) defines them: pass:, env:, file:, fd:, stdin.

Behaviour follows OpenSSL's apps (``app_passwd``/``get_passwd`` in apps/lib/apps.c):

- ``pass:TEXT`` is TEXT itself; ``env:VAR`` the value of VAR;
- ``file:PATH``, ``fd:N`` and ``stdin`` give their first line: reading stops at the first
  newline (only ``\\n`` is removed, a ``\\r`` before it stays), at most 1023 bytes are taken
  and the value ends at a NUL byte, as OpenSSL's C string does;
- an argument with none of these prefixes is, as ``openssl cmp`` does it, taken literally
  with a warning ("better precede with 'pass:'"); ``strict=True`` makes that an error;
- :func:`read_pass_pair` gives two options their pass phrases the way ``app_passwd`` does:
  when both name the same ``file:``, ``fd:`` or ``stdin`` source, the first option gets its
  first line and the second one the next line;
- no source (None) prompts on the terminal unless in batch mode, where the answer is None.

Errors are ConfigError naming the option (``what``) and the source's kind, never the secret.
"""
from __future__ import annotations

import logging
import os
import sys
from typing import Optional

from ..errors import ConfigError

log = logging.getLogger("cmpkit.credentials")

MAX_PASS_LEN = 1023  # OpenSSL reads a line into a 1024-byte buffer (APP_PASS_LEN)


def _first_line(raw: bytes) -> bytes:
    """The pass phrase within one line read from a source, cut as OpenSSL cuts it."""
    raw = raw.split(b"\n", 1)[0]
    return raw.split(b"\0", 1)[0]


class _LineReader:
    """Reads successive lines from one file:, fd: or stdin source, opened once."""

    def __init__(self, arg: str, what: str):
        self.arg = arg
        self.what = what
        self._close = None
        if arg.startswith("file:"):
            path = arg[5:]
            try:
                fh = open(path, "rb")
            except OSError as exc:
                raise ConfigError(f"cannot open pass phrase file '{path}' for {what}: "
                                  f"{exc.strerror or exc}") from None
            self._readline = fh.readline
            self._close = fh.close
        elif arg.startswith("fd:"):
            text = arg[3:]
            if not text.isdigit():
                raise ConfigError(f"invalid file descriptor in pass phrase source 'fd:' for {what}")
            fd = int(text)
            try:
                os.fstat(fd)
            except OSError as exc:
                raise ConfigError(f"cannot access file descriptor {fd} for the pass phrase for {what}: "
                                  f"{exc.strerror or exc}") from None
            self._readline = lambda limit: _read_fd_line(fd, limit)
        else:  # stdin
            stream = getattr(sys.stdin, "buffer", None)
            if stream is None:
                raise ConfigError(f"cannot read the pass phrase for {what} from stdin: no stdin")
            self._readline = stream.readline

    def line(self, what: str) -> bytes:
        try:
            raw = self._readline(MAX_PASS_LEN)
        except OSError as exc:
            raise ConfigError(f"cannot read the pass phrase for {what} from {self.kind()}: "
                              f"{exc.strerror or exc}") from None
        if not raw:
            raise ConfigError(f"cannot read the pass phrase for {what}: no (further) line in {self.kind()}")
        return _first_line(raw)

    def kind(self) -> str:
        if self.arg.startswith("file:"):
            return f"file '{self.arg[5:]}'"
        if self.arg.startswith("fd:"):
            return f"file descriptor {self.arg[3:]}"
        return "stdin"

    def close(self) -> None:
        if self._close is not None:
            self._close()


def _read_fd_line(fd: int, limit: int) -> bytes:
    """One line from a file descriptor, read byte by byte so nothing after it is consumed."""
    out = bytearray()
    while len(out) < limit:
        b = os.read(fd, 1)
        if not b:
            break
        out += b
        if b == b"\n":
            break
    return bytes(out)


def _kind(arg: str) -> Optional[str]:
    """The source type of ``arg`` ("pass", "env", "file", "fd", "stdin") or None if it has none."""
    if arg == "stdin":
        return "stdin"
    for prefix in ("pass:", "env:", "file:", "fd:"):
        if arg.startswith(prefix):
            return prefix[:-1]
    return None


def _unknown_source(arg: str, what: str, strict: bool) -> bytes:
    if strict:
        raise ConfigError(f"invalid pass phrase source for {what}: expected pass:, env:, file:, fd: or stdin")
    log.warning("pass phrase argument for %s has no source type (pass:, env:, file:, fd:, stdin); "
                "using it literally (better precede it with 'pass:')", what)
    return os.fsencode(arg)


def _prompt(what: str, batch: bool) -> Optional[bytes]:
    if batch:
        return None
    import getpass
    try:
        answer = getpass.getpass(f"Enter pass phrase for {what}:")
    except EOFError:
        raise ConfigError(f"no pass phrase entered for {what}") from None
    return os.fsencode(answer)


def _simple(arg: str, what: str) -> bytes:
    """pass: and env: sources."""
    if arg.startswith("pass:"):
        return os.fsencode(arg[5:])
    name = arg[4:]
    value = os.environb.get(os.fsencode(name)) if name else None
    if value is None:
        raise ConfigError(f"environment variable '{name}' for the pass phrase for {what} is not set")
    return value


def read_pass(arg: Optional[str], what: str, batch: bool, *, strict: bool = False) -> Optional[bytes]:
    """The pass phrase that ``arg`` designates, for the option or object described by ``what``.

    :param arg: ``pass:...``, ``env:VAR``, ``file:path``, ``fd:N``, ``stdin``, or None to prompt.
    :param what: names the option in prompts and messages, e.g. "-keypass" or "private key for -key".
    :param batch: never prompt; with ``arg`` None the result is then None.
    :param strict: reject an argument without a source type instead of using it literally.
    :raises ConfigError: the source cannot be read (message names ``what``, never the secret).
    """
    if arg is None:
        return _prompt(what, batch)
    kind = _kind(arg)
    if kind is None:
        return _unknown_source(arg, what, strict)
    if kind in ("pass", "env"):
        return _simple(arg, what)
    reader = _LineReader(arg, what)
    try:
        return reader.line(what)
    finally:
        reader.close()


def read_pass_pair(arg1: Optional[str], arg2: Optional[str], what1: str, what2: str, batch: bool,
                   *, strict: bool = False) -> tuple[Optional[bytes], Optional[bytes]]:
    """Pass phrases for two options at once (e.g. in and out), as OpenSSL's ``app_passwd``.

    When ``arg1 == arg2`` names a file:, fd: or stdin source, the first line is the first
    pass phrase and the second line the second one; otherwise this is two :func:`read_pass` calls.
    """
    same = arg1 is not None and arg1 == arg2 and _kind(arg1) in ("file", "fd", "stdin")
    if not same:
        return (read_pass(arg1, what1, batch, strict=strict), read_pass(arg2, what2, batch, strict=strict))
    reader = _LineReader(arg1, what1)
    try:
        return reader.line(what1), reader.line(what2)
    finally:
        reader.close()
