"""cmpkit's pytest plugin (cmpkit.pytest_plugin): the fixtures give a working CA, each test its own,
reached in process or over HTTP (by openssl cmp too); importing the plugin costs nothing a run
without the fixtures would notice; a user's test file (tests/user_fixture_example.py) passes with
the plugin found through the ``pytest11`` entry point of a pip-installed cmpkit.

Issued certificates are checked with ``cryptography`` (signature by the fixture's CA, public key),
not with cmpkit's own reader."""
import ast
import datetime
import os
import pathlib
import re
import shutil
import subprocess
import sys

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

import cmpkit
from cmpkit import pytest_plugin
# the repository's tests run with PYTHONPATH over an installed cmpkit whose entry points may predate
# the plugin: the fixtures are imported as a conftest would, the entry point is tested below (slow)
from cmpkit.pytest_plugin import CmpTestServer, cmp_http_server, cmp_server, cmp_server_session  # noqa: F401

from .tools import env

TESTS = pathlib.Path(__file__).resolve().parent
ROOT = TESTS.parent
USER_FILE = TESTS / "user_fixture_example.py"
SPKI = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def enroll(server, subject="CN=device-1", key=None, **kw):
    key = key or ec.generate_private_key(ec.SECP256R1())
    with cmpkit.Client(server.url, secret=server.secret, ref=server.ref, **kw) as client:
        return key, client.enroll(key, subject=subject).certificate


def assert_issued_by(cert, key, server):
    cert.verify_directly_issued_by(server.ca_certificate)
    assert cert.public_key().public_bytes(*SPKI) == key.public_key().public_bytes(*SPKI)


def test_the_fixture_enrolls_a_certificate_its_ca_signed(cmp_server):
    assert isinstance(cmp_server, CmpTestServer)
    assert cmp_server.url.startswith("cmpkit-pytest://")
    assert isinstance(cmp_server.secret, str) and len(cmp_server.secret) >= 16 and isinstance(cmp_server.ref, str)
    ca = cmp_server.ca_certificate
    assert isinstance(ca, x509.Certificate)
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert ca.extensions.get_extension_for_class(x509.KeyUsage).value.key_cert_sign
    ca.verify_directly_issued_by(ca)  # self-signed
    assert x509.load_pem_x509_certificate(pathlib.Path(cmp_server.ca_certificate_file).read_bytes()) == ca
    key, cert = enroll(cmp_server)
    assert_issued_by(cert, key, cmp_server)
    assert cert.subject == x509.Name.from_rfc4514_string("CN=device-1")


def test_servers_share_nothing(tmp_path):
    """Each fixture instance has its own CA, secret and certificate store."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a, b = pytest_plugin.start_in_process(str(tmp_path / "a")), pytest_plugin.start_in_process(str(tmp_path / "b"))
    try:
        assert a.url != b.url and a.secret != b.secret
        assert a.ca_certificate.public_key().public_bytes(*SPKI) != b.ca_certificate.public_key().public_bytes(*SPKI)
        _, cert = enroll(a)
        with cmpkit.Client(b.url, secret=a.secret, ref=a.ref) as client:  # a's secret is not b's
            with pytest.raises(cmpkit.CmpError):
                client.enroll(ec.generate_private_key(ec.SECP256R1()), subject="CN=x")
        with cmpkit.Client(b.url, secret=b.secret, ref=b.ref) as client:  # b did not issue a's certificate
            with pytest.raises(cmpkit.ServerError):
                client.revoke(cert)
        with cmpkit.Client(a.url, secret=a.secret, ref=a.ref) as client:
            client.revoke(cert)
    finally:
        a.close()
        b.close()


def test_a_closed_server_is_named_in_one_line(tmp_path):
    server = pytest_plugin.start_in_process(str(tmp_path))
    enroll(server)
    server.close()
    # the scheme is no longer declared once the last server is gone (a session server may still run)
    with pytest.raises(cmpkit.ConfigError, match=r"^(no plugin serves the URL scheme 'cmpkit-pytest'|"
                                                 r"no cmp_server fixture is running at 'cmpkit-pytest://[^']+')"):
        enroll(server)


def test_a_closed_server_beside_a_running_one_is_named_in_one_line(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with pytest_plugin.start_in_process(str(tmp_path / "a")) as running:
        gone = pytest_plugin.start_in_process(str(tmp_path / "b"))
        gone.close()
        gone.close()  # again: nothing
        with pytest.raises(cmpkit.ConfigError, match=r"^no cmp_server fixture is running at 'cmpkit-pytest://[^']+'"):
            enroll(gone)
        enroll(running)


def test_the_plugin_manager_is_left_as_it_was(tmp_path):
    from cmpkit.plugins import get_manager
    before = [name for name, _ in get_manager().list_name_plugin()]
    with pytest_plugin.start_in_process(str(tmp_path)) as server:
        enroll(server)
        assert "cmpkit-pytest" in [name for name, _ in get_manager().list_name_plugin()]
    assert [name for name, _ in get_manager().list_name_plugin()] == before


def validity(cert):
    return cert.not_valid_after_utc - cert.not_valid_before_utc


@pytest.mark.cmp_server(options={"srv_max_days": 2, "grant_implicitconf": True})
def test_the_marker_configures_the_server(cmp_server):
    key = ec.generate_private_key(ec.SECP256R1())
    with cmpkit.Client(cmp_server.url, secret=cmp_server.secret, ref=cmp_server.ref) as client:
        got = client.enroll(key, subject="CN=device-1", implicit_confirm=True)
    assert_issued_by(got.certificate, key, cmp_server)
    assert datetime.timedelta(days=1) < validity(got.certificate) <= datetime.timedelta(days=2)


def test_without_the_marker_the_ca_issues_for_a_year(cmp_server):
    _, cert = enroll(cmp_server)
    assert datetime.timedelta(days=364) < validity(cert) <= datetime.timedelta(days=365)


def test_a_wrong_option_is_a_one_line_error(tmp_path):
    with pytest.raises(cmpkit.ConfigError, match="^cmp_server options: unknown option"):
        pytest_plugin.start_in_process(str(tmp_path), {"srv_no_such_option": 1})
    with pytest.raises(cmpkit.ConfigError, match="without the dash"):
        pytest_plugin.start_in_process(str(tmp_path), {"-srv_max_days": 1})


SESSION_URLS = []


@pytest.mark.parametrize("round", [1, 2])
def test_the_session_fixture_is_one_server_beside_the_per_test_one(cmp_server_session, cmp_server, round):
    assert cmp_server_session.url != cmp_server.url
    SESSION_URLS.append(cmp_server_session.url)
    assert len(set(SESSION_URLS)) == 1
    key, cert = enroll(cmp_server_session)
    assert_issued_by(cert, key, cmp_server_session)


def test_importing_the_plugin_imports_nothing_at_module_level_but_what_pytest_has():
    """pytest imports the plugin in every run of a project with cmpkit installed: the module's top
    level imports only what a pytest run has loaded already (cmpkit and cryptography come lazily)."""
    tree = ast.parse(pathlib.Path(pytest_plugin.__file__).read_text())
    top = set()
    for node in tree.body:
        if isinstance(node, ast.Import):
            top |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            top.add("." * node.level + (node.module or ""))
    assert top <= {"__future__", "itertools", "os", "sys", "dataclasses", "typing", "pluggy", "pytest"}, top


@pytest.mark.slow
def test_a_pytest_run_without_the_fixtures_does_not_load_cmpkit():
    code = ("import sys, pytest; before = set(sys.modules); import cmpkit.pytest_plugin; "
            "print(' '.join(sorted(set(sys.modules) - before)))")
    e = dict(env(), PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "plugins")]))
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=e, timeout=60)
    assert r.returncode == 0, r.stderr
    loaded = set(r.stdout.split())
    assert "cmpkit.pytest_plugin" in loaded
    heavy = {m for m in loaded if m.split(".")[0] in ("cryptography", "httpx", "stevedore", "cmpkit_mock")
             or m.startswith(("cmpkit.app", "cmpkit.core", "cmpkit.api", "cmpkit.plugins"))}
    assert heavy == set()


@pytest.mark.slow
@pytest.mark.cmp_server(options={"srv_max_days": 3})
def test_the_http_fixture_issues_to_openssl_cmp(cmp_http_server, openssl, tmp_path):
    """openssl cmp (an independent client) enrolls over HTTP from the fixture's CA."""
    m = re.fullmatch(r"http://(127\.0\.0\.1:\d+)/(pkix/)", cmp_http_server.url)
    assert m, cmp_http_server.url
    key = ec.generate_private_key(ec.SECP256R1())
    (tmp_path / "key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                         serialization.NoEncryption()))
    r = subprocess.run([openssl, "cmp", "-config", "", "-server", m.group(1), "-path", m.group(2), "-cmd", "ir",
                        "-ref", cmp_http_server.ref, "-secret", f"pass:{cmp_http_server.secret}",
                        "-newkey", "key.pem", "-subject", "/CN=openssl-device", "-certout", "cert.pem"],
                       capture_output=True, text=True, env=env(), cwd=tmp_path, timeout=120)
    assert r.returncode == 0, r.stderr
    cert = x509.load_pem_x509_certificate((tmp_path / "cert.pem").read_bytes())
    assert_issued_by(cert, key, cmp_http_server)
    assert cert.subject == x509.Name.from_rfc4514_string("CN=openssl-device")
    assert validity(cert) <= datetime.timedelta(days=3)  # the marker's option reached the process


def see_what_this_python_has(python):
    """A venv made with --system-site-packages sees the base interpreter's packages, not those of
    the venv running the tests (.ci/run may have installed the test extra into one): a .pth file
    adds this interpreter's site-packages after the new venv's own (its installed cmpkit wins)."""
    import site
    where = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                           capture_output=True, text=True, check=True, timeout=60).stdout.strip()
    paths = [p for p in site.getsitepackages() + [site.getusersitepackages()] if os.path.isdir(p)]
    pathlib.Path(where, "zz_tests_python.pth").write_text("\n".join(paths) + "\n")


@pytest.mark.slow
def test_a_users_test_file_passes_with_the_installed_entry_point(tmp_path):
    """tests/user_fixture_example.py, run as a user runs it: pytest in a venv where cmpkit was
    installed by pip, no PYTHONPATH, no conftest, no -p: the fixtures come from the entry point."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(venv)], check=True,
                   timeout=120)
    python = str(venv / "bin" / "python")
    see_what_this_python_has(python)
    e = {k: v for k, v in env().items() if k not in ("PYTHONPATH", "CMPKIT_BLOCK_PLUGINS", "PYTEST_ADDOPTS")}
    e.update(PIP_NO_INDEX="1", PIP_DISABLE_PIP_VERSION_CHECK="1", XDG_CACHE_HOME=str(tmp_path / "cache"))
    copy = tmp_path / "cmpkit-src"  # a copy: a build must not leave files in the checkout
    shutil.copytree(ROOT, copy, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__", ".git",
                                                               "_build", ".mypy_cache", ".pytest_cache"))
    r = subprocess.run([python, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", str(copy)],
                       capture_output=True, text=True, env=e, timeout=300, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    project = tmp_path / "product"
    project.mkdir()
    shutil.copy(USER_FILE, project / "test_device.py")
    r = subprocess.run([python, "-m", "pytest", "-p", "no:cacheprovider", "-v", "test_device.py"],
                       capture_output=True, text=True, env=e, cwd=project, timeout=600)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr
    assert re.search(r"^plugins: .*\bcmpkit-0\.1\.0\b", r.stdout, re.M), r.stdout[:2000]
    assert re.search(r"\b4 passed\b", r.stdout), r.stdout[-2000:]
    where = subprocess.run([python, "-c", "import cmpkit.pytest_plugin as p; print(p.__file__)"],
                           capture_output=True, text=True, env=e, cwd=project, timeout=60)
    assert where.stdout.startswith(str(venv)), where.stdout + where.stderr  # the installed copy ran
    # turned off as any plugin: without it the fixtures are unknown
    r = subprocess.run([python, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:cmpkit", "test_device.py"],
                       capture_output=True, text=True, env=e, cwd=project, timeout=600)
    assert r.returncode == 1 and "fixture 'cmp_server' not found" in r.stdout, r.stdout[-2000:]
