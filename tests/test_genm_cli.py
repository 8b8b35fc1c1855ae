"""-infotype caCerts, rootCaCert, certReqTemplate and crlStatusList from the command line against the
in-process mock server (-use_mock_srv): what is saved, what is deleted, and openssl 3.4's messages for
every documented error (the texts are those of openssl 3.4's apps/cmp.c; test_genm_interop runs the
reference binary on the same rows)."""
import datetime
import logging
from types import SimpleNamespace

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from cmpkit.core import genm_types as gt

from . import pki as pkimod

NOW = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
PBM = ["-config", "", "-use_mock_srv", "-srv_ref", "1234", "-srv_secret", "pass:test", "-ref", "1234",
       "-secret", "pass:test", "-recipient", "/CN=x", "-cmd", "genm"]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Files of an old root, its successor (newWithNew, newWithOld, oldWithNew), CRLs of the old root."""
    d = tmp_path_factory.mktemp("genm")
    old_key, new_key, ca_key = pkimod.rsa_key(), pkimod.rsa_key(), pkimod.rsa_key()
    old = pkimod.make_cert(old_key, "Root CA", ca=True)
    nwn = pkimod.make_cert(new_key, "Root CA", ca=True)
    nwo = pkimod.make_cert(new_key, "Root CA", old_key, old, ca=True)
    own = pkimod.make_cert(old_key, "Root CA", new_key, nwn, ca=True)
    other_root = pkimod.make_cert(pkimod.rsa_key(), "Root CA", ca=True)      # same name, other key
    ca = pkimod.make_cert(ca_key, "Sub CA", old_key, old, ca=True)
    leaf = pkimod.make_cert(pkimod.ec_key(), "leaf", ca_key, ca)
    dp = x509.CRLDistributionPoints([x509.DistributionPoint([x509.UniformResourceIdentifier(
        "http://crl.example/root.crl")], None, None, None)])
    dp_leaf = pkimod.make_cert(pkimod.ec_key(), "dp leaf", old_key, old, extra_extensions=[(dp, False)])

    def crl(when):
        return (x509.CertificateRevocationListBuilder().issuer_name(old.subject).last_update(when)
                .next_update(when + datetime.timedelta(days=1)).sign(old_key, hashes.SHA256()))
    out = {}

    def write(name, data):
        (d / name).write_bytes(data)
        out[name.split(".")[0]] = str(d / name)
    for name, cert in (("old", old), ("nwn", nwn), ("nwo", nwo), ("own", own), ("other_root", other_root),
                       ("ca", ca), ("leaf", leaf), ("dp_leaf", dp_leaf)):
        write(f"{name}.crt", pkimod.pem_cert(cert))
    write("chain.crt", pkimod.pem_cert(ca) + pkimod.pem_cert(old))
    write("crl_new.pem", crl(NOW - datetime.timedelta(minutes=1)).public_bytes(serialization.Encoding.PEM))
    write("crl_old.der", crl(NOW - datetime.timedelta(days=2)).public_bytes(serialization.Encoding.DER))
    write("empty.pem", b"")
    write("garbage.pem", b"not a certificate or CRL\n")
    out["missing"] = str(d / "missing.pem")
    out["objs"] = SimpleNamespace(old=old, nwn=nwn, nwo=nwo, own=own, ca=ca, leaf=leaf)
    return out


SRV = ["-rsp_capubs", "chain", "-rsp_newwithnew", "nwn", "-rsp_newwithold", "nwo", "-rsp_oldwithnew", "own",
       "-rsp_crl", "crl_new", "-rsp_cert", "leaf"]


def argv(files, args, tmp_path):
    """PBM and the mock's answers, then ``args``: a name of ``files`` stands for its path, "@x" for
    the output file x in ``tmp_path``."""
    out = []
    for a in SRV + args:
        if a.startswith("@"):
            out.append(str(tmp_path / a[1:]))
        else:
            out.append(files.get(a, a) if isinstance(files.get(a, a), str) else a)
    return PBM + out


def run(argv_, monkeypatch, capsys):
    from cmpkit import cli
    logger = logging.getLogger("cmpkit")  # main() adds its handler on capsys' stream: undo that after
    monkeypatch.setattr(logger, "handlers", [])
    monkeypatch.setattr(logger, "propagate", logger.propagate)
    rc = cli.main(argv_)
    return rc, capsys.readouterr().err


def certs_in(path):
    with open(path, "rb") as fh:
        return x509.load_pem_x509_certificates(fh.read())


# ---------------------------------------------------------------- successes

def test_ca_certs_saves_what_rsp_capubs_gives(files, tmp_path, monkeypatch, capsys):
    rc, err = run(argv(files, ["-infotype", "caCerts", "-cacertsout", "@ca.pem"], tmp_path), monkeypatch, capsys)
    assert rc == 0, err
    assert certs_in(tmp_path / "ca.pem") == [files["objs"].ca, files["objs"].old]
    assert "received 2 CA certificate(s), saving to file" in err


def test_ca_certs_without_certificates_saves_nothing(files, tmp_path, monkeypatch, capsys):
    args = [a for a in argv(files, ["-infotype", "caCerts", "-cacertsout", "@ca.pem"], tmp_path)
            if a not in ("-rsp_capubs", files["chain"])]
    rc, err = run(args, monkeypatch, capsys)
    assert rc == 0 and "no CA certificates provided by server" in err
    assert not (tmp_path / "ca.pem").exists()


@pytest.mark.parametrize("trust", [["-oldwithold", "old"], ["-trusted", "old"]])
def test_root_ca_key_update_verified_and_saved(files, tmp_path, monkeypatch, capsys, trust):
    args = ["-infotype", "rootCaCert", *trust, "-newwithnew", "@nwn.pem", "-newwithold", "@nwo.pem",
            "-oldwithnew", "@own.pem"]
    rc, err = run(argv(files, args, tmp_path), monkeypatch, capsys)
    assert rc == 0, err
    o = files["objs"]
    assert [certs_in(tmp_path / f"{n}.pem") for n in ("nwn", "nwo", "own")] == [[o.nwn], [o.nwo], [o.own]]
    assert ("No -oldwithold given" in err) == (trust[0] == "-trusted")
    assert ("oldWithOld was not provided" in err) == (trust[0] == "-trusted")


def test_root_ca_key_update_from_an_untrusted_root_fails_and_saves_nothing(files, tmp_path, monkeypatch, capsys):
    # -oldwithold has newWithNew's subject but another key: newWithOld does not chain to it
    args = ["-infotype", "rootCaCert", "-oldwithold", "other_root", "-newwithnew", "@nwn.pem"]
    rc, err = run(argv(files, args, tmp_path), monkeypatch, capsys)
    assert rc == 1 and "failed to validate newWithNew certificate" in err and err.count("\n") >= 1
    assert not (tmp_path / "nwn.pem").exists()


def test_no_root_ca_update_deletes_the_outputs(files, tmp_path, monkeypatch, capsys):
    for name in ("nwn.pem", "nwo.pem"):
        (tmp_path / name).write_text("old content")
    # the mock has no update for another subject than newWithNew's
    args = ["-infotype", "rootCaCert", "-oldwithold", "ca", "-newwithnew", "@nwn.pem", "-newwithold", "@nwo.pem"]
    rc, err = run(argv(files, args, tmp_path), monkeypatch, capsys)
    assert rc == 0 and "no root CA certificate update available" in err
    assert not (tmp_path / "nwn.pem").exists() and not (tmp_path / "nwo.pem").exists()


def test_cert_req_template_saves_template_and_key_spec(files, tmp_path, monkeypatch, capsys):
    args = ["-infotype", "certReqTemplate", "-template", "@t.der", "-keyspec", "@k.der"]
    rc, err = run(argv(files, args, tmp_path), monkeypatch, capsys)
    assert rc == 0, err
    from cmpkit.core.bodies import read_template
    assert read_template((tmp_path / "t.der").read_bytes()).issuer == files["objs"].ca.subject.public_bytes()
    assert gt.read_controls((tmp_path / "k.der").read_bytes())[1] == (gt.OID_REG_CTRL_RSA_KEY_LEN,
                                                                      b"\x02\x02\x10\x00")
    assert "stored certTemplate from genp to file" in err and "stored keySpec from genp to file" in err


@pytest.mark.parametrize("old, form", [("-oldcrl crl_old", "DER"), ("-crlcert ca", "PEM"),
                                       ("-crlcert ca -oldcrl crl_old", "DER")])
def test_crl_status_list_saves_the_newer_crl(files, tmp_path, monkeypatch, capsys, old, form):
    args = ["-infotype", "crlStatusList", *old.split(), "-crlout", "@crl", "-crlform", form]
    rc, err = run(argv(files, args, tmp_path), monkeypatch, capsys)
    assert rc == 0, err
    data = (tmp_path / "crl").read_bytes()
    crl = x509.load_pem_x509_crl(data) if form == "PEM" else x509.load_der_x509_crl(data)
    with open(files["crl_new"], "rb") as fh:
        assert crl == x509.load_pem_x509_crl(fh.read())
    assert "received CRL from genp of type 'crls', saving to file" in err


def test_crl_status_list_up_to_date_deletes_crlout(files, tmp_path, monkeypatch, capsys):
    (tmp_path / "crl").write_text("stale")
    args = ["-infotype", "crlStatusList", "-oldcrl", "crl_new", "-crlout", "@crl"]
    rc, err = run(argv(files, args, tmp_path), monkeypatch, capsys)
    assert rc == 0 and "no CRL update available" in err and not (tmp_path / "crl").exists()


# ---------------------------------------------------------------- errors and warnings

ERRORS = [  # (options, exit code, openssl 3.4's message)
    (["-infotype", "caCerts"], 1, "Missing -cacertsout option for -infotype caCerts"),
    (["-infotype", "rootCaCert", "-oldwithold", "old"], 1, "Missing -newwithnew option for -infotype rootCaCert"),
    (["-infotype", "certReqTemplate", "-keyspec", "@k.der"], 1,
     "missing -template option for genm with infotype certReqTemplate"),
    (["-infotype", "crlStatusList", "-crlout", "@crl"], 1,
     "Missing -oldcrl and no -crlcert given for -infotype crlStatusList"),
    (["-infotype", "crlStatusList", "-oldcrl", "crl_old"], 1, "Missing -crlout for -infotype crlStatusList"),
    (["-infotype", "rootCaCert", "-oldwithold", "missing", "-newwithnew", "@n.pem"], 1, "OldWithOld cert"),
    (["-infotype", "rootCaCert", "-oldwithold", "empty", "-newwithnew", "@n.pem"], 1, "OldWithOld cert"),
    (["-infotype", "rootCaCert", "-oldwithold", "garbage", "-newwithnew", "@n.pem"], 1, "OldWithOld cert"),
    (["-infotype", "crlStatusList", "-crlcert", "missing", "-crlout", "@crl"], 1,
     "Cert for genm with -infotype crlStatusList"),
    (["-infotype", "crlStatusList", "-crlcert", "garbage", "-crlout", "@crl"], 1,
     "Cert for genm with -infotype crlStatusList"),
    (["-infotype", "crlStatusList", "-oldcrl", "missing", "-crlout", "@crl"], 1,
     "CRL for genm with -infotype crlStatusList"),
    (["-infotype", "crlStatusList", "-oldcrl", "empty", "-crlout", "@crl"], 1,
     "CRL for genm with -infotype crlStatusList"),
    (["-infotype", "crlStatusList", "-oldcrl", "garbage", "-crlout", "@crl"], 1,
     "CRL for genm with -infotype crlStatusList"),
]
WARNINGS = [  # (options, openssl 3.4's warning); the command succeeds (but the last: the mock knows no
    # CRL of the leaf's issuer and answers with an error, as openssl's mock does)
    (["-infotype", "caCerts", "-cacertsout", "@ca.pem", "-newwithold", "@x.pem"],
     "-newwithold option is ignored unless -cmd 'genm' and -infotype rootCaCert is given"),
    (["-infotype", "caCerts", "-cacertsout", "@ca.pem", "-oldwithold", "old"],
     "-oldwithold option is ignored unless -cmd 'genm' and -infotype rootCaCert is given"),
    (["-infotype", "caCerts", "-cacertsout", "@ca.pem", "-keyspec", "@k.der"],
     "-keyspec option is ignored unless -cmd 'genm' and -infotype 'certReqTemplate' is given"),
    (["-infotype", "rootCaCert", "-newwithnew", "@n.pem", "-trusted", "old", "-template", "@t.der"],
     "-template option is ignored unless -cmd 'genm' and -infotype 'certReqTemplate' is given"),
    (["-infotype", "crlStatusList", "-crlcert", "leaf", "-oldcrl", "crl_old", "-crlout", "@crl"],
     "-oldcrl and -crlcert have different issuer"),
]


@pytest.mark.parametrize("args, rc, message", ERRORS)
def test_errors(files, tmp_path, monkeypatch, capsys, args, rc, message):
    got, err = run(argv(files, args, tmp_path), monkeypatch, capsys)
    assert got == rc and message in err, err
    assert "Traceback" not in err and "sending GENM" not in err   # refused before any request
    assert not [p for p in tmp_path.iterdir()]                    # nothing written


@pytest.mark.parametrize("args, message", WARNINGS)
def test_warnings(files, tmp_path, monkeypatch, capsys, args, message):
    got, err = run(argv(files, args, tmp_path), monkeypatch, capsys)
    assert "CMP warning: " + message in err
    assert got == (1 if "different issuer" in message else 0), err
    if got:
        assert "unknown crl issuer" in err


def test_wrong_genp_content_is_an_error(files, tmp_path, monkeypatch, capsys):
    # an answer of another type than asked for: the mock echoes types it has no support for, so
    # ask for caCerts and let the mock answer as for signKeyPairTypes
    from cmpkit.core import genm_types
    monkeypatch.setattr(genm_types, "mock_answer", lambda s, oid, value: ("1.3.6.1.5.5.7.4.2", None))
    rc, err = run(argv(files, ["-infotype", "caCerts", "-cacertsout", "@ca.pem"], tmp_path), monkeypatch, capsys)
    assert rc == 1 and "expected exactly one ITAV, of type id-it-caCerts" in err
    assert not (tmp_path / "ca.pem").exists()


def test_genp_itavs_on_stdout_known_ones_also_logged_as_openssl_34(files, tmp_path, monkeypatch, capsys):
    from cmpkit import cli
    logger = logging.getLogger("cmpkit")
    monkeypatch.setattr(logger, "handlers", [])
    monkeypatch.setattr(logger, "propagate", logger.propagate)
    assert cli.main(argv(files, ["-infotype", "signKeyPairTypes"], tmp_path)) == 0
    out, err = capsys.readouterr()
    assert "CMP info: ITAV #1 from genp infoType=id-it-signKeyPairTypes\n" in err   # openssl 3.4's log
    assert out == "genp contains ITAV of type: id-it-signKeyPairTypes\n"            # openssl 3.0's stdout
    from cmpkit.core import genm_types
    monkeypatch.setattr(genm_types, "mock_answer", lambda s, oid, value: ("1.2.3.4.5", None))
    assert cli.main(argv(files, ["-infotype", "signKeyPairTypes"], tmp_path)) == 0
    out, err = capsys.readouterr()
    assert out == "genp contains ITAV of type: 1.2.3.4.5\n" and "ITAV #" not in err


BAD_VALUES = [b"\x30\x03\x02\x01\x00", b"\x30\x00", b"\x04\x00",
              b"\x30\x08\x30\x06\x30\x00\x30\x00\x03\x00"]   # a "certificate" of three empty parts


@pytest.mark.parametrize("bad", BAD_VALUES)
@pytest.mark.parametrize("args, answer_type", [
    (["-infotype", "caCerts", "-cacertsout", "@ca.pem"], gt.OID_CA_CERTS),
    (["-infotype", "rootCaCert", "-oldwithold", "old", "-newwithnew", "@nwn.pem"], gt.OID_ROOT_CA_KEY_UPDATE),
    (["-infotype", "certReqTemplate", "-template", "@t.der"], gt.OID_CERT_REQ_TEMPLATE),
    (["-infotype", "crlStatusList", "-oldcrl", "crl_old", "-crlout", "@crl"], gt.OID_CRLS),
])
def test_malformed_genp_content_fails_in_one_line(files, tmp_path, monkeypatch, capsys, args, answer_type, bad):
    from cmpkit.core import genm_types
    monkeypatch.setattr(genm_types, "mock_answer", lambda s, oid, value: (answer_type, bad))
    rc, err = run(argv(files, args, tmp_path), monkeypatch, capsys)
    assert rc == 1 and "Traceback" not in err
    assert err.splitlines()[-1].startswith("CMP error: ")
    assert not list(tmp_path.iterdir())
