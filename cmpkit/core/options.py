"""Turns argv and an OpenSSL-style config file into one typed, immutable Config, as `openssl cmp` does.

Each option is declared once as an :class:`Option` (core ones in :mod:`cmpkit.core.optdecl`,
plugin ones through the ``cmpkit_options`` hook); the command-line parser, the config-file
reader and ``-help`` (:func:`format_help`) are all driven by those declarations, which the
caller gathers and passes in (this module knows none of them). It reads no file and no
environment variable: the caller passes a function that opens the config file
(:mod:`cmpkit.app.config_files` for the command line).

Order of :func:`parse_command_line`, following apps/cmp.c (main, read_config, get_opts):

1. argv is split into options; unknown options, missing values, bad numbers and stray
   arguments are errors. ``-name=value``, ``--name`` and a final ``--`` work as in openssl.
2. The config file is ``-config``, else ``$OPENSSL_CONF``, else openssl's default
   ``openssl.cnf`` (the last two only if the file exists); ``-config ""`` means none.
   The caller's ``open_config`` function finds and reads it.
3. ``-section`` names (commas and/or whitespace; default ``cmp``; ``""`` = ``default``) must
   exist, except that a missing ``[cmp]`` is only reported. Each option is looked up in
   the sections from last to first, each lookup falling back to ``[default]``.
   Config values: flags and numbers as base-10 integers (flag 0 = off), an empty or
   non-numeric number as not given; an empty string resets the option.
4. Command-line values override config values; a later occurrence overrides an earlier one;
   ``-opt ""`` resets a string option (with a warning, as openssl).
"""
from __future__ import annotations

import re
from collections import namedtuple
from types import MappingProxyType

from ..errors import ConfigError, PluginError

TYPE_CHECKING = False  # `cmpkit -help` imports this module: no typing, logging or dataclasses at start
if TYPE_CHECKING:
    from typing import Any, Callable, Iterable, Mapping, Optional, Sequence


class _Log:
    """logging.getLogger("cmpkit.config"), imported on the first message."""

    def __getattr__(self, name):
        import logging
        return getattr(logging.getLogger("cmpkit.config"), name)


log = _Log()

KINDS = ("flag", "str", "int", "choice")
INT_MIN, INT_MAX = -2 ** 31, 2 ** 31 - 1  # C int, as openssl's opt_int
CMP_SECTION = "cmp"
DEFAULT_SECTION = "default"
EXTENSION_GROUP = "cmpkit extension options"
HELP_WIDTH = 100


class UnknownOptionError(ConfigError):
    """A command-line option that no declaration knows (``name`` without the dash)."""

    def __init__(self, name: str):
        super().__init__(f"unknown option '-{name}' (see -help)")
        self.name = name


_OPTION_FIELDS = ("name", "kind", "help", "group", "metavar", "default", "choices", "minimum", "maximum",
                  "no_effect", "extension", "repeatable", "order")


class Option(namedtuple("Option", _OPTION_FIELDS)):
    """One option, declared once (an immutable record; a named tuple so that module import stays cheap).

    :param name: option name without the leading dash, e.g. ``"keep_alive"``.
    :param kind: ``"flag"`` (no value; bool), ``"str"``, ``"int"`` (base-10 integer within
        ``minimum``..``maximum``, by default a C int) or ``"choice"`` (one of ``choices``;
        all-uppercase choices such as PEM|DER also match in lower case).
    :param help: one line for ``-help``.
    :param group: the man page's option group, e.g. ``"Message transfer options"``.
    :param metavar: the value's name in ``-help``, e.g. ``"filename|uri"``.
    :param default: what :meth:`Config.get` returns when the option is not given.
    :param choices: allowed values of a ``choice`` (or, optionally, of an ``int``) option.
    :param no_effect: accepted for compatibility but has no effect.
    :param extension: a cmpkit option that ``openssl cmp`` does not have.
    :param repeatable: each command-line occurrence adds a value (``-provider a -provider b``);
        :meth:`Config.get_list` gives them all.
    :param order: the option's position (1 = first) in the SYNOPSIS of the openssl-cmp man page,
        for an ``openssl cmp`` option whoever declares it (the core or a plugin). ``-help`` lists
        the options of a group by it, then those without one, in declaration order, marked as
        cmpkit extensions. Options new in the 3.2-3.4 man page (not in the 3.1 page the integer
        positions count) take a fraction between their 3.1 neighbours, e.g. 43.1 after 43.
    """

    __slots__ = ()

    def __new__(cls, name: str, kind: str, help: str = "", group: str = EXTENSION_GROUP, metavar: str = "",
                default: Any = None, choices: tuple = (), minimum: Optional[int] = None,
                maximum: Optional[int] = None, no_effect: bool = False, extension: bool = False,
                repeatable: bool = False, order: Optional[int] = None):
        if not name or name.startswith("-") or any(c.isspace() or c == "=" for c in name):
            raise ValueError(f"invalid option name {name!r}")
        if kind not in KINDS:
            raise ValueError(f"option -{name}: unknown kind {kind!r} (one of {', '.join(KINDS)})")
        choices = tuple(choices)
        if kind == "choice" and not choices:
            raise ValueError(f"option -{name}: a choice option needs choices")
        if order is not None and (extension or type(order) not in (int, float) or order < 1):
            raise ValueError(f"option -{name}: order must be a man-page position (1, 2, ...) of an openssl option")
        return super().__new__(cls, name, kind, help, group, metavar, default, choices, minimum, maximum,
                               no_effect, extension, repeatable, order)

    @property
    def takes_value(self) -> bool:
        return self.kind != "flag"

    @property
    def low(self) -> int:
        return INT_MIN if self.minimum is None else self.minimum

    @property
    def high(self) -> int:
        return INT_MAX if self.maximum is None else self.maximum


_UNSET = object()


class Config:
    """The run's options: typed, immutable, with the declared defaults.

    ``get(name)`` gives a bool for flags, an int for numbers and a str otherwise, or the
    declared default (flags: False), or None; an undeclared name raises KeyError.
    """

    __slots__ = ("_options", "_values", "_sources", "_config_path", "_sections", "_conf")

    def __init__(self, options: Iterable[Option], values: Mapping[str, Any],
                 config_path: Optional[str] = None, sections: Sequence[str] = (),
                 sources: Optional[Mapping[str, str]] = None, conf=None):
        opts = {o.name: o for o in options}
        unknown = [n for n in values if n not in opts]
        if unknown:
            raise KeyError(f"unknown option name(s): {', '.join(sorted(unknown))}")
        sset = object.__setattr__
        sset(self, "_options", MappingProxyType(opts))
        sset(self, "_values", MappingProxyType({k: v for k, v in values.items() if v is not None}))
        sset(self, "_sources", MappingProxyType(dict(sources or {})))
        sset(self, "_config_path", config_path)
        sset(self, "_sections", tuple(sections))
        sset(self, "_conf", conf)

    @classmethod
    def from_values(cls, options: Iterable[Option], values: Optional[Mapping[str, Any]] = None,
                    **kw) -> "Config":
        """A Config with the given (already typed) values, e.g. for tests:
        ``Config.from_values(options, cmd="ir")``.

        :param options: the declarations (e.g. the core's and the plugins'); an option declared
            twice must be declared alike.
        """
        merged = dict(values or {}, **kw)
        return cls(_merge_options(options), merged, sources={k: "given" for k in merged})

    def __setattr__(self, name, value):
        raise AttributeError("Config is immutable")

    __delattr__ = __setattr__

    def option(self, name: str) -> Option:
        """The declaration of ``name``; KeyError if there is none."""
        try:
            return self._options[name]
        except KeyError:
            raise KeyError(f"unknown option name '{name}'") from None

    def get(self, name: str) -> Any:
        opt = self.option(name)
        value = self._values.get(name, _UNSET)
        if value is not _UNSET:
            return value
        if opt.default is not None:
            return opt.default
        return False if opt.kind == "flag" else None

    def get_list(self, name: str) -> list:
        """The value split on commas and/or whitespace; [] when unset."""
        value = self.get(name)
        if value is None or value is False:
            return []
        return [item for item in re.split(r"[,\s]+", str(value)) if item]

    def is_set(self, name: str) -> bool:
        """True if the config file or the command line gave a value (a flag: turned it on)."""
        self.option(name)
        value = self._values.get(name)
        return value is not None and value is not False

    @property
    def conf(self):
        """The config file read for this run (its sections serve -reqexts, -policies ...), or None."""
        return self._conf

    def source(self, name: str) -> Optional[str]:
        """Where the value came from ("command line", "config file 'x' [sec]"), None if not given."""
        self.option(name)
        return self._sources.get(name) if name in self._values else None

    @property
    def config_path(self) -> Optional[str]:
        """The config file that was read, or None."""
        return self._config_path

    @property
    def sections(self) -> list:
        """The config sections that were read, in the order given."""
        return list(self._sections)

    @property
    def options(self) -> Mapping[str, Option]:
        """All declared options by name (read-only)."""
        return self._options

    def __contains__(self, name) -> bool:
        return name in self._options

    def __repr__(self) -> str:  # names only: values may be secrets
        return f"Config(set={sorted(self._values)}, config_path={self._config_path!r})"


# ------------------------------------------------------------------ value conversion

# compiled on first use (re caches them): a run without numeric options compiles neither (issue 17)
_DECIMAL = r"[ \t\n\v\f\r]*[+-]?[0-9]+"  # as strtol reads it, nothing left over
_STRTOL = r"[ \t\n\v\f\r]*([+-]?[0-9]+)"  # strtol(..., 10), whole string


def _range_text(opt: Option) -> str:
    if opt.choices:
        return ", ".join(str(c) for c in opt.choices)
    return f"{opt.low} .. {opt.high}"


def _check_int(opt: Option, number: int, text: str, where: str) -> int:
    """Range checks with openssl's wording for 'N' (minimum 0) and 'p' (minimum 1) options."""
    if number < opt.low and opt.minimum == 0:
        raise ConfigError(f'Negative number "{text}" for option -{opt.name}{where}')
    if number < opt.low and opt.minimum == 1:
        raise ConfigError(f'Non-positive number "{text}" for option -{opt.name}{where}')
    if opt.maximum is None and not INT_MIN <= number <= INT_MAX:
        raise ConfigError(f'Value "{text}" outside integer range for option -{opt.name}{where}')
    if not opt.low <= number <= opt.high or (opt.choices and number not in opt.choices):
        raise ConfigError(f'Value "{text}" out of range for option -{opt.name}{where}: '
                          f"must be {_range_text(opt)}")
    return number


def _check_choice(opt: Option, text: str, where: str) -> str:
    if text in opt.choices:
        return text
    if all(c.isupper() for c in opt.choices):  # format names, which openssl takes in any case
        for choice in opt.choices:
            if text.upper() == choice:
                return choice
    raise ConfigError(f"Invalid value \"{text}\" for option -{opt.name}{where}: must be one of "
                      f"{', '.join(opt.choices)}")


def convert_arg(opt: Option, text: str) -> Any:
    """A command-line argument as the option's type; None for an empty string (reset).

    Numbers are strict: optional sign and decimal digits only (openssl's opt_int would
    read a leading 0 as octal and 0x as hexadecimal; both are refused rather than guessed).
    """
    if opt.kind == "int":
        if not re.fullmatch(_DECIMAL, text):
            if text.lstrip().lstrip("+-")[:2].lower() == "0x":
                raise ConfigError(f'Invalid number "{text}" for option -{opt.name}: '
                                  "only decimal digits are accepted")
            raise ConfigError(f"Non-numeric value \"{text}\" for option -{opt.name}")
        digits = text.lstrip().lstrip("+-")
        if len(digits) > 1 and digits.startswith("0"):
            raise ConfigError(f'Invalid number "{text}" for option -{opt.name}: a leading zero '
                              "(octal for openssl) is not accepted")
        return _check_int(opt, int(text), text, "")
    if opt.name in ("config", "section"):  # "" is meaningful here: no file, [default]
        return text
    if text == "":
        log.warning("-%s option argument is empty string, resetting option", opt.name)
        return None
    if text.startswith("-"):
        log.warning("-%s option argument starts with hyphen", opt.name)
    if opt.kind == "choice":
        return _check_choice(opt, text, "")
    return text


def convert_conf(opt: Option, text: str, where: str) -> Any:
    """A config-file value as the option's type, as apps/cmp.c read_config does.

    Returns _UNSET when the value counts as not given (empty or non-numeric number),
    None when an empty string resets a string option.
    """
    if opt.kind in ("flag", "int"):
        match = re.fullmatch(_STRTOL, text)
        if not match:
            if text.strip():
                log.warning("ignoring non-numeric value \"%s\" for option -%s%s", text, opt.name, where)
            return _UNSET
        number = int(match.group(1))
        if opt.kind == "flag":
            if not INT_MIN <= number <= INT_MAX:
                raise ConfigError(f'Value "{text}" outside integer range for option -{opt.name}{where}')
            return number != 0
        return _check_int(opt, number, match.group(1), where)
    if text == "":
        return None
    if opt.kind == "choice":
        return _check_choice(opt, text, where)
    return text


# ------------------------------------------------------------------ parsing

def _merge_options(options: Iterable[Option]) -> list:
    """The declarations without repeats; PluginError for a name declared twice, differently."""
    out, seen = [], {}
    for opt in options:
        if opt.name in seen:
            if seen[opt.name] == opt:
                continue
            raise PluginError(f"option -{opt.name} is declared twice, differently")
        seen[opt.name] = opt
        out.append(opt)
    return out


def _split_argv(argv: Sequence[str], by_name: Mapping[str, Option]) -> list:
    """[(Option, converted value), ...] in argv order, as openssl's opt_next reads them."""
    out = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        i += 1
        if arg == "--":
            if i < len(argv):
                raise ConfigError(f"unexpected argument '{argv[i]}' after '--'")
            break
        if not arg.startswith("-") or arg == "-":
            raise ConfigError(f"unexpected argument '{arg}': options start with '-' (see -help)")
        name = arg[2:] if arg.startswith("--") else arg[1:]
        name, eq, inline = name.partition("=")
        opt = by_name.get(name)
        if opt is None:
            raise UnknownOptionError(name)
        if not opt.takes_value:
            if eq:
                raise ConfigError(f"option -{name} does not take a value")
            out.append((opt, True))
            continue
        if eq:
            text = inline
        elif i < len(argv):
            text = argv[i]
            i += 1
        else:
            raise ConfigError(f"option -{name} needs a value")
        out.append((opt, convert_arg(opt, text)))
    return out


def split_sections(text: str) -> list:
    """Section names separated by commas and/or whitespace; "" means [default]."""
    names = text.replace(",", " ").split()  # str.split's whitespace is re's \s: no regex (issue 17)
    return names or [DEFAULT_SECTION]


def _read_config(conf, path: str, section_text: str, sections: list, options: Iterable[Option]) -> tuple:
    """Option values (and where each came from) from the config file's sections."""
    log.info("using section(s) '%s' of OpenSSL configuration file '%s'", section_text, path)
    if section_text == CMP_SECTION:
        if not conf.has_section(CMP_SECTION):
            log.info("no [%s] section found in config file '%s'; will thus use just [default] "
                     "and unnamed section if present", CMP_SECTION, path)
    else:
        for name in reversed(sections):
            if name != DEFAULT_SECTION and not conf.has_section(name):
                raise ConfigError(f"no [{name}] section found in config file '{path}'")
    get_exact = getattr(conf, "get_exact", None)
    values, sources = {}, {}
    for opt in options:
        if opt.name in ("help", "config", "section"):
            continue
        for name in reversed(sections):  # later sections override earlier ones
            text = conf.get(name, opt.name)
            if text is None:
                continue
            origin = name
            if get_exact is not None and get_exact(name, opt.name) is None:
                origin = DEFAULT_SECTION
            value = convert_conf(opt, text, f" in config file '{path}' section [{origin}]")
            if value is not _UNSET:
                values[opt.name] = value
                sources[opt.name] = f"config file '{path}' [{origin}]"
            break
    return values, sources


def parse_command_line(argv: Sequence[str], options: Iterable[Option],
                       open_config: Optional[Callable[[Optional[str]], Any]] = None) -> Config:
    """The run's Config from argv (without the program name), the config file and the defaults.

    :param argv: the command-line arguments.
    :param options: every option of the run: the core's declarations and those the plugins
        contribute (``cmpkit_options``); an option declared twice must be declared alike.
    :param open_config: ``open_config(given)`` finds and reads the config file, where ``given``
        is the ``-config`` value (``""``: none) or None without ``-config``; it returns the
        file (``path``, ``has_section``, ``get``, ``get_exact``, as
        :class:`cmpkit.core.conf.ConfFile`) or None when there is none to read. Not called
        for ``-help``. Without it no config file is read.
    :raises ConfigError: one line naming the option, value, file or section at fault.
    """
    options = _merge_options(options)
    by_name = {o.name: o for o in options}
    given = _split_argv(list(argv), by_name)

    config_arg, section_text = None, CMP_SECTION
    for opt, value in given:
        if opt.name == "config":
            config_arg = "" if value is None else value
        elif opt.name == "section":
            section_text = "" if value is None else value
    sections = split_sections(section_text)
    if not section_text.strip(", \t\n\r\f\v"):
        section_text = DEFAULT_SECTION

    values, sources, conf, path = {}, {}, None, None
    wants_help = any(opt.name == "help" for opt, _ in given)  # -help works even with a broken config
    if not wants_help and open_config is not None:
        conf = open_config(config_arg)
    if conf is not None:
        path = conf.path
        values, sources = _read_config(conf, path, section_text, sections, options)
    repeated = set()
    for opt, value in given:
        if opt.repeatable and value is not None and opt.name in repeated:
            value = f"{values[opt.name]},{value}"  # the first occurrence replaces the config file's
        repeated.add(opt.name)
        values[opt.name] = value
        sources[opt.name] = "command line"
    if "section" in values:
        values["section"] = section_text
    return Config(options, values, config_path=path, sections=sections if path else [], sources=sources, conf=conf)


# ------------------------------------------------------------------ -help

def _help_key(opt: Option) -> tuple:
    return (opt.order is None, opt.order or 0)


def format_help(options: Iterable[Option], groups: Sequence[str] = (), prog: str = "cmpkit") -> str:
    """The -help text: usage line, then the options by group, extensions marked.

    :param options: the options to list (the core's and the plugins').
    :param groups: the group order (the man page's); other groups follow in order of appearance.
    :param prog: the command name for the usage line.
    :return: the text, ending with an empty line.

    Within a group, ``openssl cmp``'s options come in man-page order (:attr:`Option.order`),
    then the others (``(cmpkit extension)``) in the order given.
    """
    import textwrap

    by_group: dict = {g: [] for g in groups}
    for opt in options:
        by_group.setdefault(opt.group or EXTENSION_GROUP, []).append(opt)
    lines = [f"Usage: {prog} [options]", ""]
    for group, opts in by_group.items():
        if not opts:
            continue
        lines.append(f"{group}:")
        for opt in sorted(opts, key=_help_key):
            left = f" -{opt.name}" + (f" {opt.metavar or 'val'}" if opt.takes_value else "")
            text = opt.help
            if opt.extension or opt.order is None:
                text += " (cmpkit extension)"
            wrapped = textwrap.wrap(text, HELP_WIDTH - 30) or [""]
            if len(left) > 28:
                lines.append(left)
            else:
                lines.append(f"{left:<30}{wrapped.pop(0)}")
            lines.extend(" " * 30 + part for part in wrapped)
        lines.append("")
    return "\n".join(lines)
