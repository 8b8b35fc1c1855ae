#!/usr/bin/env python3
"""Mock server throughput: transactions per second with 1, 8 and 32 concurrent clients, cmpkit -port beside openssl cmp -port.

Both servers get the same load from the same generator: C concurrent `openssl cmp` client
processes, each running R PBM IR transactions (-repeat R) with implicit confirmation granted,
so that every transaction is one request and one response (openssl's mock server keeps one
transaction at a time; interleaved certConfs of concurrent clients would be refused).
Throughput = C x R / wall time of the whole batch; higher is better.
A last row per client count gives cmpkit's CA mode (-srv_ca_cert/-srv_ca_key: a real certificate
issued per request, its state in SQLite in memory) under the same load; openssl has no CA mode,
so that row has no ratio.
Usage: python bench/throughput.py [R] [ROUNDS] [CLIENTS...]
CMPKIT_BENCH_SERVER_ARGS adds options to cmpkit's server only (e.g. "-srv_workers 2");
CMPKIT_BENCH_CA=0 leaves the CA-mode row out.
"""
import os
import shlex
import subprocess
import sys
import time

from common import OPENSSL, TOOLS, drain, env, make_pki, table

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


def _ca_server(p, common, extra):
    """cmpkit -port in CA mode (the test PKI's issuing CA), or None with CMPKIT_BENCH_CA=0."""
    if os.environ.get("CMPKIT_BENCH_CA", "1") == "0":
        return None
    from tests.pki import pem_key
    key = p.write("issuing_key", "issuing.key", pem_key(p.objs["issuing_key"]))
    return drain(Server(TOOLS["cmpkit"] + common + ["-srv_ca_cert", p.path("issuing"), "-srv_ca_key", key] + extra))


def main():
    p = make_pki()
    common = ["-config", "", "-srv_ref", "1234", "-srv_secret", "pass:test", "-grant_implicitconf"]
    srv = common + ["-rsp_cert", p.path("issued")]
    extra = {"cmpkit": shlex.split(os.environ.get("CMPKIT_BENCH_SERVER_ARGS", ""))}
    servers = {tool: drain(Server(TOOLS[tool] + srv + extra.get(tool, []))) for tool in TOOLS}
    ca = _ca_server(p, common, extra["cmpkit"])
    try:
        rows, ca_rows = [], []
        for clients in CLIENTS:
            samples = {tool: [] for tool in TOOLS}
            ca_samples = []
            for _ in range(ROUNDS):
                for tool in TOOLS:
                    samples[tool].append(batch(servers[tool].address, p, clients))
                if ca is not None:
                    ca_samples.append(batch(ca.address, p, clients))
            rows.append((f"{clients} concurrent client(s)", {t: _median(v) for t, v in samples.items()}))
            if ca is not None:
                ca_rows.append(f"| {clients} concurrent client(s), cmpkit in CA mode | {_median(ca_samples):.2f} "
                               "| (no CA mode) | n/a | | |")
        table(f"Mock server over HTTP, PBM IR with implicit confirmation, openssl clients x {R} transactions, "
              f"median of {ROUNDS} rounds", rows, unit="tx/s", higher_is_better=True,
              targets={"8 concurrent client(s)": 1.0})
        for line in ca_rows:  # beside the table's rows: a real certificate issued per request
            print(line)
    finally:
        for s in list(servers.values()) + ([ca] if ca is not None else []):
            s.stop()


if __name__ == "__main__":
    main()
