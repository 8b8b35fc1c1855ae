"""The plugin framework: a third-party plugin installed through an entry point carries a whole
transaction over a transport of its own; broken and blocked plugins are handled (a blocked
plugin's options are unknown, in one line); cmpkit_configure and cmpkit_unconfigure bracket every run."""
import sys

import pytest

from cmpkit.core import bodies
from cmpkit.app.transaction import Client
from cmpkit.core.client import ClientSettings
from cmpkit.core.keys import SoftwareKey
from cmpkit.plugins import hookimpl

from .test_client import SECRET, Responder

# The third party's code: a transport over a socket pair to a peer thread that runs the
# responder it was configured with. Nothing in cmpkit knows about it.
PLUGIN_SOURCE = '''
"""A third-party cmpkit transport: length-prefixed messages over a local socket pair."""
import socket
import struct
import threading

from cmpkit import hookimpl

PEERS = {}  # name -> callable(request_der) -> response_der, set by whoever deploys the plugin


def _recv_exact(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError("peer closed")
        data += chunk
    return data


def _frame_read(sock):
    (n,) = struct.unpack(">I", _recv_exact(sock, 4))
    return _recv_exact(sock, n)


class SocketPairTransport:
    def __init__(self, peer):
        self.sock, far = socket.socketpair()
        self.frames = 0
        def serve():
            with far:
                while True:
                    try:
                        req = _frame_read(far)
                    except ConnectionError:
                        return
                    rsp = peer(req)
                    far.sendall(struct.pack(">I", len(rsp)) + rsp)
        threading.Thread(target=serve, daemon=True).start()

    def send(self, request, timeout=None):
        self.sock.settimeout(timeout)
        self.frames += 1
        self.sock.sendall(struct.pack(">I", len(request)) + request)
        return _frame_read(self.sock)

    def close(self):
        self.sock.close()


@hookimpl
def cmpkit_options():
    from cmpkit.core.options import Option
    return [Option("socketpair_peer", "str", help="name of a peer to talk to over a socket pair (test plugin)",
                   group="Message transfer options")]


@hookimpl
def cmpkit_get_transport(config):
    name = config.get("socketpair_peer")
    if name is None:
        return None
    return SocketPairTransport(PEERS[name])
'''

BROKEN_SOURCE = "import a_module_that_does_not_exist_anywhere\n"


def _install(tmp_path, dist, module, source, group_entries):
    """Install a module with entry points the way pip does: a dist-info directory on sys.path."""
    (tmp_path / f"{module}.py").write_text(source)
    info = tmp_path / f"{dist}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[cmpkit.plugins]\n" + "".join(
        f"{name} = {target}\n" for name, target in group_entries))


@pytest.fixture
def third_party(tmp_path, monkeypatch, fresh_plugins):
    _install(tmp_path, "cmpkit_socketpair", "cmpkit_socketpair", PLUGIN_SOURCE,
             [("socketpair", "cmpkit_socketpair")])
    _install(tmp_path, "cmpkit_broken", "cmpkit_broken", BROKEN_SOURCE, [("broken", "cmpkit_broken")])
    monkeypatch.syspath_prepend(str(tmp_path))
    yield fresh_plugins
    for mod in ("cmpkit_socketpair", "cmpkit_broken"):
        sys.modules.pop(mod, None)


class Cfg(dict):
    def get(self, name, default=None):
        return super().get(name, default)


def test_third_party_transport_carries_a_transaction(third_party, pki):
    from cryptography.hazmat.primitives import serialization
    pm = third_party.get_manager()
    assert pm.has_plugin("socketpair")
    import cmpkit_socketpair
    issued = pki.objs["issued"].public_bytes(serialization.Encoding.DER)
    responder = Responder(issued)
    cmpkit_socketpair.PEERS["ca"] = responder

    transport = pm.hook.cmpkit_get_transport(config=Cfg(socketpair_peer="ca"), ctx=None)
    assert type(transport).__name__ == "SocketPairTransport"
    key = pki.objs["new_key"]
    spki = key.public_key().public_bytes(serialization.Encoding.DER,
                                         serialization.PublicFormat.SubjectPublicKeyInfo)
    settings = ClientSettings(cmd="ir", secret=SECRET, ref=b"1", newkey_signer=SoftwareKey(key),
                              newkey_public=key.public_key(), template=bodies.Template(public_key=spki))
    result = Client(settings, transport).run()
    transport.close()
    assert result.cert == issued
    assert transport.frames == 2 and responder.seen == ["ir", "certConf"]


def test_broken_plugin_is_reported_and_others_work(third_party):
    pm = third_party.get_manager()
    failures = dict(third_party.load_failures)
    assert "broken" in failures and "a_module_that_does_not_exist_anywhere" in failures["broken"]
    assert pm.has_plugin("socketpair") and pm.has_plugin("file")


def test_blocked_plugin_is_not_loaded(third_party, monkeypatch):
    monkeypatch.setenv("CMPKIT_BLOCK_PLUGINS", "socketpair, broken")
    third_party.reset_manager()
    pm = third_party.get_manager()
    assert not pm.has_plugin("socketpair")
    assert "broken" not in dict(third_party.load_failures)  # blocked before import
    assert pm.hook.cmpkit_get_transport(config=Cfg(socketpair_peer="ca"), ctx=None) is None


# ---------------------------------------------------------------- configure and unconfigure

class Recorder:
    """A plugin registered in-process that records cmpkit_configure and cmpkit_unconfigure."""

    def __init__(self, fail_configure=False):
        self.calls = []
        self.fail_configure = fail_configure

    @hookimpl
    def cmpkit_configure(self, config):
        self.calls.append(("configure", config))
        if self.fail_configure:
            from cmpkit.errors import PluginError
            raise PluginError("recorder cannot configure")

    @hookimpl
    def cmpkit_unconfigure(self, config):
        self.calls.append(("unconfigure", config))


@pytest.fixture
def recorder(fresh_plugins, monkeypatch):
    import logging
    logger = logging.getLogger("cmpkit")  # main() adds its handler on the captured stream: undo that after
    monkeypatch.setattr(logger, "handlers", [])
    monkeypatch.setattr(logger, "propagate", logger.propagate)
    monkeypatch.delenv("OPENSSL_CONF", raising=False)

    def make(**kw):
        rec = Recorder(**kw)
        fresh_plugins.get_manager().register(rec, name="recorder")
        return rec
    return make


def _mock_genm(pki=None):
    """A genm to the in-process mock server; without ``pki`` (no certificate files) as the file plugin is not needed."""
    return ["-config", "", "-use_mock_srv", "-srv_ref", "1234", "-srv_secret", "pass:test",
            *(["-rsp_cert", pki.path("issued")] if pki else []), "-cmd", "genm", "-ref", "1234", "-secret", "pass:test"]


def test_configure_and_unconfigure_bracket_every_run(recorder, pki, capsys):
    from cmpkit import cli
    rec = recorder()
    assert cli.main(_mock_genm(pki)) == 0                      # success
    assert cli.main(["-config", "", "-cmd", "genm"]) == 1      # failure: no server
    assert cli.main(["-config", "", "-port", "x"]) == 1        # the server mode, failing
    assert [c for c, _ in rec.calls] == ["configure", "unconfigure"] * 3
    assert all(rec.calls[i][1] is rec.calls[i + 1][1] for i in (0, 2, 4))  # the same Config
    assert rec.calls[0][1].get("use_mock_srv") is True
    rec.calls.clear()
    assert cli.main(["-help"]) == 0 and cli.main(["-nosuchoption"]) == 1  # no run: no configure
    assert rec.calls == []
    capsys.readouterr()


def test_unconfigure_follows_a_failed_configure(recorder, pki, capsys):
    from cmpkit import cli
    rec = recorder(fail_configure=True)
    assert cli.main(_mock_genm(pki)) == 1
    assert [c for c, _ in rec.calls] == ["configure", "unconfigure"]
    assert capsys.readouterr().err == "CMP error: recorder cannot configure\n"


# ---------------------------------------------------------------- a blocked plugin's options

def _cmpkit(argv, blocked):
    import subprocess

    from .tools import CMPKIT, env
    return subprocess.run(CMPKIT + argv, capture_output=True, text=True, timeout=60,
                          env=dict(env(), CMPKIT_BLOCK_PLUGINS=blocked, CMPKIT_NO_CACHE="1"))


@pytest.mark.parametrize("blocked, argv", [
    ("http", ["-proxy", "127.0.0.1:1", "-cmd", "genm"]),  # -server is the shell's (tests/test_schemes.py)
    ("http", ["-cmd", "genm", "-tls_used"]),
    ("mock", ["-use_mock_srv", "-cmd", "genm"]),
    ("mock", ["-port", "0", "-srv_ref", "1234"]),
    ("file", ["-rspin", "rsp.der", "-cmd", "genm"]),
])
def test_a_blocked_plugins_options_are_unknown_in_one_line(blocked, argv):
    option = next(a for a in argv if a not in ("-cmd", "-port") and a.startswith("-"))
    r = _cmpkit(["-config", "", *argv], blocked)
    assert r.returncode == 1
    assert r.stderr == (f"CMP error: unknown option '{option}' (see -help); it may be an option of a plugin "
                        f"that is not loaded: '{blocked}' (blocked by CMPKIT_BLOCK_PLUGINS)\n")
    assert f"\n {option} " not in _cmpkit(["-help"], blocked).stdout


def test_other_plugins_run_without_a_blocked_ones_options():
    # the shell and the http plugin read -rspin, -reqin, -use_mock_srv ... only if declared
    r = _cmpkit(_mock_genm(), "http,file")
    assert r.returncode == 0, r.stderr
    assert "genp contains ITAV" in r.stdout or "genp does not contain any ITAV" in r.stderr
    r = _cmpkit(["-config", "", "-server", "127.0.0.1:1", "-cmd", "genm", "-ref", "1", "-secret", "pass:x",
                 "-msg_timeout", "5"], "mock,file")
    assert r.returncode == 1 and "internal error" not in r.stderr
    assert r.stderr.splitlines()[-1].startswith("CMP error: cannot connect to http://127.0.0.1:1/")
