"""`cmpkit -help` from the remembered plugin options: the same text as after a full discovery,
without importing stevedore or pluggy, and never out of date when a plugin is installed or edited."""
import os
import subprocess
import sys

import pytest

from .test_framework import BROKEN_SOURCE, PLUGIN_SOURCE, _install

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture
def env(tmp_path):
    """A fresh cache directory and an empty directory on the path for plugins installed later."""
    site = tmp_path / "site"
    site.mkdir()
    e = dict(os.environ, XDG_CACHE_HOME=str(tmp_path / "cache"))
    e.pop("CMPKIT_NO_CACHE", None)
    e["PYTHONPATH"] = os.pathsep.join([str(site), e.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return e, site


def help_run(env, *args):
    """(exit status, stdout, imported stevedore?) of `python -m cmpkit -help`."""
    r = subprocess.run([sys.executable, "-X", "importtime", "-m", "cmpkit", *args], capture_output=True, text=True,
                       env=env, timeout=60)
    return r.returncode, r.stdout, " stevedore" in r.stderr or "pluggy" in r.stderr


def test_second_help_needs_no_discovery_and_is_identical(env):
    e, _ = env
    first = help_run(e, "-help")
    second = help_run(e, "-help")
    assert first[0] == second[0] == 0
    assert first[2] and not second[2]
    assert first[1] == second[1] and "-srv_tls_cert" in second[1]  # an option the http plugin declares
    no_args = help_run(e)
    assert no_args[0] == 1 and no_args[1] == first[1] and not no_args[2]


def test_cache_off_or_damaged_means_a_discovery(env):
    e, _ = env
    reference = help_run(e, "-help")[1]
    assert not help_run(e, "-help")[2]
    assert help_run(dict(e, CMPKIT_NO_CACHE="1"), "-help")[2]
    cache_dir = os.path.join(e["XDG_CACHE_HOME"], "cmpkit")
    for name in os.listdir(cache_dir):
        with open(os.path.join(cache_dir, name), "wb") as fh:
            fh.write(b"\x00garbage")
    code, text, discovered = help_run(e, "-help")
    assert code == 0 and discovered and text == reference


def test_a_plugin_installed_later_shows_up(env):
    e, site = env
    assert "-socketpair_peer" not in help_run(e, "-help")[1]
    assert not help_run(e, "-help")[2]
    _install(site, "cmpkit_socketpair", "cmpkit_socketpair", PLUGIN_SOURCE, [("socketpair", "cmpkit_socketpair")])
    code, text, discovered = help_run(e, "-help")
    assert discovered and "-socketpair_peer" in text
    assert help_run(e, "-help")[1:] == (text, False)


def test_an_edited_plugin_is_read_again(env):
    e, site = env
    _install(site, "cmpkit_socketpair", "cmpkit_socketpair", PLUGIN_SOURCE, [("socketpair", "cmpkit_socketpair")])
    assert "(test plugin)" in help_run(e, "-help")[1]
    assert not help_run(e, "-help")[2]
    module = site / "cmpkit_socketpair.py"
    module.write_text(PLUGIN_SOURCE.replace("(test plugin)", "(edited plugin)"))
    st = os.stat(module)
    os.utime(module, ns=(st.st_atime_ns, st.st_mtime_ns + 10 ** 9))  # a later mtime, however coarse the clock
    code, text, discovered = help_run(e, "-help")
    assert discovered and "(edited plugin)" in text and "(test plugin)" not in text


def test_a_broken_plugin_is_reported_every_time(env):
    e, site = env
    _install(site, "cmpkit_broken", "cmpkit_broken", BROKEN_SOURCE, [("broken", "cmpkit_broken")])
    for _ in range(2):
        r = subprocess.run([sys.executable, "-m", "cmpkit", "-help"], capture_output=True, text=True, env=e,
                           timeout=60)
        assert r.returncode == 0 and "plugin 'broken' not loaded" in r.stderr


def test_other_commands_leave_an_up_to_date_record_alone(env):
    e, _ = env
    help_run(e, "-help")
    cache_dir = os.path.join(e["XDG_CACHE_HOME"], "cmpkit")
    (name,) = os.listdir(cache_dir)
    before = os.stat(os.path.join(cache_dir, name))
    r = subprocess.run([sys.executable, "-m", "cmpkit", "-config", "", "-cmd", "ir"], capture_output=True, text=True,
                       env=e, timeout=60)
    assert r.returncode == 1  # it discovered the plugins, then failed for want of options
    after = os.stat(os.path.join(cache_dir, name))
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)


def command_run(env, *args):
    """(exit status, stderr, read the entry points?) of `python -m cmpkit ARGS`."""
    r = subprocess.run([sys.executable, "-X", "importtime", "-m", "cmpkit", *args], capture_output=True, text=True,
                       env=env, timeout=60)
    return r.returncode, r.stderr, " stevedore" in r.stderr or "importlib.metadata" in r.stderr


GENM = ["-config", "", "-use_mock_srv", "-srv_ref", "1", "-srv_secret", "pass:s", "-cmd", "genm", "-ref", "1",
        "-secret", "pass:s"]


def test_every_command_uses_the_remembered_discovery(env):
    """One mechanism for every command: after one discovery, a run imports the plugins it found
    without reading the entry points (no stevedore, no importlib.metadata)."""
    e, _ = env
    first = command_run(e, *GENM)
    second = command_run(e, *GENM)
    assert first[0] == second[0] == 0
    assert first[2] and not second[2]


def test_a_plugin_installed_later_is_used_by_the_next_command(env):
    e, site = env
    assert command_run(e, *GENM)[0] == 0
    assert not command_run(e, *GENM)[2]
    _install(site, "cmpkit_socketpair", "cmpkit_socketpair", PLUGIN_SOURCE, [("socketpair", "cmpkit_socketpair")])
    code, err, discovered = command_run(e, "-config", "", "-cmd", "genm", "-socketpair_peer", "nobody", "-ref", "1",
                                        "-secret", "pass:s")
    assert discovered and "unknown option" not in err    # the new plugin's option is known at once


def test_a_blocked_plugin_stays_blocked_from_the_record(env):
    e, _ = env
    blocked = dict(e, CMPKIT_BLOCK_PLUGINS="mock")
    for expect_scan in (True, False):
        code, err, discovered = command_run(blocked, *GENM)
        assert code == 1 and discovered == expect_scan
        assert "'mock' (blocked by CMPKIT_BLOCK_PLUGINS)" in err


def test_a_new_file_on_the_path_that_is_no_distribution_keeps_the_record(env):
    """`python -m cmpkit ... -certout cert.pem` writes into the current directory, which is on
    sys.path: that alone must not cost a discovery; a distribution appearing there must."""
    e, site = env
    assert command_run(e, *GENM)[0] == 0
    (site / "cert.pem").write_bytes(b"not a distribution")
    os.utime(site, ns=(os.stat(site).st_atime_ns, os.stat(site).st_mtime_ns + 10**9))  # mtime surely moved
    assert not command_run(e, *GENM)[2]
    (site / "other-1.0.dist-info").mkdir()
    os.utime(site, ns=(os.stat(site).st_atime_ns, os.stat(site).st_mtime_ns + 10**9))
    assert command_run(e, *GENM)[2]


def test_the_script_and_python_m_keep_separate_records(env, tmp_path):
    """Different module search paths (python -m puts the current directory first) do not
    overwrite each other's record, so neither rediscovers every time."""
    e, _ = env
    other = tmp_path / "elsewhere"
    other.mkdir()
    for cwd in (None, other):
        subprocess.run([sys.executable, "-m", "cmpkit", *GENM], capture_output=True, env=e, timeout=60, cwd=cwd)
    r = subprocess.run([sys.executable, "-X", "importtime", "-m", "cmpkit", *GENM], capture_output=True, text=True,
                       env=e, timeout=60)
    assert r.returncode == 0 and " stevedore" not in r.stderr and "importlib.metadata" not in r.stderr
    assert len(os.listdir(os.path.join(e["XDG_CACHE_HOME"], "cmpkit"))) == 2
