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


def test_a_wrong_call_is_found(tmp_path):
    """The API's types reach the user's code (not Any): a subject given as a number is reported."""
    wrong = tmp_path / "wrong_user.py"
    wrong.write_text(EXAMPLE.read_text().replace('client.enroll(key, "CN=example"', "client.enroll(key, 42"))
    assert "client.enroll(key, 42" in wrong.read_text()
    r = mypy(tmp_path, wrong)
    assert r.returncode == 1 and 'Argument 2 to "enroll" of "Client"' in r.stdout, r.stdout + r.stderr


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
    wrong = tmp_path / "wrong_fixture_user.py"
    wrong.write_text(FIXTURE_USER.read_text().replace("cmpkit.Client(cmp_server.url,", "cmpkit.Client(cmp_server.ca_certificate,"))
    assert "cmpkit.Client(cmp_server.ca_certificate," in wrong.read_text()
    r = mypy(tmp_path, wrong)
    assert r.returncode == 1 and 'Argument 1 to "Client" has incompatible type "Certificate"' in r.stdout, r.stdout + r.stderr
