"""Central key generation (openssl cmp 3.5's -centralkeygen, -newkeyout; the mock's -rsp_key,
-rsp_keypass; RFC 9483 4.1.6): cmpkit as client of its own mock server, the request's shape checked
with pyasn1's RFC 4211 schema, and an interop test with an `openssl cmp` that has the option."""
import logging
import os
import re
import subprocess

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.x509.oid import ExtendedKeyUsageOID

from cmpkit import cli
from cmpkit.core import bodies, ckg, cms
from cmpkit.core.client import ClientMachine, ClientSettings
from cmpkit.core.message import PKIMessage

from . import pki as P
from .tools import CMPKIT, Server, run

SPKI = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
CMKGA = x509.ObjectIdentifier(ckg.OID_KP_CMKGA)
SPEC_NOTE = "openssl cmp before 3.5 has no -centralkeygen"


@pytest.fixture(scope="module")
def files(pki, tmp_path_factory):
    """The test PKI plus: a KGA certificate (cmKGA), an EC client that can agree keys, and a key
    with its certificate for each key type the mock returns."""
    d = tmp_path_factory.mktemp("ckg")
    o, out = pki.objs, {k: pki.path(k) for k in pki.files}

    def write(name, data):
        (d / name).write_bytes(data)
        out[name] = str(d / name)

    kga_key = P.ec_key()
    write("kga.crt", P.pem_cert(P.make_cert(kga_key, "kga", o["issuing_key"], o["issuing"], eku=[CMKGA],
                                            key_usage=dict(digital_signature=True))))
    write("kga.key", P.pem_key(kga_key))
    ec_client = P.ec_key()
    write("ec_client.crt", P.pem_cert(P.make_cert(ec_client, "ec client", o["issuing_key"], o["issuing"],
                                                  key_usage=dict(digital_signature=True, key_agreement=True),
                                                  eku=[ExtendedKeyUsageOID.CLIENT_AUTH])))
    write("ec_client.key", P.pem_key(ec_client))
    for kind, key in (("rsa", P.rsa_key()), ("ec", P.ec_key()), ("ed25519", ed25519.Ed25519PrivateKey.generate())):
        write(f"ret_{kind}.key", P.pem_key(key))
        write(f"ret_{kind}.crt", P.pem_cert(P.make_cert(key, "leaf", o["issuing_key"], o["issuing"],
                                                        key_usage=dict(digital_signature=True))))
    return out


@pytest.fixture
def cmpkit_cli(monkeypatch, capsys):
    """cmpkit's main() in-process: (exit status, stderr) of a command line."""
    logger = logging.getLogger("cmpkit")   # main() adds its handler on capsys' stream: undo that after
    monkeypatch.setattr(logger, "handlers", [])
    monkeypatch.setattr(logger, "propagate", logger.propagate)

    def go(*argv):
        logger.handlers = []
        rc = cli.main(["-config", "", *argv])
        return rc, capsys.readouterr().err
    return go


def _mock(f, kind="ec", signer="server"):
    srv = (["-srv_cert", f["server"], "-srv_key", f["server_key"]] if signer == "server"
           else ["-srv_cert", f["kga.crt"], "-srv_key", f["kga.key"]])
    return ["-use_mock_srv", *srv, "-srv_ref", "3078", "-srv_secret", "pass:test", "-srv_trusted", f["root"],
            "-srv_untrusted", f["issuing"], "-rsp_cert", f[f"ret_{kind}.crt"], "-rsp_key", f[f"ret_{kind}.key"]]


def _client(f, how):
    trust = ["-trusted", f["root"], "-untrusted", f["issuing"]]
    if how == "pwri":   # MAC protection: the key comes password-based, signed by the KGA
        return ["-ref", "3078", "-secret", "pass:test", "-subject", "/CN=leaf", *trust]
    cert, key = {"ktri": ("client", "client_key"), "kari": ("ec_client.crt", "ec_client.key")}[how]
    return ["-cert", f[cert], "-key", f[key], *trust]


def _outs(tmp_path):
    return str(tmp_path / "new.key"), str(tmp_path / "cert.pem")


@pytest.mark.parametrize("kind", ["rsa", "ec", "ed25519"])
@pytest.mark.parametrize("how", ["pwri", "ktri", "kari"])
def test_enrolls_with_a_centrally_generated_key(how, kind, files, cmpkit_cli, tmp_path):
    newkeyout, certout = _outs(tmp_path)
    rc, err = cmpkit_cli("-cmd", "cr", *_client(files, how), "-centralkeygen", "-newkeyout", newkeyout,
                         "-certout", certout, *_mock(files, kind, "kga" if how == "pwri" else "server"))
    assert rc == 0, err
    assert f"saving centrally generated key to file '{newkeyout}'" in err
    pem = open(newkeyout, "rb").read()
    assert pem.startswith(b"-----BEGIN PRIVATE KEY-----\n")   # PKCS#8, unencrypted
    assert os.stat(newkeyout).st_mode & 0o777 == 0o600
    key = serialization.load_pem_private_key(pem, None)
    cert = x509.load_pem_x509_certificate(open(certout, "rb").read())
    returned = serialization.load_pem_private_key(open(files[f"ret_{kind}.key"], "rb").read(), None)
    assert key.public_key().public_bytes(*SPKI) == cert.public_key().public_bytes(*SPKI) \
        == returned.public_key().public_bytes(*SPKI)
    assert "BEGIN" not in err and "PRIVATE" not in err   # the key is never printed


# (client command and options, mock options): polling, kur, implicit confirmation
VARIANTS = {
    "polling": (["-cmd", "ir"], ["-poll_count", "2", "-check_after", "0"]),
    "kur": (["-cmd", "kur", "-oldcert", "{issued}"], []),   # the mock checks oldCertID against -rsp_cert
    "implicit_confirm": (["-cmd", "cr", "-implicit_confirm"], ["-grant_implicitconf"]),
}


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_central_keygen_with_polling_kur_and_implicit_confirmation(variant, files, cmpkit_cli, tmp_path):
    client, mock = VARIANTS[variant]
    newkeyout, certout = _outs(tmp_path)
    rc, err = cmpkit_cli(*[a.format(issued=files["ret_ec.crt"]) for a in client], *_client(files, "ktri"),
                         "-centralkeygen", "-newkeyout", newkeyout, "-certout", certout,
                         *_mock(files, "ec"), *mock)
    assert rc == 0, err
    key = serialization.load_pem_private_key(open(newkeyout, "rb").read(), None)
    cert = x509.load_pem_x509_certificate(open(certout, "rb").read())
    assert key.public_key().public_bytes(*SPKI) == cert.public_key().public_bytes(*SPKI)
    assert ("sending CERTCONF" in err) == (variant != "implicit_confirm")


def test_popo_minus_one_implies_central_keygen_and_newkeypass_encrypts(files, cmpkit_cli, tmp_path):
    newkeyout, certout = _outs(tmp_path)
    rc, err = cmpkit_cli("-cmd", "ir", *_client(files, "ktri"), "-popo", "-1", "-newkeyout", newkeyout,
                         "-newkeypass", "pass:keypw", "-certout", certout, *_mock(files, "rsa"))
    assert rc == 0, err
    assert "CMP info: POPO is disabled, which implies -centralkeygen" in err
    pem = open(newkeyout, "rb").read()
    assert pem.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----\n")
    with pytest.raises((TypeError, ValueError)):
        serialization.load_pem_private_key(pem, b"wrong")
    serialization.load_pem_private_key(pem, b"keypw")


# (extra client options, mock tweak, the error line's text); nothing may be written
ERRORS = {
    "no_newkeyout": (["-centralkeygen"], {}, "-newkeyout not given, nowhere to save centrally generated key"),
    "popo_-1_no_newkeyout": (["-popo", "-1"], {}, "-newkeyout not given, nowhere to save centrally generated key"),
    "empty_newkeyout": (["-centralkeygen", "-newkeyout", ""], {},
                        "-newkeyout not given, nowhere to save centrally generated key"),
    "popo_0": (["-centralkeygen", "-popo", "0", "-newkeyout", "{newkeyout}"], {},
               "-popo value 0 is inconsistent with -centralkeygen"),
    "popo_1": (["-centralkeygen", "-popo", "1", "-newkeyout", "{newkeyout}"], {},
               "-popo value 1 is inconsistent with -centralkeygen"),
    "popo_2": (["-centralkeygen", "-popo", "2", "-newkeyout", "{newkeyout}"], {},
               "-popo value 2 is inconsistent with -centralkeygen"),
    "no_directory": (["-centralkeygen", "-newkeyout", "{tmp}/missing/new.key"], {},
                     "cannot write -newkeyout file"),
    "is_a_directory": (["-centralkeygen", "-newkeyout", "{tmp}"], {}, "it is a directory"),
    "key_not_matching_cert": (["-centralkeygen", "-newkeyout", "{newkeyout}"], {"rsp_key": "ret_rsa.key"},
                              "public key in new certificate does not match our enrollment key"),
    "no_rsp_key": (["-centralkeygen", "-newkeyout", "{newkeyout}"], {"rsp_key": None},
                   "central key generation requested but no -rsp_key given"),
}


@pytest.mark.parametrize("case", sorted(ERRORS))
def test_errors(case, files, cmpkit_cli, tmp_path):
    extra, tweak, message = ERRORS[case]
    newkeyout, certout = _outs(tmp_path)
    extra = [a.format(newkeyout=newkeyout, tmp=tmp_path) for a in extra]
    mock = _mock(files, "ec")
    if "rsp_key" in tweak:
        i = mock.index("-rsp_key")
        mock[i:i + 2] = ["-rsp_key", files[tweak["rsp_key"]]] if tweak["rsp_key"] else []
    rc, err = cmpkit_cli("-cmd", "cr", *_client(files, "ktri"), *extra, "-certout", certout, *mock)
    assert rc == 1
    assert message in err and "Traceback" not in err
    assert os.listdir(tmp_path) == []   # neither the key nor the certificate


def test_signer_without_cmkga_and_not_the_protection_cert_is_refused(files, cmpkit_cli, tmp_path):
    # MAC-protected: the mock signs the key with -srv_cert, which has no cmKGA extended key usage
    newkeyout, certout = _outs(tmp_path)
    rc, err = cmpkit_cli("-cmd", "ir", *_client(files, "pwri"), "-centralkeygen", "-newkeyout", newkeyout,
                         "-certout", certout, *_mock(files, "ec", "server"))
    assert rc == 1 and "the signer of the centrally generated key is not trusted" in err
    assert "cmKGA" in err and os.listdir(tmp_path) == []


def test_signer_needs_trust_anchors(files, cmpkit_cli, tmp_path):
    newkeyout, certout = _outs(tmp_path)
    client = ["-ref", "3078", "-secret", "pass:test", "-subject", "/CN=leaf"]
    rc, err = cmpkit_cli("-cmd", "ir", *client, "-centralkeygen", "-newkeyout", newkeyout,
                         "-certout", certout, *_mock(files, "ec", "kga"))
    assert rc == 1 and "no -trusted or -srvcert given" in err and os.listdir(tmp_path) == []


def test_bad_signature(files, cmpkit_cli, tmp_path, monkeypatch):
    original = cms.signed_data_der

    def tampered(*args, **kw):
        sd = original(*args, **kw)
        return sd[:-1] + bytes([sd[-1] ^ 1])   # the signature's last octet
    monkeypatch.setattr(cms, "signed_data_der", tampered)
    newkeyout, certout = _outs(tmp_path)
    rc, err = cmpkit_cli("-cmd", "cr", *_client(files, "kari"), "-centralkeygen", "-newkeyout", newkeyout,
                         "-certout", certout, *_mock(files, "ec"))
    assert rc == 1 and "invalid signature of the centrally generated key's SignedData" in err
    assert os.listdir(tmp_path) == []


def test_wrong_password(files, cmpkit_cli, tmp_path, monkeypatch):
    original = ckg.encrypted_key
    monkeypatch.setattr(ckg, "encrypted_key", lambda req, key, signer, cert, secret, *a: original(
        req, key, signer, cert, b"not the secret", *a))
    newkeyout, certout = _outs(tmp_path)
    rc, err = cmpkit_cli("-cmd", "ir", *_client(files, "pwri"), "-centralkeygen", "-newkeyout", newkeyout,
                         "-certout", certout, *_mock(files, "ec", "kga"))
    assert rc == 1 and "cannot obtain the centrally generated key" in err and "wrong key or password" in err
    assert os.listdir(tmp_path) == []


def test_options_are_ignored_for_other_commands(files, cmpkit_cli):
    rc, err = cmpkit_cli("-cmd", "genm", "-ref", "3078", "-secret", "pass:test", "-centralkeygen",
                         "-newkeyout", "x.key", *_mock(files))
    assert rc == 0, err
    assert "-popo -1 or -centralkeygen option is ignored for commands other than 'ir', 'cr', and 'kur'" in err
    assert "-newkeyout option is ignored for commands other than 'ir', 'cr', and 'kur'" in err


# ---------------------------------------------------------------- the request (RFC 9483 4.1.6)

def _request(newkey_public):
    s = ClientSettings(cmd="ir", secret=b"test", ref=b"3078", centralkeygen=True, popo=-1,
                       newkey_public=newkey_public,
                       template=bodies.Template(subject=P.name("leaf").public_bytes()))
    return PKIMessage.from_der(ClientMachine(s).start(0.0).der)


def test_request_has_no_popo_and_only_the_key_algorithm():
    from pyasn1.codec.der import decoder
    from pyasn1_alt_modules import rfc4211
    key = P.ec_key().public_key()
    msgs, rest = decoder.decode(_request(key).body_content, asn1Spec=rfc4211.CertReqMessages())
    assert rest == b"" and len(msgs) == 1
    assert not msgs[0]["popo"].isValue   # RFC 9483 4.1.6: POPO absent
    pk = msgs[0]["certReq"]["certTemplate"]["publicKey"]
    expected_alg = x509.load_der_x509_certificate(
        P.make_cert(P.ec_key(), "x").public_bytes(serialization.Encoding.DER)).public_key().public_bytes(*SPKI)
    assert str(pk["algorithm"]["algorithm"]) == "1.2.840.10045.2.1"    # id-ecPublicKey, with its curve
    assert pk["algorithm"]["parameters"].isValue and expected_alg
    assert len(pk["subjectPublicKey"]) == 0                              # empty BIT STRING
    # the mock server's reading of it: central key generation requested
    crm = bodies.read_cert_requests(_request(key).body_content)[0]
    assert crm.popo is None and crm.template.public_key.endswith(b"\x03\x01\x00")


def test_request_without_any_key_has_no_public_key():
    from pyasn1.codec.der import decoder
    from pyasn1_alt_modules import rfc4211
    msgs, _ = decoder.decode(_request(None).body_content, asn1Spec=rfc4211.CertReqMessages())
    assert not msgs[0]["certReq"]["certTemplate"]["publicKey"].isValue and not msgs[0]["popo"].isValue


def test_response_private_key_round_trips_with_rfc9480_schema(files):
    from pyasn1.codec.der import decoder
    from pyasn1_alt_modules import rfc9480
    from cmpkit.core.keys import SoftwareKey
    from cmpkit.core.message import StatusInfo
    signer_key = P.ec_key()
    signer = P.make_cert(signer_key, "kga").public_bytes(serialization.Encoding.DER)
    item = cms.encrypted_key_der(P.ec_key(), cms.Recipient(password=b"pw"), SoftwareKey(signer_key), signer)
    cert = x509.load_pem_x509_certificate(open(files["ret_ec.crt"], "rb").read()).public_bytes(
        serialization.Encoding.DER)
    body = bodies.cert_rep_der([(0, StatusInfo(0), cert, item)])
    rep, rest = decoder.decode(body, asn1Spec=rfc9480.CertRepMessage())
    assert rest == b""
    ckp = rep["response"][0]["certifiedKeyPair"]
    assert ckp["privateKey"].getName() == "envelopedData"
    _, responses = bodies.read_cert_rep(body)
    assert responses[0].private_key == item and responses[0].cert == cert


# ---------------------------------------------------------------- a subprocess, and openssl 3.5

@pytest.mark.slow
def test_command_line_in_a_subprocess(files, tmp_path):
    newkeyout, certout = _outs(tmp_path)
    r = run(CMPKIT + ["-config", "", "-cmd", "cr", *_client(files, "kari"), "-centralkeygen",
                      "-newkeyout", newkeyout, "-certout", certout, *_mock(files, "ed25519")])
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    assert open(newkeyout, "rb").read().startswith(b"-----BEGIN PRIVATE KEY-----")


def _openssl_with_centralkeygen(openssl):
    r = subprocess.run([openssl, "cmp", "-help"], capture_output=True, text=True, timeout=60)
    if not re.search(r"^\s*-centralkeygen\b", r.stdout + r.stderr, re.M):
        pytest.skip(SPEC_NOTE)
    return openssl


@pytest.mark.slow
@pytest.mark.parametrize("how", ["ktri", "kari", "pwri"])
def test_interop_with_openssl_cmp_mock_server(how, files, tmp_path, openssl):
    """cmpkit's client against the -port mock server of an openssl cmp that has -centralkeygen
    (3.5 and later), which signs the key with its -srv_cert (here one with cmKGA).

    Only this direction: openssl 3.5 signs a bare private key (eContentType id-data), which
    cmpkit reads; cmpkit's mock sends RFC 9483's AsymmetricKeyPackage, which openssl 3.5's
    client may not read (see the report of issue 14)."""
    openssl = _openssl_with_centralkeygen(openssl)
    srv = ["-srv_cert", files["kga.crt"], "-srv_key", files["kga.key"], "-srv_trusted", files["root"],
           "-srv_untrusted", files["issuing"], "-srv_ref", "3078", "-srv_secret", "pass:test",
           "-rsp_cert", files["ret_ec.crt"], "-rsp_key", files["ret_ec.key"]]
    server = Server([openssl, "cmp", "-config", "", *srv])
    try:
        newkeyout, certout = _outs(tmp_path)
        r = run(CMPKIT + ["-config", "", "-server", server.address, "-path", "pkix/", "-cmd", "cr",
                          *_client(files, how), "-centralkeygen", "-newkeyout", newkeyout, "-certout", certout])
    finally:
        server.proc.kill()
        server.proc.wait()
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    key = serialization.load_pem_private_key(open(newkeyout, "rb").read(), None)
    cert = x509.load_pem_x509_certificate(open(certout, "rb").read())
    assert key.public_key().public_bytes(*SPKI) == cert.public_key().public_bytes(*SPKI)


def test_server_rejects_central_keygen_request_with_popo():
    """OSSL_CRMF_MSG_centralkeygen_requested(): the POPO must be absent exactly when the server
    is to generate the key; the mock answers such a request with a rejection (badPOP)."""
    from cmpkit.core import der
    from cmpkit.core.server import CmpServer, ServerSettings
    machine = ClientMachine(ClientSettings(cmd="ir", secret=b"test", ref=b"3078", centralkeygen=True, popo=-1,
                                           template=bodies.Template(subject=P.name("leaf").public_bytes())))
    sent = machine.start(0.0).message
    crm = bodies.read_cert_requests(sent.body_content)[0]
    body = bodies.cert_req_messages_der([bodies.cert_req_msg_der(crm.cert_request_der, bodies.POPO_RAVERIFIED)])
    msg = PKIMessage(sent.header, der.tlv(0xA0, body))
    machine.reprotect(msg)
    settings = ServerSettings(srv_ref=b"3078", srv_secret=b"test", accept_raverified=True,
                              rsp_cert=P.make_cert(P.ec_key(), "leaf").public_bytes(serialization.Encoding.DER),
                              rsp_key=P.ec_key())
    rsp = PKIMessage.from_der(CmpServer(settings).handle(msg.to_der(), 0.0))
    _, responses = bodies.read_cert_rep(rsp.body_content)
    assert responses[0].status.status == 2 and responses[0].cert is None
    assert "popo inconsistent with central key generation" in responses[0].status.texts
    assert 9 in responses[0].status.failure_bits   # badPOP
