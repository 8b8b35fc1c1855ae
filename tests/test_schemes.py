"""Transports chosen by the server URL's scheme (cmpkit_transport_schemes): the bundled schemes, a third
party's selected with no other configuration, two plugins claiming one scheme, an unknown scheme, and
the example package examples/cmpkit-filedrop installed with pip into a fresh venv (slow)."""
import logging
import os
import pathlib
import shutil
import subprocess
import sys
import threading
import time

import pytest
from cryptography import x509

from cmpkit import hookimpl
from cmpkit.app.schemes import open_transport, scheme_of, scheme_table
from cmpkit.errors import ConfigError, PluginError

from .tools import CMPKIT, Server, env

ROOT = pathlib.Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "cmpkit-filedrop"


@pytest.fixture
def quiet_cli(monkeypatch):
    """cli.main() adds its handler to the "cmpkit" logger on the captured stream: undo that after."""
    logger = logging.getLogger("cmpkit")
    monkeypatch.setattr(logger, "handlers", list(logger.handlers))
    monkeypatch.setattr(logger, "propagate", logger.propagate)
    monkeypatch.setattr(logger, "level", logger.level)
    monkeypatch.delenv("OPENSSL_CONF", raising=False)


class Claims:
    """An in-process plugin declaring ``schemes``; its factory records the URLs it opened."""

    def __init__(self, *schemes, answer=None):
        self.schemes, self.opened, self.answer = schemes, [], answer

    @hookimpl
    def cmpkit_transport_schemes(self):
        return {s: self.open for s in self.schemes}

    def open(self, url, config, ctx):
        self.opened.append(url)
        return self.answer


@pytest.mark.parametrize("url, scheme", [
    ("http://h/p", "http"), ("HTTPS://h", "https"), ("h:80/p", "http"), ("host/a?u=x://y", "http"),
    ("filedrop:///var/spool", "filedrop"), ("coap+tcp://h", "coap+tcp"), ("1x://h", "http"), ("", "http"),
])
def test_scheme_of_follows_rfc3986_and_defaults_to_http(url, scheme):
    assert scheme_of(url) == scheme


def test_bundled_schemes(fresh_plugins):
    table = scheme_table()
    assert {s: table[s][0] for s in ("http", "https", "mock")} == {"http": "http", "https": "http", "mock": "mock"}


def test_no_scheme_means_http(fresh_plugins):
    from cmpkit.app.credentials import Loader
    from cmpkit.core.options import Config
    from cmpkit_http.client import HttpTransport

    from .tools import bundled_options
    cfg = Config.from_values(bundled_options(), {"server": "h:1/p"})
    t = open_transport("h:1/p", cfg, Loader(cfg))
    assert isinstance(t, HttpTransport) and t.url == "http://h:1/p"


def test_two_plugins_claiming_one_scheme_is_an_error_naming_both(fresh_plugins):
    pm = fresh_plugins.get_manager()
    pm.register(Claims("drop", "other"), name="first-drop")
    pm.register(Claims("DROP"), name="second-drop")  # schemes are case-insensitive
    with pytest.raises(PluginError) as info:
        scheme_table()
    assert "'drop'" in str(info.value) and "'first-drop'" in str(info.value) and "'second-drop'" in str(info.value)


def test_claiming_a_bundled_scheme_is_an_error_too(fresh_plugins):
    fresh_plugins.get_manager().register(Claims("https"), name="my-https")
    with pytest.raises(PluginError, match="'https' is served by two plugins: '.*' and '.*'") as info:
        scheme_table()
    assert "'http'" in str(info.value) and "'my-https'" in str(info.value)


def test_malformed_declarations_are_plugin_errors(fresh_plugins):
    class Bad:
        @hookimpl
        def cmpkit_transport_schemes(self):
            return ["x"]
    fresh_plugins.get_manager().register(Bad(), name="bad")
    with pytest.raises(PluginError, match="plugin 'bad'"):
        scheme_table()


def test_unknown_scheme_is_a_one_line_error(fresh_plugins, quiet_cli, capsys):
    from cmpkit import cli
    code = cli.main(["-config", "", "-server", "ftp://h/p", "-cmd", "genm", "-secret", "pass:s", "-ref", "1",
                     "-recipient", "/CN=ca"])
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1
    assert err.startswith("CMP error: no plugin serves the URL scheme 'ftp' of -server 'ftp://h/p'")
    assert "http, https, mock" in err
    with pytest.raises(ConfigError, match="scheme 'ftp'"):
        open_transport("ftp://h", None, None)


@pytest.mark.slow
def test_a_blocked_transport_plugin_is_named(tmp_path):
    """-server is the shell's option: with the http plugin blocked, it is known, and the error names
    the plugin that would serve the scheme."""
    r = subprocess.run(CMPKIT + ["-config", "", "-server", "127.0.0.1:1", "-cmd", "genm", "-secret", "pass:s",
                                 "-ref", "1", "-recipient", "/CN=ca"], capture_output=True, text=True, timeout=60,
                       env=dict(env(), CMPKIT_BLOCK_PLUGINS="http", CMPKIT_NO_CACHE="1"), cwd=tmp_path)
    assert r.returncode == 1
    assert r.stderr == ("CMP error: no plugin serves the URL scheme 'http' of -server '127.0.0.1:1' (served: mock); "
                        "it may be served by a plugin that is not loaded: 'http' (blocked by CMPKIT_BLOCK_PLUGINS)\n")


GENM = ["-config", "", "-cmd", "genm", "-secret", "pass:s", "-ref", "1", "-srv_ref", "1", "-srv_secret", "pass:s"]


def test_a_third_party_scheme_is_selected_with_no_other_configuration(fresh_plugins, quiet_cli, capsys, pki):
    """A plugin declaring "loop" carries the command's messages for -server loop://...: no dummy
    option, no hook ordering, and it takes no message for another scheme."""
    from cmpkit import cli
    from cmpkit.app.credentials import Loader
    from cmpkit.core.options import Config
    from cmpkit_mock.plugin import build_server

    from .tools import bundled_options
    cfg = Config.from_values(bundled_options(), {"srv_ref": "1", "srv_secret": "pass:s",
                                                 "rsp_cert": pki.path("issued")})
    server = build_server(cfg, Loader(cfg))
    seen = []

    class Loop:
        def send(self, request, timeout=None):
            seen.append(request)
            return server.handle(request)

        def close(self):
            seen.append("closed")
    loop = Claims("loop", answer=Loop())
    fresh_plugins.get_manager().register(loop, name="loop")
    assert cli.main(GENM + ["-server", "loop://ca/x"]) == 0
    assert loop.opened == ["loop://ca/x"] and len(seen) == 2 and seen[-1] == "closed"
    assert "genp contains ITAV" not in capsys.readouterr().out  # openssl: an empty genp has none
    assert cli.main(GENM + ["-use_mock_srv"]) == 0  # the mock plugin's -use_mock_srv as before
    assert loop.opened == ["loop://ca/x"]


def test_mock_scheme_is_the_in_process_mock_server(fresh_plugins, quiet_cli, capsys, pki, tmp_path):
    """-server mock:// gives what -use_mock_srv gives: the same certificate, the same log lines."""
    from cmpkit import cli
    outs = []
    for how in (["-server", "mock://"], ["-use_mock_srv"]):
        out = tmp_path / "cert.pem"
        args = ["-config", "", "-cmd", "ir", "-secret", "pass:s", "-ref", "1", "-newkey", pki.path("new_key"),
                "-subject", "/CN=leaf", "-certout", str(out), "-srv_ref", "1", "-srv_secret", "pass:s",
                "-rsp_cert", pki.path("issued")] + how
        assert cli.main(args) == 0
        outs.append((x509.load_pem_x509_certificate(out.read_bytes()), capsys.readouterr().err))
    assert outs[0][0] == outs[1][0] == pki.objs["issued"]
    assert outs[0][1] == outs[1][1] and "will contact mock server" in outs[0][1]


# ---------------------------------------------------------------- the example package, installed by pip

def _courier(directory, server_url, stop):
    """Carries each request file of the drop directory to the HTTP server and its response back."""
    import httpx
    while not stop.is_set():
        for name in sorted(os.listdir(directory)):
            if not name.endswith(".req"):
                continue
            path = os.path.join(directory, name)
            with open(path, "rb") as fh:
                request = fh.read()
            os.rename(path, path + ".done")
            rsp = httpx.post(server_url, content=request, headers={"Content-Type": "application/pkixcmp"})
            tmp = path[:-4] + ".rsp.tmp"
            with open(tmp, "wb") as fh:
                fh.write(rsp.content)
            os.replace(tmp, path[:-4] + ".rsp")
        time.sleep(0.05)


@pytest.mark.slow
def test_example_filedrop_package_installed_by_pip_is_selected_by_its_scheme(tmp_path, pki):
    venv = tmp_path / "venv"
    # without its own pip and setuptools: the system's (the test extra's setuptools>=77, wheel) build offline
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(venv)], check=True,
                   timeout=120)
    python = str(venv / "bin" / "python")
    e = {k: v for k, v in env().items() if k not in ("PYTHONPATH", "CMPKIT_BLOCK_PLUGINS")}
    e.update(PIP_NO_INDEX="1", PIP_DISABLE_PIP_VERSION_CHECK="1", XDG_CACHE_HOME=str(tmp_path / "cache"))
    for source in (ROOT, EXAMPLE):  # copies: a build must not leave files in the checkout
        copy = tmp_path / source.name
        shutil.copytree(source, copy, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__", ".git"))
        r = subprocess.run([python, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", str(copy)],
                           capture_output=True, text=True, env=e, timeout=300, cwd=tmp_path)
        assert r.returncode == 0, r.stderr
    where = subprocess.run([python, "-c", "import cmpkit, cmpkit_filedrop; print(cmpkit.__file__)"],
                           capture_output=True, text=True, env=e, cwd=tmp_path, timeout=60)
    assert where.stdout.startswith(str(venv)), where.stdout + where.stderr  # the installed copies run

    drop = tmp_path / "drop"
    drop.mkdir()
    stop = threading.Event()
    with Server(CMPKIT + ["-config", "", "-srv_ref", "1", "-srv_secret", "pass:s", "-rsp_cert", pki.path("issued"),
                          "-rsp_extracerts", pki.path("chain")]) as srv:
        courier = threading.Thread(target=_courier, args=(str(drop), f"http://{srv.address}/", stop), daemon=True)
        courier.start()
        try:
            out = tmp_path / "cert.pem"
            r = subprocess.run([str(venv / "bin" / "cmpkit"), "-config", "", "-server", f"filedrop://{drop}",
                                "-cmd", "ir", "-secret", "pass:s", "-ref", "1", "-newkey", pki.path("new_key"),
                                "-subject", "/CN=leaf", "-certout", str(out)],
                               capture_output=True, text=True, env=e, cwd=tmp_path, timeout=120)
        finally:
            stop.set()
            courier.join(10)
    assert r.returncode == 0, r.stderr
    assert x509.load_pem_x509_certificate(out.read_bytes()) == pki.objs["issued"]
    assert sorted(p.name.split("-", 1)[0] + p.suffix for p in drop.iterdir()) == ["0001.done", "0002.done"]
