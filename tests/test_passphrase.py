"""Pass phrase sources (pass:, env:, file:, fd:, stdin, prompt) behave as OpenSSL's apps read them."""
import io
import logging
import os
import pathlib
import subprocess
import sys

import pytest

from cmpkit.app.passphrase import read_pass, read_pass_pair
from cmpkit.errors import ConfigError
from cmpkit.app.credentials import Loader as LoadContext

MOCK = pathlib.Path(__file__).resolve().parent / "data" / "openssl-3.0" / "Mock"


def test_pass_source():
    assert read_pass("pass:s3cret", "-keypass", batch=True) == b"s3cret"
    assert read_pass("pass:", "-keypass", batch=True) == b""
    assert read_pass("pass::12345", "-keypass", batch=True) == b":12345"
    assert read_pass("pass:a:b", "-keypass", batch=True) == b"a:b"


def test_env_source(monkeypatch):
    monkeypatch.setenv("CMPKIT_TEST_PW", "from-env")
    assert read_pass("env:CMPKIT_TEST_PW", "-secret", batch=True) == b"from-env"
    monkeypatch.delenv("CMPKIT_TEST_PW")
    with pytest.raises(ConfigError, match=r"-secret.*CMPKIT_TEST_PW|CMPKIT_TEST_PW.*-secret"):
        read_pass("env:CMPKIT_TEST_PW", "-secret", batch=True)


def test_file_source_first_line(tmp_path):
    f = tmp_path / "pw"
    f.write_bytes(b"first\nsecond\n")
    assert read_pass(f"file:{f}", "-keypass", batch=True) == b"first"
    f.write_bytes(b"no newline")
    assert read_pass(f"file:{f}", "-keypass", batch=True) == b"no newline"
    f.write_bytes(b"crlf\r\nx")  # OpenSSL removes only the \n
    assert read_pass(f"file:{f}", "-keypass", batch=True) == b"crlf\r"
    f.write_bytes(b"\nsecond")  # an empty first line is an empty pass phrase
    assert read_pass(f"file:{f}", "-keypass", batch=True) == b""
    f.write_bytes(b"ab\0cd\n")  # a C string ends at NUL
    assert read_pass(f"file:{f}", "-keypass", batch=True) == b"ab"
    f.write_bytes(b"x" * 2000 + b"\n")  # one BIO_gets into a 1024-byte buffer
    assert read_pass(f"file:{f}", "-keypass", batch=True) == b"x" * 1023


def test_mock_pass_file():
    assert read_pass(f"file:{MOCK / '12345.txt'}", "-newkeypass", batch=True) == b"12345"


def test_file_source_errors(tmp_path):
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    with pytest.raises(ConfigError, match="-newkeypass"):
        read_pass(f"file:{empty}", "-newkeypass", batch=True)
    with pytest.raises(ConfigError, match=r"cannot open pass phrase file .*missing.*-newkeypass"):
        read_pass(f"file:{tmp_path / 'missing'}", "-newkeypass", batch=True)
    with pytest.raises(ConfigError, match="-newkeypass"):
        read_pass(f"file:{tmp_path}", "-newkeypass", batch=True)  # a directory


def test_same_file_twice_single_options_each_read_first_line(tmp_path):
    """openssl cmp reads each option's pass phrase on its own (get_passwd): both get line 1."""
    f = tmp_path / "pw"
    f.write_bytes(b"one\ntwo\n")
    assert read_pass(f"file:{f}", "-keypass", True) == read_pass(f"file:{f}", "-otherpass", True) == b"one"


def test_pair_same_file_reads_successive_lines(tmp_path):
    f = tmp_path / "pw"
    f.write_bytes(b"one\ntwo\nthree\n")
    assert read_pass_pair(f"file:{f}", f"file:{f}", "-passin", "-passout", True) == (b"one", b"two")
    g = tmp_path / "other"
    g.write_bytes(b"other\n")
    assert read_pass_pair(f"file:{f}", f"file:{g}", "-passin", "-passout", True) == (b"one", b"other")
    assert read_pass_pair("pass:a", "pass:a", "-passin", "-passout", True) == (b"a", b"a")
    assert read_pass_pair(None, "pass:b", "-passin", "-passout", True) == (None, b"b")
    f.write_bytes(b"only\n")
    with pytest.raises(ConfigError, match="-passout"):
        read_pass_pair(f"file:{f}", f"file:{f}", "-passin", "-passout", True)


def test_pair_matches_openssl(tmp_path, openssl):
    """`openssl pkey -passin file:F -passout file:F` uses line 1 to read and line 2 to write."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    pw = tmp_path / "pw"
    pw.write_bytes(b"in-pass\nout-pass\n")
    key = ec.generate_private_key(ec.SECP256R1())
    src = tmp_path / "in.pem"
    src.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                      serialization.BestAvailableEncryption(b"in-pass")))
    out = tmp_path / "out.pem"
    subprocess.run([openssl, "pkey", "-in", str(src), "-passin", f"file:{pw}", "-passout", f"file:{pw}",
                    "-aes256", "-out", str(out)], check=True, capture_output=True)
    p_in, p_out = read_pass_pair(f"file:{pw}", f"file:{pw}", "-passin", "-passout", True)
    assert p_in == b"in-pass"
    reread = serialization.load_pem_private_key(out.read_bytes(), p_out)
    assert reread.private_numbers() == key.private_numbers()


def test_fd_source():
    r, w = os.pipe()
    try:
        os.write(w, b"fd-pass\nleft over\n")
        os.close(w)
        w = None
        assert read_pass(f"fd:{r}", "-keypass", batch=True) == b"fd-pass"
        assert os.read(r, 100) == b"left over\n"  # nothing beyond the line was consumed
    finally:
        os.close(r)
        if w is not None:
            os.close(w)


def test_fd_pair_successive_lines():
    r, w = os.pipe()
    os.write(w, b"a\nb\n")
    os.close(w)
    try:
        assert read_pass_pair(f"fd:{r}", f"fd:{r}", "-passin", "-passout", True) == (b"a", b"b")
    finally:
        os.close(r)


@pytest.mark.parametrize("arg", ["fd:abc", "fd:-1", "fd:"])
def test_fd_source_invalid(arg):
    with pytest.raises(ConfigError, match="-keypass"):
        read_pass(arg, "-keypass", batch=True)


def test_fd_source_closed():
    r, w = os.pipe()
    os.close(r)
    os.close(w)
    with pytest.raises(ConfigError, match=f"file descriptor {r}"):
        read_pass(f"fd:{r}", "-keypass", batch=True)


def test_stdin_source(monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"s1\ns2\n")))
    assert read_pass("stdin", "-keypass", batch=True) == b"s1"
    assert read_pass("stdin", "-keypass", batch=True) == b"s2"
    with pytest.raises(ConfigError, match="stdin"):
        read_pass("stdin", "-keypass", batch=True)
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"x\ny\n")))
    assert read_pass_pair("stdin", "stdin", "-passin", "-passout", True) == (b"x", b"y")


def test_no_source_batch_gives_none():
    assert read_pass(None, "-keypass", batch=True) is None


def test_no_source_prompts(monkeypatch):
    import getpass
    prompts = []

    def fake(prompt):
        prompts.append(prompt)
        return "typed"

    monkeypatch.setattr(getpass, "getpass", fake)
    assert read_pass(None, "private key for -key", batch=False) == b"typed"
    assert prompts == ["Enter pass phrase for private key for -key:"]

    def eof(prompt):
        raise EOFError

    monkeypatch.setattr(getpass, "getpass", eof)
    with pytest.raises(ConfigError, match="no pass phrase entered for -key"):
        read_pass(None, "-key", batch=False)


def test_unknown_source_used_literally_like_openssl_cmp(caplog):
    """`-newkeypass 12345` works with openssl cmp ("Trying plain input string")."""
    with caplog.at_level(logging.WARNING, logger="cmpkit"):
        assert read_pass("12345", "-newkeypass", batch=True) == b"12345"
        assert read_pass("fp:4", "-newkeypass", batch=True) == b"fp:4"
    assert "-newkeypass" in caplog.text and "pass:" in caplog.text
    assert "12345" not in caplog.text and "fp:4" not in caplog.text


@pytest.mark.parametrize("arg", ["s3cr3t-value", "xyz:s3cr3t-value", "stdinx"])
def test_unknown_source_strict(arg):
    with pytest.raises(ConfigError) as info:
        read_pass(arg, "-secret", batch=True, strict=True)
    assert "-secret" in str(info.value)
    assert "s3cr3t" not in str(info.value) and "\n" not in str(info.value)


def test_errors_never_show_file_content(tmp_path):
    f = tmp_path / "pw"
    f.write_bytes(b"only-line\n")
    with pytest.raises(ConfigError) as info:
        read_pass_pair(f"file:{f}", f"file:{f}", "-passin", "-passout", True)
    assert "only-line" not in str(info.value)


def test_load_context_uses_read_pass(monkeypatch):
    monkeypatch.setenv("CMPKIT_TEST_PW", "ctx")
    assert LoadContext(batch=True).get_pass("env:CMPKIT_TEST_PW", "-keypass") == b"ctx"
    assert LoadContext(batch=True).get_pass(None, "-keypass") is None
