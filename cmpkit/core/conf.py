"""Reads OpenSSL NCONF config files (openssl.cnf syntax) the way `openssl cmp -config` does.

The rules follow OpenSSL's crypto/conf/conf_def.c (the "default" NCONF method):

* ``[ name ]`` starts a section (whitespace around and inside the brackets allowed); lines
  before the first header belong to the section named ``default``.
* ``name = value``; ``section::name = value`` puts the value into another section.
  Names consist of letters, digits, ``_`` and ``!.%&*+,/;?@^~|-``.
* ``#`` starts a comment unless quoted or escaped; leading and trailing whitespace is
  trimmed; a line ending in a single backslash continues on the next line.
* In values, quotes (``"..."``, ``'...'`` and backquotes) are removed, a backslash quotes the
  next character (``\\n \\r \\b \\t`` outside quotes are control characters), and
  ``$var``, ``${var}``, ``$(var)``, ``$section::var``, ``${section::var}`` are replaced at
  load time by the value defined so far in that section (else in ``default``; section ``ENV``
  also looks at the environment). An undefined variable is an error.
* ``.include path`` (or ``.include = path``) reads another file, or every ``*.cnf`` and
  ``*.conf`` file of a directory; a missing include file is skipped with a warning, as
  OpenSSL does. ``.pragma dollarid:on|off``, ``abspath:on|off`` and ``includedir:dir`` are
  honoured, other pragmas ignored.
* A name defined twice in a section keeps the last value, moved to the position of the last
  definition (OpenSSL replaces the earlier entry).

This module only parses: the caller passes the file's bytes, functions that read included
files and list included directories, and the environment (for ``ENV::`` and
``OPENSSL_CONF_INCLUDE``). The command line's reader, which opens the files, is
:func:`cmpkit.app.config_files.load_config`.
"""
from __future__ import annotations

import logging
import ntpath
import posixpath
import string
import sys
from typing import Callable, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple

from ..errors import ConfigError

# os.path's syntax (join, isabs) for include paths, without os: no file or environment access here
_paths = ntpath if sys.platform == "win32" else posixpath

#: ``read(name)``: the bytes of a file; OSError when it cannot be read (also for a directory).
ReadFile = Callable[[str], bytes]
#: ``include_files(name)``: what ``.include name`` reads: None when nothing exists there, else
#: (is a directory, the files to read: ``[name]``, or the directory's ``*.cnf``/``*.conf`` files
#: in name order); OSError when the directory cannot be listed.
IncludeFiles = Callable[[str], Optional[Tuple[bool, Sequence[str]]]]

log = logging.getLogger("cmpkit.config")

DEFAULT_SECTION = "default"
MAX_VALUE_LENGTH = 65536  # OpenSSL's MAX_CONF_VALUE_LENGTH for expanded values
MAX_INCLUDE_DEPTH = 16

_ALNUM = frozenset(string.ascii_letters + string.digits + "_")
_ALNUM_PUNCT = _ALNUM | frozenset("!.%&*+,/;?@^~|-")
_WS = frozenset(" \t\r\n")
_QUOTES = frozenset("'`\"")


class ConfFile:
    """A loaded config file: sections of (name, value) pairs with NCONF lookup rules."""

    def __init__(self, path: str, sections: Dict[str, Dict[str, str]], environ: Optional[Mapping[str, str]] = None):
        self.path = path
        self._sections = sections
        self._environ = {} if environ is None else environ

    def get(self, section: Optional[str], name: str) -> Optional[str]:
        """The value of ``name`` in ``section``, else in ``[default]`` (as NCONF_get_string);
        for section ``ENV`` the environment is consulted before ``[default]``. None if unset."""
        return _lookup(self._sections, section, name, self._environ)

    def get_exact(self, section: str, name: str) -> Optional[str]:
        """The value of ``name`` in ``section`` itself, without any fallback; None if unset."""
        return self._sections.get(section, {}).get(name)

    def has_section(self, name: str) -> bool:
        """Does the file define section ``name`` (even an empty one)?"""
        return name in self._sections

    def section(self, name: str) -> List[Tuple[str, str]]:
        """The (name, value) pairs of ``section`` in file order; [] if it does not exist."""
        return list(self._sections.get(name, {}).items())

    def sections(self) -> List[str]:
        """All section names in order of first appearance (``default`` first)."""
        return list(self._sections)

    def __repr__(self) -> str:
        return f"ConfFile({self.path!r}, sections={self.sections()!r})"


def _no_include(name: str) -> None:
    return None


def _no_read(name: str) -> bytes:
    raise FileNotFoundError(2, "No such file or directory", name)


def parse_config(path: str, data: bytes, read: ReadFile = _no_read, include_files: IncludeFiles = _no_include,
                 environ: Optional[Mapping[str, str]] = None) -> ConfFile:
    """Parse the config file ``path`` whose content is ``data``.

    :param path: the file's name, for messages and as :attr:`ConfFile.path`.
    :param data: the file's content (UTF-8, else Latin-1; a BOM is skipped).
    :param read: reads an included file (see :data:`ReadFile`); by default none can be read.
    :param include_files: resolves an ``.include`` (see :data:`IncludeFiles`); by default
        nothing is found, so every include is skipped with a warning.
    :param environ: the environment for ``$ENV::name`` and ``OPENSSL_CONF_INCLUDE`` (default: empty).
    :return: the parsed file; it looks up section ``ENV`` in ``environ`` too.
    :raises ConfigError: ``cannot load config file '<path>': <reason>`` for a malformed file
        (with the line number) or an included file that cannot be read.
    :raises OSError: from ``include_files`` (a directory that cannot be listed).
    """
    environ = {} if environ is None else environ
    parser = _Parser(path, read, include_files, environ)
    try:
        parser.run(data)
    except _SyntaxError as exc:
        where = f"line {exc.line}" if exc.file == path else f"line {exc.line} of '{exc.file}'"
        raise ConfigError(f"cannot load config file '{path}': {where}: {exc.reason}") from None
    return ConfFile(path, parser.data, environ)


# ---------------------------------------------------------------- implementation

class _SyntaxError(Exception):
    def __init__(self, reason: str, file: str = "", line: int = 0):
        super().__init__(reason)
        self.reason, self.file, self.line = reason, file, line


def _lookup(data: Dict[str, Dict[str, str]], section: Optional[str], name: str,
            environ: Mapping[str, str]) -> Optional[str]:
    """_CONF_get_string: the section, then (for ENV) the environment, then [default]."""
    if section is not None:
        value = data.get(section, {}).get(name)
        if value is not None:
            return value
        if section == "ENV":
            value = environ.get(name)
            if value is not None:
                return value
    return data.get(DEFAULT_SECTION, {}).get(name)


def _lines(raw: bytes) -> List[str]:
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    return text.split("\n")


class _Parser:
    def __init__(self, path: str, read: ReadFile, include_files: IncludeFiles, environ: Mapping[str, str]):
        self.path = path
        self.read = read
        self.include_files = include_files
        self.environ = environ
        self.data: Dict[str, Dict[str, str]] = {DEFAULT_SECTION: {}}
        self.section = DEFAULT_SECTION
        self.dollarid = False
        self.abspath = False
        self.includedir: Optional[str] = None
        # stack of (file name, physical lines, index of the next line)
        self.stack: List[list] = []

    # -- reading logical lines (continuations joined) across includes
    def _logical_lines(self) -> Iterator[Tuple[str, str, int]]:
        while self.stack:
            frame = self.stack[-1]
            name, lines = frame[0], frame[1]
            if frame[2] >= len(lines):
                self.stack.pop()
                continue
            buf = ""
            while frame[2] < len(lines):
                line = lines[frame[2]].rstrip("\r\n")
                frame[2] += 1
                buf += line
                if buf.endswith("\\") and (len(buf) == 1 or buf[-2] != "\\"):
                    buf = buf[:-1]
                    continue
                break
            if frame[2] == len(lines) and buf == "":
                continue  # the empty piece after the final newline
            yield name, buf, frame[2]

    def run(self, data: bytes) -> None:
        self.stack.append([self.path, _lines(data), 0])
        for name, line, lineno in self._logical_lines():
            try:
                self._line(line)
            except _SyntaxError as exc:
                exc.file, exc.line = name, lineno
                raise

    # -- character scanning helpers (conf_def.c's eat_ws, eat_alpha_numeric, scan_*)
    def _eat_ws(self, s: str, i: int) -> int:
        while i < len(s) and s[i] in _WS:
            i += 1
        return i

    def _eat_name(self, s: str, i: int) -> int:
        while i < len(s):
            c = s[i]
            if c == "\\":
                i += 2 if i + 1 < len(s) else 1
            elif c in _ALNUM_PUNCT or (self.dollarid and c == "$"):
                i += 1
            else:
                break
        return min(i, len(s))

    @staticmethod
    def _scan_quote(s: str, i: int) -> int:
        q = s[i]
        i += 1
        while i < len(s) and s[i] != q:
            if s[i] == "\\":
                i += 1
                if i >= len(s):
                    return i
            i += 1
        return i + 1 if i < len(s) else i

    def _strip_comment(self, s: str) -> str:
        i = 0
        while i < len(s):
            c = s[i]
            if c == "#":
                return s[:i]
            if c in _QUOTES:
                i = self._scan_quote(s, i)
            elif c == "\\":
                i += 2
            else:
                i += 1
        return s

    # -- one logical line
    def _line(self, line: str) -> None:
        s = self._strip_comment(line)
        i = self._eat_ws(s, 0)
        if i >= len(s):
            return
        if s[i] == "[":
            self._section_header(s, i + 1)
            return
        start = i
        end = self._eat_name(s, i)
        psection = self.section
        if s[end:end + 2] == "::":
            psection = s[start:end]
            start = end + 2
            end = self._eat_name(s, start)
        pname = s[start:end]
        p = self._eat_ws(s, end)
        at_eq = p < len(s) and s[p] == "="
        for keyword in (".pragma", ".include"):
            if pname.startswith(keyword) and (p != start + len(keyword) or at_eq):
                arg = s[p + 1:] if at_eq else s[p:]
                arg = arg.strip(" \t\r\n")
                if keyword == ".pragma":
                    self._pragma(arg)
                else:
                    self._include(self._expand(psection, arg))
                return
        if not at_eq:
            raise _SyntaxError(f"missing equal sign (HERE-->{s[p:].strip()})")
        value = self._expand(psection, s[p + 1:].strip(" \t\r\n"))
        values = self.data.setdefault(psection, {})
        values.pop(pname, None)  # OpenSSL replaces an earlier definition
        values[pname] = value

    def _section_header(self, s: str, i: int) -> None:
        start = ss = self._eat_ws(s, i)
        while True:
            end = self._eat_name(s, ss)
            p = self._eat_ws(s, end)
            if p < len(s) and s[p] == "]":
                break
            if p < len(s) and ss != p:
                ss = p
                continue
            raise _SyntaxError("missing close square bracket")
        self.section = self._expand(None, s[start:end])
        self.data.setdefault(self.section, {})

    def _pragma(self, arg: str) -> None:
        key, sep, value = arg.partition(":")
        if not sep or not key or not value:
            raise _SyntaxError(f"invalid pragma '{arg}'")
        key, value = key.strip(" \t\r\n"), value.lstrip(" \t\r\n")
        if key in ("dollarid", "abspath"):
            if value.lower() in ("on", "true"):
                flag = True
            elif value.lower() in ("off", "false"):
                flag = False
            else:
                raise _SyntaxError(f"invalid pragma value '{value}' for {key}")
            setattr(self, key, flag)
        elif key == "includedir":
            self.includedir = value
        # unknown pragmas are ignored, as OpenSSL does

    def _include(self, path: str) -> None:
        include_dir = self.environ.get("OPENSSL_CONF_INCLUDE") or self.includedir
        if include_dir and not _paths.isabs(path):
            path = _paths.join(include_dir, path)
        if self.abspath and not _paths.isabs(path):
            raise _SyntaxError(f"relative include path '{path}' with pragma abspath")
        if len(self.stack) >= MAX_INCLUDE_DEPTH:
            raise _SyntaxError(f"includes nested too deeply at '{path}'")
        found = self.include_files(path)
        if found is None:
            log.warning("config file '%s': cannot include '%s': not found; skipped", self.path, path)
            return
        in_dir, files = found
        for name in reversed(files):  # stack: the first file is read first
            try:
                lines = _lines(self.read(name))
            except OSError as exc:
                if in_dir:  # OpenSSL skips unreadable files of an included directory
                    log.warning("config file '%s': cannot include '%s': %s", self.path, name, exc.strerror)
                    continue
                raise _SyntaxError(f"cannot include '{name}': {exc.strerror or exc}") from None
            self.stack.append([name, lines, 0])

    # -- value copying with quotes, escapes and variables (conf_def.c's str_copy)
    def _expand(self, section: Optional[str], s: str) -> str:
        out: List[str] = []
        length = 0
        i, n = 0, len(s)
        while i < n:
            c = s[i]
            if c in _QUOTES:
                i += 1
                while i < n and s[i] != c:
                    if s[i] == "\\":
                        i += 1
                        if i >= n:
                            break
                    out.append(s[i])
                    i += 1
                i += 1  # the closing quote, if any
            elif c == "\\":
                if i + 1 >= n:
                    break
                v = s[i + 1]
                out.append({"r": "\r", "n": "\n", "b": "\b", "t": "\t"}.get(v, v))
                i += 2
            elif c == "$" and (not self.dollarid or s[i + 1:i + 2] in ("{", "(")):
                i, value = self._variable(section, s, i)
                length += len(value)
                if length + n > MAX_VALUE_LENGTH:
                    raise _SyntaxError("variable expansion too long")
                out.append(value)
            else:
                out.append(c)
                i += 1
        return "".join(out)

    def _variable(self, section: Optional[str], s: str, i: int) -> Tuple[int, str]:
        """Resolve the variable reference at s[i] == '$'; returns (next index, value)."""
        j = i + 1
        close = {"{": "}", "(": ")"}.get(s[j:j + 1])
        if close:
            j += 1

        def eat(k):
            while k < len(s) and (s[k] in _ALNUM or (self.dollarid and s[k] == "$")):
                k += 1
            return k

        e = eat(j)
        sect, name = section, s[j:e]
        if s[e:e + 2] == "::":
            sect = name
            j = e + 2
            e = eat(j)
            name = s[j:e]
        if close:
            if s[e:e + 1] != close:
                raise _SyntaxError(f"no close brace in variable reference '{s[i:e + 1]}'")
            e += 1
        value = _lookup(self.data, sect, name, self.environ)
        if value is None:
            ref = f"{sect}::{name}" if sect != section else name
            raise _SyntaxError(f"variable has no value ('{ref}')")
        return e, value
