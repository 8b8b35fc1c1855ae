#!/usr/bin/env python3
"""Mock server throughput: transactions per second with 1, 8 and 32 concurrent clients, cmpkit -port beside openssl cmp -port.

Both servers get the same load from the same generator: C concurrent `openssl cmp` client
processes, each running R PBM IR transactions (-repeat R) with implicit confirmation granted,
so that every transaction is one request and one response (openssl's mock server keeps one
transaction at a time; interleaved certConfs of concurrent clients would be refused).
Throughput = C x R / wall time of the whole batch; higher is better.
Usage: python bench/throughput.py [R] [ROUNDS] [CLIENTS...]
CMPKIT_BENCH_SERVER_ARGS adds options to cmpkit's server only (e.g. "-srv_workers 2").
"""
import os
import shlex
import subprocess
import sys
import time

from common import OPENSSL, TOOLS, env, make_pki, table

from tests.tools import Server

R = int(sys.argv[1]) if len(sys.argv) > 1 else 10
ROUNDS = int(sys.argv[2]) if len(sys.argv) > 2 else 5
CLIENTS = [int(c) for c in sys.argv[3:]] or [1, 8, 32]
STALL = 60.0  # seconds after which a batch counts as stalled (openssl's one-connection-at-a-time server
#               can wait forever on a kept-alive connection while that client queues its next one)


def batch(address: str, p, clients: int) -> float:
    """Transactions per second of `clients` concurrent openssl clients against `address`."""
    argv = OPENSSL + ["-config", "", "-server", address, "-cmd", "ir", "-ref", "1234", "-secret", "pass:test",
                      "-newkey", p.path("new_key"), "-subject", "/CN=leaf", "-implicit_confirm",
                      "-repeat", str(R), "-certout", "/dev/null"]
    t0 = time.perf_counter()
    procs = [subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env())
             for _ in range(clients)]
    try:
        for proc in procs:
            _, err = proc.communicate(timeout=max(1.0, t0 + STALL - time.perf_counter()))
            if proc.returncode != 0:
                raise SystemExit(f"a load client failed against {address}: {err.decode(errors='replace')[-500:]}")
    except subprocess.TimeoutExpired:
        for proc in procs:
            proc.kill()
            proc.communicate()
        print(f"  (the server at {address} stalled: {clients} clients not done after {STALL:.0f} s)", file=sys.stderr)
        return None
    return clients * R / (time.perf_counter() - t0)


def _median(values):
    """Median of the batches that finished; a stalled batch counts as 0 tx/s."""
    values = sorted(v or 0.0 for v in values)
    return values[len(values) // 2]


def main():
    p = make_pki()
    srv = ["-config", "", "-srv_ref", "1234", "-srv_secret", "pass:test", "-rsp_cert", p.path("issued"),
           "-grant_implicitconf"]
    extra = {"cmpkit": shlex.split(os.environ.get("CMPKIT_BENCH_SERVER_ARGS", ""))}
    servers = {tool: Server(TOOLS[tool] + srv + extra.get(tool, [])) for tool in TOOLS}
    try:
        rows = []
        for clients in CLIENTS:
            samples = {tool: [] for tool in TOOLS}
            for _ in range(ROUNDS):
                for tool in TOOLS:
                    samples[tool].append(batch(servers[tool].address, p, clients))
            rows.append((f"{clients} concurrent client(s)", {t: _median(v) for t, v in samples.items()}))
        table(f"Mock server over HTTP, PBM IR with implicit confirmation, openssl clients x {R} transactions, "
              f"median of {ROUNDS} rounds", rows, unit="tx/s", higher_is_better=True)
    finally:
        for s in servers.values():
            s.stop()


if __name__ == "__main__":
    main()
