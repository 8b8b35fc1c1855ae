"""Issue 13 item 17: `cmpkit -port` serves the request paths that `openssl cmp -port` serves and
refuses the others the same way (the empty path and `pkix/` only, case-sensitively; 404 else,
400 for a target that is not a path or has a bad %-escape), checked against both servers."""
import socket

import pytest

from .test_interop_http import _server_args
from .tools import CMPKIT, Server, read_until_closed, run

pytestmark = pytest.mark.slow

# -path of the client -> whether openssl cmp -port serves it
CLIENT_PATHS = {
    "": True, "pkix/": True, "/pkix/": True, "pkix//": True, "%70kix/": True,
    "pkix": False, "PKIX/": False, "Pkix/": False, "foo": False, "pkix/x": False, ".well-known/cmp": False,
}


def _servers(pki):
    """Both tools' servers, same options."""
    return {"openssl": ["openssl", "cmp"] + _server_args(pki), "cmpkit": CMPKIT + _server_args(pki)}


@pytest.mark.parametrize("client", ["openssl", "cmpkit"])
def test_client_with_right_and_wrong_path_against_both_servers(client, pki, openssl):
    argv0 = [openssl, "cmp"] if client == "openssl" else CMPKIT
    outcomes = {}
    for name, argv in _servers(pki).items():
        with Server(argv) as server:
            for path, served in CLIENT_PATHS.items():
                r = run(argv0 + ["-config", "", "-server", server.address, "-path", path, "-cmd", "genm",
                                 "-ref", "1234", "-secret", "pass:test"])
                assert "Traceback" not in r.stderr
                outcomes[name, path] = r.returncode
                assert (r.returncode == 0) == served, f"{client} -path '{path}' against {name}: {r.stderr}"
                if not served:
                    assert "404" in r.stdout + r.stderr, r.stdout + r.stderr
            # the server still serves after the refusals
            assert run(argv0 + ["-config", "", "-server", server.address, "-path", "pkix/", "-cmd", "genm",
                                "-ref", "1234", "-secret", "pass:test"]).returncode == 0
    assert {p: outcomes["cmpkit", p] for p in CLIENT_PATHS} == {p: outcomes["openssl", p] for p in CLIENT_PATHS}


def _status(port: int, target: bytes, body: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(b"POST " + target + b" HTTP/1.0\r\nContent-Type: application/pkixcmp\r\n"
                  b"Content-Length: %d\r\n\r\n" % len(body) + body)
        answer = read_until_closed(s)
    return answer.split(b" ", 2)[1]


TARGETS = [b"/", b"/pkix/", b"//pkix//", b"/pkix///", b"///", b"/%70kix/", b"/%2Fpkix/", b"/%00", b"/a%00b",
           b"/pkix%2F%2F", b"/pkix/%2f", b"/pkix", b"/PKIX/", b"/pkix/?q=1", b"/./pkix/", b"/foo",
           b"pkix/", b"http://127.0.0.1/pkix/", b"/%7", b"/pkix/%"]


def test_raw_request_targets_get_the_same_status_from_both_servers(pki, openssl, tmp_path):
    req = tmp_path / "genm.der"
    r = run([openssl, "cmp", "-use_mock_srv", *_server_args(pki), "-cmd", "genm",
             "-ref", "1234", "-secret", "pass:test", "-reqout", str(req)])
    assert r.returncode == 0, r.stderr
    body = req.read_bytes()
    statuses = {}
    for name, argv in _servers(pki).items():
        with Server(argv) as server:
            statuses[name] = {t: _status(server.port, t, body) for t in TARGETS}
    assert statuses["cmpkit"] == statuses["openssl"]
    assert statuses["openssl"][b"/PKIX/"] == b"404" and statuses["openssl"][b"pkix/"] == b"400"


@pytest.mark.parametrize("tool", ["openssl", "cmpkit"])
def test_a_refused_path_counts_for_max_msgs(tool, pki, openssl):
    argv = _servers(pki)[tool] + ["-max_msgs", "2"]
    client = [openssl, "cmp", "-config", "", "-cmd", "genm", "-ref", "1234", "-secret", "pass:test"]
    with Server(argv) as server:
        assert run(client + ["-server", server.address, "-path", "foo"]).returncode == 1
        assert run(client + ["-server", server.address, "-path", "pkix/"]).returncode == 0
        assert server.proc.wait(timeout=10) == 0  # the second message was the last
