"""The public API (cmpkit.Client): enroll EC and RSA keys and key handles, update, revoke and general
messages against the in-process mock server (mock://) and against `cmpkit -port` over HTTP; what
goes on the wire read back with the pyasn1 schema; failures as CmpError subclasses with the
server's PKIStatus, failInfo and text; the per-component loggers and their silence for library users."""
import logging
import subprocess
import sys

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding
from cryptography.x509.oid import NameOID

import cmpkit
from cmpkit.core.message import PKIMessage

from .pki import ec_key, make_cert, pem_cert, rsa_key
from .schema_readers import read_cert_requests, read_rev_details, schema_body
from .tools import CMPKIT, Server, env

SECRET = "s3cret"
ISSUING_SECRET_OPTS = {"srv_ref": "1", "srv_secret": f"pass:{SECRET}"}


@pytest.fixture(autouse=True)
def plain_logging(monkeypatch):
    """A CLI run in this process may have set its handler on "cmpkit": start from the library's state."""
    logger = logging.getLogger("cmpkit")
    monkeypatch.setattr(logger, "handlers", [h for h in logger.handlers if not getattr(h, "cmpkit_cli", False)])
    monkeypatch.setattr(logger, "propagate", True)
    monkeypatch.setattr(logger, "level", logging.NOTSET)


@pytest.fixture(scope="module")
def rsa_issued(pki, tmp_path_factory):
    """An RSA key and a certificate for it, which the mock server hands out."""
    key = rsa_key()
    cert = make_cert(key, "rsa leaf", pki.objs["issuing_key"], pki.objs["issuing"])
    path = tmp_path_factory.mktemp("rsa") / "rsa.crt"
    path.write_bytes(pem_cert(cert))
    return key, cert, str(path)


def mock_options(pki, rsp_cert=None, **more):
    opts = dict(ISSUING_SECRET_OPTS, rsp_cert=rsp_cert or pki.path("issued"), rsp_extracerts=pki.path("chain"),
                rsp_capubs=pki.path("root"), srv_cert=pki.path("server"), srv_key=pki.path("server_key"),
                srv_trusted=pki.path("root"))
    opts.update(more)
    return opts


class Recorder:
    """A Transport handing requests to a mock server built from options, keeping both directions."""

    def __init__(self, options):
        from cmpkit.app.credentials import Loader
        from cmpkit.core.options import Config
        from cmpkit_mock.plugin import build_server

        from .tools import bundled_options
        cfg = Config.from_values(bundled_options(), options)
        self.server = build_server(cfg, Loader(cfg, batch=True))
        self.requests, self.ders, self.closed = [], [], False

    def send(self, request, timeout=None):
        self.ders.append(request)
        self.requests.append(PKIMessage.from_der(request))
        return self.server.handle(request)

    def close(self):
        self.closed = True


class Handle:
    """A key handle (cmpkit.types.Signer) that is no cryptography key: as a token's key would be."""

    def __init__(self, key):
        self._key, self.signed = key, 0

    def public_key(self):
        return self._key.public_key()

    def sign(self, data, digest, pss=False):
        self.signed += 1
        if isinstance(self._key, ec.EllipticCurvePrivateKey):
            return self._key.sign(data, ec.ECDSA(getattr(hashes, digest.upper())()))
        return self._key.sign(data, padding.PKCS1v15(), getattr(hashes, digest.upper())())


def _header(der):
    """The PKIHeader of a message, decoded with pyasn1-alt-modules' RFC 9480 schema."""
    from pyasn1.codec.der import decoder
    from pyasn1_alt_modules import rfc9480
    msg, rest = decoder.decode(der, asn1Spec=rfc9480.PKIMessage())
    assert not rest
    return msg["header"]


def _spki(key):
    return key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


# ---------------------------------------------------------------- enrollment

def test_enroll_ec_key_over_the_mock_scheme(pki):
    with cmpkit.Client("mock://", secret=SECRET, ref="1", trusted=[pki.path("root")],
                       untrusted=[pki.objs["issuing"]], options=mock_options(pki)) as client:
        got = client.enroll(pki.objs["new_key"], "CN=leaf")
    assert isinstance(got, cmpkit.Enrollment)
    assert got.certificate == pki.objs["issued"] and got.status == 0
    assert got.chain == [pki.objs["issuing"]]                       # no trust anchor, as openssl
    assert got.ca_certs == [pki.objs["root"]]
    assert got.extra_certs[:2] == [pki.objs["issuing"], pki.objs["root"]]


def test_enroll_rsa_key_with_subject_sans_and_extensions_on_the_wire(pki, rsa_issued):
    key, cert, path = rsa_issued
    wire = Recorder(mock_options(pki, rsp_cert=path))
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "rsa leaf"),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Example")])
    ku = x509.KeyUsage(True, False, True, False, False, False, False, False, False)
    with cmpkit.Client("ignored://", secret=SECRET.encode(), ref=b"1", srvcert=pki.objs["server"],
                       transport=wire) as client:
        got = client.enroll(key, name, command="cr", sans=["rsa.example", "192.0.2.1"], extensions=[ku],
                            implicit_confirm=True)
    assert got.certificate == cert and wire.closed
    req = wire.requests[0]
    assert req.body_type == "cr" and [m.body_type for m in wire.requests] == ["cr", "certConf"]
    (info,) = read_cert_requests(schema_body(req))
    assert x509.Name.from_rfc4514_string("O=Example,CN=rsa leaf").public_bytes() == info.template.subject
    assert info.template.public_key == _spki(key) and info.popo == "signature"
    exts = {oid: (critical, value) for oid, critical, value in info.template.extensions}
    san = x509.SubjectAlternativeName.oid.dotted_string
    # the values as the schema read them, against cryptography's encoding of what was asked for
    assert x509.SubjectAlternativeName(
        [x509.DNSName("rsa.example"), x509.IPAddress(__import__("ipaddress").ip_address("192.0.2.1"))]
    ).public_bytes() == exts[san][1]
    assert exts[x509.KeyUsage.oid.dotted_string] == (False, ku.public_bytes())
    header = _header(wire.ders[0])
    assert bytes(header["senderKID"]) == b"1"
    itavs = [str(i["infoType"]) for i in header["generalInfo"]] if header["generalInfo"].isValue else []
    assert "1.3.6.1.5.5.7.4.13" in itavs  # id-it-implicitConfirm


def test_enroll_with_a_key_handle_and_signature_protection(pki):
    new = Handle(pki.objs["new_key"])
    with cmpkit.Client("mock://", cert=pki.objs["client"], key=Handle(pki.objs["client_key"]),
                       untrusted=[pki.path("issuing")], trusted=[pki.objs["root"]],
                       options=mock_options(pki)) as client:
        got = client.enroll(new, "CN=leaf")
    assert got.certificate == pki.objs["issued"] and new.signed == 1  # the POPO, signed by the handle


# ---------------------------------------------------------------- update, revoke, general message

def test_update_is_a_kur_protected_with_the_old_key(pki):
    # the mock server updates only its -rsp_cert, and hands out that certificate again: the old
    # key is the new one here, which the client accepts (the new certificate's key is the one asked for)
    wire = Recorder(mock_options(pki))
    with cmpkit.Client("x", secret=SECRET, ref="1", trusted=[pki.objs["root"]], untrusted=[pki.objs["issuing"]],
                       transport=wire) as client:
        got = client.update(pki.objs["new_key"], pki.objs["new_key"], cert=pki.objs["issued"])
    assert got.certificate == pki.objs["issued"]
    kur = wire.requests[0]
    assert kur.body_type == "kur"
    header = _header(wire.ders[0])
    assert str(header["protectionAlg"]["algorithm"]) == "1.2.840.10045.4.3.2"  # ecdsa-with-SHA256: the old key's
    assert not header["senderKID"].isValue or bytes(header["senderKID"]) != b"1"  # not the secret's reference
    (info,) = read_cert_requests(schema_body(kur))
    assert info.old_cert_id[1] == pki.objs["issued"].serial_number
    assert info.template.public_key == _spki(pki.objs["new_key"])


def test_update_defaults_to_the_clients_certificate(pki):
    wire = Recorder(mock_options(pki))
    with cmpkit.Client("x", cert=pki.path("issued"), key=pki.objs["new_key"], trusted=[pki.objs["root"]],
                       untrusted=[pki.objs["issuing"]], transport=wire) as client:
        client.update(pki.objs["new_key"], pki.objs["new_key"])
    (info,) = read_cert_requests(schema_body(wire.requests[0]))
    assert info.old_cert_id[1] == pki.objs["issued"].serial_number


@pytest.mark.parametrize("reason, code", [(None, None), (1, 1), (x509.ReasonFlags.superseded, 4)])
def test_revoke_sends_the_certificate_and_reason(pki, reason, code):
    wire = Recorder(mock_options(pki))
    with cmpkit.Client("x", secret=SECRET, ref="1", trusted=[pki.objs["root"]], transport=wire) as client:
        assert client.revoke(pki.path("issued"), reason) is None
    ((template, sent_reason),) = read_rev_details(schema_body(wire.requests[0]))
    assert template.serial == pki.objs["issued"].serial_number and sent_reason == code


def test_general_message(pki):
    with cmpkit.Client("mock://", secret=SECRET, ref="1", options=mock_options(pki)) as client:
        infos = client.general_message("caCerts")
        by_oid = client.general_message("1.3.6.1.5.5.7.4.16")
    # the mock answers caCerts with its -rsp_capubs (openssl 3.2+), decoded to certificates
    assert [(i.oid, i.name, i.value) for i in infos] == [("1.3.6.1.5.5.7.4.17", "caCerts", [pki.objs["root"]])]
    assert [(i.oid, i.name) for i in by_oid] == [("1.3.6.1.5.5.7.4.16", "suppLangTags")]


def test_general_info_values_are_decoded(pki):
    from cmpkit.api import _decode_info
    from cmpkit.core import der
    root, issuing = (pki.objs[n].public_bytes(serialization.Encoding.DER) for n in ("root", "issuing"))
    # caCerts (RFC 9480: SEQUENCE OF CMPCertificate) as certificates, rootCaCert as one
    assert _decode_info("caCerts", der.tlv(0x30, root + issuing)) == [pki.objs["root"], pki.objs["issuing"]]
    assert _decode_info("rootCaCert", root) == pki.objs["root"]
    assert _decode_info("suppLangTags", b"\x30\x00") == b"\x30\x00" and _decode_info("caCerts", None) is None


# ---------------------------------------------------------------- failures

def test_rejection_is_a_server_error_with_status_failinfo_and_text(pki):
    opts = mock_options(pki, pkistatus=2, failurebits=(1 << 2) | (1 << 9), statusstring="go away")
    with cmpkit.Client("mock://", secret=SECRET, ref="1", options=opts) as client:
        with pytest.raises(cmpkit.ServerError) as info:
            client.enroll(ec_key(), "CN=x")
    exc = info.value
    assert isinstance(exc, cmpkit.TransactionError) and isinstance(exc, cmpkit.CmpError)
    assert (exc.status, exc.fail_info, exc.status_text) == (2, (1 << 2) | (1 << 9), "go away")
    assert "rejection" in str(exc) and "\n" not in str(exc)


def test_error_message_is_a_server_error(pki):
    with cmpkit.Client("mock://", secret=SECRET, ref="1", options=mock_options(pki, send_error=True)) as client:
        with pytest.raises(cmpkit.ServerError) as info:
            client.general_message("caCerts")
    assert info.value.status == 2 and "error message" in str(info.value)
    assert info.value.status_text and "error processing message" in info.value.status_text


def test_revocation_rejected(pki):
    with cmpkit.Client("mock://", secret=SECRET, ref="1", options=mock_options(pki, pkistatus=2)) as client:
        with pytest.raises(cmpkit.ServerError) as info:
            client.revoke(pki.objs["issued"])
    assert info.value.status == 2 and info.value.fail_info is None


def test_failures_without_a_server_status(pki):
    # a wrong secret: the server's answer cannot be authenticated, so nothing it says is believed
    with cmpkit.Client("mock://", secret="wrong", ref="1", options=mock_options(pki)) as client:
        with pytest.raises(cmpkit.ProtectionError) as info:
            client.general_message("caCerts")
    assert info.value.status is None and info.value.fail_info is None
    with pytest.raises(cmpkit.ConfigError, match="no plugin serves the URL scheme 'nope'"):
        with cmpkit.Client("nope://x", secret=SECRET, ref="1") as client:
            client.general_message("caCerts")
    with cmpkit.Client("mock://", secret=SECRET, ref="1", options=mock_options(pki)) as client:
        with pytest.raises(cmpkit.ConfigError, match="unknown infoType"):
            client.general_message("noSuchThing")
        with pytest.raises(cmpkit.ConfigError, match="cryptography private key or a key handle"):
            client.enroll("not a key", "CN=x")  # type: ignore[arg-type]
        with pytest.raises(cmpkit.ConfigError, match="invalid subject"):
            client.enroll(ec_key(), "no equals sign")
    with pytest.raises(cmpkit.ConfigError, match="unknown option"):
        cmpkit.Client("mock://", options={"no_such_option": 1})
    with pytest.raises(cmpkit.ConfigError, match=r"options\['keep_alive'\]: expected an int, not str"):
        cmpkit.Client("mock://", options={"keep_alive": "1"})
    with pytest.raises(cmpkit.CredentialError):
        with cmpkit.Client("mock://", secret=SECRET, ref="1", trusted=["/no/such/file.pem"],
                           options=mock_options(pki)) as client:
            client.general_message("caCerts")


def test_a_closed_client_refuses_work(pki):
    client = cmpkit.Client("mock://", secret=SECRET, ref="1", options=mock_options(pki))
    client.close()
    client.close()  # twice is harmless
    with pytest.raises(cmpkit.CmpError, match="closed"):
        client.general_message("caCerts")


# ---------------------------------------------------------------- loggers

def test_components_log_under_cmpkit(pki, caplog):
    with caplog.at_level(logging.DEBUG, logger="cmpkit"):
        with cmpkit.Client("mock://", secret=SECRET, ref="1", options=mock_options(pki)) as client:
            client.enroll(pki.objs["new_key"], "CN=leaf")
    names = {r.name for r in caplog.records}
    assert {"cmpkit.client", "cmpkit.mock", "cmpkit.server"} <= names
    assert all(n.startswith("cmpkit.") for n in names)


@pytest.mark.slow
def test_a_library_user_sees_nothing_on_stderr(pki):
    """A NullHandler on "cmpkit": the warnings (e.g. no -recipient, no -srv_trusted) reach no
    stream unless the user configures logging, unlike Python's last-resort handler."""
    code = ("import cmpkit, sys\n"
            "from cryptography.hazmat.primitives.asymmetric import ec\n"
            f"opts = {{'srv_ref': '1', 'srv_secret': 'pass:x', 'rsp_cert': {pki.path('issued')!r}}}\n"
            "with cmpkit.Client('mock://', secret='x', ref='1', options=opts) as c:\n"
            "    c.general_message('caCerts')\n"
            "import logging; logging.getLogger('cmpkit.client').warning('last resort test')\n"
            "print('done')\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env(), timeout=60)
    assert r.returncode == 0 and r.stdout == "done\n" and r.stderr == ""
    shown = subprocess.run([sys.executable, "-c", "import logging; logging.getLogger('x').warning('last resort')"],
                           capture_output=True, text=True, env=env(), timeout=60)
    assert shown.stderr == "last resort\n"  # what the NullHandler prevents


# ---------------------------------------------------------------- over HTTP

@pytest.mark.slow
def test_api_against_cmpkit_port_over_http(pki, rsa_issued, tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="cmpkit")
    key, cert, path = rsa_issued
    with Server(CMPKIT + ["-config", "", "-srv_ref", "1", "-srv_secret", f"pass:{SECRET}", "-rsp_cert", path,
                          "-srv_cert", pki.path("server"), "-srv_key", pki.path("server_key"),
                          "-srv_trusted", pki.path("root"), "-rsp_extracerts", pki.path("chain")],
                cwd=tmp_path) as srv:
        with cmpkit.Client(f"http://{srv.address}/pkix/", secret=SECRET, ref="1", trusted=[pki.objs["root"]],
                           untrusted=[pki.path("issuing")], timeout=30) as client:
            got = client.enroll(key, "CN=rsa leaf")
            assert got.certificate == cert and got.chain == [pki.objs["issuing"]]
            upd = client.update(key, key, cert=cert)  # the mock updates only its -rsp_cert
            assert upd.certificate == cert
            client.revoke(cert, 1)
            assert client.general_message("caCerts")[0].name == "caCerts"
        assert [r.getMessage() for r in caplog.records if r.name == "cmpkit.transport"] == [
            f"will contact http://{srv.address}/pkix/"]  # once: the connection serves every transaction
        with cmpkit.Client(srv.address, secret="wrong", ref="1", trusted=[pki.objs["root"]]) as client:
            with pytest.raises(cmpkit.CmpError):  # no scheme: http, as openssl
                client.general_message("caCerts")


def test_every_cryptography_private_key_becomes_a_software_key_and_a_handle_stays():
    """An ML-DSA key is a cryptography private key like the others (it was once passed on as a
    handle, whose sign() takes other arguments); a Signer handle is used as it is."""
    from cryptography.hazmat.primitives.asymmetric import ec, mldsa

    from cmpkit.api import _signer
    from cmpkit.core.keys import SoftwareKey
    ml_dsa = mldsa.MLDSA44PrivateKey.generate()
    signer = _signer(ml_dsa, "key")
    assert isinstance(signer, SoftwareKey) and signer.private_key is ml_dsa
    ml_dsa.public_key().verify(signer.sign(b"data", None), b"data")
    handle = SoftwareKey(ec.generate_private_key(ec.SECP256R1()))
    assert _signer(handle, "key") is handle
    with pytest.raises(cmpkit.CmpError, match="must be a cryptography private key or a key handle"):
        _signer(b"not a key", "key")
