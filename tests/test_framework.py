"""The plugin framework: a third-party plugin installed through an entry point carries a whole
transaction over a transport of its own; broken and blocked plugins are handled."""
import sys

import pytest

from cmpkit.core import bodies
from cmpkit.app.transaction import Client
from cmpkit.core.client import ClientSettings
from cmpkit.core.keys import SoftwareKey

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
