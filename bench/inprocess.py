#!/usr/bin/env python3
"""Time per in-process transaction (-use_mock_srv -repeat N): PBM IR and signature CR, cmpkit beside openssl cmp.

Per transaction = (t(repeat N) - t(repeat 1)) / (N - 1), so process start-up cancels out.
Each transaction writes -certout. cmpkit flushes it to disk, openssl does not: the file's data
before each rename (about 0.2-0.3 ms on a quiet ext4 disk, several ms on a busy one) and, with
-repeat, the directory once per run (app/files.py defer_directory_sync). The rows "-certout on
tmpfs" (in /dev/shm, where a flush costs nothing) compare the same work: they are the target.
Usage: python bench/inprocess.py [N] [ROUNDS]
"""
import os
import sys
import tempfile

from common import alternate, make_pki, table, timed, TOOLS

N = int(sys.argv[1]) if len(sys.argv) > 1 else 200
ROUNDS = int(sys.argv[2]) if len(sys.argv) > 2 else 9


def scenarios(p):
    srv = ["-config", "", "-use_mock_srv", "-rsp_cert", p.path("issued"), "-srv_ref", "1234", "-srv_secret",
           "pass:test", "-srv_cert", p.path("server"), "-srv_key", p.path("server_key"),
           "-srv_trusted", p.path("root"), "-srv_untrusted", p.path("issuing")]
    ir = srv + ["-cmd", "ir", "-ref", "1234", "-secret", "pass:test", "-newkey", p.path("new_key"),
                "-subject", "/CN=leaf"]
    cr = srv + ["-cmd", "cr", "-cert", p.path("client"), "-key", p.path("client_key"), "-trusted", p.path("root"),
                "-untrusted", p.path("issuing"), "-newkey", p.path("new_key"), "-subject", "/CN=leaf"]
    out = ["-certout", str(p.dir / "out.pem")]
    runs = {"PBM IR": ir + out, "signature CR": cr + out}
    if os.path.isdir("/dev/shm"):
        shm = ["-certout", os.path.join(tempfile.mkdtemp(dir="/dev/shm", prefix="cmpkit-bench-"), "out.pem")]
        runs.update({"PBM IR, -certout on tmpfs": ir + shm, "signature CR, -certout on tmpfs": cr + shm})
    return runs


def main():
    p = make_pki()
    rows = []
    for label, args in scenarios(p).items():
        def per_tx(tool):
            t1 = timed(TOOLS[tool] + args + ["-repeat", "1"])
            tn = timed(TOOLS[tool] + args + ["-repeat", str(N)])
            return (tn - t1) / (N - 1) * 1000
        rows.append((f"{label}, per transaction", alternate(per_tx, ROUNDS)))
    table(f"In-process mock server, -repeat {N}, median of {ROUNDS} rounds", rows,
          targets={"signature CR, -certout on tmpfs, per transaction": 1.0})


if __name__ == "__main__":
    main()
