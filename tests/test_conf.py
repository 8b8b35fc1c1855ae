"""Tests of cmpkit.core.conf: NCONF parsing, checked against OpenSSL's own NCONF_load via ctypes."""
import ctypes
import ctypes.util
import os
import pathlib

import pytest

from cmpkit.app.config_files import load_config
from cmpkit.errors import ConfigError

MOCK = pathlib.Path(__file__).resolve().parent / "data" / "openssl-3.0" / "Mock"


# ---------------------------------------------------------------- the reference: libcrypto's NCONF

class _ConfValue(ctypes.Structure):
    _fields_ = [("section", ctypes.c_char_p), ("name", ctypes.c_char_p), ("value", ctypes.c_char_p)]


def _libcrypto():
    for name in ("libcrypto.so.3", ctypes.util.find_library("crypto")):
        if name:
            try:
                lib = ctypes.CDLL(name)
                lib.NCONF_new.restype = ctypes.c_void_p
                lib.NCONF_new.argtypes = [ctypes.c_void_p]
                lib.NCONF_free.argtypes = [ctypes.c_void_p]
                lib.NCONF_load.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_long)]
                lib.NCONF_get_section.restype = ctypes.c_void_p
                lib.NCONF_get_section.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
                lib.NCONF_get_string.restype = ctypes.c_char_p
                lib.NCONF_get_string.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p]
                lib.OPENSSL_sk_num.argtypes = [ctypes.c_void_p]
                lib.OPENSSL_sk_value.restype = ctypes.c_void_p
                lib.OPENSSL_sk_value.argtypes = [ctypes.c_void_p, ctypes.c_int]
                return lib
            except (OSError, AttributeError):
                continue
    return None


LIB = _libcrypto()
needs_libcrypto = pytest.mark.skipif(LIB is None, reason="OpenSSL 3 libcrypto not loadable")


class OpenSSLConf:
    """A config file as OpenSSL's NCONF_load reads it (error = line number or None)."""

    def __init__(self, path):
        self._c = LIB.NCONF_new(None)
        line = ctypes.c_long(0)
        ok = LIB.NCONF_load(self._c, str(path).encode(), ctypes.byref(line))
        LIB.ERR_clear_error()
        self.error_line = None if ok > 0 else line.value

    def __del__(self):
        if LIB is not None and getattr(self, "_c", None):
            LIB.NCONF_free(self._c)

    def section(self, name):
        sk = LIB.NCONF_get_section(self._c, name.encode())
        LIB.ERR_clear_error()
        if not sk:
            return None
        out = []
        for i in range(LIB.OPENSSL_sk_num(sk)):
            v = _ConfValue.from_address(LIB.OPENSSL_sk_value(sk, i))
            out.append((v.name.decode("latin-1"), v.value.decode("latin-1")))
        return out

    def get(self, section, name):
        r = LIB.NCONF_get_string(self._c, section.encode() if section else None, name.encode())
        LIB.ERR_clear_error()
        return None if r is None else r.decode("latin-1")


def assert_same_as_openssl(path, extra_sections=()):
    ref = OpenSSLConf(path)
    assert ref.error_line is None, f"openssl cannot load {path} (line {ref.error_line})"
    ours = load_config(str(path))
    for name in set(ours.sections()) | set(extra_sections):
        assert ours.has_section(name) == (ref.section(name) is not None), name
        assert ours.section(name) == (ref.section(name) or []), name
        for key, _ in ours.section(name):
            assert ours.get(name, key) == ref.get(name, key)
    return ours


# ---------------------------------------------------------------- syntax, compared with OpenSSL

CASES = {
    "basic": "a = 1\n[ s1 ]\nb=2\n c = 3  \n[default]\nd = 4\n",
    "comments": 'a = x # c\nb = "x # not" # c\nc = \'y#z\'\nd = a\\#b\n# whole line\n   # indented\n',
    "quotes": 'a = "  spaced  "\nb = \'it\\\'s\'\nc = "a\\"b"\nd = `back`q\ne = x"y"z\n',
    "escapes": "a = x\\ty\nb = x\\ny\nc = x\\\\y\nd = x\\qy\ne = tail\\\\\n",
    "continuation": "a = one \\\n  two\nb = x\\\\\nc = after\nd = 1 \\\n\\\nb\n",
    "variables": ("v = val\nw = ${v}-$(v)-$v.x\n[s]\nv = sv\nx = $v $default::v ${default::v}\n"
                  "[t]\ny = $s::v $v\nz = ${s::x}\n"),
    "other_section_assign": "[a]\nb::n = 1\nn = 2\n[b]\nm = $n\n",
    "duplicates": "[s]\nx = 1\ny = 2\nx = 3\nDNS.1 = a\nDNS.2 = b\n",
    "section_names": "[ spaced name ]\na = 1\n[x]junk\nb = 2\n[ sec-1.2 ]\nc=3\n",
    "empty_values": "a =\nb = ''\n[s]\nc=\n",
    "names": "a.b_c-d = 1\n0.organizationName = O\nDNS__3 = z\nx!%&*+,/;?@^~|- = p\n",
    "pragma": ".pragma dollarid:on\na$b = 1\nc = x$y ${a$b}\n.pragma = dollarid : off\nd = $c\n",
    "unknown_pragma": ".pragma foo:bar\na = 1\n",
    "bom": "\ufeffa = 1\n",
    "crlf": "a = 1\r\n[s]\r\nb = 2 \r\n",
    "env": "[ENV]\nX = set\n[s]\na = $ENV::X ${ENV::CMPKIT_TEST_VAR}\n",
}


@needs_libcrypto
@pytest.mark.parametrize("name", sorted(CASES))
def test_syntax_like_openssl(name, tmp_path, monkeypatch):
    monkeypatch.setenv("CMPKIT_TEST_VAR", "from-env")
    path = tmp_path / "t.cnf"
    path.write_text(CASES[name], newline="")
    assert_same_as_openssl(path)


ERRORS = {
    "no_equal": ("a = 1\nb\n", 2, "missing equal sign"),
    "bracket": ("a = 1\n\n[ sec\n", 3, "missing close square bracket"),
    "bracket_junk": ("[a=b]\n", 1, "missing close square bracket"),
    "undefined": ("a = 1\n# c\nb = $nosuch\n", 3, "variable has no value ('nosuch')"),
    "undefined_sect": ("b = ${s::a}\n", 1, "variable has no value ('s::a')"),
    "later_definition": ("a = $b\nb = 1\n", 1, "variable has no value"),
    "brace": ("a = 1\nb = ${a\n", 2, "no close brace"),
    "paren": ("a = 1\nb = $(a}\n", 2, "no close brace"),
    "bare_dollar": ("a = 5$\n", 1, "variable has no value"),
    "pragma": (".pragma dollarid\n", 1, "invalid pragma"),
    "pragma_value": (".pragma dollarid:maybe\n", 1, "invalid pragma value"),
    "continued": ("a = 1 \\\nb\nc\n", 3, "missing equal sign"),
}


@pytest.mark.parametrize("name", sorted(ERRORS))
def test_syntax_errors(name, tmp_path):
    text, line, reason = ERRORS[name]
    path = tmp_path / "bad.cnf"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(str(path))
    msg = str(info.value)
    assert "\n" not in msg
    assert msg.startswith(f"cannot load config file '{path}': line {line}: ")
    assert reason in msg
    if LIB is not None:  # OpenSSL fails on the same line
        assert OpenSSLConf(path).error_line == line


# ---------------------------------------------------------------- real files

@needs_libcrypto
@pytest.mark.parametrize("name", ["test.cnf", "server.cnf"])
def test_openssl_mock_files(name):
    assert_same_as_openssl(MOCK / name, extra_sections=["cmp", "nosuch"])


def test_mock_test_cnf_values():
    """Values checked by hand against test.cnf."""
    conf = load_config(str(MOCK / "test.cnf"))
    assert conf.path == str(MOCK / "test.cnf")
    assert conf.get("Mock", "server") == "127.0.0.1:0"
    assert conf.get("Mock", "server_tls") == "0"
    assert conf.get("Mock", "recipient") == "/CN=Root CA"
    assert conf.get("Mock", "subject") == "/C=AU/ST=Some-State/O=Internet Widgits Pty Ltd/CN=leaf"
    assert conf.get("Mock", "batch") == "1"  # from [default]
    assert conf.get_exact("Mock", "batch") is None
    assert conf.get("Mock", "pbm_ref") == ""
    assert conf.get("certificatePolicies", "certificatePolicies") == "critical, @pkiPolicy"
    assert conf.section("alt_names") == [("DNS.0", "localhost"), ("IP.0", "127.0.0.1"),
                                         ("IP.1", "192.168.1.1"), ("URI.0", "http://192.168.0.2")]
    assert conf.get("reqexts", "keyUsage") == "critical, digitalSignature"
    assert conf.has_section("connection") and not conf.has_section("cmp")
    assert conf.section("cmp") == []
    assert conf.get(None, "cmd") == "ir" and conf.get("default", "cmd") == "ir"


def test_system_openssl_cnf():
    path = "/usr/lib/ssl/openssl.cnf"
    if not os.path.isfile(path):
        pytest.skip("no system openssl.cnf")
    conf = load_config(path)
    assert conf.has_section("req")
    if LIB is not None:
        assert_same_as_openssl(path)


def test_unnamed_section_is_default(tmp_path):
    path = tmp_path / "a.cnf"
    path.write_text("a = 1\n[s]\nb = 2\n[ default ]\nc = 3\n")
    conf = load_config(str(path))
    assert conf.section("default") == [("a", "1"), ("c", "3")]
    assert conf.get("s", "c") == "3" and conf.get("s", "b") == "2" and conf.get("nosuch", "a") == "1"
    assert conf.get_exact("s", "a") is None and conf.get("s", "zz") is None


def test_duplicates_keep_last(tmp_path):
    """OpenSSL replaces an earlier definition of a name; its entry moves to the end."""
    path = tmp_path / "a.cnf"
    path.write_text("[s]\nx = 1\ny = 2\nx = 3\n")
    assert load_config(str(path)).section("s") == [("y", "2"), ("x", "3")]


# ---------------------------------------------------------------- includes

def test_include_file_and_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "inc.cnf").write_text("[inc]\nv = included\n")
    d = tmp_path / "d"
    d.mkdir()
    (d / "b.conf").write_text("[dir2]\nb = 2\n")
    (d / "a.cnf").write_text("[dir1]\na = 1\n")
    (d / "ignored.txt").write_text("garbage without equal sign\n")
    top = tmp_path / "top.cnf"
    top.write_text("x = 1\n.include inc.cnf\nafter = $inc::v\n.include = d\n.include missing.cnf\n[z]\n")
    conf = load_config(str(top))
    assert conf.get("inc", "v") == "included"
    # after an include the current section is the one the included file left
    assert conf.get_exact("inc", "after") == "included"
    assert conf.section("dir1") == [("a", "1")] and conf.section("dir2") == [("b", "2")]
    assert conf.has_section("z")
    if LIB is not None:
        assert_same_as_openssl(top)


def test_include_error_names_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "inc.cnf").write_text("a = 1\nbroken\n")
    top = tmp_path / "top.cnf"
    top.write_text(".include inc.cnf\n")
    with pytest.raises(ConfigError, match=r"line 2 of 'inc.cnf': missing equal sign"):
        load_config(str(top))


def test_include_loop_is_bounded(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "self.cnf").write_text(".include self.cnf\n")
    with pytest.raises(ConfigError, match="nested too deeply"):
        load_config(str(tmp_path / "self.cnf"))


def test_include_dir_pragma_and_abspath(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("OPENSSL_CONF_INCLUDE", raising=False)
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "i.cnf").write_text("[i]\nk = v\n")
    top = tmp_path / "top.cnf"
    top.write_text(f".pragma includedir:{sub}\n.include i.cnf\n")
    assert load_config(str(top)).get("i", "k") == "v"
    top.write_text(".pragma abspath:on\n.include sub/i.cnf\n")
    with pytest.raises(ConfigError, match="line 2: relative include path"):
        load_config(str(top))


def test_expansion_is_bounded(tmp_path):
    lines = ["a0 = " + "x" * 100] + [f"a{i} = $a{i - 1}$a{i - 1}" for i in range(1, 20)]
    path = tmp_path / "bomb.cnf"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ConfigError, match="variable expansion too long"):
        load_config(str(path))


# ---------------------------------------------------------------- file errors

def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match=r"^cannot load config file '.*nope.cnf': No such file or directory$"):
        load_config(str(tmp_path / "nope.cnf"))


def test_directory(tmp_path):
    with pytest.raises(ConfigError, match=r"^cannot load config file '.*': Is a directory$"):
        load_config(str(tmp_path))


def test_unreadable(tmp_path):
    path = tmp_path / "secret.cnf"
    path.write_text("a = 1\n")
    path.chmod(0)
    try:
        if os.access(path, os.R_OK):
            pytest.skip("running as root")
        with pytest.raises(ConfigError, match="Permission denied"):
            load_config(str(path))
    finally:
        path.chmod(0o600)
