"""Option declarations, the command-line parser, config-file sections and -help (cmpkit.core.options)."""
import logging
import re
from pathlib import Path

import pytest

from cmpkit.app import config_files
from cmpkit.core.optdecl import GROUPS
from cmpkit.core.optdecl import OPTIONS as CORE_OPTIONS
from cmpkit.core.options import Config, Option, format_help
from cmpkit.errors import ConfigError, PluginError

from .tools import bundled_options

OPTIONS = bundled_options()  # the core's and the bundled plugins' declarations

SPEC = Path(__file__).resolve().parent / "data" / "spec" / "openssl-cmp-3.1.txt"
# options of later openssl versions than the 3.1 page (their man page is checked in their own tests)
LATER = {"centralkeygen", "newkeyout", "rsp_key", "rsp_keypass"}   # openssl 3.5: test_central_keygen.py
SPEC34 = SPEC.with_name("openssl-cmp-3.4.txt")
NO_CONF = {"OPENSSL_CONF": ""}  # hermetic: never read the system's openssl.cnf


def parse(*argv, extra=(), environ=None, base=None):
    options = list(OPTIONS if base is None else base) + list(extra)
    return config_files.parse_command_line(list(argv), options, environ=NO_CONF if environ is None else environ)


def synopsis_names(spec=SPEC) -> list:
    text = spec.read_text()
    synopsis = text[text.index("SYNOPSIS"):text.index("DESCRIPTION")]
    return re.findall(r"\[-([A-Za-z0-9_-]+)", synopsis)


NEW_IN_34 = set(synopsis_names(SPEC34)) - set(synopsis_names())  # 3.2-3.4 options: fractional orders


# ---------------------------------------------------------------- declarations

def test_every_man_page_option_is_declared_and_in_help():
    names = synopsis_names()
    assert len(names) == len(set(names)) == 132
    declared = {o.name: o for o in OPTIONS}
    assert len(declared) == len(OPTIONS), "an option is declared twice"
    missing = [n for n in names if n not in declared]
    assert not missing
    # the others: options of openssl 3.2-3.4 (test_options_of_34_in_synopsis_order)
    assert set(o.name for o in OPTIONS if not o.extension) <= set(names) | set(synopsis_names(SPEC34)) | LATER
    help_text = format_help(OPTIONS, GROUPS)
    for name in names:
        assert re.search(rf"^ -{re.escape(name)}(\s|$)", help_text, re.M), name


def test_order_is_the_man_page_position():
    # -help lists each group in this order, whether the core or a plugin declares the option
    positions = {name: i for i, name in enumerate(synopsis_names(), 1)}
    assert {o.name: o.order for o in OPTIONS if not o.extension and o.name in positions} == positions
    assert all(o.order is None for o in OPTIONS if o.extension)
    with pytest.raises(ValueError):
        Option("x", "str", order=0)
    with pytest.raises(ValueError):
        Option("x", "str", extension=True, order=3)


def test_options_of_34_in_synopsis_order():
    """Options new in the 3.4 page have an ``order`` between those of the 3.1 options around
    them, so that each -help group lists them in the 3.4 SYNOPSIS order."""
    old = set(synopsis_names())
    new34 = synopsis_names(SPEC34)
    declared = {o.name: o for o in OPTIONS if not o.extension}
    for name in ("profile", "serial", "no_cache_extracerts", "srvcertout", "reqout_only", "ref_cert"):
        assert name in declared and name in new34 and name not in old, name
    for group in GROUPS:
        listed = [n for n in new34 if n in declared and declared[n].group == group and n != "issuer"]
        assert listed == sorted(listed, key=lambda n: declared[n].order), group


def test_options_of_3_4_sit_between_their_man_page_neighbours():
    # an option of the 3.4 page that 3.1 lacks has a fractional order, and sorting each group by
    # order gives the 3.4 SYNOPSIS order (among the options declared so far)
    names34 = synopsis_names(SPEC34)
    declared = {o.name: o for o in OPTIONS if not o.extension}
    new = [n for n in names34 if n in NEW_IN_34 and n in declared]
    assert {"template", "keyspec", "oldwithold", "crlout", "crlform", "rsp_crl", "rsp_oldwithnew"} <= set(new)
    assert all(declared[n].order != int(declared[n].order) for n in new)
    for name in new:  # (3.4 moved -issuer between groups: only the new options' neighbours count)
        in_group = [n for n in names34 if n in declared and declared[n].group == declared[name].group]
        i = in_group.index(name)
        if i > 0:
            assert declared[in_group[i - 1]].order < declared[name].order, name
        if i + 1 < len(in_group):
            assert declared[name].order < declared[in_group[i + 1]].order, name
    help_text = format_help(OPTIONS, GROUPS)
    for name in new:
        assert re.search(rf"^ -{re.escape(name)}(\s|$)", help_text, re.M), name


def test_declarations_are_complete():
    for opt in OPTIONS:
        assert opt.help and "\n" not in opt.help, opt.name
        assert opt.group in GROUPS, opt.name
        assert opt.takes_value == bool(opt.metavar), opt.name
    assert Option("x", "str").group  # plugin options get a group without saying so
    for name in ("issuer_checks", "trusted_first", "no_alt_chains"):
        opt = next(o for o in OPTIONS if o.name == name)
        assert opt.no_effect and "no effect" in opt.help


def test_option_rejects_bad_declarations():
    with pytest.raises(ValueError):
        Option("x", "number")
    with pytest.raises(ValueError):
        Option("-x", "str")
    with pytest.raises(ValueError):
        Option("x", "choice")


def test_help_groups_in_man_page_order_and_marks_extensions():
    ext = Option("srv_tls_cert", "str", "TLS certificate of the HTTP mock server", "Mock server options",
                 "filename", extension=True)
    text = format_help([o for o in OPTIONS if o.name != ext.name] + [ext], GROUPS)
    assert text.startswith("Usage: cmpkit [options]")
    positions = [text.index(f"\n{g}:\n") for g in GROUPS]
    assert positions == sorted(positions)
    line = next(ln for ln in text.splitlines() if ln.startswith(" -srv_tls_cert"))
    assert "(cmpkit extension)" in line
    assert "(cmpkit extension)" not in next(ln for ln in text.splitlines() if ln.startswith(" -days"))


# ---------------------------------------------------------------- command line

def test_typed_values_and_defaults():
    cfg = parse("-days", "10", "-cmd", "ir", "-tls_used", "-trusted", "a.pem, b.pem  c.pem",
                "-keyform", "pem", "--repeat=3", "-provider-path", "/p")
    assert cfg.get("days") == 10 and isinstance(cfg.get("days"), int)
    assert cfg.get("cmd") == "ir" and cfg.get("keyform") == "PEM"
    assert cfg.get("tls_used") is True and cfg.get("batch") is False
    assert cfg.get_list("trusted") == ["a.pem", "b.pem", "c.pem"] and cfg.get_list("untrusted") == []
    assert cfg.get("repeat") == 3 and cfg.get("provider-path") == "/p"
    assert cfg.get("keep_alive") == 1 and cfg.get("server") is None  # declared default / unset
    assert cfg.is_set("days") and not cfg.is_set("keep_alive") and not cfg.is_set("batch")
    assert cfg.source("days") == "command line" and cfg.source("server") is None
    assert cfg.config_path is None and cfg.sections == []


@pytest.mark.parametrize("argv, message", [
    (["-days", "1.5"], 'Non-numeric value "1.5" for option -days'),
    (["-days", "0x10"], 'Invalid number "0x10" for option -days'),
    (["-days", "010"], 'Invalid number "010" for option -days'),
    (["-days", ""], 'Non-numeric value "" for option -days'),
    (["-days", "10 "], 'Non-numeric value "10 " for option -days'),
    (["-days", "-3"], 'Negative number "-3" for option -days'),
    (["-days", "99999999999"], 'Value "99999999999" outside integer range for option -days'),
    (["-repeat", "0"], 'Non-positive number "0" for option -repeat'),
    (["-keep_alive", "3"], 'Value "3" out of range for option -keep_alive'),
    (["-verbosity", "9"], 'Value "9" out of range for option -verbosity'),
    (["-popo", "-2"], 'Value "-2" out of range for option -popo'),
    (["-revreason", "7"], 'Value "7" out of range for option -revreason'),
    (["-revreason", "11"], 'Value "11" out of range for option -revreason'),
    (["-cmd", "IR"], 'Invalid value "IR" for option -cmd'),
    (["-certform", "xyz"], 'Invalid value "xyz" for option -certform'),
    (["-foo"], "unknown option '-foo'"),
    (["-days"], "option -days needs a value"),
    (["-batch=1"], "option -batch does not take a value"),
    (["-batch", "extra"], "unexpected argument 'extra'"),
    (["--", "-batch"], "unexpected argument '-batch'"),
])
def test_bad_command_lines(argv, message):
    with pytest.raises(ConfigError) as info:
        parse(*argv)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_numbers_that_are_fine():
    assert parse("-days", "10").get("days") == 10
    assert parse("-days", "0").get("days") == 0
    assert parse("-days", "+5").get("days") == 5 and parse("-days", " 5").get("days") == 5
    assert parse("-popo", "-1").get("popo") == -1
    assert parse("-revreason", "10").get("revreason") == 10
    assert parse("-attime", "99999999999").get("attime") == 99999999999  # intmax, not int


def test_empty_string_resets_and_later_wins(caplog):
    with caplog.at_level(logging.WARNING, logger="cmpkit"):
        cfg = parse("-server", "a:80", "-server", "", "-ref", "1", "-ref", "2")
    assert cfg.get("server") is None and not cfg.is_set("server")
    assert cfg.get("ref") == "2"
    assert "-server option argument is empty string, resetting option" in caplog.text


def test_extension_options_parse_like_core_ones():
    ext = (Option("srv_tls_cert", "str", extension=True), Option("http_retries", "int", minimum=0),
           Option("fast", "flag"))
    cfg = parse("-srv_tls_cert", "c.pem", "-http_retries", "2", "-fast", extra=ext, base=CORE_OPTIONS)
    assert cfg.get("srv_tls_cert") == "c.pem" and cfg.get("http_retries") == 2 and cfg.get("fast") is True
    with pytest.raises(ConfigError, match="-http_retries"):
        parse("-http_retries", "x", extra=ext, base=CORE_OPTIONS)
    with pytest.raises(ConfigError, match="unknown option '-srv_tls_cert'"):
        parse("-srv_tls_cert", "c.pem", base=CORE_OPTIONS)
    with pytest.raises(PluginError, match="-days"):
        parse(extra=(Option("days", "str"),))


def test_config_is_immutable_and_catches_typos():
    cfg = parse("-days", "3")
    with pytest.raises(KeyError):
        cfg.get("dayz")
    with pytest.raises(KeyError):
        cfg.is_set("dayz")
    with pytest.raises(AttributeError):
        cfg.days = 4
    assert "days" in cfg and "dayz" not in cfg
    assert Config.from_values(OPTIONS, cmd="ir", secret="pass:x").get("secret") == "pass:x"
    assert "pass:x" not in repr(Config.from_values(OPTIONS, secret="pass:x"))


def test_loaded_settings_do_not_show_secrets():
    from cmpkit.core.client import ClientSettings
    from cmpkit.core.server import ServerSettings
    assert "s3cr3t" not in repr(ClientSettings(secret=b"s3cr3t")) + str(ClientSettings(secret=b"s3cr3t"))
    assert "s3cr3t" not in repr(ServerSettings(srv_secret=b"s3cr3t")) + str(ServerSettings(srv_secret=b"s3cr3t"))


# ---------------------------------------------------------------- config files

class FakeConf:
    """Stand-in for cmpkit.core.conf.ConfFile: get() falls back to [default] like NCONF_get_string."""

    def __init__(self, path, sections):
        self.path, self._s = path, sections

    def has_section(self, name):
        return name in self._s

    def get_exact(self, section, name):
        return self._s.get(section, {}).get(name)

    def get(self, section, name):
        value = self.get_exact(section, name)
        return value if value is not None else self._s.get("default", {}).get(name)


CNF = {
    "default": {"batch": "1", "total_timeout": "8", "trusted": "root.crt", "cmd": "ir", "days": "30"},
    "cmp": {"server": "cmp.example:80", "ref": "1", "ignore_keyusage": "1"},
    "init": {"ref": "2", "trusted": "", "total_timeout": "", "keep_alive": "0", "ignore_keyusage": "0",
             "unprotected_errors": "yes"},
    "bad": {"days": "-3"},
    "badflag": {"days": "1.5"},
    "verb": {"verbosity": "9"},
}


@pytest.fixture
def fake_conf(monkeypatch, tmp_path):
    path = tmp_path / "fake.cnf"
    path.write_text("# contents come from FakeConf\n")
    monkeypatch.setattr(config_files, "_load", lambda p, environ: FakeConf(p, CNF))
    return str(path)


def test_sections_override_and_fall_back_to_default(fake_conf, caplog):
    with caplog.at_level(logging.WARNING, logger="cmpkit"):
        cfg = parse("-config", fake_conf, "-section", "cmp, init")
    assert cfg.config_path == fake_conf and cfg.sections == ["cmp", "init"]
    assert cfg.get("ref") == "2"                      # later section overrides
    assert cfg.get("server") == "cmp.example:80"      # only in the earlier section
    assert cfg.get("cmd") == "ir" and cfg.get("days") == 30  # from [default]
    assert cfg.get("batch") is True
    assert cfg.get("trusted") is None                 # "" in a later section resets
    assert cfg.get("total_timeout") is None           # empty number = not given
    assert cfg.get("keep_alive") == 0 and cfg.is_set("keep_alive")
    assert cfg.get("ignore_keyusage") is False        # flag = 0 in a later section
    assert cfg.get("unprotected_errors") is False and "non-numeric" in caplog.text
    assert "[init]" in cfg.source("ref") and "[default]" in cfg.source("cmd")


def test_default_section_and_environment(fake_conf, caplog):
    with caplog.at_level(logging.INFO, logger="cmpkit"):
        cfg = parse(environ={"OPENSSL_CONF": fake_conf})
    assert cfg.config_path == fake_conf and cfg.get("ref") == "1" and cfg.get("ignore_keyusage") is True
    assert "using section(s) 'cmp'" in caplog.text
    cfg = parse("-config", fake_conf, "-section", "")   # "" = [default] only
    assert cfg.get("ref") is None and cfg.get("cmd") == "ir" and cfg.get("section") == "default"
    assert parse("-config", "", environ={"OPENSSL_CONF": fake_conf}).config_path is None
    assert parse(environ={"OPENSSL_CONF": fake_conf + ".missing"}).config_path is None


def test_missing_sections(fake_conf, monkeypatch, caplog):
    with pytest.raises(ConfigError, match=r"no \[nosuch\] section found in config file"):
        parse("-config", fake_conf, "-section", "cmp,nosuch")
    monkeypatch.setattr(config_files, "_load", lambda p, environ: FakeConf(p, {"default": {"cmd": "cr"}}))
    with caplog.at_level(logging.INFO, logger="cmpkit"):
        cfg = parse("-config", fake_conf)             # the default [cmp] may be missing
    assert cfg.get("cmd") == "cr" and "no [cmp] section found" in caplog.text


def test_command_line_overrides_config(fake_conf):
    cfg = parse("-config", fake_conf, "-section", "cmp,init", "-ref", "3", "-trusted", "ca.pem", "-server", "")
    assert cfg.get("ref") == "3" and cfg.get("trusted") == "ca.pem" and cfg.get("server") is None
    assert cfg.source("ref") == "command line"


@pytest.mark.parametrize("section, message", [
    ("bad", 'Negative number "-3" for option -days in config file'),
    ("verb", 'Value "9" out of range for option -verbosity in config file'),
])
def test_bad_config_numbers(fake_conf, section, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        parse("-config", fake_conf, "-section", section)


def test_non_numeric_config_number_is_not_given(fake_conf):
    assert parse("-config", fake_conf, "-section", "badflag").get("days") is None


def test_extension_options_from_config(fake_conf, monkeypatch):
    monkeypatch.setattr(config_files, "_load", lambda p, environ: FakeConf(p, {"cmp": {"srv_tls_cert": "t.pem"}}))
    cfg = parse("-config", fake_conf, extra=(Option("srv_tls_cert", "str", extension=True),), base=CORE_OPTIONS)
    assert cfg.get("srv_tls_cert") == "t.pem"


# ---------------------------------------------------------------- with the real config reader

CNF_TEXT = """\
batch = 1
[default]
total_timeout = 8
trusted = root.crt
[cmp]
server = cmp.example:80
ref = 1
tls_used = 1
[init]
ref = 2
trusted =
tls_used = 0
days = 10
"""


def test_real_config_file(tmp_path):
    pytest.importorskip("cmpkit.core.conf")
    path = tmp_path / "test.cnf"
    path.write_text(CNF_TEXT)
    cfg = parse("-config", str(path), "-section", "cmp,init", "-days", "20")
    assert cfg.get("ref") == "2" and cfg.get("server") == "cmp.example:80"
    assert cfg.get("trusted") is None and cfg.get("tls_used") is False
    assert cfg.get("total_timeout") == 8 and cfg.get("batch") is True and cfg.get("days") == 20
    assert parse("-config", str(path)).get("tls_used") is True
    with pytest.raises(ConfigError, match=r"\[nosuch\]"):
        parse("-config", str(path), "-section", "nosuch")
    with pytest.raises(ConfigError):
        parse("-config", str(tmp_path / "missing.cnf"))


def test_help_does_not_read_the_config(fake_conf, monkeypatch):
    def broken(path, environ):
        raise ConfigError(f"syntax error in '{path}'")
    monkeypatch.setattr(config_files, "_load", broken)
    assert parse("-help", "-config", fake_conf).get("help") is True
    with pytest.raises(ConfigError, match="syntax error"):
        parse("-config", fake_conf)


def test_repeatable_option_collects_every_occurrence(tmp_path):
    conf = tmp_path / "c.cnf"
    conf.write_text("[cmp]\nprovider = legacy\n")
    cfg = parse("-config", str(conf), "-provider", "default", "-provider", "pkcs11")
    assert cfg.get_list("provider") == ["default", "pkcs11"]   # the command line replaces the file's
    assert parse("-config", str(conf)).get_list("provider") == ["legacy"]
    assert parse("-config", "", "-keep_alive", "0", "-keep_alive", "2").get("keep_alive") == 2  # others: last wins
