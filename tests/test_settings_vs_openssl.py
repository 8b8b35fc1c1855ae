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

from .tools import CMPKIT, bundled_options, run

SRV_PBM = ["-srv_ref", "3078", "-srv_secret", "pass:srvsecret"]
PBM = ["-ref", "3078", "-secret", "pass:srvsecret"]


def _srv_sig(p):
    return ["-srv_cert", p.path("server"), "-srv_key", p.path("server_key"), "-srv_trusted", p.path("root"),
            "-srv_untrusted", p.path("issuing")]


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
                                    "popo": r.popo,
                                    # keyEncipherment and raVerified have no signature: compare them whole
                                    "popoDER": None if r.popo == "signature" else
                                    bytes(r.cert_request_der)})
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


def subjects(certs):
    return [x509.load_der_x509_certificate(c).subject.rfc4514_string() for c in certs]


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
