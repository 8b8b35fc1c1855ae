"""Request contents from the options (cmpkit.app.settings) as `openssl cmp` (3.0) makes them:
both tools run the same command line against their -use_mock_srv, each with -reqout, and the
outcome, the files written and the decoded request fields that matter are compared (issue 13).
The fast tests check cmpkit's settings alone."""
import pytest
from cryptography import x509

from cmpkit.app.credentials import Loader
from cmpkit.app.settings import build_client_settings
from cmpkit.core import bodies
from cmpkit.core.message import PKIMessage
from cmpkit.core.names import format_dn
from cmpkit.core.options import Config

from .test_cli_vs_openssl import _srv_sig
from .tools import CMPKIT, bundled_options, run

SRV_PBM = ["-srv_ref", "3078", "-srv_secret", "pass:srvsecret"]
PBM = ["-ref", "3078", "-secret", "pass:srvsecret"]


def _name(der):
    return None if der is None else format_dn(der)


def decode_request(path) -> dict:
    """The fields of a -reqout request that the tests compare (nonces, times, signatures left out)."""
    msg = PKIMessage.from_der(path.read_bytes())
    out = {"body": msg.body_type, "sender": _name(msg.sender_name_der),
           "recipient": msg.recipient, "senderKID": msg.sender_kid,
           "extraCerts": [bytes(c) for c in msg.extra_certs]}
    if msg.body_type in ("ir", "cr", "kur"):
        reqs = bodies.read_cert_requests(msg.body_content)
        out["requests"] = []
        for r in reqs:
            t = r.template
            exts = []
            for e in t.extensions:
                if isinstance(e, tuple):
                    exts.append((e[0], bool(e[1]), e[2]))
                else:
                    exts.append((e.oid.dotted_string, e.critical, e.value.public_bytes()))
            out["requests"].append({"subject": _name(t.subject), "issuer": _name(t.issuer),
                                    "publicKey": t.public_key, "extensions": exts, "oldCertID": r.old_cert_id,
                                    "popo": r.popo})
        # without a POPO signature (raVerified, keyEncipherment) the body has no random part
        out["bodyDER"] = None if any(r.popo == "signature" for r in reqs) else bytes(msg.body_content)
    return out


def both(pki, tmp_path, args, certout=True, mock=True):
    """{tool: (exit status, stderr, decoded request or None, -certout contents or None)}."""
    results = {}
    for tool, argv0 in (("openssl", ["openssl", "cmp"]), ("cmpkit", CMPKIT)):
        req, out = tmp_path / f"{tool}.req", tmp_path / f"{tool}.pem"
        argv = argv0 + ["-config", "", *args, "-reqout", str(req)]
        if mock:
            argv += ["-use_mock_srv", "-rsp_cert", pki.path("issued")]
        if certout:
            argv += ["-certout", str(out)]
        r = run(argv)
        if tool == "cmpkit":
            assert "Traceback" not in r.stderr + r.stdout, r.stderr
        results[tool] = (r.returncode, r.stderr, decode_request(req) if req.exists() else None,
                         out.read_bytes() if out.exists() else None)
    return results


def assert_same(results):
    ours, theirs = results["cmpkit"], results["openssl"]
    assert ours[0] == theirs[0], f"exit status: cmpkit {ours[0]} {ours[1]} / openssl {theirs[0]} {theirs[1]}"
    assert ours[2] == theirs[2]
    assert ours[3] == theirs[3]


def settings(**values):
    """cmpkit's ClientSettings for option values (as Config.from_values takes them)."""
    cfg = Config.from_values(bundled_options(), **values)
    return build_client_settings(cfg, Loader(cfg))


def der(cert):
    from cryptography.hazmat.primitives import serialization
    return cert.public_bytes(serialization.Encoding.DER)


# ---------------------------------------------------------------- 1: the signer's chain in extraCerts
@pytest.mark.parametrize("chain_from", ["untrusted", "cert_file", "own_trusted"])
def test_own_chain_built_from_untrusted_and_cert_file(pki, tmp_path, chain_from):
    cert, untrusted, own = pki.path("client"), pki.path("chain"), None
    if chain_from == "cert_file":
        f = tmp_path / "full.crt"
        f.write_bytes(pki.files["client"].read_bytes() + pki.files["chain"].read_bytes())
        cert, untrusted = str(f), None
    elif chain_from == "own_trusted":
        own = pki.path("root")
    s = settings(cmd="cr", cert=cert, key=pki.path("client_key"), untrusted=untrusted, own_trusted=own,
                 srvcert=pki.path("server"), newkey=pki.path("new_key"), certout=str(tmp_path / "o.pem"))
    assert s.cert_chain == [der(pki.objs["issuing"])]  # the intermediate, not the self-signed root
    assert der(pki.objs["issuing"]) in s.untrusted


def test_own_chain_empty_without_issuers(pki, tmp_path):
    s = settings(cmd="cr", cert=pki.path("client"), key=pki.path("client_key"), untrusted=pki.path("root"),
                 srvcert=pki.path("server"), newkey=pki.path("new_key"), certout=str(tmp_path / "o.pem"))
    assert s.cert_chain == []


@pytest.mark.slow
@pytest.mark.parametrize("untrusted", ["issuing", "chain", "root"])
def test_extracerts_hold_the_signer_chain_as_openssl(pki, tmp_path, openssl, untrusted):
    args = ["-cmd", "cr", "-cert", pki.path("client"), "-key", pki.path("client_key"),
            "-untrusted", pki.path(untrusted), "-srvcert", pki.path("server"), *SRV_PBM, *_srv_sig(pki),
            "-newkey", pki.path("new_key")]
    res = both(pki, tmp_path, args)
    assert_same(res)
    want = [der(pki.objs["client"])] + ([der(pki.objs["issuing"])] if untrusted != "root" else [])
    assert res["cmpkit"][2]["extraCerts"] == want



@pytest.mark.slow
def test_a_self_signed_signer_cert_is_not_sent_as_openssl(pki, tmp_path, openssl):
    """openssl adds the signer's certificate and chain with X509_ADD_FLAG_NO_SS: a self-signed
    -cert is not in extraCerts (the server must trust it); -extracerts are sent as given."""
    from .pki import make_cert, pem_cert
    own = make_cert(pki.objs["new_key"], "self-signed client")
    (tmp_path / "own.crt").write_bytes(pem_cert(own))
    args = ["-cmd", "cr", "-cert", str(tmp_path / "own.crt"), "-key", pki.path("new_key"), "-srvcert",
            pki.path("server"), *SRV_PBM, *_srv_sig(pki), "-newkey", pki.path("new_key"),
            "-extracerts", pki.path("root")]
    res = both(pki, tmp_path, args)
    assert res["openssl"][2] is not None and res["openssl"][2]["extraCerts"] == [der(pki.objs["root"])]
    assert res["cmpkit"][2]["extraCerts"] == res["openssl"][2]["extraCerts"]
    res = both(pki, tmp_path, args[:-2])               # without -extracerts: nothing at all
    assert res["cmpkit"][2]["extraCerts"] == res["openssl"][2]["extraCerts"] == []


def test_unprotected_requests_carry_no_signer_cert(pki, tmp_path):
    s = settings(cmd="cr", cert=pki.path("client"), key=pki.path("client_key"), untrusted=pki.path("chain"),
                 unprotected_requests=True, srvcert=pki.path("server"), newkey=pki.path("new_key"),
                 certout=str(tmp_path / "o.pem"))
    assert s.cert is None and s.cert_chain == [] and format_dn(s.sender) == "/CN=client"
    assert _subject(s.template) == "/CN=client"  # -cert still the reference certificate


@pytest.mark.slow
@pytest.mark.parametrize("ref", [[], ["-ref", "99"]], ids=["no_ref", "ref"])
def test_unprotected_requests_extracerts_and_senderkid_as_openssl(pki, tmp_path, openssl, ref):
    """openssl 3.0 adds the signer's chain only to signed requests; unprotected ones carry
    -extracerts only, and -ref (if any) as senderKID."""
    args = ["-cmd", "cr", "-unprotected_requests", "-cert", pki.path("client"), "-key", pki.path("client_key"),
            "-untrusted", pki.path("chain"), "-extracerts", pki.path("root"), "-srvcert", pki.path("server"),
            *SRV_PBM, *_srv_sig(pki), "-newkey", pki.path("new_key"), *ref]
    res = both(pki, tmp_path, args)
    assert_same(res)
    assert res["cmpkit"][2]["extraCerts"] == [der(pki.objs["root"])]

# ---------------------------------------------------------------- 2, 12: template subject and SANs
@pytest.fixture
def clientsan(pki, tmp_path):
    """A client certificate with a SAN (dNSName c.example), for client.key."""
    from .pki import make_cert, pem_cert
    o = pki.objs
    cert = make_cert(o["client_key"], "clientsan", o["issuing_key"], o["issuing"],
                     sans=[x509.DNSName("c.example")])
    f = tmp_path / "clientsan.crt"
    f.write_bytes(pem_cert(cert))
    return str(f)


def _san(tpl):
    return [(e.critical, [n.value for n in e.value]) for e in tpl.extensions
            if e.oid == x509.SubjectAlternativeName.oid]


def _subject(tpl):
    return None if tpl.subject is None else format_dn(tpl.subject)


def test_subject_from_reference_cert_whose_sans_are_copied(pki, tmp_path, clientsan):
    base = dict(cmd="ir", key=pki.path("client_key"), srvcert=pki.path("server"), newkey=pki.path("new_key"),
                certout=str(tmp_path / "o.pem"))
    s = settings(cert=clientsan, **base)
    assert _subject(s.template) == "/CN=clientsan" and _san(s.template) == [(False, ["c.example"])]
    s = settings(cert=clientsan, sans="a.example", **base)  # SANs given: no subject fallback for ir/cr
    assert s.template.subject is None and _san(s.template) == [(True, ["a.example"])]
    s = settings(cert=clientsan, sans="critical", **base)  # the flag alone: copied SANs, critical
    assert _subject(s.template) == "/CN=clientsan" and _san(s.template) == [(True, ["c.example"])]


def test_san_critical_without_subject(pki, tmp_path):
    base = dict(cmd="ir", secret="pass:x", ref="1", newkey=pki.path("new_key"), certout=str(tmp_path / "o.pem"))
    assert _san(settings(sans="a.example", **base).template) == [(True, ["a.example"])]
    assert _san(settings(sans="a.example", subject="/CN=x", **base).template) == [(False, ["a.example"])]
    assert _san(settings(sans="a.example critical", subject="/CN=x", **base).template) == [(True, ["a.example"])]
    exts = settings(sans="a.example", subject="/CN=x", policy_oids="1.2.3.4", **base).template.extensions
    assert [e.oid.dotted_string for e in exts] == ["2.5.29.32", "2.5.29.17"]  # openssl 3.0's order


TEMPLATE_CASES = {  # name -> args (besides -newkey); item 2 (subject fallback), item 12 (SAN critical)
    "ir_cert_with_sans": lambda p, san: ["-cmd", "ir", "-cert", san, "-key", p.path("client_key"),
                                          "-srvcert", p.path("server"), *_srv_sig(p)],
    "cr_oldcert_with_sans": lambda p, san: ["-cmd", "cr", *PBM, *SRV_PBM, *_srv_sig(p), "-oldcert", san],
    "ir_oldcert_sans_policies": lambda p, san: ["-cmd", "ir", *PBM, *SRV_PBM, *_srv_sig(p), "-oldcert", san,
                                                "-policy_oids", "1.2.3.4"],
    "ir_sans_no_subject": lambda p, san: ["-cmd", "ir", *PBM, *SRV_PBM, *_srv_sig(p), "-sans", "a.example"],
    "ir_sans_subject_policies": lambda p, san: ["-cmd", "ir", *PBM, *SRV_PBM, *_srv_sig(p), "-sans", "a.example",
                                                "-subject", "/CN=x", "-policy_oids", "1.2.3.4"],
    "ir_oldcert_sans_given": lambda p, san: ["-cmd", "ir", *PBM, *SRV_PBM, *_srv_sig(p), "-oldcert", san,
                                             "-sans", "b.example"],
    "ir_oldcert_null_subject": lambda p, san: ["-cmd", "ir", *PBM, *SRV_PBM, *_srv_sig(p), "-oldcert", san,
                                               "-subject", "/"],  # also item 6: the sender
    "ir_oldcert_sans_critical_flag": lambda p, san: ["-cmd", "ir", *PBM, *SRV_PBM, *_srv_sig(p), "-oldcert", san,
                                                     "-sans", "critical"],
}


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(TEMPLATE_CASES))
def test_template_subject_and_sans_as_openssl(pki, tmp_path, openssl, clientsan, case):
    res = both(pki, tmp_path, TEMPLATE_CASES[case](pki, clientsan) + ["-newkey", pki.path("new_key")])
    assert_same(res)
    if case in ("ir_cert_with_sans", "cr_oldcert_with_sans", "ir_oldcert_sans_policies"):
        assert res["openssl"][0] == 0  # item 2: the reference cert's subject in the template


# ---------------------------------------------------------------- 6: the sender
def _csr_file(pki, tmp_path):
    from cryptography.hazmat.primitives import hashes, serialization
    from .pki import name
    csr = x509.CertificateSigningRequestBuilder().subject_name(name("csrsubj")).sign(pki.objs["new_key"],
                                                                                     hashes.SHA256())
    f = tmp_path / "req.csr"
    f.write_bytes(csr.public_bytes(serialization.Encoding.PEM))
    return str(f)


def test_sender_is_oldcert_subject_before_subject(pki, tmp_path):
    base = dict(secret="pass:x", ref="1", newkey=pki.path("new_key"), certout=str(tmp_path / "o.pem"))
    for cmd in ("kur", "ir", "rr"):
        s = settings(cmd=cmd, oldcert=pki.path("client"), subject="/CN=Subj", **base)
        assert format_dn(s.sender) == "/CN=client", cmd
    assert format_dn(settings(cmd="ir", subject="/CN=Subj", **base).sender) == "/CN=Subj"
    assert settings(cmd="genm", subject="/CN=Subj", **base).sender is None  # 3.0: -subject only for ir/cr/kur


SENDER_CASES = {
    "kur_oldcert_subject": ["-cmd", "kur", "-oldcert", "client", "-subject", "/CN=Subj"],
    "ir_oldcert_subject": ["-cmd", "ir", "-oldcert", "client", "-subject", "/CN=Subj"],
    "rr_oldcert_subject": ["-cmd", "rr", "-oldcert", "client", "-subject", "/CN=Subj"],
    "p10cr_subject": ["-cmd", "p10cr", "-csr", "CSR", "-subject", "/CN=Subj"],
    "rr_csr_subject": ["-cmd", "rr", "-csr", "CSR", "-subject", "/CN=Subj"],
    "genm_subject": ["-cmd", "genm", "-subject", "/CN=Subj"],
    "ir_csr_subject": ["-cmd", "ir", "-csr", "CSR", "-subject", "/CN=Subj"],
}


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(SENDER_CASES))
def test_sender_as_openssl(pki, tmp_path, openssl, case):
    args = [pki.path(a) if a == "client" else _csr_file(pki, tmp_path) if a == "CSR" else a
            for a in SENDER_CASES[case]]
    res = both(pki, tmp_path, [*PBM, *SRV_PBM, *_srv_sig(pki), *args, "-newkey", pki.path("new_key")],
               certout=args[1] != "genm" and args[1] != "rr")
    assert_same(res)
    if case.endswith("oldcert_subject"):
        assert res["cmpkit"][2]["sender"] == "/CN=client"


# ---------------------------------------------------------------- 11: -popo 2 sent, the server decides
def test_popo_keyenc_is_requested(pki, tmp_path):
    s = settings(cmd="ir", secret="pass:x", ref="1", subject="/CN=x", newkey=pki.path("new_key"), popo=2,
                 certout=str(tmp_path / "o.pem"))
    assert s.popo == bodies.POPO_KEYENC


@pytest.mark.slow
@pytest.mark.parametrize("cmd", ["ir", "kur"])
def test_popo_keyenc_as_openssl(pki, tmp_path, openssl, cmd):
    """openssl 3.0 sends keyEncipherment [2] subsequentMessage encrCert; both mock servers refuse
    it (badPOP, "unsupported popo method"), so both clients fail on the answer, not before sending."""
    ref = ["-subject", "/CN=x"] if cmd == "ir" else ["-oldcert", pki.path("client")]
    res = both(pki, tmp_path, ["-cmd", cmd, *PBM, *SRV_PBM, *_srv_sig(pki), *ref, "-newkey", pki.path("new_key"),
                               "-popo", "2"])
    assert_same(res)
    (req,) = res["cmpkit"][2]["requests"]
    assert req["popo"] == "keyEncipherment"
    assert res["cmpkit"][2]["bodyDER"].endswith(bytes.fromhex("a203810100"))  # [2] subsequentMessage encrCert
    assert "unsupported popo method" in res["cmpkit"][1]


# ---------------------------------------------------------------- 16: -secret with a -cert/-key that do not match
def test_secret_with_mismatching_cert_and_key(pki, tmp_path):
    from cmpkit.app.settings import _spki
    s = settings(cmd="ir", secret="pass:x", ref="1", cert=pki.path("client"), key=pki.path("server_key"),
                 newkey=pki.path("new_key"), certout=str(tmp_path / "o.pem"))
    assert s.template.public_key == _spki(pki.objs["new_key"].public_key())
    # without -newkey the template holds the reference certificate's key (man page -newkey), -key signs
    s = settings(cmd="ir", secret="pass:x", ref="1", cert=pki.path("client"), key=pki.path("new_key"),
                 certout=str(tmp_path / "o.pem"))
    assert s.template.public_key == _spki(pki.objs["client"].public_key())


MISMATCH_CASES = {  # the first succeeds with openssl; the others reach the server, which refuses the POPO
    "newkey": lambda p: [*PBM, "-cert", p.path("client"), "-key", p.path("server_key"), "-newkey", p.path("new_key")],
    "key_as_newkey": lambda p: [*PBM, "-cert", p.path("client"), "-key", p.path("new_key")],
    "oldcert_key": lambda p: ["-cert", p.path("client"), "-key", p.path("client_key"), "-srvcert", p.path("server"),
                              "-oldcert", p.path("issued")],
}


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(MISMATCH_CASES))
def test_secret_with_mismatching_cert_and_key_as_openssl(pki, tmp_path, openssl, case):
    res = both(pki, tmp_path, ["-cmd", "ir", *SRV_PBM, *_srv_sig(pki), *MISMATCH_CASES[case](pki)])
    assert_same(res)
    if case == "newkey":
        assert res["cmpkit"][0] == 0
        assert "-cert and -key not used for protection since -secret is given" in res["cmpkit"][1]


# ---------------------------------------------------------------- 15: unknown attribute types in names
NAME_CASES = {  # option, value, openssl's word for the name in its warning
    "recipient": ("-recipient", "/CN=Root CA/ABC=123", "recipient"),
    "expect_sender": ("-expect_sender", "/CN=server.example/ABC=1", "expected sender"),
    "subject": ("-subject", "/CN=x/ABC=1+DEF=2", "subject"),
    "issuer": ("-issuer", "/CN=Issuing CA/ABC=1", "issuer"),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(NAME_CASES))
def test_unknown_name_attributes_skipped_as_openssl(pki, tmp_path, openssl, case):
    option, value, desc = NAME_CASES[case]
    subject = [] if option == "-subject" else ["-subject", "/CN=x"]
    res = both(pki, tmp_path, ["-cmd", "ir", *PBM, *SRV_PBM, *_srv_sig(pki), option, value, *subject,
                               "-newkey", pki.path("new_key")])
    assert_same(res)
    warning = f'Skipping unknown {desc} name attribute "'
    assert warning in res["openssl"][1]
    assert res["cmpkit"][1].count(warning) == res["openssl"][1].count(warning)  # each name parsed once


@pytest.mark.slow
def test_kur_with_a_csr_and_no_reference_cert_as_openssl(pki, tmp_path, openssl):
    """kur from a CSR alone: openssl sends it without an oldCertID control (the server decides:
    its mock answers "missing certid"); cmpkit refused it locally before."""
    from cryptography.hazmat.primitives import hashes, serialization

    from .pki import name
    csr = x509.CertificateSigningRequestBuilder().subject_name(name("leaf")).sign(pki.objs["new_key"], hashes.SHA256())
    (tmp_path / "req.csr").write_bytes(csr.public_bytes(serialization.Encoding.PEM))
    res = both(pki, tmp_path, ["-cmd", "kur", *PBM, *SRV_PBM, "-csr", str(tmp_path / "req.csr"),
                               "-newkey", pki.path("new_key")])
    assert res["openssl"][2] is not None and res["openssl"][2]["requests"][0]["oldCertID"] is None
    assert_same(res)
