"""Issue 14's options in the style of OpenSSL's CLI test tables: one row per command line (argv, exit
code, a fragment of the message), cmpkit as client of its in-process mock server (-use_mock_srv).

The cells test_genm_cli, test_options_32_33, test_central_keygen and test_pbmac1 leave open
(/work/notes/issue14-audit.md): the mock's answer files (-rsp_capubs, -rsp_newwithnew, -rsp_newwithold,
-rsp_oldwithnew, -ref_cert, -rsp_crl, -rsp_key, -rsp_keypass) missing, empty or of the wrong content,
input files of the wrong type (-oldcrl, -oldwithold), outputs that cannot be written, empty option
values, the warnings of openssl 3.4, and every option given in a config-file section.

Where openssl 3.4 has the option (ROWS' ``o34``), the fragment is what the reference binary prints
and test_openssl34_prints_the_same_fragments (slow) runs it on the same rows; where only 3.5 has it
(central key generation) the fragment is the file's path, which openssl's loaders print too.
"""
import logging
import os
import re

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from cmpkit.app import config_files
from cmpkit.core.optdecl import GROUPS
from cmpkit.core.options import format_help

from . import pki as pkimod
from .test_genm_cli import files  # noqa: F401 - the fixture: old/new roots, CRLs, empty and garbage files
from .tools import CMPKIT, Server, bundled_options, run

BASE = ["-config", "", "-use_mock_srv", "-srv_ref", "1234", "-srv_secret", "pass:test", "-ref", "1234",
        "-secret", "pass:test", "-recipient", "/CN=x"]

# every option issue 14 names (3.2-3.5 and -pbmac1)
ISSUE14 = ("infotype", "cacertsout", "oldwithold", "newwithnew", "newwithold", "oldwithnew", "serial", "issuer",
           "srvcertout", "ref_cert", "rsp_newwithnew", "rsp_newwithold", "rsp_oldwithnew", "sans", "profile",
           "geninfo", "no_cache_extracerts", "reqout_only", "poll_count", "template", "keyspec", "crlcert",
           "oldcrl", "crlout", "crlform", "rsp_crl", "centralkeygen", "newkeyout", "rsp_key", "rsp_keypass",
           "pbmac1")

ROOT_UPDATE = ["-cmd", "genm", "-infotype", "rootCaCert", "-oldwithold", "old", "-newwithnew", "@nwn.pem"]
CRL_STATUS = ["-cmd", "genm", "-infotype", "crlStatusList", "-crlcert", "ca", "-crlout", "@c.crl"]
CKG = ["-cmd", "ir", "-centralkeygen", "-newkeyout", "@k.pem", "-subject", "/CN=leaf", "-certout", "@c.pem"]

# (id, options after BASE, exit code, fragment, openssl 3.4 has the options): a name of the files
# fixture stands for its path, "@x" for the file x in the test's directory; "{name}" in the fragment
# for the path of that file
ROWS = [
    # the mock's answer files (3.2-3.4)
    ("rsp_capubs-missing", ["-cmd", "genm", "-infotype", "caCerts", "-cacertsout", "@ca.pem", "-rsp_capubs",
                            "missing"], 1, "caPubs for mock server", True),
    ("rsp_capubs-empty", ["-cmd", "genm", "-infotype", "caCerts", "-cacertsout", "@ca.pem", "-rsp_capubs",
                          "empty"], 1, "caPubs for mock server", True),
    ("rsp_capubs-garbage", ["-cmd", "genm", "-infotype", "caCerts", "-cacertsout", "@ca.pem", "-rsp_capubs",
                            "garbage"], 1, "caPubs for mock server", True),
    ("rsp_newwithnew-missing", ROOT_UPDATE + ["-rsp_newwithnew", "missing"], 1,
     "NewWithNew cert the mock server returns in rootCaKeyUpdate", True),
    ("rsp_newwithnew-empty", ROOT_UPDATE + ["-rsp_newwithnew", "empty"], 1,
     "NewWithNew cert the mock server returns in rootCaKeyUpdate", True),
    ("rsp_newwithnew-garbage", ROOT_UPDATE + ["-rsp_newwithnew", "garbage"], 1,
     "NewWithNew cert the mock server returns in rootCaKeyUpdate", True),
    ("rsp_newwithnew-crl", ROOT_UPDATE + ["-rsp_newwithnew", "crl_new"], 1,
     "NewWithNew cert the mock server returns in rootCaKeyUpdate", True),
    ("rsp_newwithold-missing", ROOT_UPDATE + ["-rsp_newwithold", "missing"], 1,
     "NewWithOld cert the mock server returns in rootCaKeyUpdate", True),
    ("rsp_newwithold-garbage", ROOT_UPDATE + ["-rsp_newwithold", "garbage"], 1,
     "NewWithOld cert the mock server returns in rootCaKeyUpdate", True),
    ("rsp_oldwithnew-missing", ROOT_UPDATE + ["-rsp_oldwithnew", "missing"], 1,
     "OldWithNew cert the mock server returns in rootCaKeyUpdate", True),
    ("rsp_oldwithnew-empty", ROOT_UPDATE + ["-rsp_oldwithnew", "empty"], 1,
     "OldWithNew cert the mock server returns in rootCaKeyUpdate", True),
    ("ref_cert-missing", ["-cmd", "rr", "-oldcert", "leaf", "-ref_cert", "missing"], 1, "{missing}", True),
    ("ref_cert-empty", ["-cmd", "rr", "-oldcert", "leaf", "-ref_cert", "empty"], 1, "{empty}", True),
    ("ref_cert-garbage", ["-cmd", "rr", "-oldcert", "leaf", "-ref_cert", "garbage"], 1, "{garbage}", True),
    ("rsp_crl-missing", CRL_STATUS + ["-rsp_crl", "missing"], 1, "CRL to be returned by the mock server", True),
    ("rsp_crl-empty", CRL_STATUS + ["-rsp_crl", "empty"], 1, "CRL to be returned by the mock server", True),
    ("rsp_crl-garbage", CRL_STATUS + ["-rsp_crl", "garbage"], 1, "CRL to be returned by the mock server", True),
    ("rsp_crl-a-cert", CRL_STATUS + ["-rsp_crl", "ca"], 1, "CRL to be returned by the mock server", True),
    # client inputs of the wrong kind or empty (3.2-3.4)
    ("crlcert-empty", ["-cmd", "genm", "-infotype", "crlStatusList", "-crlcert", "empty", "-crlout", "@c.crl"], 1,
     "Cert for genm with -infotype crlStatusList", True),
    ("oldcrl-a-cert", ["-cmd", "genm", "-infotype", "crlStatusList", "-oldcrl", "ca", "-crlout", "@c.crl"], 1,
     "CRL for genm with -infotype crlStatusList", True),
    ("oldwithold-a-crl", ["-cmd", "genm", "-infotype", "rootCaCert", "-oldwithold", "crl_new", "-newwithnew",
                          "@n.pem"], 1, "OldWithOld cert for genm with -infotype rootCaCert", True),
    ("infotype-unknown", ["-cmd", "genm", "-infotype", "nosuchtype"], 1, "unknown OID name in -infotype option",
     True),
    # outputs that cannot be written
    ("reqout_only-no-directory", ["-cmd", "genm", "-reqout_only", "@no/r.der"], 1,
     "cannot write request PKIMessage to file '{tmp}/no/r.der'", True),
    ("cacertsout-no-directory", ["-cmd", "genm", "-infotype", "caCerts", "-cacertsout", "@no/ca.pem",
                                 "-rsp_capubs", "chain"], 1, "{tmp}/no/ca.pem", True),
    ("crlout-no-directory", ["-cmd", "genm", "-infotype", "crlStatusList", "-oldcrl", "crl_old", "-crlout",
                             "@no/c.crl", "-rsp_crl", "crl_new"], 1, "{tmp}/no/c.crl", True),
    ("srvcertout-a-directory", ["-cmd", "genm", "-srvcertout", "{tmp}"], 1, "{tmp}", True),
    # (openssl 3.4.0-dev crashes on these with -use_mock_srv: the fragment is the option's name)
    ("newwithnew-no-directory", ROOT_UPDATE[:-1] + ["@no/n.pem"], 1, "-newwithnew", False),
    ("newwithold-no-directory", ROOT_UPDATE + ["-newwithold", "@no/n.pem"], 1, "-newwithold", False),
    ("oldwithnew-no-directory", ROOT_UPDATE + ["-oldwithnew", "@no/n.pem"], 1, "-oldwithnew", False),
    ("template-no-directory", ["-cmd", "genm", "-infotype", "certReqTemplate", "-template", "@no/t.der"], 1,
     "-template", False),
    ("keyspec-no-directory", ["-cmd", "genm", "-infotype", "certReqTemplate", "-template", "@t.der",
                              "-keyspec", "@no/k.der"], 1, "-keyspec", False),
    # empty and out-of-range values
    ("profile-empty", ["-cmd", "genm", "-profile", ""], 0, "-profile option argument is empty string, resetting",
     True),
    ("geninfo-empty", ["-cmd", "genm", "-geninfo", ""], 0, "-geninfo option argument is empty string, resetting",
     True),
    ("poll_count-negative", ["-cmd", "genm", "-poll_count", "-1"], 1, 'Negative number "-1" for option -poll_count',
     True),
    ("mac-unknown-with-pbmac1", ["-cmd", "genm", "-pbmac1", "-mac", "nosuchmac"], 1,
     "MAC algorithm name not recognized: 'nosuchmac'", False),   # openssl 3.0's text, without -pbmac1
    # openssl 3.4's warnings
    ("oldwithnew-ignored", ["-cmd", "genm", "-infotype", "caCerts", "-cacertsout", "@ca.pem", "-oldwithnew",
                            "@x.pem"], 0,
     "-oldwithnew option is ignored unless -cmd 'genm' and -infotype rootCaCert is given", True),
    ("template-ignored", ["-cmd", "genm", "-template", "@t.der"], 0,
     "-template option is ignored unless -cmd 'genm' and -infotype 'certReqTemplate' is given", True),
    ("no-specific-support", ["-cmd", "genm", "-infotype", "signKeyPairTypes"], 0,
     "No specific support for -infotype signKeyPairTypes available", True),
    ("no-oldwithold", ["-cmd", "genm", "-infotype", "rootCaCert", "-trusted", "old", "-newwithnew", "@n.pem"], 0,
     "No -oldwithold given, will use all certs given with -trusted as trust anchors", True),
    # central key generation (3.5): the mock's -rsp_key and -rsp_keypass
    ("rsp_key-missing", CKG + ["-rsp_cert", "leaf", "-rsp_key", "missing"], 1, "{missing}", False),
    ("rsp_key-empty", CKG + ["-rsp_cert", "leaf", "-rsp_key", "empty"], 1, "{empty}", False),
    ("rsp_key-garbage", CKG + ["-rsp_cert", "leaf", "-rsp_key", "garbage"], 1, "{garbage}", False),
    ("rsp_key-a-cert", CKG + ["-rsp_cert", "leaf", "-rsp_key", "leaf"], 1, "{leaf}", False),
    ("rsp_keypass-wrong", CKG + ["-rsp_cert", "leaf", "-rsp_key", "enc_key", "-rsp_keypass", "pass:wrong"], 1,
     "{enc_key}", False),
]


@pytest.fixture(scope="module")
def paths(files):  # noqa: F811 - the fixture imported above
    """The genm files plus an encrypted key (pass phrase "right"); str paths only."""
    out = {k: v for k, v in files.items() if isinstance(v, str)}
    enc = os.path.join(os.path.dirname(out["old"]), "enc.key")
    with open(enc, "wb") as fh:
        fh.write(pkimod.pem_key(pkimod.rsa_key(), b"right"))
    out["enc_key"] = enc
    return out


def expand(args, paths, tmp_path):
    out = []
    for a in args:
        if a.startswith("@"):
            out.append(str(tmp_path / a[1:]))
        else:
            out.append(paths.get(a, a).replace("{tmp}", str(tmp_path)))
    return out


def fragment_of(text, paths, tmp_path):
    return text.format(tmp=str(tmp_path), **paths)


def cmpkit_main(argv, monkeypatch, capsys):
    from cmpkit import cli
    logger = logging.getLogger("cmpkit")  # main() adds its handler on capsys' stream: undo that after
    monkeypatch.setattr(logger, "handlers", [])
    monkeypatch.setattr(logger, "propagate", logger.propagate)
    rc = cli.main(argv)
    out, err = capsys.readouterr()
    return rc, out + err


@pytest.mark.parametrize("row", ROWS, ids=[r[0] for r in ROWS])
def test_cmpkit_row(row, paths, tmp_path, monkeypatch, capsys):
    _, args, rc, fragment, _ = row
    got, log = cmpkit_main(BASE + expand(args, paths, tmp_path), monkeypatch, capsys)
    assert got == rc, log
    assert fragment_of(fragment, paths, tmp_path) in log, log
    assert "Traceback" not in log
    if rc:
        assert log.rstrip().splitlines()[-1].startswith("CMP error: "), log   # one line naming the cause
        assert [p.name for p in tmp_path.iterdir()] == []                     # nothing written


@pytest.mark.slow
@pytest.mark.parametrize("row", [r for r in ROWS if r[4]], ids=[r[0] for r in ROWS if r[4]])
def test_openssl34_prints_the_same_fragments(row, paths, tmp_path, openssl34):
    """The expectations of ROWS are openssl 3.4's: its exit code and text on the same command line."""
    _, args, rc, fragment, _ = row
    r = run([openssl34, "cmp"] + BASE + expand(args, paths, tmp_path))
    assert r.returncode == rc, r.stdout + r.stderr
    assert fragment_of(fragment, paths, tmp_path) in r.stdout + r.stderr


# ---------------------------------------------------------------- config files, -help, docs

CONF_VALUES = {  # a value for each option of ISSUE14 (flags: 1)
    "infotype": "caCerts", "cacertsout": "ca.pem", "oldwithold": "old.pem", "newwithnew": "nwn.pem",
    "newwithold": "nwo.pem", "oldwithnew": "own.pem", "serial": "0x1F", "issuer": "/CN=Issuing CA",
    "srvcertout": "srv.pem", "ref_cert": "ref.pem", "rsp_newwithnew": "a.pem", "rsp_newwithold": "b.pem",
    "rsp_oldwithnew": "c.pem", "sans": "user@example.com a.example", "profile": "profile1",
    "geninfo": "1.2.3.4:int:5, 1.2.3.5:str:text", "no_cache_extracerts": "1", "reqout_only": "r.der",
    "poll_count": "3", "template": "t.der", "keyspec": "k.der", "crlcert": "crl.crt", "oldcrl": "old.crl",
    "crlout": "new.crl", "crlform": "PEM", "rsp_crl": "rsp.crl", "centralkeygen": "1", "newkeyout": "new.key",
    "rsp_key": "rsp.key", "rsp_keypass": "pass:x", "pbmac1": "1",
}


def test_every_issue14_option_has_a_conf_value():
    assert sorted(CONF_VALUES) == sorted(ISSUE14)
    declared = {o.name for o in bundled_options()}
    assert not [n for n in ISSUE14 if n not in declared]


def _parse(argv):
    return config_files.parse_command_line(argv, bundled_options(), environ={"OPENSSL_CONF": ""})


@pytest.mark.parametrize("name", ISSUE14)
def test_option_in_a_config_section_is_the_command_line_option(name, tmp_path):
    value = CONF_VALUES[name]
    conf = tmp_path / "cmp.cnf"
    conf.write_text(f"[default]\n[other]\n{name} = other\n[sect]\n{name} = {value}\n")
    from_file = _parse(["-config", str(conf), "-section", "sect"]).get(name)
    flag = next(o for o in bundled_options() if o.name == name).takes_value is False
    from_line = _parse([f"-{name}"] if flag else [f"-{name}", value]).get(name)
    default = _parse([]).get(name)
    assert from_file == from_line and from_file != default, (from_file, from_line, default)
    assert _parse(["-config", str(conf), "-section", "default"]).get(name) == default


@pytest.mark.parametrize("name", ISSUE14)
def test_help_and_cli_reference_list_the_option(name):
    from .test_docs_site import _reference_text
    help_text = format_help(bundled_options(), GROUPS)
    line = re.search(rf"^ -{re.escape(name)}(\s.*)?$", help_text, re.M)
    assert line and line.group(1) and line.group(1).strip(), name   # listed, with its help text
    assert re.search(rf"^\.\. option:: -{re.escape(name)}(\s|$)", _reference_text(), re.M), name


CONF_GENM = """\
[default]
[caCerts]
infotype = caCerts
cacertsout = {out}/ca.pem
rsp_capubs = {chain}
[rootCaCert]
infotype = rootCaCert
oldwithold = {old}
newwithnew = {out}/nwn.pem
newwithold = {out}/nwo.pem
oldwithnew = {out}/own.pem
rsp_newwithnew = {nwn}
rsp_newwithold = {nwo}
rsp_oldwithnew = {own}
[crlStatusList]
infotype = crlStatusList
oldcrl = {crl_old}
crlout = {out}/new.crl
crlform = PEM
rsp_crl = {crl_new}
"""
CONF_OUTPUTS = {"caCerts": ["ca.pem"], "rootCaCert": ["nwn.pem", "nwo.pem", "own.pem"],
                "crlStatusList": ["new.crl"]}
MOCK_CONF = ["-use_mock_srv", "-srv_ref", "1234", "-srv_secret", "pass:test", "-ref", "1234",
             "-secret", "pass:test", "-recipient", "/CN=x", "-cmd", "genm"]


def _conf_file(paths, directory, out):
    conf = directory / "genm.cnf"
    conf.write_text(CONF_GENM.format(out=out, **paths))
    return str(conf)


@pytest.mark.parametrize("section", sorted(CONF_OUTPUTS))
def test_genm_options_from_a_config_file(section, paths, tmp_path, monkeypatch, capsys):
    conf = _conf_file(paths, tmp_path, tmp_path)
    rc, log = cmpkit_main(["-config", conf, "-section", section, *MOCK_CONF], monkeypatch, capsys)
    assert rc == 0, log
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != "genm.cnf") == CONF_OUTPUTS[section]
    if section == "crlStatusList":
        crl = x509.load_pem_x509_crl((tmp_path / "new.crl").read_bytes())
        assert crl.public_bytes(serialization.Encoding.PEM) == open(paths["crl_new"], "rb").read()


@pytest.mark.slow
@pytest.mark.parametrize("section", ["caCerts", "crlStatusList"])   # (3.4.0-dev's mock crashes on rootCaCert)
def test_openssl34_reads_the_same_config_file_alike(section, paths, tmp_path, openssl34):
    saved = {}
    for tool, argv0 in (("openssl", [openssl34, "cmp"]), ("cmpkit", CMPKIT)):
        out = tmp_path / tool
        out.mkdir()
        r = run(argv0 + ["-config", _conf_file(paths, out, out), "-section", section, *MOCK_CONF])
        assert r.returncode == 0, (tool, r.stderr)
        saved[tool] = {n: (out / n).read_bytes() for n in CONF_OUTPUTS[section]}
    assert saved["cmpkit"] == saved["openssl"]


# ---------------------------------------------------------------- the system openssl (3.0 today)

@pytest.mark.slow
def test_system_openssl_rr_against_cmpkit_ref_cert(paths, pki, openssl):
    """openssl 3.0 knows rr but not -ref_cert: its rr meets cmpkit's mock with -ref_cert, accepted for
    the expected certificate, refused for another."""
    srv = CMPKIT + ["-config", "", "-srv_ref", "1234", "-srv_secret", "pass:test", "-rsp_cert", pki.path("issued"),
                    "-ref_cert", pki.path("issued")]
    client = [openssl, "cmp", "-config", "", "-ref", "1234", "-secret", "pass:test", "-recipient", "/CN=x",
              "-cmd", "rr"]
    with Server(srv) as server:
        ok = run(client + ["-server", server.address, "-oldcert", pki.path("issued")])
        assert ok.returncode == 0 and "revocation accepted" in ok.stdout + ok.stderr, ok.stderr
        bad = run(client + ["-server", server.address, "-oldcert", pki.path("client")])
        assert bad.returncode == 1 and "wrong certificate to revoke" in bad.stdout + bad.stderr


@pytest.mark.slow
def test_srvcertout_across_cmpkit_and_openssl34(pki, openssl34, tmp_path):
    """-srvcertout with a signature-protected genp, each client against the other's -port server: the
    saved certificate is the server's, in both directions."""
    p = pki.path
    srv = ["-config", "", "-srv_cert", p("server"), "-srv_key", p("server_key"), "-srv_trusted", p("root"),
           "-srv_untrusted", p("issuing"), "-rsp_cert", p("issued")]
    client = ["-config", "", "-cert", p("client"), "-key", p("client_key"), "-untrusted", p("issuing"),
              "-trusted", p("root"), "-cmd", "genm"]
    peers = {"openssl34": [openssl34, "cmp"], "cmpkit": CMPKIT}
    for server_name, client_name in (("openssl34", "cmpkit"), ("cmpkit", "openssl34")):
        out = tmp_path / f"{client_name}.pem"
        with Server(peers[server_name] + srv) as server:
            r = run(peers[client_name] + client + ["-server", server.address, "-srvcertout", str(out)])
        assert r.returncode == 0, (client_name, r.stdout + r.stderr)
        assert x509.load_pem_x509_certificates(out.read_bytes()) == [pki.objs["server"]], client_name


POLL_MORE = {  # the types test_interop_32_33's polling test leaves out (kur: PBM, the mock renews -rsp_cert)
    "cr": lambda p, t: ["-cmd", "cr", "-newkey", p.path("new_key"), "-subject", "/CN=leaf", "-certout", str(t / "c.pem")],
    "kur": lambda p, t: ["-cmd", "kur", "-oldcert", p.path("issued"), "-newkey", p.path("new_key"),
                         "-certout", str(t / "c.pem")],
}


@pytest.mark.slow
@pytest.mark.parametrize("cmd", sorted(POLL_MORE))
@pytest.mark.parametrize("direction", ["cmpkit->openssl34", "openssl34->cmpkit"])
def test_polling_cr_and_kur_with_openssl34(cmd, direction, pki, openssl34, tmp_path):
    peers = {"openssl34": [openssl34, "cmp"], "cmpkit": CMPKIT}
    client, server_name = direction.split("->")
    srv = ["-config", "", "-srv_ref", "1234", "-srv_secret", "pass:test", "-rsp_cert", pki.path("issued"),
           "-poll_count", "2", "-check_after", "0"]
    with Server(peers[server_name] + srv) as server:
        r = run(peers[client] + ["-config", "", "-server", server.address, "-ref", "1234", "-secret", "pass:test",
                                 *POLL_MORE[cmd](pki, tmp_path)])
    log = r.stdout + r.stderr
    assert r.returncode == 0, log
    assert "received final response after polling" in log or "received polling response" in log, log
    assert x509.load_pem_x509_certificate((tmp_path / "c.pem").read_bytes()) == pki.objs["issued"]
