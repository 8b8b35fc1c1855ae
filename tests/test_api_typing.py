"""The public API is typed: a user's program (tests/user_api_example.py) passes ``mypy --strict``, a
wrong call in it does not, and the program runs. The API's own modules (cmpkit.api, cmpkit.errors)
pass ``mypy --strict`` as well; the modules behind them are followed silently, as for an installed
package (mypy reports no errors inside installed packages)."""
import os
import shutil
import subprocess
import sys
import pathlib

import pytest

from .tools import env

TESTS = pathlib.Path(__file__).resolve().parent
ROOT = TESTS.parent
EXAMPLE = TESTS / "user_api_example.py"

pytestmark = pytest.mark.slow


def mypy(tmp_path, *files):
    pytest.importorskip("mypy", reason="mypy is in the test extra (pip install mypy)")
    e = dict(env(), MYPYPATH=str(ROOT))
    e.pop("PYTHONPATH", None)
    return subprocess.run([sys.executable, "-m", "mypy", "--strict", "--follow-imports=silent", "--no-error-summary",
                           "--cache-dir", str(tmp_path / "mypy-cache"), *map(str, files)],
                          capture_output=True, text=True, env=e, cwd=tmp_path, timeout=600)


def test_user_program_and_the_api_pass_mypy_strict(tmp_path):
    r = mypy(tmp_path, EXAMPLE, ROOT / "cmpkit" / "api.py", ROOT / "cmpkit" / "errors.py")
    assert r.returncode == 0, r.stdout + r.stderr


def mypy_reports(tmp_path, source, correct: str, wrong: str, report: str):
    """mypy --strict reports ``report`` for ``source`` with ``correct`` replaced by ``wrong``."""
    program = tmp_path / f"wrong_{source.name}"
    program.write_text(source.read_text().replace(correct, wrong))
    assert wrong in program.read_text()
    r = mypy(tmp_path, program)
    assert r.returncode == 1 and report in r.stdout, r.stdout + r.stderr


def test_a_wrong_call_is_found(tmp_path):
    """The API's types reach the user's code (not Any): a subject given as a number is reported."""
    mypy_reports(tmp_path, EXAMPLE, 'client.enroll(key, "CN=example"', "client.enroll(key, 42",
                 'Argument 2 to "enroll" of "Client"')


def test_user_program_runs(pki, tmp_path):
    e = dict(env(), PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "plugins")]))
    shutil.copy(EXAMPLE, tmp_path / EXAMPLE.name)
    r = subprocess.run([sys.executable, EXAMPLE.name, pki.path("issued"), pki.path("new_key")],
                       capture_output=True, text=True, env=e, cwd=tmp_path, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == ["CN=leaf", "1.3.6.1.5.5.7.4.17"] and r.stderr == ""


# ---- the pytest plugin's user file (tests/user_fixture_example.py, run by tests/test_pytest_plugin.py)
FIXTURE_USER = TESTS / "user_fixture_example.py"


def test_user_fixture_file_and_the_plugin_pass_mypy_strict(tmp_path):
    r = mypy(tmp_path, FIXTURE_USER, ROOT / "cmpkit" / "pytest_plugin.py")
    assert r.returncode == 0, r.stdout + r.stderr


def test_the_fixture_value_type_reaches_the_user(tmp_path):
    """CmpTestServer's attributes are typed for the user's code: a certificate given as the URL is reported."""
    mypy_reports(tmp_path, FIXTURE_USER, "cmpkit.Client(cmp_server.url,", "cmpkit.Client(cmp_server.ca_certificate,",
                 'Argument 1 to "Client" has incompatible type "Certificate"')
