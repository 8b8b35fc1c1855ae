"""Keys, certificates and CSRs from files, as cryptography and the openssl command write them,
OpenSSL's Mock test files, error messages, and the file plugin's hooks."""
import importlib.metadata
import pathlib
import subprocess

import pluggy
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.hazmat.primitives.serialization import pkcs12

from cmpkit import hookspecs
from cmpkit.core.keys import SoftwareKey
from cmpkit.errors import ConfigError, CredentialError, DecodeError
from cmpkit.app.credentials import Loader as LoadContext
from cmpkit_file import plugin as file_plugin
from cmpkit.core.keys import check_key_matches_cert
from cmpkit_file.credentials import (is_file_source, load_cert, load_certs, load_csr,
                                     load_private_key, load_public_key)

from .pki import ec_key, make_cert, rsa_key

MOCK = pathlib.Path(__file__).resolve().parent / "data" / "openssl-3.0" / "Mock"
PW = b"Pa55-w0rd"
Enc = serialization.Encoding
Fmt = serialization.PrivateFormat


def spki(key) -> bytes:
    pub = key.public_key() if hasattr(key, "public_key") else key
    return pub.public_bytes(Enc.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


class Calls:
    """A password callable that counts how often it is asked."""

    def __init__(self, value=PW):
        self.value, self.count = value, 0

    def __call__(self):
        self.count += 1
        return self.value


@pytest.fixture(scope="module")
def creds(tmp_path_factory):
    """Per key type: the key, a certificate for it, and a directory to write files to."""
    base = tmp_path_factory.mktemp("creds")
    ca_key = ec_key()
    ca_cert = make_cert(ca_key, "test CA", ca=True)
    out = {}
    for kind, key in (("rsa", rsa_key()), ("ec", ec_key()), ("ed25519", ed25519.Ed25519PrivateKey.generate())):
        d = base / kind
        d.mkdir()
        cert = make_cert(key, f"{kind} leaf", ca_key, ca_cert)
        (d / "key.pem").write_bytes(key.private_bytes(Enc.PEM, Fmt.PKCS8, serialization.NoEncryption()))
        (d / "cert.pem").write_bytes(cert.public_bytes(Enc.PEM))
        (d / "chain.pem").write_bytes(cert.public_bytes(Enc.PEM) + ca_cert.public_bytes(Enc.PEM))
        out[kind] = dict(key=key, cert=cert, ca=ca_cert, dir=d)
    return out


# ---------------------------------------------------------------- files written by cryptography

def _cryptography_files(kind, key, cert, ca):
    enc = serialization.BestAvailableEncryption(PW)
    none = serialization.NoEncryption()
    files = {
        "pem-pkcs8": (key.private_bytes(Enc.PEM, Fmt.PKCS8, none), False),
        "pem-pkcs8-enc": (key.private_bytes(Enc.PEM, Fmt.PKCS8, enc), True),
        "der-pkcs8": (key.private_bytes(Enc.DER, Fmt.PKCS8, none), False),
        "der-pkcs8-enc": (key.private_bytes(Enc.DER, Fmt.PKCS8, enc), True),
        "p12-enc": (pkcs12.serialize_key_and_certificates(b"k", key, cert, [ca], enc), True),
        "p12-plain": (pkcs12.serialize_key_and_certificates(b"k", key, cert, [ca], none), False),
    }
    if kind != "ed25519":  # PKCS#1 / SEC1 exist for RSA and EC only
        files["pem-traditional"] = (key.private_bytes(Enc.PEM, Fmt.TraditionalOpenSSL, none), False)
        files["pem-traditional-enc"] = (key.private_bytes(Enc.PEM, Fmt.TraditionalOpenSSL, enc), True)
        files["der-traditional"] = (key.private_bytes(Enc.DER, Fmt.TraditionalOpenSSL, none), False)
    return files


@pytest.mark.parametrize("kind", ["rsa", "ec", "ed25519"])
def test_private_keys_written_by_cryptography(creds, kind, tmp_path):
    c = creds[kind]
    for name, (data, encrypted) in _cryptography_files(kind, c["key"], c["cert"], c["ca"]).items():
        path = tmp_path / name
        path.write_bytes(data)
        calls = Calls()
        key = load_private_key(str(path), calls, None, "private key for -key")
        assert spki(key) == spki(c["key"]), name
        assert calls.count == (1 if encrypted else 0), name  # asked only when needed


# ---------------------------------------------------------------- files written by openssl

def _run(openssl, *args):
    subprocess.run([openssl, *map(str, args)], check=True, capture_output=True)


@pytest.fixture(scope="module")
def openssl_files(creds):
    """Keys, public keys, certificates and CSRs written by the openssl command."""
    import shutil
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("the system openssl is not installed")
    made = {}
    for kind, c in creds.items():
        d, key, cert, chain = c["dir"], c["dir"] / "key.pem", c["dir"] / "cert.pem", c["dir"] / "chain.pem"
        pw = f"pass:{PW.decode()}"
        files = {}  # name -> (path, encrypted)
        _run(openssl, "pkey", "-in", key, "-aes128", "-passout", pw, "-out", d / "o-pkcs8-enc.pem")
        files["pkcs8-enc-pem"] = (d / "o-pkcs8-enc.pem", True)
        _run(openssl, "pkey", "-in", key, "-outform", "DER", "-out", d / "o-pkcs8.der")
        files["pkcs8-der"] = (d / "o-pkcs8.der", False)
        _run(openssl, "pkcs8", "-topk8", "-in", key, "-outform", "DER", "-v2", "aes-256-cbc",
             "-passout", pw, "-out", d / "o-pkcs8-enc.der")
        files["pkcs8-enc-der"] = (d / "o-pkcs8-enc.der", True)
        _run(openssl, "pkcs12", "-export", "-inkey", key, "-in", chain, "-passout", pw, "-out", d / "o.p12")
        files["p12"] = (d / "o.p12", True)
        _run(openssl, "pkcs12", "-export", "-inkey", key, "-in", cert, "-passout", "pass:", "-out", d / "o-empty.p12")
        files["p12-empty-pass"] = (d / "o-empty.p12", False)
        if kind != "ed25519":
            _run(openssl, "pkey", "-in", key, "-traditional", "-out", d / "o-trad.pem")
            files["traditional-pem"] = (d / "o-trad.pem", False)
            _run(openssl, "pkey", "-in", key, "-traditional", "-aes256", "-passout", pw, "-out", d / "o-trad-enc.pem")
            files["traditional-enc-pem"] = (d / "o-trad-enc.pem", True)
            _run(openssl, "pkey", "-in", key, "-traditional", "-outform", "DER", "-out", d / "o-trad.der")
            files["traditional-der"] = (d / "o-trad.der", False)
        try:
            _run(openssl, "pkcs12", "-export", "-legacy", "-inkey", key, "-in", cert, "-passout", pw,
                 "-out", d / "o-legacy.p12")
            files["p12-legacy"] = (d / "o-legacy.p12", True)
        except subprocess.CalledProcessError:
            pass  # no legacy provider in this openssl
        # public keys, certificates, CSRs
        _run(openssl, "pkey", "-in", key, "-pubout", "-out", d / "o-pub.pem")
        _run(openssl, "pkey", "-in", key, "-pubout", "-outform", "DER", "-out", d / "o-pub.der")
        pubs = [d / "o-pub.pem", d / "o-pub.der"]
        if kind == "rsa":
            _run(openssl, "rsa", "-in", key, "-RSAPublicKey_out", "-out", d / "o-rsapub.pem")
            _run(openssl, "rsa", "-in", key, "-RSAPublicKey_out", "-outform", "DER", "-out", d / "o-rsapub.der")
            pubs += [d / "o-rsapub.pem", d / "o-rsapub.der"]
        _run(openssl, "x509", "-in", cert, "-outform", "DER", "-out", d / "o-cert.der")
        _run(openssl, "x509", "-in", cert, "-trustout", "-addtrust", "clientAuth", "-out", d / "o-trusted.pem")
        _run(openssl, "pkcs12", "-export", "-nokeys", "-in", chain, "-passout", pw, "-out", d / "o-certs.p12")
        _run(openssl, "req", "-new", "-key", key, "-subj", f"/CN={kind} csr", "-out", d / "o-csr.pem")
        _run(openssl, "req", "-in", d / "o-csr.pem", "-outform", "DER", "-out", d / "o-csr.der")
        made[kind] = dict(keys=files, pubs=pubs, openssl=openssl)
    return made


@pytest.mark.parametrize("kind", ["rsa", "ec", "ed25519"])
def test_private_keys_written_by_openssl(creds, openssl_files, kind):
    for name, (path, encrypted) in openssl_files[kind]["keys"].items():
        calls = Calls()
        key = load_private_key(str(path), calls, None, "private key for -key")
        assert spki(key) == spki(creds[kind]["key"]), name
        assert calls.count == (1 if encrypted else 0), name


def test_openssl_genrsa_aes256(tmp_path, openssl):
    path = tmp_path / "genrsa.pem"
    _run(openssl, "genrsa", "-aes256", "-passout", f"pass:{PW.decode()}", "-out", path, "2048")
    key = load_private_key(str(path), PW, None, "private key")
    assert key.key_size == 2048
    SoftwareKey(key).sign(b"data", "sha256")


@pytest.mark.parametrize("kind", ["rsa", "ec", "ed25519"])
def test_public_keys(creds, openssl_files, kind):
    want = spki(creds[kind]["key"])
    for path in openssl_files[kind]["pubs"]:
        assert spki(load_public_key(str(path), None, None, "public key for -newkey")) == want, path
    # a private key file serves as a public key too, asking for its pass phrase only then
    enc_path = openssl_files[kind]["keys"]["pkcs8-enc-pem"][0]
    calls = Calls()
    assert spki(load_public_key(str(enc_path), calls, None, "-newkey")) == want
    assert calls.count == 1
    assert spki(load_public_key(str(openssl_files[kind]["keys"]["p12"][0]), PW, None, "-newkey")) == want


@pytest.mark.parametrize("kind", ["rsa", "ec", "ed25519"])
def test_certificates(creds, openssl_files, kind):
    c = creds[kind]
    leaf = c["cert"].public_bytes(Enc.DER)
    ca = c["ca"].public_bytes(Enc.DER)
    d = c["dir"]
    assert load_certs(str(d / "cert.pem"), None, None, "-cert") == [leaf]
    assert load_certs(str(d / "chain.pem"), None, None, "-untrusted") == [leaf, ca]
    assert load_certs(str(d / "o-cert.der"), None, None, "-cert") == [leaf]
    assert load_certs(str(d / "o-trusted.pem"), None, None, "-trusted") == [leaf]
    calls = Calls()
    assert set(load_certs(str(d / "o-certs.p12"), calls, None, "-cert")) == {leaf, ca}
    assert calls.count == 1
    p12 = load_certs(str(openssl_files[kind]["keys"]["p12"][0]), PW, None, "-cert")
    assert p12[0] == leaf and set(p12) == {leaf, ca}  # the key's certificate comes first
    assert load_cert(str(d / "chain.pem"), None, None, "-cert") == leaf
    # a PEM file holding key and certificate serves both
    both = d / "both.pem"
    both.write_bytes((d / "cert.pem").read_bytes() + (d / "key.pem").read_bytes())
    assert load_certs(str(both)) == [leaf]
    assert spki(load_private_key(str(both))) == spki(c["key"])


@pytest.mark.parametrize("kind", ["rsa", "ec", "ed25519"])
def test_csr(creds, openssl_files, kind):
    d = creds[kind]["dir"]
    pem, der = load_csr(str(d / "o-csr.pem")), load_csr(str(d / "o-csr.der"))
    assert pem == der
    assert x509.load_der_x509_csr(der).subject.rfc4514_string() == f"CN={kind} csr"


# ---------------------------------------------------------------- formats, URIs, keyform

def test_file_uris(creds):
    path = creds["ec"]["dir"] / "key.pem"
    want = spki(creds["ec"]["key"])
    assert spki(load_private_key(f"file:{path}")) == want
    assert spki(load_private_key(f"file://{path}")) == want  # file:///abs/path
    assert spki(load_private_key(f"file://localhost{path}")) == want
    with pytest.raises(CredentialError, match="unsupported host 'elsewhere'"):
        load_private_key(f"file://elsewhere{path}")
    assert load_certs(f"file:{creds['ec']['dir'] / 'cert.pem'}") == [creds["ec"]["cert"].public_bytes(Enc.DER)]


def test_is_file_source(tmp_path):
    assert is_file_source("key.pem") and is_file_source("dir/key.pem") and is_file_source("/abs/key.pem")
    assert is_file_source("file:key.pem") and is_file_source("file:///abs")
    assert not is_file_source("pkcs11:token=x;object=y")
    assert not is_file_source("org.openssl.engine:pkcs11:label_k")
    odd = tmp_path / "name:with-colon.pem"
    odd.write_bytes(b"x")
    assert is_file_source(str(odd))


def test_keyform_as_openssl_3_0_treats_it(creds, openssl_files):
    """Observed with openssl cmp 3.0: PEM reads only PEM; DER reads DER and PKCS#12; P12 reads all."""
    keys = openssl_files["rsa"]["keys"]
    pem, der, p12 = str(creds["rsa"]["dir"] / "key.pem"), str(keys["pkcs8-der"][0]), str(keys["p12"][0])
    want = spki(creds["rsa"]["key"])
    for path, form in [(pem, "PEM"), (der, "DER"), (p12, "DER"), (p12, "P12"), (pem, "P12"), (der, "P12"),
                       (pem, "pem")]:
        assert spki(load_private_key(path, PW, form)) == want, (path, form)
    with pytest.raises(CredentialError, match="not in PEM format"):
        load_private_key(der, PW, "PEM")
    with pytest.raises(CredentialError, match="not in PEM format"):
        load_private_key(p12, PW, "PEM")
    with pytest.raises(CredentialError, match="it is PEM, not DER"):
        load_private_key(pem, PW, "DER")
    assert load_private_key(pem, PW, "ENGINE") is None
    assert load_public_key(pem, PW, "ENGINE") is None
    with pytest.raises(ConfigError, match="unknown key or certificate format 'XYZ'"):
        load_private_key(pem, PW, "XYZ")


# ---------------------------------------------------------------- errors

def test_errors_for_bad_files(tmp_path, creds):
    garbage = tmp_path / "garbage.bin"
    garbage.write_bytes(bytes(range(256)) * 4)
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    text = tmp_path / "text"
    text.write_bytes(b"hello\n")
    broken_pem = tmp_path / "broken.pem"
    broken_pem.write_bytes(b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
    cases = [
        (load_private_key, tmp_path / "missing", "cannot read private key from '.*missing': No such file"),
        (load_private_key, tmp_path, "it is a directory"),
        (load_private_key, empty, "the file is empty"),
        (load_private_key, garbage, "not a private key in PEM, DER or PKCS#12 format"),
        (load_private_key, text, "not a private key in PEM, DER or PKCS#12 format"),
        (load_private_key, creds["rsa"]["dir"] / "cert.pem", r"no private key in the PEM file \(it holds: CERTIFICATE\)"),
        (load_public_key, garbage, "not a public or private key"),
        (load_public_key, creds["rsa"]["dir"] / "cert.pem", "no public or private key in the PEM file"),
        (load_certs, garbage, "not a certificate in PEM, DER or PKCS#12 format"),
        (load_certs, empty, "the file is empty"),
        (load_certs, tmp_path, "it is a directory"),
        (load_certs, creds["rsa"]["dir"] / "key.pem", r"no certificate in the PEM file \(it holds: PRIVATE KEY\)"),
        (load_certs, broken_pem, "certificate number 1 in the PEM file is not valid"),
        (load_csr, empty, "the file is empty"),
    ]
    for func, path, pattern in cases:
        with pytest.raises(CredentialError, match=pattern) as info:
            func(str(path))
        assert "\n" not in str(info.value)
    for path, pattern in [(garbage, "not a PKCS#10 CSR in PEM or DER format"),
                          (creds["rsa"]["dir"] / "cert.pem", "no certificate request in the PEM file")]:
        with pytest.raises(DecodeError, match=pattern):
            load_csr(str(path))


def test_no_file_name():
    with pytest.raises(CredentialError, match="no file name given"):
        load_private_key("", None, None, "private key for -key")


@pytest.mark.parametrize("name", ["pkcs8-enc-pem", "pkcs8-enc-der", "p12"])
def test_wrong_and_missing_pass_phrase(openssl_files, name):
    path = str(openssl_files["ec"]["keys"][name][0])
    with pytest.raises(CredentialError, match="wrong pass phrase or corrupt") as info:
        load_private_key(path, b"not-the-Pa55", None, "private key for -key")
    assert "not-the-Pa55" not in str(info.value) and PW.decode() not in str(info.value)
    assert "private key for -key" in str(info.value) and path in str(info.value)
    with pytest.raises(CredentialError, match="encrypted and no pass phrase was given"):
        load_private_key(path, lambda: None, None, "private key for -key")
    if name == "p12":
        with pytest.raises(CredentialError, match="wrong pass phrase"):
            load_certs(path, b"not-the-Pa55", None, "-cert")


def test_p12_without_key(openssl_files):
    with pytest.raises(CredentialError, match="no private key in the PKCS#12 file"):
        load_private_key(str(pathlib.Path(openssl_files["ec"]["keys"]["p12"][0]).parent / "o-certs.p12"), PW)


def test_key_matches_cert(creds):
    rsa, ec = creds["rsa"], creds["ec"]
    cert_der = rsa["cert"].public_bytes(Enc.DER)
    check_key_matches_cert(SoftwareKey(rsa["key"]), cert_der, "-cert and -key")
    check_key_matches_cert(rsa["key"], cert_der, "-cert and -key")
    check_key_matches_cert(rsa["key"].public_key(), rsa["cert"], "-cert and -key")
    with pytest.raises(CredentialError, match=r"-cert and -key: the private key does not match .*CN=rsa leaf"):
        check_key_matches_cert(SoftwareKey(ec["key"]), cert_der, "-cert and -key")
    with pytest.raises(CredentialError, match="-oldcert and -key: the certificate is not valid DER"):
        check_key_matches_cert(rsa["key"], b"\x30\x03junk", "-oldcert and -key")


# ---------------------------------------------------------------- OpenSSL's Mock files



def test_mock_keys():
    p12_key = load_private_key(str(MOCK / "signer.p12"), b"12345", None, "private key for -key")
    signer_certs = load_certs(str(MOCK / "signer.crt"), None, None, "-cert")
    check_key_matches_cert(p12_key, signer_certs[0], "-cert and -key")
    p12_certs = load_certs(str(MOCK / "signer.p12"), b"12345", None, "-cert")
    assert p12_certs[0] == signer_certs[0] and len(p12_certs) == 4
    with pytest.raises(CredentialError, match="wrong pass phrase"):
        load_private_key(str(MOCK / "signer.p12"), b"wrong")
    new = load_private_key(str(MOCK / "new.key"), b"abcdefghijklmnop")  # pass ignored: not encrypted
    calls = Calls(b"12345")
    assert spki(load_private_key(str(MOCK / "new_pass_12345.key"), calls)) == spki(new)
    assert calls.count == 1
    assert spki(load_public_key(str(MOCK / "new_pub.key"))) == spki(new)
    for name in ("signer.key", "server.key"):
        load_private_key(str(MOCK / name))


@pytest.mark.parametrize("name", sorted(p.name for p in MOCK.glob("*.crt")) if MOCK.is_dir() else [])
def test_mock_certs(name):
    certs = load_certs(str(MOCK / name), None, None, name)
    assert certs and all(x509.load_der_x509_certificate(c) for c in certs)


def test_mock_csr_and_bad_files():
    assert x509.load_der_x509_csr(load_csr(str(MOCK / "csr.pem"))).subject
    load_csr(str(MOCK / "wrong_csr.pem"))  # well-formed; its content is "wrong" for the server only
    with pytest.raises(CredentialError, match="empty"):
        load_csr(str(MOCK / "empty.txt"))
    with pytest.raises(DecodeError):
        load_csr(str(MOCK / "random.bin"))
    with pytest.raises(CredentialError, match="empty"):
        load_certs(str(MOCK / "empty.txt"), None, None, "-out_trusted")
    with pytest.raises(CredentialError):
        load_certs(str(MOCK / "random.bin"), None, None, "-out_trusted")


# ---------------------------------------------------------------- the plugin's hooks

@pytest.fixture
def hook():
    pm = pluggy.PluginManager("cmpkit")
    pm.add_hookspecs(hookspecs)
    pm.register(file_plugin, name="file")
    pm.check_pending()
    return pm.hook


def test_hook_load_key(hook):
    signer = hook.cmpkit_load_key(source=str(MOCK / "signer.p12"), passarg="pass:12345", keyform=None,
                                  what="private key for -key", ctx=LoadContext(batch=True))
    assert isinstance(signer, SoftwareKey)
    cert = hook.cmpkit_load_certs(source=str(MOCK / "signer.crt"), passarg=None, certform=None,
                                  what="-cert", ctx=LoadContext(batch=True))
    check_key_matches_cert(signer, cert[0], "-cert and -key")
    assert signer.sign(b"data", "sha256")
    pub = hook.cmpkit_load_public_key(source=str(MOCK / "new_pub.key"), passarg=None, keyform=None,
                                      what="-newkey", ctx=LoadContext(batch=True))
    assert pub.key_size == 2048


def test_hook_asks_for_pass_phrase_only_when_needed(hook):
    asked = []

    def get_pass(arg, what):
        asked.append((arg, what))
        return b"12345"

    ctx = LoadContext(batch=True, get_pass=get_pass)
    hook.cmpkit_load_key(source=str(MOCK / "new.key"), passarg="pass:x", keyform=None, what="-newkey", ctx=ctx)
    assert asked == []
    hook.cmpkit_load_key(source=str(MOCK / "new_pass_12345.key"), passarg="pass:x", keyform=None,
                         what="-newkey", ctx=ctx)
    assert asked == [("pass:x", "-newkey")]
    with pytest.raises(CredentialError, match="encrypted and no pass phrase was given"):
        hook.cmpkit_load_key(source=str(MOCK / "signer.p12"), passarg=None, keyform=None, what="-key",
                             ctx=LoadContext(batch=True))


def test_hook_not_mine(hook):
    ctx = LoadContext(batch=True)
    for source, form in [("pkcs11:token=t;object=k", None), ("org.openssl.engine:pkcs11:k", None),
                         ("key.pem", "ENGINE")]:
        assert hook.cmpkit_load_key(source=source, passarg=None, keyform=form, what="-key", ctx=ctx) is None
        assert hook.cmpkit_load_public_key(source=source, passarg=None, keyform=form, what="-key", ctx=ctx) is None
    assert hook.cmpkit_load_certs(source="pkcs11:object=c", passarg=None, certform=None, what="-cert",
                                  ctx=ctx) is None


def test_hook_options(hook):
    (options,) = hook.cmpkit_options()  # options.py may not exist yet: then the plugin declares none
    assert all(hasattr(opt, "name") for opt in options)


def test_entry_point_names_the_plugin():
    eps = importlib.metadata.entry_points(group="cmpkit.plugins")
    file_eps = [ep for ep in eps if ep.name == "file"]
    if not file_eps:
        pytest.skip("cmpkit is not installed (no entry points)")
    assert file_eps[0].load() is file_plugin


def test_unloadable_source_never_shows_its_pin(pki, tmp_path):
    # with the pkcs11 plugin blocked nothing can load a pkcs11: URI; the message must hide its PIN
    import os
    import sys
    env = dict(os.environ, CMPKIT_BLOCK_PLUGINS="pkcs11")
    r = subprocess.run([sys.executable, "-m", "cmpkit", "-config", "", "-use_mock_srv", "-srv_ref", "1234",
                        "-srv_secret", "pass:test", "-rsp_cert", pki.path("issued"), "-cmd", "ir", "-ref", "1234",
                        "-secret", "pass:test", "-newkey", "pkcs11:token=t;object=k?pin-value=SECRET77",
                        "-subject", "/CN=x", "-certout", str(tmp_path / "out.pem")],
                       capture_output=True, text=True, env=env, timeout=60)
    assert r.returncode == 1 and not (tmp_path / "out.pem").exists()
    assert "SECRET77" not in r.stdout + r.stderr
    assert "no plugin can load new private key" in r.stderr and "pin-value=***" in r.stderr
