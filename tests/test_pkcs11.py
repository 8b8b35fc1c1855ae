"""Tests of the pkcs11 plugin: RFC 7512 URIs, and keys and certificates in a real SoftHSM2 token."""
import datetime
import os
import subprocess
import types

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.x509.oid import NameOID

from cmpkit.errors import ConfigError, CredentialError
from cmpkit.app.credentials import Loader as LoadContext
from cmpkit_pkcs11 import plugin, token
from cmpkit_pkcs11.uri import Pkcs11Uri, parse_pkcs11_uri

from .tools import softhsm_dir

PIN = "1234"


# ============================================================================ URIs (no token needed)

def test_parse_all_attributes():
    uri = parse_pkcs11_uri(
        "pkcs11:token=My%20Token;manufacturer=ACME;serial=0042;model=M1;slot-manufacturer=S;"
        "slot-description=Slot%3b1;slot-id=7;library-manufacturer=L;library-description=D;"
        "library-version=2.6;object=a%2Fb;id=%01%ff;type=private;x-vendor=ignored"
        "?pin-value=se%26cret&module-name=softhsm2&module-path=/usr/lib")
    assert uri.token == "My Token" and uri.manufacturer == "ACME" and uri.serial == "0042"
    assert uri.model == "M1" and uri.slot_manufacturer == "S" and uri.slot_description == "Slot;1"
    assert uri.slot_id == 7 and uri.library_version == (2, 6)
    assert uri.library_manufacturer == "L" and uri.library_description == "D"
    assert uri.object == "a/b" and uri.id == b"\x01\xff" and uri.type == "private"
    assert uri.pin_value == "se&cret" and uri.module_name == "softhsm2" and uri.module_path == "/usr/lib"
    assert uri.vendor == {"x-vendor": ["ignored"]}
    assert "se&cret" not in repr(uri) and "se&cret" not in str(uri)
    assert parse_pkcs11_uri("pkcs11:library-version=3").library_version == (3, 0)
    assert parse_pkcs11_uri("PKCS11:") == Pkcs11Uri()


@pytest.mark.parametrize("text, reason", [
    ("pkcs11:tokn=x", "unknown attribute 'tokn'"),
    ("pkcs11:token=a;token=b", "more than once"),
    ("pkcs11:object=%zz", "percent-encoding"),
    ("pkcs11:object=%4", "percent-encoding"),
    ("pkcs11:type=key", "invalid type"),
    ("pkcs11:slot-id=x1", "invalid slot-id"),
    ("pkcs11:library-version=1.x", "invalid library-version"),
    ("pkcs11:token", "without '='"),
    ("pkcs11:token=a;;object=b", "empty attribute"),
    ("pkcs11:pin-value=1234", "belongs in the query"),
    ("pkcs11:?object=k", "belongs in the path"),
    ("pkcs11:?pin-value=1234&pin-source=/f", "both pin-value and pin-source"),
    ("pkcs11:object=a#frag", "'#'"),
    ("pkcs11:object=%ff", "UTF-8"),
    ("file:key.pem", "must start with 'pkcs11:'"),
])
def test_parse_errors(text, reason):
    with pytest.raises(ConfigError) as info:
        parse_pkcs11_uri(text)
    assert reason in str(info.value)
    assert "\n" not in str(info.value)


def test_pin_never_in_parse_errors():
    for text in ("pkcs11:token=a?pin-value=9876&pin-value=9876", "pkcs11:token=a?pin-value=9876&bogus=1",
                 "pkcs11:token=a?pin-value9876"):
        with pytest.raises(ConfigError) as info:
            parse_pkcs11_uri(text)
        assert "9876" not in str(info.value)


def test_not_mine_returns_none():
    ctx = LoadContext(batch=True)
    assert plugin.cmpkit_load_key("key.pem", None, None, "key", ctx) is None
    assert plugin.cmpkit_load_key("file:key.pem", None, "ENGINE", "key", ctx) is None  # no pkcs11 engine
    assert plugin.cmpkit_load_public_key("key.pem", None, "PEM", "key", ctx) is None
    assert plugin.cmpkit_load_certs("certs.pem", None, None, "certs", ctx) is None


def test_engine_key_ids():
    assert plugin.engine_key_id("0:0102") == Pkcs11Uri(slot_id=0, id=b"\x01\x02")
    assert plugin.engine_key_id("slot_3-label_my key") == Pkcs11Uri(slot_id=3, object="my key")
    assert plugin.engine_key_id("id_1") == Pkcs11Uri(id=b"\x01")
    assert plugin.engine_key_id("label_k1") == Pkcs11Uri(object="k1")
    with pytest.raises(CredentialError):
        plugin.engine_key_id("slot_1")
    assert plugin.pkcs11_engine_selected({"engine": "pkcs11"})
    assert plugin.pkcs11_engine_selected({"provider": "default, pkcs11"})
    assert not plugin.pkcs11_engine_selected({"engine": "other"}) and not plugin.pkcs11_engine_selected(None)


def test_module_resolution(monkeypatch, tmp_path):
    lib = tmp_path / "libfake.so"
    lib.write_bytes(b"")
    real = os.path.realpath(lib)
    assert token.find_module(Pkcs11Uri(module_path=str(lib))) == real
    assert token.find_module(Pkcs11Uri(module_path=str(tmp_path), module_name="fake")) == real
    monkeypatch.setattr(token, "MODULE_DIRS", (str(tmp_path),))
    monkeypatch.setattr(token, "P11KIT_MODULE_FILES", ())
    assert token.find_module(Pkcs11Uri(module_name="fake")) == real
    monkeypatch.setenv(token.MODULE_ENV, str(lib))
    assert token.find_module(Pkcs11Uri()) == real
    monkeypatch.delenv(token.MODULE_ENV)
    monkeypatch.setattr(token, "PROXY_MODULES", (str(lib),))
    assert token.find_module(Pkcs11Uri()) == real
    monkeypatch.setattr(token, "PROXY_MODULES", ())
    for uri, reason in ((Pkcs11Uri(module_path=str(tmp_path / "none.so")), "not found"),
                        (Pkcs11Uri(module_name="nosuch"), "'nosuch' not found"),
                        (Pkcs11Uri(module_path=str(tmp_path)), "no module-name"),
                        (Pkcs11Uri(), "no PKCS#11 module")):
        with pytest.raises(CredentialError, match=reason):
            token.find_module(uri)


# ============================================================================ a SoftHSM2 token

def _run(*args):
    subprocess.run(args, check=True, capture_output=True, timeout=60)


def _pem(key):
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _cert(subject_key, cn, ca_key):
    now = datetime.datetime.now(datetime.timezone.utc)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    issuer = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test CA")])
    return (x509.CertificateBuilder().subject_name(name).issuer_name(issuer)
            .public_key(subject_key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
            .sign(ca_key, hashes.SHA256()))


@pytest.fixture(scope="module")
def hsm(tmp_path_factory):
    """SoftHSM2 with token 'test' (PIN 1234) holding k1 (RSA, id 01), k2 (EC P-256, id 02, plus a
    certificate), k3 (Ed25519, id 03), k4 (RSA without public key object, id 04), and an empty
    token 'other'. Keys are made with cryptography and imported with softhsm2-util."""
    PyKCS11 = pytest.importorskip("PyKCS11", reason="PyKCS11 is not installed")
    with softhsm_dir(tmp_path_factory, "softhsm") as (lib, root):
        yield from _tokens(PyKCS11, lib, root)


def _tokens(PyKCS11, lib, root):
    """hsm's body: the tokens initialised and filled in ``root``; yields what the tests see."""
    token.close_all()
    try:
        _run("softhsm2-util", "--init-token", "--free", "--label", "test", "--pin", PIN, "--so-pin", "5678")
        _run("softhsm2-util", "--init-token", "--free", "--label", "other", "--pin", "1111", "--so-pin", "5678")
        keys = {"k1": rsa.generate_private_key(65537, 2048), "k2": ec.generate_private_key(ec.SECP256R1()),
                "k3": ed25519.Ed25519PrivateKey.generate(), "k4": rsa.generate_private_key(65537, 2048)}
        for n, (label, key) in enumerate(keys.items(), 1):
            path = root / f"{label}.pem"
            path.write_bytes(_pem(key))
            try:
                _run("softhsm2-util", "--import", str(path), "--token", "test", "--label", label,
                     "--id", f"{n:02x}", "--pin", PIN)
            except subprocess.CalledProcessError:
                if label != "k3":
                    raise
                del keys["k3"]  # this SoftHSM cannot import Ed25519 keys
        ca_key = ec.generate_private_key(ec.SECP256R1())
        cert = _cert(keys["k2"], "k2 holder", ca_key)
        cert_der = cert.public_bytes(serialization.Encoding.DER)
        # the certificate object; k4 loses its public key object
        p11 = PyKCS11.PyKCS11Lib().load(lib)
        slot = next(s for s in p11.getSlotList(tokenPresent=True)
                    if p11.getTokenInfo(s).label.strip() == "test")
        session = p11.openSession(slot, PyKCS11.CKF_RW_SESSION)
        session.login(PIN)
        session.createObject([
            (PyKCS11.CKA_CLASS, PyKCS11.CKO_CERTIFICATE), (PyKCS11.CKA_CERTIFICATE_TYPE, PyKCS11.CKC_X_509),
            (PyKCS11.CKA_TOKEN, True), (PyKCS11.CKA_PRIVATE, False), (PyKCS11.CKA_LABEL, "k2"),
            (PyKCS11.CKA_ID, b"\x02"), (PyKCS11.CKA_SUBJECT, cert.subject.public_bytes()),
            (PyKCS11.CKA_VALUE, cert_der)])
        for handle in session.findObjects([(PyKCS11.CKA_CLASS, PyKCS11.CKO_PUBLIC_KEY), (PyKCS11.CKA_ID, b"\x04")]):
            session.destroyObject(handle)
        session.logout()
        session.closeSession()
        p11.unload()
        yield types.SimpleNamespace(lib=lib, root=root, keys=keys, cert_der=cert_der, ca_key=ca_key,
                                    base=f"pkcs11:token=test;object=%s?module-path={lib}")
    finally:
        token.close_all()


@pytest.fixture(autouse=True)
def _close_sessions():
    yield
    token.close_all()


def _uri(hsm, obj, extra="&pin-value=" + PIN, path_extra=""):
    return (hsm.base % obj).replace("?", path_extra + "?") + extra


def _key(hsm, obj, **kw):
    ctx = kw.pop("ctx", None) or LoadContext(batch=True)
    return plugin.cmpkit_load_key(_uri(hsm, obj, **kw), kw.get("passarg"), None, "private key for -key", ctx)


def _spki(public):
    return public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


@pytest.mark.parametrize("digest", ["sha256", "sha384", "sha512"])
@pytest.mark.parametrize("on_token_hash", [True, False])
def test_rsa_pkcs1_and_pss(hsm, monkeypatch, digest, on_token_hash):
    key = _key(hsm, "k1")
    assert _spki(key.public_key()) == _spki(hsm.keys["k1"].public_key())
    if not on_token_hash:  # force CKM_RSA_PKCS with a DigestInfo and CKM_RSA_PKCS_PSS over a digest
        monkeypatch.setattr(token.TokenSession, "mechanisms", lambda self: set())
    h = {"sha256": hashes.SHA256(), "sha384": hashes.SHA384(), "sha512": hashes.SHA512()}[digest]
    public = hsm.keys["k1"].public_key()
    sig = key.sign(b"data to sign", digest)
    public.verify(sig, b"data to sign", padding.PKCS1v15(), h)
    sig = key.sign(b"data to sign", digest, pss=True)
    public.verify(sig, b"data to sign", padding.PSS(padding.MGF1(h), h.digest_size), h)
    with pytest.raises(Exception):
        public.verify(sig, b"other data", padding.PSS(padding.MGF1(h), h.digest_size), h)


def test_ecdsa(hsm):
    key = _key(hsm, "k2")
    public = hsm.keys["k2"].public_key()
    assert _spki(key.public_key()) == _spki(public)
    for digest, h in (("sha256", hashes.SHA256()), ("SHA-384", hashes.SHA384())):
        sig = key.sign(b"ec data", digest)
        public.verify(sig, b"ec data", ec.ECDSA(h))  # DER Ecdsa-Sig-Value


def test_eddsa(hsm):
    if "k3" not in hsm.keys:
        pytest.skip("this SoftHSM cannot import Ed25519 keys")
    key = _key(hsm, "k3")
    assert _spki(key.public_key()) == _spki(hsm.keys["k3"].public_key())
    hsm.keys["k3"].public_key().verify(key.sign(b"ed data", None), b"ed data")


def test_select_by_id_and_type(hsm):
    uri = f"pkcs11:token=test;id=%02;type=private?module-path={hsm.lib}&pin-value={PIN}"
    key = plugin.cmpkit_load_key(uri, None, None, "key", LoadContext(batch=True))
    assert _spki(key.public_key()) == _spki(hsm.keys["k2"].public_key())
    assert "1234" not in repr(key)


def test_public_key_from_private_attributes(hsm):
    """k4 has no public key object and no certificate: the modulus comes from the private key."""
    key = _key(hsm, "k4")
    assert _spki(key.public_key()) == _spki(hsm.keys["k4"].public_key())
    public = plugin.cmpkit_load_public_key(_uri(hsm, "k4"), None, None, "-newkey", LoadContext(batch=True))
    assert _spki(public) == _spki(hsm.keys["k4"].public_key())


def test_public_key_without_login(hsm):
    ctx = LoadContext(batch=True, get_pass=lambda arg, what: pytest.fail("no PIN needed"))
    for obj, extra in (("k2", ""), ("k1", ";type=public"), ("k2", ";type=cert")):
        public = plugin.cmpkit_load_public_key(_uri(hsm, obj, extra="", path_extra=extra), None, None,
                                               "public key for -newkey", ctx)
        assert _spki(public) == _spki(hsm.keys[obj].public_key())


def test_certs(hsm):
    ctx = LoadContext(batch=True, get_pass=lambda arg, what: pytest.fail("no PIN needed"))
    for extra in (";type=cert", ""):
        got = plugin.cmpkit_load_certs(_uri(hsm, "k2", extra="", path_extra=extra), None, None, "-cert", ctx)
        assert got == [hsm.cert_der]
    with pytest.raises(CredentialError, match="no certificate matching 'pkcs11:token=test;object=k1'"):
        plugin.cmpkit_load_certs(_uri(hsm, "k1", extra=""), None, None, "-cert", LoadContext(batch=True))
    asked = []  # no public certificate: log in (if a PIN can be had) for private ones
    ctx = LoadContext(batch=True, get_pass=lambda arg, what: asked.append(arg) or PIN.encode())
    with pytest.raises(CredentialError, match="no certificate matching"):
        plugin.cmpkit_load_certs(_uri(hsm, "k1", extra=""), "pass:x", None, "-cert", ctx)
    assert asked == ["pass:x"]
    with pytest.raises(CredentialError, match="type 'private'"):
        plugin.cmpkit_load_certs(_uri(hsm, "k2", extra="", path_extra=";type=private"), None, None, "-cert", ctx)


def test_wrong_pin(hsm):
    with pytest.raises(CredentialError) as info:
        _key(hsm, "k1", extra="&pin-value=9999")
    assert str(info.value) == "PKCS#11 login to token 'test' failed: CKR_PIN_INCORRECT"
    token.close_all()
    assert _key(hsm, "k1") is not None  # the right PIN still works afterwards


def test_no_pin_in_batch_mode(hsm):
    with pytest.raises(CredentialError, match="no PIN for PKCS#11 token 'test'"):
        _key(hsm, "k1", extra="")


@pytest.mark.parametrize("uri, reason", [
    ("pkcs11:token=nosuch?module-path={lib}", "no PKCS#11 token matching 'pkcs11:token=nosuch'"),
    ("pkcs11:token=test;object=nosuch?module-path={lib}&pin-value=1234", "no private key matching"),
    ("pkcs11:token=test;type=private?module-path={lib}&pin-value=1234", "private keys match"),
    ("pkcs11:object=k1?module-path={lib}&pin-value=1234", "2 PKCS#11 tokens match"),
    ("pkcs11:token=test;object=k1?module-path=/nonexistent/lib.so", "module '/nonexistent/lib.so' not found"),
    ("pkcs11:token=test;object=k1?module-path=/etc/hostname", "cannot load PKCS#11 module"),
    ("pkcs11:token=test;object=k1;type=cert?module-path={lib}", "objects of type 'cert'"),
])
def test_errors(hsm, uri, reason):
    with pytest.raises(CredentialError) as info:
        plugin.cmpkit_load_key(uri.format(lib=hsm.lib), None, None, "private key for -key", LoadContext(batch=True))
    assert reason in str(info.value)
    assert "\n" not in str(info.value) and "1234" not in str(info.value)


def test_pin_sources(hsm, tmp_path):
    pin_file = tmp_path / "pin.txt"
    pin_file.write_text(PIN + "\n")
    for extra in (f"&pin-source={pin_file}", f"&pin-source=file://{pin_file}", f"&pin-source=file:{pin_file}"):
        assert _key(hsm, "k1", extra=extra) is not None
        token.close_all()
    with pytest.raises(CredentialError, match="cannot read the PIN file"):
        _key(hsm, "k1", extra=f"&pin-source={tmp_path / 'missing'}")
    # the pass phrase option that goes with the key option (-keypass pass:1234)
    uri = _uri(hsm, "k1", extra="")
    assert plugin.cmpkit_load_key(uri, f"pass:{PIN}", None, "key", LoadContext(batch=True)) is not None
    token.close_all()
    # else a prompt
    asked = []
    ctx = LoadContext(batch=False, get_pass=lambda arg, what: asked.append((arg, what)) or PIN.encode())
    assert plugin.cmpkit_load_key(uri, None, None, "private key for -key", ctx) is not None
    assert asked == [(None, "PIN of PKCS#11 token 'test' (private key for -key)")]


def test_module_from_environment(hsm, monkeypatch):
    monkeypatch.setenv(token.MODULE_ENV, hsm.lib)
    key = plugin.cmpkit_load_key(f"pkcs11:token=test;object=k2?pin-value={PIN}", None, None, "key",
                                 LoadContext(batch=True))
    assert _spki(key.public_key()) == _spki(hsm.keys["k2"].public_key())


def test_one_session_per_token(hsm):
    first = _key(hsm, "k1")
    second = _key(hsm, "k2", extra="")  # logged in already: no PIN needed
    assert len(token._sessions) == 1 and first._token is second._token
    token.close_all()
    assert not token._sessions and not token._modules


def test_sessions_are_closed_when_the_run_ends(hsm):
    _key(hsm, "k1")
    assert token._sessions and token._modules
    plugin.cmpkit_unconfigure(config=None)  # the shell calls it once the run has ended
    assert not token._sessions and not token._modules


def test_engine_keyform(hsm, monkeypatch):
    monkeypatch.setenv(token.MODULE_ENV, hsm.lib)
    ctx = LoadContext(batch=True, get_pass=lambda arg, what: PIN.encode(), cfg={"engine": "pkcs11"})
    with pytest.raises(CredentialError, match="2 PKCS#11 tokens match"):  # 'test' and 'other'
        plugin.cmpkit_load_key("label_k2", "pass:x", "ENGINE", "key", ctx)
    slot = _key(hsm, "k1")._token.slot
    key = plugin.cmpkit_load_key(f"slot_{slot}-label_k2", "pass:x", "ENGINE", "key", ctx)
    assert _spki(key.public_key()) == _spki(hsm.keys["k2"].public_key())
    ctx.config = {"provider": "pkcs11"}
    key = plugin.cmpkit_load_key(f"{slot}:02", None, "ENGINE", "key", ctx)
    assert _spki(key.public_key()) == _spki(hsm.keys["k2"].public_key())
    assert plugin.cmpkit_load_key(f"pkcs11:token=test;id=%02?pin-value={PIN}", None, "ENGINE", "key", ctx)
    ctx.config = {"engine": "other"}
    assert plugin.cmpkit_load_key("label_k2", None, "ENGINE", "key", ctx) is None


def test_through_plugin_manager(hsm, fresh_plugins, monkeypatch):
    monkeypatch.delenv(fresh_plugins.BLOCK_ENV, raising=False)
    hook = fresh_plugins.hook()
    ctx = LoadContext(batch=True)
    key = hook.cmpkit_load_key(source=_uri(hsm, "k1"), passarg=None, keyform=None, what="key", ctx=ctx)
    assert isinstance(key, token.TokenKey)
    from cmpkit.core.keys import Signer
    assert isinstance(key, Signer)
    certs = hook.cmpkit_load_certs(source=_uri(hsm, "k2", extra=""), passarg=None, certform=None,
                                   what="-cert", ctx=ctx)
    assert certs == [hsm.cert_der]


def test_ir_popo_and_protection_signed_by_token(hsm):
    """An IR built by the Client: the POPO and the message protection are made by token keys."""
    from cmpkit.core import bodies, protection
    from cmpkit.app.transaction import Client
    from cmpkit.core.client import ClientSettings
    from cmpkit.core.message import PKIMessage
    from cmpkit.errors import TransferError

    signer = _key(hsm, "k2")
    newkey = _key(hsm, "k1")
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "new")]).public_bytes()
    sent = []

    def transfer(der):
        sent.append(der)
        raise TransferError("stop after the request")

    settings = ClientSettings(cmd="ir", signer=signer, cert=hsm.cert_der, newkey_signer=newkey,
                              newkey_public=newkey.public_key(),
                              template=bodies.Template(subject=subject, public_key=_spki(newkey.public_key())))
    with pytest.raises(TransferError):
        Client(settings, transfer).run()
    msg = PKIMessage.from_der(sent[0])
    assert msg.body_type == "ir"
    (req,) = bodies.read_cert_requests(msg.body_content)
    assert req.popo == "signature"
    protection.verify_signature(hsm.keys["k1"].public_key(), req.popo_alg, req.cert_request_der, req.popo_signature)
    protection.verify_signature(hsm.keys["k2"].public_key(), msg.protection_alg, msg.protected_part(), msg.protection)
