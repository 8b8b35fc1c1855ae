"""`cmpkit -port` on uvicorn as a process: SIGTERM and Ctrl-C stop it cleanly, -srv_workers N serves
openssl's clients from N processes (certConf over the kept connection; -max_msgs counted over all
workers) and takes its workers along when it ends."""
import os
import signal
import socket
import threading
import time

import pytest

from .test_interop_http import _server_args
from .tools import CMPKIT, Server, run

pytestmark = pytest.mark.slow


def _children(pid: int) -> set:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return {int(c) for c in f.read().split()}
    except OSError:
        pytest.skip("no /proc children list here")


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def _openssl_ir(openssl, server, *extra):
    return [openssl, "cmp", "-config", "", "-server", server.address, "-cmd", "ir", "-ref", "1234",
            "-secret", "pass:test", "-newkey", server.pki.path("new_key"), "-subject", "/CN=leaf",
            "-certout", "/dev/null", *extra]


@pytest.mark.parametrize("sig,code", [(signal.SIGTERM, 128 + 15), (signal.SIGINT, 1)])
def test_signals_stop_the_server_cleanly(pki, sig, code):
    with Server(CMPKIT + _server_args(pki)) as server:
        with socket.create_connection(("127.0.0.1", server.port), timeout=5):   # an idle kept connection
            time.sleep(0.2)
            server.proc.send_signal(sig)
            assert server.proc.wait(timeout=10) == code
        err = server.proc.stderr.read()
        assert "Traceback" not in err, err


def test_workers_serve_concurrent_openssl_clients_and_end_with_the_server(pki, openssl):
    with Server(CMPKIT + _server_args(pki) + ["-srv_workers", "2"]) as server:
        server.pki = pki
        time.sleep(0.5)  # the workers were forked
        workers = _children(server.proc.pid)
        assert len(workers) == 2
        results = []

        def client():
            # certConf goes over the kept connection, so to the worker that holds the transaction
            results.append(run(_openssl_ir(openssl, server, "-repeat", "3")))
        threads = [threading.Thread(target=client) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert [r.returncode for r in results] == [0] * 4, [r.stderr[-300:] for r in results]
        server.proc.send_signal(signal.SIGTERM)
        server.proc.wait(timeout=15)
        time.sleep(0.5)
        assert not any(_alive(w) for w in workers)
        assert "Traceback" not in server.proc.stderr.read()


def test_workers_end_when_the_server_is_killed(pki):
    with Server(CMPKIT + _server_args(pki) + ["-srv_workers", "2"]) as server:
        time.sleep(0.5)
        workers = _children(server.proc.pid)
        assert len(workers) == 2
        server.proc.kill()
        server.proc.wait(timeout=10)
        deadline = time.monotonic() + 10
        while any(_alive(w) for w in workers) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not any(_alive(w) for w in workers)


def test_max_msgs_counts_over_all_workers(pki, openssl):
    with Server(CMPKIT + _server_args(pki) + ["-srv_workers", "2", "-max_msgs", "3", "-grant_implicitconf"]) as server:
        server.pki = pki
        for _ in range(3):  # a fresh connection each, spread over the workers by the kernel
            r = run(_openssl_ir(openssl, server, "-implicit_confirm"))
            assert r.returncode == 0, r.stderr
        assert server.proc.wait(timeout=15) == 0
        r = run(_openssl_ir(openssl, server, "-implicit_confirm"))
        assert r.returncode != 0


def test_srv_workers_option_errors():
    r = run(CMPKIT + ["-config", "", "-port", "0", "-srv_ref", "1", "-srv_secret", "pass:x", "-srv_workers", "0"])
    assert r.returncode == 1 and "srv_workers" in r.stderr and "Traceback" not in r.stderr
    assert os.linesep not in r.stderr.strip()
