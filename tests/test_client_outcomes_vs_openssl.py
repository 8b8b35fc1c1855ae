"""Issue 13, items 3, 4, 5, 7, 8, 9, 10 and 18: the client's outcome against the mock server
as `openssl cmp` (3.0, the system's) has it: exit status, the files written (every output option
given, compared byte for byte) and the requests sent (-reqout on both, decoded, random parts
masked: see tests/openssl_diff.py), plus the log lines openssl prints for the case.

Version notes: the certConf carrying an explicit statusInfo "accepted", -certout not required
for p10cr and the empty -cacertsout/-chainout files after rr and genm are what OpenSSL 3.0 does.
"""
import pytest

from .openssl_diff import assert_same, run_both

pytestmark = pytest.mark.slow

SRV = ["-srv_ref", "3078", "-srv_secret", "pass:srvsecret"]
PBM = ["-ref", "3078", "-secret", "pass:srvsecret"]
OUTPUTS = ("cert.pem", "chain.pem", "extra.pem", "ca.pem")
ENROLL_OUT = ["-certout", "cert.pem", "-chainout", "chain.pem", "-cacertsout", "ca.pem"]
ALL_OUT = ENROLL_OUT + ["-extracertsout", "extra.pem"]


def _mock(p, *, pbm=True):
    return ["-use_mock_srv", *(SRV if pbm else []), "-srv_cert", p.path("server"), "-srv_key", p.path("server_key"),
            "-srv_trusted", p.path("root"), "-srv_untrusted", p.path("issuing"), "-rsp_cert", p.path("issued")]


def _csr(p, tmp_path, key):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization

    from .pki import name
    f = tmp_path / f"{key}.csr"
    if not f.exists():
        csr = x509.CertificateSigningRequestBuilder().subject_name(name("leaf")).sign(p.objs[key], hashes.SHA256())
        f.write_bytes(csr.public_bytes(serialization.Encoding.PEM))
    return str(f)


def _ir(p, *extra):
    return ["-cmd", "ir", *PBM, "-newkey", p.path("new_key"), "-subject", "/CN=leaf", *extra]


# name -> (args(pki, tmp_path), openssl's exit status, lines openssl and cmpkit both print)
SCENARIOS = {
    # 3, 7: a certificate for another key than the CSR's: rejecting certConf, then exit 1
    "p10cr_wrong_key": (lambda p, t: ["-cmd", "p10cr", *PBM, "-csr", _csr(p, t, "client_key"), *ENROLL_OUT], 1,
                        ["rejecting newly enrolled cert with subject: /CN=leaf"]),
    # 7: the same for ir, and with -disable_confirm (no certConf at all, still refused)
    "ir_wrong_key": (lambda p, t: ["-cmd", "ir", *PBM, "-newkey", p.path("client_key"), "-subject", "/CN=leaf",
                                   *ENROLL_OUT], 1, []),
    "ir_wrong_key_disable_confirm": (lambda p, t: ["-cmd", "ir", *PBM, "-newkey", p.path("client_key"),
                                                   "-subject", "/CN=leaf", "-disable_confirm", *ENROLL_OUT], 1, []),
    # 7: -out_trusted that does not validate the new certificate
    "out_trusted_fails": (lambda p, t: _ir(p, "-out_trusted", p.path("attacker"), *ENROLL_OUT), 1, []),
    "out_trusted_ok": (lambda p, t: _ir(p, "-out_trusted", p.path("root"), "-rsp_extracerts", p.path("chain"),
                                        *ALL_OUT), 0, []),
    # 4: revocationWarning and revocationNotification in an ip give the certificate, with warnings
    "ip_revocation_warning": (lambda p, t: _ir(p, "-pkistatus", "4", *ALL_OUT), 0,
                              ['warning: received "revocationWarning" - a revocation of the cert is imminent',
                               "warning: received PKIStatus: revocation warning - a revocation of the cert is "
                               "imminent; <no failure info>"]),
    "ip_revocation_notification": (lambda p, t: _ir(p, "-pkistatus", "5", *ALL_OUT), 0,
                                   ['warning: received "revocationNotification" - a revocation of the cert has '
                                    "occurred"]),
    "ip_granted_with_mods": (lambda p, t: _ir(p, "-pkistatus", "1", *ALL_OUT), 0,
                             ["warning: received PKIStatus: granted with modifications"]),
    # 5: p10cr needs no -certout
    "p10cr_without_certout": (lambda p, t: ["-cmd", "p10cr", *PBM, "-csr", _csr(p, t, "new_key")], 0, []),
    "ir_without_certout": (lambda p, t: _ir(p), 1, ["-certout not given"]),
    # 8: -chainout without the self-signed root
    "chainout_without_root": (lambda p, t: _ir(p, "-rsp_extracerts", p.path("chain"), *ALL_OUT), 0, []),
    # 9: -extracertsout with all the ip had (root included), not those of the pkiconf
    "extracertsout_with_root": (lambda p, t: ["-cmd", "cr", "-cert", p.path("client"), "-key", p.path("client_key"),
                                              "-trusted", p.path("root"), "-newkey", p.path("new_key"),
                                              "-subject", "/CN=leaf", "-rsp_extracerts", p.path("root"), *ALL_OUT],
                                0, []),
    # 10: -extracertsout after a failure once a response was taken; nothing else
    "rejected_by_server": (lambda p, t: _ir(p, "-rsp_extracerts", p.path("chain"), "-pkistatus", "2",
                                            "-failure", "3", *ALL_OUT), 1, []),
    "error_message": (lambda p, t: _ir(p, "-send_error", *ALL_OUT), 1, []),
    "wrong_secret": (lambda p, t: ["-cmd", "ir", "-ref", "3078", "-secret", "pass:wrong", "-newkey", p.path("new_key"),
                                   "-subject", "/CN=leaf", *ALL_OUT], 1, []),
    "p10cr_wrong_key_all_outputs": (lambda p, t: ["-cmd", "p10cr", *PBM, "-csr", _csr(p, t, "client_key"),
                                                   "-rsp_extracerts", p.path("chain"), *ALL_OUT], 1, []),
    # 10: empty -cacertsout (and -chainout, -extracertsout) after genm and rr
    "genm_outputs": (lambda p, t: ["-cmd", "genm", *PBM, *ALL_OUT], 0, []),
    # 18: rr says the revocation was accepted (info; warning for revocationNotification)
    "rr_accepted": (lambda p, t: ["-cmd", "rr", *PBM, "-oldcert", p.path("issued"), *ALL_OUT], 0,
                    ["info: revocation accepted (PKIStatus=accepted)"]),
    "rr_granted_with_mods": (lambda p, t: ["-cmd", "rr", *PBM, "-oldcert", p.path("issued"), "-pkistatus", "1"], 0,
                             ["info: revocation accepted (PKIStatus=grantedWithMods)"]),
    "rr_revocation_warning": (lambda p, t: ["-cmd", "rr", *PBM, "-oldcert", p.path("issued"), "-pkistatus", "4"], 0,
                              ["info: revocation accepted (PKIStatus=revocationWarning)"]),
    "rr_revocation_notification": (lambda p, t: ["-cmd", "rr", *PBM, "-oldcert", p.path("issued"),
                                                 "-pkistatus", "5"], 0,
                                   ["warning: revocation accepted (PKIStatus=revocationNotification)"]),
}


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_same_outcome_files_and_requests(scenario, pki, openssl, tmp_path):
    build, expected, lines = SCENARIOS[scenario]
    args = build(pki, tmp_path)
    results = run_both(openssl, _mock(pki, pbm="-cert" not in args) + args, tmp_path, OUTPUTS, reqout=3)
    assert results["openssl"].returncode == expected, results["openssl"].stderr
    assert_same(results)
    for tool, outcome in results.items():   # openssl's library logs to stdout, its app to stderr
        for line in lines:
            assert line in outcome.stderr + outcome.stdout, f"{tool}: {outcome.stderr}{outcome.stdout}"
    ours = results["cmpkit"].stderr
    assert all(line.startswith("CMP ") for line in ours.splitlines()), ours  # one line per message
    if expected:
        assert ours.count("CMP error:") >= 1


def test_rejecting_cert_conf_closes_the_transaction(pki, openssl, tmp_path):
    """Item 7 with a real server: against `openssl cmp -port` the rejecting certConf is answered
    (pkiconf), so the server's transaction is closed and the next command on it succeeds."""
    from .tools import CMPKIT, Server, run
    srv = [openssl, "cmp", "-config", "", *_mock(pki)[1:]]
    with Server(srv) as server:
        base = ["-config", "", "-server", server.address, *PBM, "-subject", "/CN=leaf", "-cmd", "ir",
                "-certout", str(tmp_path / "o.pem"), "-reqout", f"{tmp_path}/r1.der,{tmp_path}/r2.der"]
        wrong = run(CMPKIT + base + ["-newkey", pki.path("client_key")])
        assert wrong.returncode == 1 and "received PKICONF" in wrong.stderr, wrong.stderr
        assert (tmp_path / "r2.der").exists() and not (tmp_path / "o.pem").exists()
        ok = run(CMPKIT + base + ["-newkey", pki.path("new_key")])
        assert ok.returncode == 0, ok.stderr
