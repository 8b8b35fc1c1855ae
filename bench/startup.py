#!/usr/bin/env python3
"""Process start: `-help` and one complete in-process PBM IR, cold, cmpkit beside openssl cmp; wall time and peak memory.

Each command runs as a fresh process, the tools alternating; the table gives medians of wall
time and of peak resident memory (GNU time's %M).
Usage: python bench/startup.py [RUNS]
"""
import os
import statistics
import subprocess
import sys
import tempfile
import time

from common import CMPKIT, TOOLS, env, make_pki, table

RUNS = int(sys.argv[1]) if len(sys.argv) > 1 else 15


TIME = "/usr/bin/time"  # GNU time: reports the peak RSS of the command alone


def run(argv, ok_codes=(0,), extra_env=None) -> tuple:
    """(wall seconds, peak RSS in MiB) of one process.

    The peak memory comes from GNU time (Debian package `time`): the ru_maxrss that wait4
    gives a child forked from this Python process counts the parent's pages before exec.
    """
    with tempfile.NamedTemporaryFile("r") as out:
        t0 = time.perf_counter()
        proc = subprocess.run([TIME, "-q", "-f", "%M", "-o", out.name, *argv], stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, env={**env(), **(extra_env or {})})
        wall = time.perf_counter() - t0
        if proc.returncode not in ok_codes:
            raise SystemExit(f"command failed ({proc.returncode}): {' '.join(argv)}\n"
                             f"{proc.stderr.decode(errors='replace')[-500:]}")
        return wall, int(out.read().split()[-1]) / 1024


def main():
    if not os.path.exists(TIME):
        raise SystemExit(f"{TIME} is needed for peak memory (apt-get install time)")
    p = make_pki()
    ir = ["-config", "", "-use_mock_srv", "-srv_ref", "1234", "-srv_secret", "pass:test", "-rsp_cert",
          p.path("issued"), "-cmd", "ir", "-ref", "1234", "-secret", "pass:test", "-newkey", p.path("new_key"),
          "-subject", "/CN=leaf", "-certout", str(p.dir / "out.pem")]
    cases = {"-help": (["-help"], (0, 1), None),
             "-help without the plugin-option cache": (["-help"], (0, 1), {"CMPKIT_NO_CACHE": "1"}),
             "one IR (in-process mock, PBM)": (ir, (0,), None)}
    run(CMPKIT + ["-help"])  # the first -help after an install discovers the plugins and remembers their options
    times, memory = [], []
    for label, (args, ok, extra_env) in cases.items():
        samples = {tool: [] for tool in TOOLS}
        for _ in range(RUNS):
            for tool in TOOLS:
                samples[tool].append(run(TOOLS[tool] + args, ok, extra_env))
        times.append((f"{label}, cold", {t: statistics.median(s[0] for s in v) * 1000 for t, v in samples.items()}))
        memory.append((f"{label}, peak RSS", {t: statistics.median(s[1] for s in v) for t, v in samples.items()}))
    table(f"Process start, median of {RUNS} runs", times)
    table(f"Peak memory, median of {RUNS} runs", memory, unit="MiB")


if __name__ == "__main__":
    main()
