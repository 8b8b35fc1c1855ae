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


def _ca_args(p, db=None):
    from .pki import pem_key
    key = p.dir / "issuing.key"
    if not key.exists():
        key.write_bytes(pem_key(p.objs["issuing_key"]))
    return ["-config", "", "-srv_ref", "1234", "-srv_secret", "pass:test", "-srv_ca_cert", p.path("issuing"),
            "-srv_ca_key", str(key), "-srv_trusted", p.path("root")] + (["-srv_db", str(db)] if db else [])


def test_ca_mode_workers_share_the_database(pki, openssl, tmp_path):
    """CA mode with -srv_workers 2: each worker its own connection to -srv_db; concurrent openssl
    clients (certConf on the kept connection) all get certificates, with serial numbers never repeated."""
    from cryptography import x509
    with Server(CMPKIT + _ca_args(pki, tmp_path / "ca.sqlite") + ["-srv_workers", "2"]) as server:
        server.pki = pki
        time.sleep(0.5)
        assert len(_children(server.proc.pid)) == 2
        outs = [tmp_path / f"c{i}.pem" for i in range(6)]
        results = []

        def client(out):
            argv = _openssl_ir(openssl, server)
            argv[argv.index("/dev/null")] = str(out)
            results.append(run(argv))
        threads = [threading.Thread(target=client, args=(out,)) for out in outs]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert [r.returncode for r in results] == [0] * 6, [r.stderr[-300:] for r in results]
        serials = {x509.load_pem_x509_certificate(out.read_bytes()).serial_number for out in outs}
        assert len(serials) == 6


def test_ca_mode_workers_need_a_database_file(pki):
    r = run(CMPKIT + _ca_args(pki) + ["-port", "0", "-srv_workers", "2"])
    assert r.returncode == 1 and "-srv_db" in r.stderr and "Traceback" not in r.stderr
