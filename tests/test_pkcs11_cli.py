"""Keys in a PKCS#11 token (SoftHSM2) on the command line: cmpkit against `openssl cmp -port`, and
the same enrollments made by openssl through libp11's pkcs11 engine (which cmpkit does not need).

The token holds 'signer' (RSA, id 01, with its certificate) and 'enroll' (EC P-256, id 02). Their
certificates are made here by the test PKI's issuing CA, so openssl's mock server can hand out a
certificate that matches the requested key (it checks the POPO and the protection signature).
"""
import os
import shutil
import subprocess
import types

import pytest
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtendedKeyUsageOID

from .pki import ec_key, make_cert, pem_cert, pem_key, rsa_key
from .test_cli_vs_openssl import PBM, SRV_PBM, _srv_sig
from .tools import CMPKIT, Server, env, softhsm_dir

pytestmark = pytest.mark.slow

P11KIT_PROXIES = ("/usr/lib/x86_64-linux-gnu/p11-kit-proxy.so", "/usr/lib64/p11-kit-proxy.so",
                  "/usr/lib/p11-kit-proxy.so")
P11KIT_SOFTHSM = ("/usr/share/p11-kit/modules/softhsm2.module", "/etc/pkcs11/modules/softhsm2.module")
LABEL = "cmpkit-cli"
PIN = "517293"        # distinctive, so that a leak is found in any output
WRONG_PIN = "864209"
OBJ_ID = {"signer": "01", "enroll": "02"}
MODULE_VARS = ("PKCS11_MODULE", "PKCS11_MODULE_PATH")  # cmpkit's; libp11's (which cmpkit reads too)


def _run(argv, extra_env=None):
    """Like tools.run, with an empty stdin (never a prompt), without the module variables of the
    caller's environment, and with ``extra_env``."""
    e = {k: v for k, v in env().items() if k not in MODULE_VARS}
    e.update(extra_env or {})
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, input="", env=e)


def _openssl():
    path = shutil.which("openssl")
    if path is None:
        pytest.skip("the system openssl is not installed")
    return path


@pytest.fixture(scope="module")
def hsm(pki, tmp_path_factory):
    """A SoftHSM2 token LABEL (PIN) in a temporary directory, with the keys made here and imported."""
    PyKCS11 = pytest.importorskip("PyKCS11", reason="PyKCS11 is not installed")
    with softhsm_dir(tmp_path_factory, "softhsm-cli") as (lib, root):
        def util(*args):
            subprocess.run(["softhsm2-util", *args], check=True, capture_output=True, timeout=60)

        util("--init-token", "--free", "--label", LABEL, "--pin", PIN, "--so-pin", "908172")
        issuing, issuing_key = pki.objs["issuing"], pki.objs["issuing_key"]
        keys = {"signer": rsa_key(), "enroll": ec_key()}
        certs = {"signer": make_cert(keys["signer"], "token signer", issuing_key, issuing,
                                     eku=[ExtendedKeyUsageOID.CLIENT_AUTH]),
                 "enroll": make_cert(keys["enroll"], "token leaf", issuing_key, issuing)}
        files = {}
        for label, key in keys.items():
            key_file = root / f"{label}.key"
            key_file.write_bytes(pem_key(key))
            util("--import", str(key_file), "--token", LABEL, "--label", label, "--id", OBJ_ID[label],
                 "--pin", PIN)
            key_file.unlink()  # the key is in the token only
            files[label] = root / f"{label}.crt"
            files[label].write_bytes(pem_cert(certs[label]))
        # the signer's certificate as a (public) certificate object, and the token's slot ID
        p11 = PyKCS11.PyKCS11Lib().load(lib)
        slot = next(s for s in p11.getSlotList(tokenPresent=True) if p11.getTokenInfo(s).label.strip() == LABEL)
        session = p11.openSession(slot, PyKCS11.CKF_RW_SESSION)
        session.login(PIN)
        session.createObject([
            (PyKCS11.CKA_CLASS, PyKCS11.CKO_CERTIFICATE), (PyKCS11.CKA_CERTIFICATE_TYPE, PyKCS11.CKC_X_509),
            (PyKCS11.CKA_TOKEN, True), (PyKCS11.CKA_PRIVATE, False), (PyKCS11.CKA_LABEL, "signer"),
            (PyKCS11.CKA_ID, bytes.fromhex(OBJ_ID["signer"])),
            (PyKCS11.CKA_SUBJECT, certs["signer"].subject.public_bytes()),
            (PyKCS11.CKA_VALUE, certs["signer"].public_bytes(Encoding.DER))])
        session.logout()
        session.closeSession()
        p11.unload()
        yield types.SimpleNamespace(lib=lib, root=root, slot=slot, certs=certs, files=files)


@pytest.fixture
def servers(pki, hsm):
    """openssl cmp -port servers, one per certificate handed out (-rsp_cert), started when first asked for.
    Each test has its own: openssl's server ends after a transaction that failed."""
    openssl = _openssl()
    started = {}

    def get(rsp_cert: str) -> Server:
        if rsp_cert not in started:
            started[rsp_cert] = Server([openssl, "cmp", "-config", "", *SRV_PBM, *_srv_sig(pki),
                                        "-rsp_cert", rsp_cert, "-rsp_capubs", pki.path("root")])
        return started[rsp_cert]

    yield get
    for server in started.values():
        server.stop()


def uri(hsm, obj, pin=PIN, module=None, token=LABEL, type_="private"):
    """A URI that names an object of the token, with the PIN and the module in the query."""
    query = [f"pin-value={pin}"] if pin is not None else []
    query.append(module or f"module-path={hsm.lib}")
    return f"pkcs11:token={token};object={obj};type={type_}?" + "&".join(query)


def _trust(pki):
    return ["-trusted", pki.path("root"), "-untrusted", pki.path("issuing")]


def _enroll(argv0, server, args, out, extra_env=None):
    if out.exists():
        out.unlink()
    return _run(argv0 + ["-config", "", "-server", server.address, *args, "-certout", str(out)], extra_env)


def _assert_enrolled(r, out, cert):
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Traceback" not in r.stderr
    assert out.read_bytes() == pem_cert(cert)
    assert PIN not in r.stdout + r.stderr


def _assert_one_line_error(r, out, *needles):
    output = r.stdout + r.stderr
    assert r.returncode != 0, output
    assert not out.exists()
    assert "Traceback" not in output
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("CMP error: "), lines[0]
    for needle in needles:
        assert needle in lines[0], lines[0]
    assert PIN not in output and WRONG_PIN not in output
    return lines[0]


# ============================================================================ cmpkit against openssl's server

@pytest.mark.parametrize("obj", ["enroll", "signer"])
def test_ir_newkey_in_token(obj, pki, hsm, servers, tmp_path):
    """The POPO is signed in the token (openssl's server checks it); the certificate is written."""
    server = servers(str(hsm.files[obj]))
    out, cacerts = tmp_path / "out.pem", tmp_path / "cacerts.pem"
    r = _enroll(CMPKIT, server, ["-cmd", "ir", *PBM, "-newkey", uri(hsm, obj), "-subject", "/CN=token leaf",
                                 "-cacertsout", str(cacerts)], out)
    _assert_enrolled(r, out, hsm.certs[obj])
    assert cacerts.read_bytes() == pem_cert(pki.objs["root"])


def test_ir_newkey_in_token_rejects_certificate_for_other_key(pki, hsm, servers, tmp_path):
    """The public key of the request is the token's: a certificate for another key is not accepted."""
    out = tmp_path / "out.pem"
    r = _enroll(CMPKIT, servers(pki.path("issued")),
                ["-cmd", "ir", *PBM, "-newkey", uri(hsm, "enroll"), "-subject", "/CN=token leaf"], out)
    assert r.returncode != 0 and not out.exists(), r.stdout + r.stderr
    assert "Traceback" not in r.stderr
    assert "does not match" in r.stderr.strip().splitlines()[-1], r.stderr


def _handed_out(pki, hsm, name):
    """(-rsp_cert file, certificate) for "issued" (the test PKI's, for its new_key) or a token key's."""
    if name == "issued":
        return pki.path("issued"), pki.objs["issued"]
    return str(hsm.files[name]), hsm.certs[name]


CR = {  # name -> (client arguments besides -key, the certificate handed out)
    "newkey_file": (lambda p, h: ["-cert", str(h.files["signer"]), "-newkey", p.path("new_key")], "issued"),
    "newkey_in_token": (lambda p, h: ["-cert", str(h.files["signer"]), "-newkey", uri(h, "enroll", pin=None),
                                      "-batch"], "enroll"),  # the session is logged in already: no PIN needed
    "newkey_is_key": (lambda p, h: ["-cert", str(h.files["signer"])], "signer"),
    "cert_in_token": (lambda p, h: ["-cert", uri(h, "signer", pin=None, type_="cert"),
                                    "-newkey", p.path("new_key")], "issued"),
}


@pytest.mark.parametrize("case", sorted(CR))
def test_cr_key_in_token(case, pki, hsm, servers, tmp_path):
    """The protection is signed in the token (openssl's server checks it against its -srv_trusted)."""
    args, handed_out = CR[case]
    rsp_cert, cert = _handed_out(pki, hsm, handed_out)
    out = tmp_path / "out.pem"
    r = _enroll(CMPKIT, servers(rsp_cert), ["-cmd", "cr", "-key", uri(hsm, "signer"), *args(pki, hsm),
                                            *_trust(pki), "-subject", "/CN=leaf"], out)
    _assert_enrolled(r, out, cert)


def test_cr_key_in_token_does_not_match_cert(pki, hsm, servers, tmp_path):
    out = tmp_path / "out.pem"
    r = _enroll(CMPKIT, servers(pki.path("issued")), ["-cmd", "cr", "-key", uri(hsm, "signer"),
                                                      "-cert", pki.path("client"), *_trust(pki),
                                                      "-newkey", pki.path("new_key")], out)
    _assert_one_line_error(r, out, "does not match")


ERRORS = {  # name -> (uri arguments, words of the error line)
    "wrong_pin": (dict(pin=WRONG_PIN), ["PKCS#11 login", f"'{LABEL}'", "CKR_PIN_INCORRECT"]),
    "no_pin_in_batch_mode": (dict(pin=None), ["no PIN", f"'{LABEL}'"]),
    "missing_token": (dict(token="no-such-token"), ["no PKCS#11 token", "token=no-such-token"]),
    "missing_object": (dict(obj="no-such-key"), ["no private key", "object=no-such-key", f"'{LABEL}'"]),
    "missing_module_path": (dict(module="module-path=/nonexistent/libno-such-p11.so"),
                            ["PKCS#11 module", "'/nonexistent/libno-such-p11.so' not found"]),
    "missing_module_name": (dict(module="module-name=no-such-p11"), ["PKCS#11 module", "'no-such-p11' not found"]),
}


@pytest.mark.parametrize("option", ["-newkey", "-key"])
@pytest.mark.parametrize("case", sorted(ERRORS))
def test_token_errors(case, option, pki, hsm, servers, tmp_path):
    """The same command lines as the successful enrollments above, with one thing wrong in the URI."""
    kw, words = ERRORS[case]
    kw = dict(kw)
    if option == "-newkey":
        source = uri(hsm, kw.pop("obj", "enroll"), **kw)
        server, args = servers(str(hsm.files["enroll"])), ["-cmd", "ir", *PBM, "-newkey", source]
    else:
        source = uri(hsm, kw.pop("obj", "signer"), **kw)
        server = servers(pki.path("issued"))
        args = ["-cmd", "cr", "-key", source, "-cert", str(hsm.files["signer"]), *_trust(pki),
                "-newkey", pki.path("new_key")]
    out = tmp_path / "out.pem"
    r = _enroll(CMPKIT, server, [*args, "-subject", "/CN=leaf", "-batch"], out)
    _assert_one_line_error(r, out, *words)


# ======================================================================= openssl with libp11's engine beside cmpkit

@pytest.fixture(scope="module")
def engine(hsm, tmp_path_factory):
    """openssl's pkcs11 engine (libp11) finds the module in $PKCS11_MODULE_PATH, and so does cmpkit,
    which is given an empty OPENSSL_ENGINES directory besides: it needs no engine."""
    openssl = _openssl()
    module = {"PKCS11_MODULE_PATH": hsm.lib}
    probe = _run([openssl, "engine", "-t", "pkcs11"], module)
    if probe.returncode != 0 or "available" not in probe.stdout:
        pytest.skip("openssl's pkcs11 engine (Debian: libengine-pkcs11-openssl) is not installed: "
                    + (probe.stderr.strip().splitlines() or [""])[-1])
    no_engines = tmp_path_factory.mktemp("no-engines")
    return types.SimpleNamespace(openssl=openssl, openssl_env=module,
                                 cmpkit_env={**module, "OPENSSL_ENGINES": str(no_engines)})


def _engine_key_ids(hsm, obj):
    """The ways libp11's engine names a key: (key ID, pass phrase option argument or None)."""
    id_ = OBJ_ID[obj]
    return {"uri": (f"pkcs11:token={LABEL};object={obj};type=private?pin-value={PIN}", None),
            "label": (f"label_{obj}", f"pass:{PIN}"),
            "id": (f"id_{id_}", f"pass:{PIN}"),
            "slot_id": (f"slot_{hsm.slot}-id_{id_}", f"pass:{PIN}"),
            "slot_colon_id": (f"{hsm.slot}:{id_}", f"pass:{PIN}")}


def _both(engine, server, args, tmp_path, openssl_env=None, cmpkit_env=None):
    """The same command line run by openssl and by cmpkit: {tool: (result, certificate file or None)}."""
    results = {}
    for tool, argv0, extra in (("openssl", [engine.openssl, "cmp"],
                                engine.openssl_env if openssl_env is None else openssl_env),
                               ("cmpkit", CMPKIT, engine.cmpkit_env if cmpkit_env is None else cmpkit_env)):
        out = tmp_path / f"{tool}.pem"
        r = _enroll(argv0, server, args, out, extra)
        results[tool] = (r, out.read_bytes() if out.exists() else None)
    return results


def _assert_same_enrollment(results, cert):
    for tool, (r, got) in results.items():
        assert r.returncode == 0, f"{tool}: {r.stdout}{r.stderr}"
        assert got == pem_cert(cert), tool
    assert "Traceback" not in results["cmpkit"][0].stderr


@pytest.mark.parametrize("form", ["uri", "label", "id", "slot_id", "slot_colon_id"])
def test_engine_ir_newkey(form, hsm, servers, engine, tmp_path):
    key_id, passarg = _engine_key_ids(hsm, "enroll")[form]
    args = ["-cmd", "ir", *PBM, "-engine", "pkcs11", "-keyform", "ENGINE", "-newkey", key_id,
            "-subject", "/CN=token leaf"] + (["-newkeypass", passarg] if passarg else [])
    _assert_same_enrollment(_both(engine, servers(str(hsm.files["enroll"])), args, tmp_path), hsm.certs["enroll"])


@pytest.mark.parametrize("form", ["uri", "label", "id", "slot_id", "slot_colon_id"])
def test_engine_cr_key(form, pki, hsm, servers, engine, tmp_path):
    """-keyform ENGINE applies to -newkey too: without -newkey the token key is also the new key."""
    key_id, passarg = _engine_key_ids(hsm, "signer")[form]
    args = ["-cmd", "cr", "-engine", "pkcs11", "-keyform", "ENGINE", "-key", key_id,
            "-cert", str(hsm.files["signer"]), *_trust(pki), "-subject", "/CN=leaf"]
    args += ["-keypass", passarg] if passarg else []
    _assert_same_enrollment(_both(engine, servers(str(hsm.files["signer"])), args, tmp_path), hsm.certs["signer"])


def test_engine_cr_key_and_newkey(pki, hsm, servers, engine, tmp_path):
    args = ["-cmd", "cr", "-engine", "pkcs11", "-keyform", "ENGINE", "-key", "label_signer", "-keypass",
            f"pass:{PIN}", "-cert", str(hsm.files["signer"]), *_trust(pki), "-newkey", "id_02",
            "-newkeypass", f"pass:{PIN}", "-subject", "/CN=leaf"]
    _assert_same_enrollment(_both(engine, servers(str(hsm.files["enroll"])), args, tmp_path), hsm.certs["enroll"])


@pytest.mark.parametrize("form", ["uri", "label"])
def test_engine_uri_scheme(form, pki, hsm, servers, engine, tmp_path):
    """`-key org.openssl.engine:pkcs11:<key id>` (no -keyform ENGINE), with a -newkey file beside it."""
    key_id, passarg = _engine_key_ids(hsm, "signer")[form]
    args = ["-cmd", "cr", "-key", f"org.openssl.engine:pkcs11:{key_id}", "-cert", str(hsm.files["signer"]),
            *_trust(pki), "-newkey", pki.path("new_key"), "-subject", "/CN=leaf"]
    args += ["-keypass", passarg] if passarg else []
    _assert_same_enrollment(_both(engine, servers(pki.path("issued")), args, tmp_path), pki.objs["issued"])


def test_engine_wrong_pin(hsm, servers, engine, tmp_path):
    args = ["-cmd", "ir", *PBM, "-engine", "pkcs11", "-keyform", "ENGINE", "-newkey", "label_enroll",
            "-newkeypass", f"pass:{WRONG_PIN}", "-subject", "/CN=token leaf"]
    results = _both(engine, servers(str(hsm.files["enroll"])), args, tmp_path)
    for tool, (r, got) in results.items():
        assert r.returncode != 0 and got is None, f"{tool}: {r.stdout}{r.stderr}"
    _assert_one_line_error(results["cmpkit"][0], tmp_path / "cmpkit.pem", "CKR_PIN_INCORRECT")


def test_engine_is_really_disabled_for_cmpkit(hsm, servers, engine, tmp_path):
    """The cmpkit environment has no engine: openssl cannot enroll in it, cmpkit can."""
    key_id, passarg = _engine_key_ids(hsm, "enroll")["label"]
    args = ["-cmd", "ir", *PBM, "-engine", "pkcs11", "-keyform", "ENGINE", "-newkey", key_id,
            "-newkeypass", passarg, "-subject", "/CN=token leaf"]
    results = _both(engine, servers(str(hsm.files["enroll"])), args, tmp_path, openssl_env=engine.cmpkit_env)
    r, got = results["openssl"]
    assert r.returncode != 0 and got is None, r.stdout + r.stderr
    assert "cannot load engine pkcs11" in r.stdout + r.stderr
    r, got = results["cmpkit"]
    assert r.returncode == 0 and got == pem_cert(hsm.certs["enroll"]), r.stdout + r.stderr


@pytest.mark.parametrize("form", ["uri", "label", "id"])
def test_engine_default_module_is_p11kit_proxy(form, hsm, servers, engine, tmp_path):
    """Without any module configuration both use p11-kit's proxy, which offers SoftHSM2's tokens."""
    if not any(os.path.isfile(p) for p in P11KIT_PROXIES) or not any(os.path.isfile(p) for p in P11KIT_SOFTHSM):
        pytest.skip("p11-kit's proxy module or its softhsm2.module file is not installed")
    key_id, passarg = _engine_key_ids(hsm, "enroll")[form]
    args = ["-cmd", "ir", *PBM, "-engine", "pkcs11", "-keyform", "ENGINE", "-newkey", key_id,
            "-subject", "/CN=token leaf"] + (["-newkeypass", passarg] if passarg else [])
    no_module = {"OPENSSL_ENGINES": engine.cmpkit_env["OPENSSL_ENGINES"]}  # for cmpkit
    _assert_same_enrollment(_both(engine, servers(str(hsm.files["enroll"])), args, tmp_path,
                                  openssl_env={}, cmpkit_env=no_module), hsm.certs["enroll"])


def test_engine_missing_module(hsm, servers, engine, tmp_path):
    missing = str(tmp_path / "libno-such-p11.so")
    args = ["-cmd", "ir", *PBM, "-engine", "pkcs11", "-keyform", "ENGINE", "-newkey", "label_enroll",
            "-newkeypass", f"pass:{PIN}", "-subject", "/CN=token leaf"]
    results = _both(engine, servers(str(hsm.files["enroll"])), args, tmp_path,
                    openssl_env={"PKCS11_MODULE_PATH": missing},
                    cmpkit_env={**engine.cmpkit_env, "PKCS11_MODULE_PATH": missing})
    for tool, (r, got) in results.items():
        assert r.returncode != 0 and got is None, f"{tool}: {r.stdout}{r.stderr}"
    _assert_one_line_error(results["cmpkit"][0], tmp_path / "cmpkit.pem", f"'{missing}'",
                           "$PKCS11_MODULE_PATH", "not found")
