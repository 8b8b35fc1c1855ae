"""Shared fixtures: a test PKI generated once per session, and a clean plugin manager."""
import pathlib
import shutil

import pytest

from . import pki as pki_module  # noqa: F401  (tests import it as tests.pki)

SHARED = pathlib.Path(__file__).resolve().parents[2] / "shared"


@pytest.fixture(scope="session")
def pki(tmp_path_factory):
    from .pki import build
    return build(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def openssl():
    path = shutil.which("openssl")
    if path is None:
        pytest.skip("the system openssl is not installed")
    return path


@pytest.fixture
def fresh_plugins(monkeypatch):
    """A plugin manager rebuilt for this test (and afterwards)."""
    from cmpkit import plugins
    plugins.reset_manager()
    yield plugins
    plugins.reset_manager()
