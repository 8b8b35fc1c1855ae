"""OpenSSL's own CLI test tables (149 rows) pass with cmpkit as client and as mock server, --strict."""
import re
import shlex
import subprocess
import sys

import pytest

from .conftest import DATA

pytestmark = pytest.mark.slow
RUNNER = DATA / "openssl-3.0" / "run_cases.py"


def test_openssl_cli_tables_strict():
    cli = " ".join(shlex.quote(x) for x in (sys.executable, "-m", "cmpkit"))
    r = subprocess.run([sys.executable, str(RUNNER), "--cli", cli, "--all", "--strict", "--show-cmd"],
                       capture_output=True, text=True, timeout=1800)
    total = re.search(r"^(\d+) passed, (\d+) failed, (\d+) skipped$", r.stdout, re.M)
    assert total, r.stdout + r.stderr
    passed, failed, skipped = map(int, total.groups())
    assert (passed, failed, skipped) == (149, 0, 0), r.stdout
