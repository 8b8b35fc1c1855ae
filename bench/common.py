"""Shared bench helpers: a throw-away test PKI, both tools' command prefixes, timing and the table."""
import os
import pathlib
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# The interpreter whose cmpkit is measured (default: this one), through its `cmpkit` command as
# users run it: CMPKIT_BENCH_PYTHON=/path/to/venv/bin/python measures a plain `pip install .`.
PYTHON = os.environ.get("CMPKIT_BENCH_PYTHON", sys.executable)
_SCRIPT = os.path.join(os.path.dirname(PYTHON), "cmpkit")
CMPKIT = [_SCRIPT] if os.access(_SCRIPT, os.X_OK) else [PYTHON, "-m", "cmpkit"]
OPENSSL = [shutil.which("openssl") or "openssl", "cmp"]
TOOLS = {"cmpkit": CMPKIT, "openssl": OPENSSL}


def drain(server):
    """Read a server's output in the background: its log lines must go somewhere, or a full pipe
    stalls it (the CA mode logs every certificate it issues)."""
    import threading

    def read(stream):
        try:
            for _ in stream:
                pass
        except (OSError, ValueError):  # closed by Server.stop()
            pass
    for stream in (server.proc.stdout, server.proc.stderr):
        threading.Thread(target=read, args=(stream,), daemon=True).start()
    return server


def make_pki():
    from tests.pki import build
    return build(pathlib.Path(tempfile.mkdtemp(prefix="cmpkit-bench-")))


def env():
    """The environment of measured commands: no proxies or openssl.cnf, and bytecode caching on
    (PYTHONDONTWRITEBYTECODE would make every cold start compile cmpkit's sources, which an
    installed package never does: pip writes the .pyc files at install time)."""
    return {k: v for k, v in os.environ.items()
            if k.lower() not in ("http_proxy", "https_proxy", "openssl_conf", "pythondontwritebytecode")}


def timed(argv, check=True):
    """Wall-clock seconds of one command; fails loudly if the command fails."""
    t0 = time.perf_counter()
    r = subprocess.run(argv, capture_output=True, text=True, env=env())
    dt = time.perf_counter() - t0
    if check and r.returncode != 0:
        raise SystemExit(f"command failed ({r.returncode}): {' '.join(argv)}\n{r.stdout}{r.stderr}")
    return dt


def alternate(measure, rounds):
    """Run measure(tool) for both tools, alternating, `rounds` times; median per tool."""
    samples = {t: [] for t in TOOLS}
    for _ in range(rounds):
        for tool in TOOLS:
            samples[tool].append(measure(tool))
    return {t: statistics.median(v) for t, v in samples.items()}


def table(title, rows, unit="ms", higher_is_better=False, targets=None):
    """rows: [(label, {tool: value})]; prints values and the cmpkit/openssl ratio, and for the
    labels in ``targets`` (label -> ratio) issue 17's target with met / not met (a ratio at most
    the target, or at least it when higher is better)."""
    targets = targets or {}
    print(f"\n{title}")
    print(f"| measurement | cmpkit ({unit}) | openssl ({unit}) | ratio cmpkit/openssl | target | met |")
    print("|---|---:|---:|---:|---:|---|")
    for label, v in rows:
        note = " (higher is better)" if higher_is_better else ""
        ratio = v["cmpkit"] / v["openssl"] if v["openssl"] else None
        shown = f"{ratio:.2f}{note}" if ratio is not None else "n/a (openssl gave 0)"
        target, met = targets.get(label), ""
        if target is not None:
            met = "met" if ratio is not None and (ratio >= target if higher_is_better else ratio <= target) else "not met"
        print(f"| {label} | {v['cmpkit']:.2f} | {v['openssl']:.2f} | {shown} | "
              f"{'' if target is None else ('>= ' if higher_is_better else '<= ') + f'{target:.1f}x'} | {met} |")
