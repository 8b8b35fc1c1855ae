"""The pytest plugin: fixtures that give a test a CMP server in CA mode with a CA made for it.

Installing cmpkit makes the plugin available to pytest (entry point ``pytest11``, name ``cmpkit``;
``pytest -p no:cmpkit`` turns it off). Its fixtures:

``cmp_server``
    a mock CMP server in CA mode in the test's own process, new for each test (function scope);
``cmp_server_session``
    the same, one for the whole session (state shared by the tests that use it);
``cmp_http_server``
    the mock server in CA mode in a ``cmpkit -port 0`` process on the loopback interface,
    reached over HTTP (for code that takes an ``http://`` URL, or ``openssl cmp``), new for each test.

A test changes the server's configuration with the marker ``cmp_server``, whose ``options`` are the
mock server's options by name without the dash (True for a flag), as ``cmpkit -port`` takes them:
``@pytest.mark.cmp_server(options={"srv_max_days": 30, "grant_implicitconf": True})``. It applies
to ``cmp_server`` and ``cmp_http_server`` (not to the session's server).

Each value is a :class:`CmpTestServer`: ``.url`` for :class:`cmpkit.Client` (or ``-server``),
``.secret`` and ``.ref`` for MAC-based protection (PBM), and ``.ca_certificate``, the CA that
issues (a ``cryptography`` certificate), trusted for the server's signed responses::

    def test_device_enrolls(cmp_server):
        key = ec.generate_private_key(ec.SECP256R1())
        with cmpkit.Client(cmp_server.url, secret=cmp_server.secret, ref=cmp_server.ref) as client:
            cert = client.enroll(key, subject="CN=device-1").certificate
        assert cert.issuer == cmp_server.ca_certificate.subject

The CA (an EC P-256 key and a self-signed certificate) is generated when the fixture is set up;
nothing is read from or committed to files other than the test's temporary directory. The
in-process server is reached through the URL scheme ``cmpkit-pytest://``, which this module
declares to cmpkit's plugin manager (hook ``cmpkit_transport_schemes``) while a server runs.

Importing this module costs next to nothing (pytest imports it in every run of a project that
has cmpkit installed): cmpkit's machinery and ``cryptography`` are imported when a fixture is used.
"""
from __future__ import annotations

import itertools
import os
import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Iterator, Mapping, Optional

import pluggy
import pytest

if TYPE_CHECKING:  # pragma: no cover
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes

__all__ = ["CmpTestServer", "SCHEME", "start_in_process", "start_http", "cmp_server", "cmp_server_session",
           "cmp_http_server"]

SCHEME = "cmpkit-pytest"
_REF = "cmpkit-pytest"
_hookimpl = pluggy.HookimplMarker("cmpkit")  # cmpkit.hookimpl, without importing cmpkit.plugins
_START_TIMEOUT = 60.0  # seconds a `cmpkit -port 0` process may take to announce its port


@dataclass
class CmpTestServer:
    """A running mock CMP server in CA mode, the value of the ``cmp_server`` fixtures.

    :ivar url: the server's URL: ``cmpkit-pytest://NAME/`` in process, ``http://127.0.0.1:PORT/pkix/``
        for ``cmp_http_server``; give it to :class:`cmpkit.Client` (or ``cmpkit -server``).
    :ivar secret: the shared secret for MAC-based protection (``Client(secret=...)``;
        ``-secret pass:SECRET`` on the command line).
    :ivar ref: the reference (senderKID) that goes with :attr:`secret` (``Client(ref=...)``).
    :ivar ca_certificate: the CA certificate that signs the issued certificates and the server's
        signed responses: trust it (``Client(trusted=[...])``) when the client signs its
        requests (kur with the certificate to update, rr with a certificate).
    :ivar ca_key: the CA's private key (to make further certificates in a test).
    :ivar directory: the server's own directory holding the CA's files (``ca.pem``, ``ca.key``).
    """

    url: str
    secret: str
    ref: str
    ca_certificate: "x509.Certificate"
    ca_key: "CertificateIssuerPrivateKeyTypes" = field(repr=False)
    directory: str = ""
    _close: Optional[Callable[[], None]] = field(default=None, repr=False)

    @property
    def ca_certificate_file(self) -> str:
        """The file of :attr:`ca_certificate` in PEM, for ``-trusted`` or ``-srvcert``."""
        return os.path.join(self.directory, "ca.pem")

    def close(self) -> None:
        """Stop the server (the fixture does it after the test); closing again does nothing."""
        close, self._close = self._close, None
        if close is not None:
            close()

    def __enter__(self) -> "CmpTestServer":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


# ---------------------------------------------------------------------------------- the CA

def _make_ca(directory: str) -> tuple["x509.Certificate", Any]:
    """An EC P-256 CA (self-signed, 10 years), written to ``directory`` as ca.pem and ca.key."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "cmpkit pytest"),
                      x509.NameAttribute(NameOID.COMMON_NAME, "cmpkit test CA")])
    now = datetime.datetime.now(datetime.timezone.utc)
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1)).not_valid_after(now + datetime.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                         crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(ski, critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False)
            .sign(key, hashes.SHA256()))
    with open(os.path.join(directory, "ca.pem"), "wb") as fh:
        fh.write(cert.public_bytes(serialization.Encoding.PEM))
    fd = os.open(os.path.join(directory, "ca.key"), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                   serialization.NoEncryption()))
    return cert, key


def _server_options(directory: str, secret: str, options: Optional[Mapping[str, Any]] = None) -> dict[str, Any]:
    """The mock server's options for CA mode (cmpkit_mock.options) with the CA in ``directory``,
    then ``options`` (a marker's) over them."""
    ca = os.path.join(directory, "ca.pem")
    out: dict[str, Any] = {"srv_ca_cert": ca, "srv_ca_key": os.path.join(directory, "ca.key"), "srv_ref": _REF,
                           "srv_secret": f"pass:{secret}", "srv_trusted": ca, "rsp_capubs": ca}
    for name, value in (options or {}).items():
        if not isinstance(name, str) or name.startswith("-"):
            from .errors import ConfigError
            raise ConfigError(f"cmp_server options: option names go without the dash, not {name!r}")
        out[name] = value
    return out


def _prepare(parent: str) -> tuple[str, str, "x509.Certificate", Any]:
    """(a directory of its own under ``parent``, a new secret, a new CA certificate and key)."""
    import secrets
    import tempfile
    directory = tempfile.mkdtemp(prefix="cmp-server-", dir=parent)
    secret = secrets.token_hex(16)
    cert, key = _make_ca(directory)
    return directory, secret, cert, key


# ---------------------------------------------------------------------------------- in process

class _InProcess:
    """The cmpkit plugin serving ``cmpkit-pytest://NAME/``: NAME -> the handler of a running server."""

    def __init__(self) -> None:
        self.servers: dict[str, Callable[[bytes], bytes]] = {}
        self._names = itertools.count(1)

    def new_name(self) -> str:
        return f"server-{os.getpid()}-{next(self._names)}"

    @_hookimpl
    def cmpkit_transport_schemes(self) -> dict[str, Callable[..., Any]]:
        return {SCHEME: self.open}

    def open(self, url: str, config: Any, ctx: Any) -> Callable[[bytes], bytes]:
        from .errors import ConfigError
        name = url[len(SCHEME) + 3:].split("/", 1)[0]
        handler = self.servers.get(name)
        if handler is None:
            raise ConfigError(f"no cmp_server fixture is running at '{url}' (a server lives as long as its "
                              "fixture: the test, or the session for cmp_server_session)")
        return handler

    def register(self) -> None:
        """Declare the scheme to the current plugin manager (again, after a reset_manager())."""
        from .plugins import get_manager
        pm = get_manager()
        if not pm.is_registered(self):
            pm.register(self, name="cmpkit-pytest")

    def unregister_if_idle(self) -> None:
        """Leave cmpkit's plugin manager as it was once the last server has stopped."""
        if not self.servers:
            from .plugins import get_manager
            pm = get_manager()
            if pm.is_registered(self):
                pm.unregister(self)


_IN_PROCESS = _InProcess()


def _build_handler(options: dict[str, Any]) -> Callable[[bytes], bytes]:
    """The mock plugin's CA-mode server for ``options``, built as ``cmpkit -port`` builds it."""
    from . import cli
    from .app.credentials import Loader
    from .core.options import Config
    from .errors import ConfigError
    from .plugins import hook as get_hook
    all_options: Callable[[], list[Any]] = cli.all_options
    hooks: Callable[[], Any] = get_hook
    try:
        cfg = Config.from_values(all_options(), options)
    except KeyError as exc:
        raise ConfigError(f"cmp_server options: unknown option {exc.args[0]}") from None
    hook = hooks()
    handler = hook.cmpkit_mock_server(config=cfg, ctx=Loader(cfg, hook, batch=True))
    if handler is None:
        raise ConfigError("no plugin provides the mock CMP server (is the mock plugin blocked?)")
    result: Callable[[bytes], bytes] = handler
    return result


def start_in_process(directory: str, options: Optional[Mapping[str, Any]] = None) -> CmpTestServer:
    """A mock CMP server in CA mode in this process (what ``cmp_server`` gives a test), reached at
    ``cmpkit-pytest://NAME/`` until :meth:`CmpTestServer.close`; usable outside pytest, as a
    context manager. Its new CA's files are written to a new directory in ``directory`` (which exists);
    ``options`` are further mock server options, as the ``cmp_server`` marker gives them.
    """
    directory, secret, cert, key = _prepare(directory)
    handler = _build_handler(_server_options(directory, secret, options))
    _IN_PROCESS.register()
    name = _IN_PROCESS.new_name()
    _IN_PROCESS.servers[name] = handler

    def close() -> None:
        _IN_PROCESS.servers.pop(name, None)
        _IN_PROCESS.unregister_if_idle()
        store = getattr(handler, "__self__", handler)
        db = getattr(getattr(store, "store", None), "_db", None)
        if db is not None:
            db.close()

    return CmpTestServer(f"{SCHEME}://{name}/", secret, _REF, cert, key, directory, close)


# ---------------------------------------------------------------------------------- over HTTP

def start_http(directory: str, options: Optional[Mapping[str, Any]] = None) -> CmpTestServer:
    """A mock CMP server in CA mode in a ``cmpkit -port 0`` process on the loopback interface
    (what ``cmp_http_server`` gives a test), reached at ``http://127.0.0.1:PORT/pkix/`` until
    :meth:`CmpTestServer.close`. Its new CA's files and the process's output go to a new directory
    in ``directory``.

    ``options`` are further mock server options, as the ``cmp_server`` marker gives them.

    :raise RuntimeError: the process did not announce its port (with what it wrote on stderr).
    """
    import re
    import subprocess
    import time

    directory, secret, cert, key = _prepare(directory)
    argv = [sys.executable, "-m", "cmpkit", "-config", "", "-port", "0"]
    for name, value in _server_options(directory, secret, options).items():
        if value is True:
            argv.append(f"-{name}")
        elif value is not False and value is not None:
            argv += [f"-{name}", str(value)]
    out_path, err_path = os.path.join(directory, "server.out"), os.path.join(directory, "server.err")
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        proc = subprocess.Popen(argv, stdout=out, stderr=err, stdin=subprocess.DEVNULL, cwd=directory)
    deadline = time.monotonic() + _START_TIMEOUT
    port = None
    while port is None:
        with open(out_path, encoding="utf-8", errors="replace") as fh:
            m = re.search(r"^ACCEPT \S*:(\d+) PID=\d+$", fh.read(), re.M)
        if m:
            port = int(m.group(1))
        elif proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            proc.wait()
            with open(err_path, encoding="utf-8", errors="replace") as fh:
                why = fh.read().strip() or f"exit status {proc.returncode}"
            raise RuntimeError(f"the cmpkit mock server did not start: {why}")
        else:
            time.sleep(0.02)

    def close() -> None:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    return CmpTestServer(f"http://127.0.0.1:{port}/pkix/", secret, _REF, cert, key, directory, close)


# ---------------------------------------------------------------------------------- fixtures

def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "cmp_server(options): mock server options (names without the dash) "
                                       "for the cmp_server and cmp_http_server fixtures of this test")


def _marker_options(request: pytest.FixtureRequest) -> Optional[Mapping[str, Any]]:
    marker = request.node.get_closest_marker("cmp_server")
    if marker is None:
        return None
    options = marker.kwargs.get("options", marker.args[0] if marker.args else None)
    if not isinstance(options, Mapping):
        raise TypeError("@pytest.mark.cmp_server(options={...}): a mapping of option names to values")
    return options


def _serve(start: Callable[[str, Optional[Mapping[str, Any]]], CmpTestServer], directory: Any,
           options: Optional[Mapping[str, Any]] = None) -> Iterator[CmpTestServer]:
    server = start(str(directory), options)
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def cmp_server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[CmpTestServer]:
    """A mock CMP server in CA mode in this process, with a CA of its own; one per test."""
    yield from _serve(start_in_process, tmp_path_factory.mktemp("cmp_server"), _marker_options(request))


@pytest.fixture(scope="session")
def cmp_server_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CmpTestServer]:
    """As ``cmp_server``, one for the whole test session."""
    yield from _serve(start_in_process, tmp_path_factory.mktemp("cmp_server_session"))


@pytest.fixture
def cmp_http_server(request: pytest.FixtureRequest,
                    tmp_path_factory: pytest.TempPathFactory) -> Iterator[CmpTestServer]:
    """A mock CMP server in CA mode in a ``cmpkit -port 0`` process, over HTTP on 127.0.0.1; one per test."""
    yield from _serve(start_http, tmp_path_factory.mktemp("cmp_http_server"), _marker_options(request))
