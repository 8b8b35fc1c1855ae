"""The same command lines with `openssl cmp` and with `cmpkit` (-use_mock_srv) give the same outcome."""
import pytest

from .pki import pem_cert
from .tools import CMPKIT, run

pytestmark = pytest.mark.slow

SRV_PBM = ["-srv_ref", "1234", "-srv_secret", "pass:test"]
PBM = ["-ref", "1234", "-secret", "pass:test"]


def _srv_sig(p):
    return ["-srv_cert", p.path("server"), "-srv_key", p.path("server_key"), "-srv_trusted", p.path("root"),
            "-srv_untrusted", p.path("issuing")]


def _sig(p):
    return ["-cert", p.path("client"), "-key", p.path("client_key"), "-trusted", p.path("root"),
            "-untrusted", p.path("issuing")]


def _csr(p, tmp_path):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from .pki import name
    csr = x509.CertificateSigningRequestBuilder().subject_name(name("leaf")).sign(p.objs["new_key"], hashes.SHA256())
    f = tmp_path / "csr.pem"
    f.write_bytes(csr.public_bytes(serialization.Encoding.PEM))
    return str(f)


# name -> (args(pki, tmp_path), openssl's expected exit status, enrolls?)
SCENARIOS = {
    "ir_pbm": (lambda p, t: ["-cmd", "ir", *PBM, *SRV_PBM, "-newkey", p.path("new_key"), "-subject", "/CN=leaf"], 0, True),
    "cr_signature": (lambda p, t: ["-cmd", "cr", *_sig(p), *_srv_sig(p), "-newkey", p.path("new_key"),
                                   "-subject", "/CN=leaf"], 0, True),
    "kur": (lambda p, t: ["-cmd", "kur", "-cert", p.path("issued"), "-key", p.path("new_key"),
                          "-trusted", p.path("root"), "-untrusted", p.path("issuing"), *_srv_sig(p)],
             0, True),  # the key of -key is the new key: the mock hands out a certificate for it
    "kur_new_key_mismatch": (lambda p, t: ["-cmd", "kur", "-cert", p.path("issued"), "-key", p.path("new_key"),
                                           "-trusted", p.path("root"), "-untrusted", p.path("issuing"),
                                           *_srv_sig(p), "-newkey", p.path("client_key")], 1, True),
    "p10cr": (lambda p, t: ["-cmd", "p10cr", *PBM, *SRV_PBM, "-csr", _csr(p, t)], 0, True),
    "rr": (lambda p, t: ["-cmd", "rr", *PBM, *SRV_PBM, "-oldcert", p.path("issued")], 0, False),
    "genm": (lambda p, t: ["-cmd", "genm", *PBM, *SRV_PBM, "-infotype", "signKeyPairTypes"], 0, False),
    "implicit_confirm": (lambda p, t: ["-cmd", "ir", *PBM, *SRV_PBM, "-newkey", p.path("new_key"),
                                       "-subject", "/CN=leaf", "-implicit_confirm", "-grant_implicitconf"], 0, True),
    "polling": (lambda p, t: ["-cmd", "ir", *PBM, *SRV_PBM, "-newkey", p.path("new_key"), "-subject", "/CN=leaf",
                              "-poll_count", "2", "-check_after", "0"], 0, True),
    "rejection": (lambda p, t: ["-cmd", "ir", *PBM, *SRV_PBM, "-newkey", p.path("new_key"), "-subject", "/CN=leaf",
                                "-pkistatus", "2", "-failure", "3"], 1, True),
    "wrong_secret": (lambda p, t: ["-cmd", "ir", "-ref", "1234", "-secret", "pass:wrong", *SRV_PBM,
                                   "-newkey", p.path("new_key"), "-subject", "/CN=leaf"], 1, True),
    "send_error": (lambda p, t: ["-cmd", "ir", *PBM, *SRV_PBM, "-newkey", p.path("new_key"), "-subject", "/CN=leaf",
                                 "-send_error"], 1, True),
    "attacker_server": (lambda p, t: ["-cmd", "cr", *_sig(p), "-srv_cert", p.path("attacker"),
                                      "-srv_key", p.path("attacker_key"), "-srv_trusted", p.path("root"),
                                      "-srv_untrusted", p.path("issuing"), "-expect_sender", "/CN=server.example",
                                      "-newkey", p.path("new_key"), "-subject", "/CN=leaf"], 1, True),
    "days_float": (lambda p, t: ["-cmd", "ir", *PBM, *SRV_PBM, "-newkey", p.path("new_key"), "-days", "1.5"], 1, True),
}


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_same_outcome(scenario, pki, openssl, tmp_path):
    build, expected, enrolls = SCENARIOS[scenario]
    args = build(pki, tmp_path)
    results = {}
    for tool, argv0 in (("openssl", [openssl, "cmp"]), ("cmpkit", CMPKIT)):
        out = tmp_path / f"{tool}.pem"
        argv = argv0 + ["-config", "", "-use_mock_srv", "-rsp_cert", pki.path("issued"), *args]
        if enrolls:
            argv += ["-certout", str(out)]
        r = run(argv)
        results[tool] = (r.returncode, out.read_bytes() if out.exists() else None,
                         out.stat().st_mode & 0o777 if out.exists() else None)  # same file, same mode
        if tool == "cmpkit":
            assert "Traceback" not in r.stderr + r.stdout, r.stderr
            if r.returncode:
                assert r.stderr.strip(), "a failure must say why"
        assert (r.returncode == 0) == (expected == 0), f"{tool}: {r.stdout}{r.stderr}"
    assert results["cmpkit"] == results["openssl"]
    if enrolls and expected == 0:
        assert results["cmpkit"][1] == pem_cert(pki.objs["issued"])


def test_rand_and_writerand_as_openssl(pki, openssl, tmp_path):
    """-rand with an unreadable file fails; -writerand writes 1024 bytes, owner-only, even after a failure."""
    base = ["-config", "", "-use_mock_srv", "-rsp_cert", pki.path("issued"), *SRV_PBM, "-cmd", "genm",
            "-ref", "1234"]
    for tool, argv0 in (("openssl", [openssl, "cmp"]), ("cmpkit", CMPKIT)):
        missing = run(argv0 + base + ["-secret", "pass:test", "-rand", str(tmp_path / "absent")])
        assert missing.returncode == 1, tool
        seed = tmp_path / f"{tool}.seed"
        seed.write_bytes(b"x" * 100)
        assert run(argv0 + base + ["-secret", "pass:test", "-rand", str(seed)]).returncode == 0, tool
        state = tmp_path / f"{tool}.rand"
        failed = run(argv0 + base + ["-secret", "pass:wrong", "-writerand", str(state)])
        assert failed.returncode == 1 and state.stat().st_size == 1024, tool
        assert state.stat().st_mode & 0o777 == 0o600, tool
    assert (tmp_path / "openssl.rand").read_bytes() != (tmp_path / "cmpkit.rand").read_bytes()


@pytest.mark.parametrize("extra", [
    ["-provider", "foo"], ["-provider", "default"], ["-provider", "default", "-provider", "base"],
    ["-engine", "foo"], ["-provider-path", "/nonexistent", "-provider", "default"],
    ["-propquery", "fips=yes"], ["-propquery", "?fips=yes"], ["-propquery", "provider=default"],
], ids=" ".join)
def test_engines_providers_and_property_queries(extra, pki, openssl):
    argv = ["-config", "", "-use_mock_srv", "-rsp_cert", pki.path("issued"), *SRV_PBM, "-cmd", "genm", *PBM, *extra]
    ours, theirs = run(CMPKIT + argv), run([openssl, "cmp"] + argv)
    assert ours.returncode == theirs.returncode, ours.stderr + theirs.stderr
    if ours.returncode:
        assert ours.stderr.count("CMP error:") == 1 and "Traceback" not in ours.stderr
