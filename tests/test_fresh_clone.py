"""A clone with nothing beside it tests itself: without ../shared the tests of the openssl 3.2-3.4
options are skipped, also under CMPKIT_NO_SKIPS=1 (CI's), with a skip message that says how to
provide the reference binary; when it is expected (CMPKIT_OPENSSL34 given) and missing, the skip
is a failure under CMPKIT_NO_SKIPS=1. Run on a copy of the checkout in a new directory."""
import pathlib
import shutil
import subprocess
import sys

import pytest

from .tools import env

ROOT = pathlib.Path(__file__).resolve().parents[1]
ONE_OPENSSL34_TEST = "tests/test_genm_interop.py::test_untrusted_root_ca_update_fails_in_both"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def clone(tmp_path_factory):
    copy = tmp_path_factory.mktemp("alone") / "cmpkit"  # its parent holds nothing else: no ../shared
    shutil.copytree(ROOT, copy, ignore=shutil.ignore_patterns(".git", "__pycache__", "_build", "*.egg-info",
                                                               ".pytest_cache", ".mypy_cache"))
    return copy


def run(clone, **extra):
    e = {k: v for k, v in env().items() if k not in ("CMPKIT_OPENSSL34", "PYTEST_ADDOPTS")}
    e.update(PYTHONPATH=f"{clone}:{clone / 'plugins'}", CMPKIT_NO_SKIPS="1", **extra)
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", "-m", "slow",
                           ONE_OPENSSL34_TEST], capture_output=True, text=True, env=e, cwd=clone, timeout=300)


def test_without_the_reference_binary_the_skip_is_allowed_and_explained(clone):
    r = run(clone)
    assert r.returncode == 0 and "1 skipped" in r.stdout, r.stdout + r.stderr
    assert "set CMPKIT_OPENSSL34 to the path of its apps/openssl" in r.stdout
    assert "tag openssl-3.4.0" in r.stdout


def test_a_reference_binary_that_was_promised_and_is_missing_fails(clone, tmp_path):
    r = run(clone, CMPKIT_OPENSSL34=str(tmp_path / "no-openssl"))
    assert r.returncode == 1 and "1 error" in r.stdout, r.stdout + r.stderr  # the skip at setup, turned into a failure
    assert "skipped in CI (CMPKIT_NO_SKIPS=1)" in r.stdout and "is not an executable file" in r.stdout
