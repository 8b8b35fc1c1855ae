"""Shared fixtures: a test PKI generated once per session, and a clean plugin manager."""
import os
import pathlib
import shutil
import tempfile

import pytest

from . import pki as pki_module  # noqa: F401  (tests import it as tests.pki)

# the test data, copied into the repository with its provenance (tests/data/README.md)
DATA = pathlib.Path(__file__).resolve().parent / "data"


def pytest_configure(config):
    # cmpkit processes started by tests remember plugin options (cmpkit.plugin_cache) in a
    # directory of this run, never in the user's ~/.cache
    os.environ["XDG_CACHE_HOME"] = tempfile.mkdtemp(prefix="cmpkit-test-cache-")


def pytest_unconfigure(config):
    shutil.rmtree(os.environ.get("XDG_CACHE_HOME", ""), ignore_errors=True)


@pytest.fixture(scope="session")
def pki(tmp_path_factory):
    from .pki import build
    return build(tmp_path_factory.mktemp("pki"))


@pytest.fixture(autouse=True)
def _cmpkit_logger_restored():
    """Each test starts and ends with the "cmpkit" logger as it was: a test that runs cli.main in
    process leaves its stderr handler, level and propagate=False behind otherwise."""
    import logging
    log = logging.getLogger("cmpkit")
    saved = list(log.handlers), log.level, log.propagate, log.disabled
    yield
    log.handlers[:] = saved[0]
    log.level, log.propagate, log.disabled = saved[1], saved[2], saved[3]


@pytest.fixture
def openssl():
    path = shutil.which("openssl")
    if path is None:
        pytest.skip("the system openssl is not installed")
    return path


def openssl34_path():
    """The reference openssl 3.4.0-dev for the 3.2-3.4 options (None if absent): CMPKIT_OPENSSL34,
    which .ci/run sets to ../shared/tools/openssl-3.4/openssl when that file exists."""
    path = os.environ.get("CMPKIT_OPENSSL34")
    return path if path and os.access(path, os.X_OK) else None


def openssl34_expected():
    """Whether the reference openssl 3.4 must be there: CMPKIT_OPENSSL34 is set (by the user, or by
    .ci/run when ../shared is beside the clone), or ../shared/tools/openssl-3.4 is beside the
    checkout (only its existence is looked at). A fresh clone has neither: its openssl-3.4 tests are
    skipped, also under CMPKIT_NO_SKIPS=1 (the binary is not part of the repository)."""
    if os.environ.get("CMPKIT_OPENSSL34"):
        return True
    return (pathlib.Path(__file__).resolve().parents[2] / "shared" / "tools" / "openssl-3.4").is_dir()


OPENSSL34_NOT_PROVIDED = "the reference openssl 3.4 is not provided"


@pytest.fixture
def openssl34():
    path = openssl34_path()
    if path is None:
        given = os.environ.get("CMPKIT_OPENSSL34")
        if given:
            pytest.skip(f"the reference openssl 3.4 is missing: CMPKIT_OPENSSL34={given} is not an executable file")
        if openssl34_expected():
            pytest.skip("the reference openssl 3.4 is missing: set CMPKIT_OPENSSL34 to its path "
                        "(../shared/tools/openssl-3.4/openssl)")
        pytest.skip(f"{OPENSSL34_NOT_PROVIDED}: to run the tests of the openssl 3.2-3.4 options, build OpenSSL 3.4 "
                    "(https://github.com/openssl/openssl, tag openssl-3.4.0: ./Configure && make) and set "
                    "CMPKIT_OPENSSL34 to the path of its apps/openssl")
    return path


@pytest.fixture
def fresh_plugins(monkeypatch):
    """A plugin manager rebuilt for this test (and afterwards)."""
    from cmpkit import plugins
    plugins.reset_manager()
    yield plugins
    plugins.reset_manager()


# CI installs every peer (openssl, SoftHSM2, libp11, tinyproxy): there a skip for a missing one
# would hide that a test never ran, so with CMPKIT_NO_SKIPS=1 it counts as a failure.
ALLOWED_SKIPS = ("running as root",)
ALLOWED_SKIPS += ("openssl cmp before 3.5 has no -centralkeygen",)   # test_central_keygen.py


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.skipped and os.environ.get("CMPKIT_NO_SKIPS") == "1":
        reason = str(report.longrepr[-1]) if isinstance(report.longrepr, tuple) else str(report.longrepr)
        if not any(allowed in reason for allowed in ALLOWED_SKIPS):
            report.outcome = "failed"
            report.longrepr = f"skipped in CI (CMPKIT_NO_SKIPS=1): {reason}"


@pytest.fixture(scope="session")
def pq_pki(tmp_path_factory):
    """An ML-DSA test PKI (tests/pki.py build_pq), certificates made with cmpkit.core.certbuild."""
    from .pki import build_pq
    return build_pq(tmp_path_factory.mktemp("pq-pki"))


ALLOWED_SKIPS += ("openssl before 3.5 has no ML-DSA",)   # test_pq_http.py: no openssl in CI has ML-DSA yet
# a fresh clone has no reference openssl 3.4 (tests/conftest.py openssl34_expected): its skip is no failure
if not openssl34_expected():
    ALLOWED_SKIPS += (OPENSSL34_NOT_PROVIDED,)
