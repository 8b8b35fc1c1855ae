#!/usr/bin/env python3
"""One-shot enrollment: one fresh process doing one transaction, as users run it; cmpkit beside openssl cmp.

Rows (issue 17's first target): PBM ir over HTTP and signature-protected cr over HTTP, both tools
as clients of the same `openssl cmp -port` mock server, and an in-process (-use_mock_srv) PBM ir.
For each: wall time, CPU time (user + system of the process and its children, from wait4) and
peak resident memory (GNU time's %M), medians over RUNS runs with the tools alternating, and
the target (wall <= 1.0x, CPU <= 5x, memory <= 3x openssl's) with met / not met.
Three floors are timed in the same rounds (bench/floor_modules.py): the interpreter alone; the
interpreter importing the packages every run needs (pluggy, cryptography's EC and ECDSA,
logging, hashlib; cryptography.x509 too for a signature-protected run); the interpreter
importing every module the cmpkit run imported except cmpkit's own. They are what the run costs
before any cmpkit code, shown as ratios to openssl's figure too.
Usage: python bench/oneshot.py [RUNS]
"""
import os
import statistics
import subprocess
import sys
import tempfile
import time

from common import OPENSSL, PYTHON, TOOLS, drain, env, make_pki

from tests.tools import Server

RUNS = int(sys.argv[1]) if len(sys.argv) > 1 else 15
TIME = "/usr/bin/time"  # GNU time: the peak RSS of the command alone
TARGETS = {"wall": 1.0, "CPU": 5.0, "peak RSS": 3.0}
FLOOR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "floor_modules.py")
FLOORS = {"floor: interpreter": ["interpreter"], "floor: required packages": ["required"],
          "floor: the run's modules": ["import"]}  # bench/floor_modules.py's modes


def run(argv) -> dict:
    """Wall ms, CPU ms (user + system) and peak RSS MiB of one command, which must succeed."""
    with tempfile.NamedTemporaryFile("r") as out:
        t0 = time.perf_counter()
        proc = subprocess.Popen([TIME, "-q", "-f", "%M", "-o", out.name, *argv], stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, env=env())
        stderr = proc.stderr.read()
        _pid, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            raise SystemExit(f"command failed ({proc.returncode}): {' '.join(argv)}\n"
                             f"{stderr.decode(errors='replace')[-500:]}")
        return {"wall": wall * 1000, "CPU": (usage.ru_utime + usage.ru_stime) * 1000,
                "peak RSS": int(out.read().split()[-1]) / 1024}


def scenarios(p, address):
    pbm = ["-cmd", "ir", "-ref", "1234", "-secret", "pass:test", "-newkey", p.path("new_key"), "-subject", "/CN=leaf"]
    sig = ["-cmd", "cr", "-cert", p.path("client"), "-key", p.path("client_key"), "-trusted", p.path("root"),
           "-untrusted", p.path("issuing"), "-newkey", p.path("new_key"), "-subject", "/CN=leaf"]
    mock = ["-use_mock_srv", "-srv_ref", "1234", "-srv_secret", "pass:test", "-rsp_cert", p.path("issued")]
    return {"PBM ir over HTTP": ["-server", address] + pbm,
            "signature cr over HTTP": ["-server", address] + sig,
            "PBM ir in process (-use_mock_srv)": mock + pbm}


def main():
    if not os.path.exists(TIME):
        raise SystemExit(f"{TIME} is needed for peak memory (apt-get install time)")
    p = make_pki()
    server = drain(Server(OPENSSL + ["-config", "", "-srv_ref", "1234", "-srv_secret", "pass:test", "-rsp_cert",
                               p.path("issued"), "-srv_cert", p.path("server"), "-srv_key", p.path("server_key"),
                               "-srv_trusted", p.path("root"), "-srv_untrusted", p.path("issuing")]))
    try:
        rows = []
        for n, (label, args) in enumerate(scenarios(p, server.address).items()):
            modules = str(p.dir / f"modules-{n}.txt")
            for _ in range(2):  # the second run uses the remembered discovery, as the measured ones do
                run([PYTHON, FLOOR, "record", modules, "-config", "", *args, "-certout", str(p.dir / "out-rec.pem")])
            commands = {**TOOLS, **{floor: [PYTHON, FLOOR, *argv] for floor, argv in FLOORS.items()}}
            commands["floor: the run's modules"].append(modules)
            if "-cert" in args:
                commands["floor: required packages"].append("x509")
            samples = {tool: [] for tool in commands}
            for i in range(RUNS + 1):
                for tool, command in commands.items():
                    out = [] if tool.startswith("floor") else ["-config", "", *args, "-certout", str(p.dir / f"out-{tool}.pem")]
                    m = run(command + out)
                    if i:  # the first round warms the page cache and cmpkit's remembered discovery
                        samples[tool].append(m)
            rows.append((label, samples))
    finally:
        server.stop()
    print(f"\nOne-shot enrollment, one fresh process per transaction, median of {RUNS} runs")
    print("| transaction | measure | cmpkit | openssl | ratio (range) | target | met |")
    print("|---|---|---:|---:|---:|---:|---|")
    for label, samples in rows:
        for measure, target in TARGETS.items():
            unit = "MiB" if measure == "peak RSS" else "ms"
            c = statistics.median(s[measure] for s in samples["cmpkit"])
            o = statistics.median(s[measure] for s in samples["openssl"])
            ratios = sorted(a[measure] / b[measure] for a, b in zip(samples["cmpkit"], samples["openssl"]) if b[measure])
            ratio = c / o if o else float("inf")
            span = f"{ratios[len(ratios) // 10]:.2f}-{ratios[-1 - len(ratios) // 10]:.2f}" if ratios else "n/a"
            print(f"| {label} | {measure} | {c:.1f} {unit} | {o:.1f} {unit} | {ratio:.2f} ({span}) | "
                  f"<= {target:.1f}x | {'met' if ratio <= target else 'not met'} |")
            for floor in FLOORS:
                f = statistics.median(s[measure] for s in samples[floor])
                print(f"| {label} | {measure}, {floor} | {f:.1f} {unit} | {o:.1f} {unit} | {f / o if o else 0:.2f} | | |")


if __name__ == "__main__":
    main()
