#!/usr/bin/env python3
"""Every comparison with `openssl cmp`, one after the other, for the README's table.

Usage: python bench/all.py     (a few minutes; nothing else should load the machine meanwhile)
"""
import pathlib
import subprocess
import sys

HERE = pathlib.Path(__file__).resolve().parent
SCRIPTS = ["oneshot.py", "inprocess.py", "http.py", "throughput.py", "startup.py", "decode.py"]

for script in SCRIPTS:
    print(f"\n## {script}", flush=True)
    code = subprocess.call([sys.executable, str(HERE / script)])
    if code:
        sys.exit(code)
