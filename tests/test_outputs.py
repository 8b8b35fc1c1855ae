"""Output files (cmpkit.session.write_atomically): all or nothing, the mode a plain open() gives,
nothing left beside them."""
import os

import pytest

from cmpkit.errors import CmpError
from cmpkit.session import write_atomically


@pytest.fixture
def umask():
    old = os.umask(0o022)
    yield lambda m: os.umask(m)
    os.umask(old)


def test_writes_with_the_umask_mode_and_leaves_nothing_else(tmp_path, umask):
    target = tmp_path / "cert.pem"
    write_atomically(str(target), b"first")
    assert target.read_bytes() == b"first" and target.stat().st_mode & 0o777 == 0o644
    umask(0o077)
    write_atomically(str(target), b"second")
    assert target.read_bytes() == b"second" and target.stat().st_mode & 0o777 == 0o600
    assert os.listdir(tmp_path) == ["cert.pem"]


def test_explicit_mode(tmp_path, umask):
    target = tmp_path / "rand"
    write_atomically(str(target), b"x", mode=0o600)
    assert target.stat().st_mode & 0o777 == 0o600


def test_a_stale_temporary_name_does_not_stop_the_write(tmp_path, umask):
    target = tmp_path / "cert.pem"
    stale = tmp_path / f".cert.pem.{os.getpid()}.cmpkit-tmp"
    stale.write_bytes(b"left by a killed run")
    write_atomically(str(target), b"new")
    assert target.read_bytes() == b"new" and target.stat().st_mode & 0o777 == 0o644
    assert sorted(os.listdir(tmp_path)) == sorted(["cert.pem", stale.name])


def test_failure_names_the_file_and_keeps_what_was_there(tmp_path):
    target = tmp_path / "out"
    target.mkdir()
    (target / "keep").write_text("x")
    with pytest.raises(CmpError, match=f"cannot write '{target}'"):
        write_atomically(str(target), b"data")
    assert os.listdir(tmp_path) == ["out"] and os.listdir(target) == ["keep"]
    with pytest.raises(CmpError, match="cannot write"):
        write_atomically(str(tmp_path / "missing-dir" / "f"), b"data")
