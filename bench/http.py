#!/usr/bin/env python3
"""Time per PBM IR transaction over HTTP on loopback, each tool against its own mock server (-port 0).

Default keep-alive and -keep_alive 0. Per transaction = (t(repeat N) - t(repeat 1)) / (N - 1).
The third row isolates the client: both tools as clients of the same openssl server, -keep_alive 0
(a new connection per message, as a one-shot enrollment makes them); the last one the server:
openssl's client against each tool's server, -keep_alive 0. cmpkit flushes each -certout to disk
before its rename, openssl does not: the row "-keep_alive 0, -certout on tmpfs" (in /dev/shm, where
a flush costs nothing) compares the same work and is issue 17's target, as in bench/inprocess.py.
Usage: python bench/http.py [N] [ROUNDS]
"""
import os
import sys
import tempfile

from common import TOOLS, alternate, drain, make_pki, table, timed

from tests.tools import Server

N = int(sys.argv[1]) if len(sys.argv) > 1 else 40
ROUNDS = int(sys.argv[2]) if len(sys.argv) > 2 else 5


def main():
    p = make_pki()
    srv = ["-config", "", "-srv_ref", "1234", "-srv_secret", "pass:test", "-rsp_cert", p.path("issued")]
    servers = {tool: drain(Server(TOOLS[tool] + srv)) for tool in TOOLS}
    try:
        rows = []
        shm = tempfile.mkdtemp(dir="/dev/shm", prefix="cmpkit-bench-") if os.path.isdir("/dev/shm") else None
        tmpfs_row = [("PBM IR, -keep_alive 0, -certout on tmpfs", ["-keep_alive", "0"], None, None, shm)] if shm else []
        for label, extra, against, client, out_dir in (
                ("PBM IR, default keep-alive", [], None, None, None),
                ("PBM IR, -keep_alive 0", ["-keep_alive", "0"], None, None, None),
                *tmpfs_row,
                ("PBM IR, -keep_alive 0, both clients of openssl's server", ["-keep_alive", "0"], "openssl", None, None),
                ("PBM IR, -keep_alive 0, openssl's client against both servers", ["-keep_alive", "0"], None, "openssl",
                 None)):
            def per_tx(tool):
                args = TOOLS[client or tool] + [
                    "-config", "", "-server", servers[against or tool].address, "-cmd", "ir", "-ref", "1234",
                    "-secret", "pass:test", "-newkey", p.path("new_key"), "-subject", "/CN=leaf",
                    "-certout", os.path.join(out_dir or p.dir, f"out-{tool}.pem"), *extra]
                t1 = timed(args + ["-repeat", "1"])
                tn = timed(args + ["-repeat", str(N)])
                return (tn - t1) / (N - 1) * 1000
            rows.append((label, alternate(per_tx, ROUNDS)))
        table(f"HTTP on loopback, per transaction, -repeat {N}, median of {ROUNDS} rounds", rows,
              targets={"PBM IR, -keep_alive 0": 1.0, "PBM IR, -keep_alive 0, -certout on tmpfs": 1.0})
    finally:
        for s in servers.values():
            s.stop()


if __name__ == "__main__":
    main()
