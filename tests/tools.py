"""Test helpers: cmpkit and openssl cmp as clients and as HTTP servers, a SoftHSM2 directory, OpenSSL's OIDs."""
import contextlib
import os
import re
import shutil
import subprocess
import sys

CMPKIT = [sys.executable, "-m", "cmpkit"]
BUNDLED_PLUGINS = ("cmpkit_file", "cmpkit_http", "cmpkit_mock", "cmpkit_pkcs11")


def bundled_options() -> list:
    """The core's option declarations plus every bundled plugin's (cmpkit_options), as the command
    gathers them, without a plugin discovery."""
    import importlib

    from cmpkit.core.optdecl import OPTIONS
    out = list(OPTIONS)
    for package in BUNDLED_PLUGINS:
        hook = getattr(importlib.import_module(f"{package}.plugin"), "cmpkit_options", None)
        out.extend(hook() if hook is not None else ())
    return out


def env():
    """An environment without proxies or config files that could change the outcome."""
    e = {k: v for k, v in os.environ.items()
         if k.lower() not in ("http_proxy", "https_proxy", "no_proxy", "openssl_conf")}
    return e


def run(argv, cwd=None, timeout=60, input=None):
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, cwd=cwd, env=env(),
                          input=input)


class Server:
    """A CMP mock server on a free port (`-port 0`), found through its `ACCEPT addr:port` line."""

    def __init__(self, argv, cwd=None):
        self.proc = subprocess.Popen(argv + ["-port", "0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, cwd=cwd, env=env())
        self.port = None
        seen = []
        for line in self.proc.stdout:
            seen.append(line)
            m = re.match(r"ACCEPT \S*:(\d+) PID=\d+", line)
            if m:
                self.port = int(m.group(1))
                break
        if self.port is None:
            err = self.proc.stderr.read()
            self.proc.kill()
            raise RuntimeError(f"server did not start: {''.join(seen)} {err}")

    @property
    def address(self):
        return f"127.0.0.1:{self.port}"

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=10)
        for stream in (self.proc.stdout, self.proc.stderr):
            stream.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


SOFTHSM_LIBS = ("/usr/lib/softhsm/libsofthsm2.so", "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
                "/usr/local/lib/softhsm/libsofthsm2.so")


def imports_of_run(args, tmp_path):
    """(CompletedProcess, the modules it imported) of `python -X importtime -m cmpkit ARGS` in
    ``tmp_path``, with the plugin cache of ``tmp_path`` (a second run finds the first's discovery)."""
    env = dict(os.environ, XDG_CACHE_HOME=str(tmp_path / "cache"))
    r = subprocess.run([sys.executable, "-X", "importtime", "-m", "cmpkit", *args], capture_output=True,
                       text=True, env=env, timeout=60, cwd=tmp_path)
    return r, {line.rsplit("|", 1)[-1].strip() for line in r.stderr.splitlines() if line.startswith("import time")}


def read_until_closed(sock, until_error: bool = False) -> bytes:
    """Everything ``sock`` receives until the peer closes; with ``until_error`` also what came
    before a reset or timeout (OSError), which otherwise propagates."""
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except OSError:
        if not until_error:
            raise
    return data


def imports_of_pbm_enrollment(pki, tmp_path):
    """The modules an in-process PBM ir with -newkey and -certout (``tmp_path``/out.pem) imports,
    in its second run (after the first one's discovery); both runs must succeed."""
    args = ["-config", "", "-use_mock_srv", "-srv_ref", "1", "-srv_secret", "pass:s", "-rsp_cert", pki.path("issued"),
            "-cmd", "ir", "-ref", "1", "-secret", "pass:s", "-newkey", pki.path("new_key"), "-subject", "/CN=x",
            "-certout", str(tmp_path / "out.pem")]
    for _ in range(2):
        r, imported = imports_of_run(args, tmp_path)
        assert r.returncode == 0, r.stderr[-2000:]
    return imported


@contextlib.contextmanager
def softhsm_dir(tmp_path_factory, name: str):
    """A SoftHSM2 configuration in a new temporary directory, in force (SOFTHSM2_CONF, which env()
    passes on) while the block runs. Yields (module path, directory); skips without SoftHSM2."""
    import pytest
    lib = next((p for p in SOFTHSM_LIBS if os.path.isfile(p)), None)
    if lib is None or shutil.which("softhsm2-util") is None:
        pytest.skip("SoftHSM2 (softhsm2-util, libsofthsm2.so) is not installed")
    root = tmp_path_factory.mktemp(name)
    (root / "tokens").mkdir()
    conf = root / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {root / 'tokens'}\nobjectstore.backend = file\nlog.level = ERROR\n")
    old_conf = os.environ.get("SOFTHSM2_CONF")
    os.environ["SOFTHSM2_CONF"] = str(conf)
    try:
        yield lib, root
    finally:
        if old_conf is None:
            os.environ.pop("SOFTHSM2_CONF", None)
        else:
            os.environ["SOFTHSM2_CONF"] = old_conf


def openssl_object_oid(name: str) -> str:
    """The dotted OID that OpenSSL's own object table (libcrypto) gives a short or long name."""
    import ctypes

    import pytest
    try:
        lib = ctypes.CDLL("libcrypto.so.3")
    except OSError:
        pytest.skip("OpenSSL 3 libcrypto not loadable")
    lib.OBJ_txt2obj.restype = ctypes.c_void_p
    lib.OBJ_txt2obj.argtypes = [ctypes.c_char_p, ctypes.c_int]
    lib.OBJ_obj2txt.argtypes = [ctypes.c_char_p, ctypes.c_int, ctypes.c_void_p, ctypes.c_int]
    lib.ASN1_OBJECT_free.argtypes = [ctypes.c_void_p]
    obj = lib.OBJ_txt2obj(name.encode(), 0)
    assert obj, f"OpenSSL does not know {name}"
    buf = ctypes.create_string_buffer(128)
    lib.OBJ_obj2txt(buf, 128, obj, 1)
    lib.ASN1_OBJECT_free(obj)
    return buf.value.decode()
