"""Output files (cmpkit.app.files.write_atomically): all or nothing, flushed to disk before the
rename, the mode a plain open() gives, nothing left beside them."""
import os

import pytest

from cmpkit.errors import CmpError
from cmpkit.app import files
from cmpkit.app.files import write_atomically


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
    stale = tmp_path / f".cert.pem.{os.getpid()}.0.cmpkit-tmp"
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


def test_data_and_directory_are_flushed_before_success(tmp_path, monkeypatch):
    synced = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: synced.append(os.readlink(f"/proc/self/fd/{fd}")) or real_fsync(fd))
    target = tmp_path / "cert.pem"
    write_atomically(str(target), b"data")
    assert len(synced) == 2
    assert synced[0].endswith(".cmpkit-tmp") and os.path.dirname(synced[0]) == str(tmp_path)  # the data first
    assert synced[1] == str(tmp_path)                                                      # then the rename


@pytest.mark.parametrize("failing", ["write", "fsync", "replace"])
@pytest.mark.parametrize("exc", [OSError(5, "Input/output error"), KeyboardInterrupt()])
def test_no_temporary_outlives_a_failed_or_interrupted_write(tmp_path, monkeypatch, failing, exc):
    target = tmp_path / "cert.pem"
    target.write_bytes(b"old")

    def fail(*args, **kwargs):
        raise exc
    monkeypatch.setattr(os, failing, fail)
    with pytest.raises((CmpError, KeyboardInterrupt)):
        write_atomically(str(target), b"new")
    monkeypatch.undo()
    assert os.listdir(tmp_path) == ["cert.pem"] and target.read_bytes() == b"old"
    assert not files._TEMPORARIES


def test_sigterm_ends_a_run_cleanly(pki, tmp_path):
    """A client waiting for its next poll is terminated: exit status 143, no traceback, nothing written."""
    import signal
    import subprocess
    import sys
    import time
    proc = subprocess.Popen(
        [sys.executable, "-m", "cmpkit", "-config", "", "-cmd", "ir", "-secret", "pass:s", "-ref", "1",
         "-newkey", pki.path("new_key"), "-subject", "/CN=leaf", "-certout", str(tmp_path / "out.pem"),
         "-use_mock_srv", "-srv_ref", "1", "-srv_secret", "pass:s", "-rsp_cert", pki.path("issued"),
         "-poll_count", "2", "-check_after", "30"], stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    deadline = time.monotonic() + 20
    seen = ""
    while "checkAfter" not in seen and time.monotonic() < deadline:
        seen += proc.stderr.readline()
    proc.send_signal(signal.SIGTERM)
    rest = proc.communicate(timeout=20)[1]
    assert proc.returncode == 143 and "Traceback" not in seen + rest
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("option", ["certout", "chainout", "extracertsout", "cacertsout"])
def test_outputs_are_checked_before_the_first_request(pki, tmp_path, option):
    """An output that cannot be written stops the run before anything is sent (openssl 3.0 finds
    out only after the certificate was issued and confirmed, and the certificate is lost)."""
    import subprocess
    import sys
    sent = tmp_path / "sent.der"
    outputs = {"certout": str(tmp_path / "cert.pem")}
    outputs[option] = str(tmp_path / "no-such-dir" / "out.pem")
    args = [sys.executable, "-m", "cmpkit", "-config", "", "-cmd", "ir", "-secret", "pass:s", "-ref", "1",
            "-newkey", pki.path("new_key"), "-subject", "/CN=leaf", "-use_mock_srv", "-srv_ref", "1",
            "-srv_secret", "pass:s", "-rsp_cert", pki.path("issued"), "-reqout", str(sent)]
    for name, value in outputs.items():
        args += [f"-{name}", value]
    r = subprocess.run(args, capture_output=True, text=True, timeout=60)
    assert r.returncode == 1 and not sent.exists()                    # no request went out
    assert r.stderr.strip().splitlines()[-1] == (f"CMP error: cannot write -{option} file '{outputs[option]}': "
                                                 f"no directory '{tmp_path / 'no-such-dir'}'")
    (tmp_path / "dir.pem").mkdir()
    args[args.index(outputs[option])] = str(tmp_path / "dir.pem")
    r = subprocess.run(args, capture_output=True, text=True, timeout=60)
    assert r.returncode == 1 and "it is a directory" in r.stderr and not sent.exists()
