"""Certificate verification at the command line: the same `-use_mock_srv` command line with
`openssl cmp` and with cmpkit must give the same verdict.

Covered: validation of the signer certificate of CMP responses (-trusted, -untrusted and
extraCerts, -srvcert pinning, -expect_sender, key usage and -ignore_keyusage, validity times with
-attime and -no_check_time, -partial_chain, -verify_depth, path length, -purpose, -crl_check) and
of the newly enrolled certificate (-out_trusted, -verify_hostname/-verify_ip/-verify_email),
and -unprotected_errors.

Left out, as openssl cmp cannot be made to show them: a revoked server certificate (openssl cmp
3.0 has no -crls, so -crl_check can only be shown failing for want of a CRL), and
-unprotected_errors with an unprotected PKIConf (the openssl mock cannot send one).

The expected verdict is the one `openssl cmp` gives, computed here by running it. Each case also
states the verdict it is meant to produce, which is checked against openssl, so a scenario that
went wrong (e.g. failing for an unrelated reason) is noticed rather than compared blindly.

Requests are sent unprotected (-unprotected_requests, mock: -accept_unprotected), so the mock
server's own checks of the client (which openssl runs with the same verification options)
cannot mask what is tested here: the client's checks of the responses.
"""
from __future__ import annotations

import datetime
import ipaddress
import re
import shutil
from dataclasses import dataclass
from typing import Optional

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from .pki import NOW, ec_key, make_cert, pem_cert, pem_key
from .tools import CMPKIT, run

pytestmark = pytest.mark.slow

DAY = datetime.timedelta(days=1)
WIDE = dict(not_before=NOW - 10 * DAY, not_after=NOW + 365 * DAY)  # valid at every -attime used here
PAST = NOW - 2 * DAY       # inside the expired server cert's validity, before the new cert's
FUTURE = NOW + 10 * DAY    # inside the not-yet-valid server cert's validity


class Files:
    def __init__(self, directory):
        self.dir = directory
        self.certs = {}

    def add(self, label, cert, key=None):
        self.certs[label] = cert
        (self.dir / f"{label}.crt").write_bytes(pem_cert(cert))
        if key is not None:
            (self.dir / f"{label}.key").write_bytes(pem_key(key))

    def bundle(self, label, *labels):
        (self.dir / f"{label}.crt").write_bytes(b"".join(pem_cert(self.certs[x]) for x in labels))

    def __call__(self, label, ext="crt"):
        return str(self.dir / f"{label}.{ext}")


@pytest.fixture(scope="module")
def f(tmp_path_factory):
    """Root CA -> Issuing CA (pathlen 0) -> server certificates in several flavours; a second root."""
    fs = Files(tmp_path_factory.mktemp("verify_cli"))
    root_key, issuing_key, sub_key, server_key = ec_key(), ec_key(), ec_key(), ec_key()
    root = make_cert(root_key, "Root CA", ca=True, **WIDE)
    issuing = make_cert(issuing_key, "Issuing CA", root_key, root, ca=True, path_len=0, **WIDE)
    other_key = ec_key()
    fs.add("root", root)
    fs.add("issuing", issuing)
    fs.add("other_root", make_cert(other_key, "Other Root CA", ca=True, **WIDE))

    def server(label, cn="server.example", issuer=(issuing_key, issuing), key=server_key, **kw):
        kw = {**WIDE, "key_usage": dict(digital_signature=True), **kw}
        fs.add(label, make_cert(key, cn, *issuer, **kw), key)

    server("server")
    server("server_expired", not_before=NOW - 5 * DAY, not_after=NOW - 1 * DAY)
    server("server_future", not_before=NOW + 5 * DAY, not_after=NOW + 30 * DAY)
    server("server_noku", key_usage=dict(key_encipherment=True))
    server("server_client_eku", eku=[ExtendedKeyUsageOID.CLIENT_AUTH])
    server("attacker", cn="attacker", key=ec_key())
    sub = make_cert(sub_key, "Sub CA", issuing_key, issuing, ca=True, **WIDE)   # violates Issuing CA's pathlen 0
    fs.add("sub", sub)
    fs.bundle("sub_chain", "sub", "issuing")
    server("server_deep", issuer=(sub_key, sub))

    new_key = ec_key()
    sans = [x509.DNSName("leaf.example"), x509.IPAddress(ipaddress.ip_address("192.0.2.1")),
            x509.RFC822Name("leaf@example.com")]
    fs.add("issued", make_cert(new_key, "leaf", issuing_key, issuing, sans=sans), new_key)  # NOW-1h .. NOW+30d
    fs.add("issued_client_eku", make_cert(new_key, "leaf", issuing_key, issuing,
                                          eku=[ExtendedKeyUsageOID.CLIENT_AUTH]))
    fs.add("issued_expired", make_cert(new_key, "leaf", issuing_key, issuing, not_before=NOW - 5 * DAY,
                                       not_after=NOW - 1 * DAY))
    return fs


def mock(f, signer="server", chain="issuing"):
    """Mock server options: responses signed with ``signer``, its chain (-srv_untrusted) sent in extraCerts."""
    args = ["-srv_cert", f(signer), "-srv_key", f(signer, "key"), "-accept_unprotected"]
    return args + (["-srv_untrusted", f(chain)] if chain else [])


def client(f):
    return ["-cmd", "cr", "-unprotected_requests", "-subject", "/CN=leaf", "-newkey", f("issued", "key")]


def ts(t: datetime.datetime) -> str:
    return str(int(t.timestamp()))


@dataclass
class Case:
    args: object                      # f -> argv tail (mock and client options)
    ok: bool                          # the verdict the scenario is meant to produce (checked with openssl)
    subject: Optional[str] = None     # failures: the certificate cmpkit's error line must name
    reason: Optional[str] = None      # failures: regex the error line must match (case-insensitive)
    rsp_cert: str = "issued"          # what the mock hands out


# cmpkit's messages for these failures name no certificate (they come from cmpkit/core/client.py,
# outside this change); only the verdict and the reason are compared for them.
NOT_NAMED = None


def T(f, *extra, **kw):  # noqa: N802 - server options + client options + extra
    return [*mock(f, **kw), *client(f), *extra]


CASES = {
    # ---- CMP response protection: -trusted anchors, chain from extraCerts or -untrusted
    "trusted_chain_in_extracerts": Case(lambda f: T(f, "-trusted", f("root")), True),
    "trusted_chain_missing": Case(lambda f: T(f, "-trusted", f("root"), chain=None), False,
                                  "/CN=server.example", "unable to get local issuer certificate"),
    "trusted_chain_from_untrusted": Case(lambda f: T(f, "-trusted", f("root"), "-untrusted", f("issuing"),
                                                     chain=None), True),
    "trusted_wrong_anchor": Case(lambda f: T(f, "-trusted", f("other_root")), False,
                                 "/CN=Issuing CA", "unable to get local issuer certificate"),
    "partial_chain_off": Case(lambda f: T(f, "-trusted", f("issuing")), False,
                              "/CN=Issuing CA", "unable to get issuer certificate"),
    "partial_chain_on": Case(lambda f: T(f, "-trusted", f("issuing"), "-partial_chain"), True),
    "trusted_signer_itself": Case(lambda f: T(f, "-trusted", f("server")), False,   # not an anchor by itself
                                  "/CN=Issuing CA", "unable to get local issuer certificate"),
    "trusted_signer_itself_partial_chain": Case(lambda f: T(f, "-trusted", f("server"), "-partial_chain"), True),
    # ---- pinned -srvcert: directly trusted, no path validation, not even of its validity
    "srvcert": Case(lambda f: T(f, "-srvcert", f("server")), True),
    "srvcert_expired": Case(lambda f: T(f, "-srvcert", f("server_expired"), signer="server_expired"), True),
    "srvcert_overrides_trusted": Case(lambda f: T(f, "-srvcert", f("server"), "-trusted", f("other_root")), True),
    "srvcert_crl_check": Case(lambda f: T(f, "-srvcert", f("server"), "-crl_check"), True),
    "srvcert_other_signer": Case(lambda f: T(f, "-srvcert", f("server"), signer="attacker"), False,
                                 NOT_NAMED, "signature"),
    # ---- sender names: an attacker with a valid certificate of the same PKI
    "expect_sender_ok": Case(lambda f: T(f, "-trusted", f("root"), "-expect_sender", "/CN=server.example"), True),
    "expect_sender_wrong": Case(lambda f: T(f, "-trusted", f("root"), "-expect_sender", "/CN=other"), False,
                                NOT_NAMED, "expect_sender"),
    "attacker_accepted_without_expect_sender": Case(lambda f: T(f, "-trusted", f("root"), signer="attacker"),
                                                    True),
    "attacker_expect_sender": Case(lambda f: T(f, "-trusted", f("root"), "-expect_sender", "/CN=server.example",
                                               signer="attacker"), False,
                                   NOT_NAMED, "expect_sender"),
    # ---- key usage of the CMP signer
    "noku_trusted": Case(lambda f: T(f, "-trusted", f("root"), signer="server_noku"), False,
                         "/CN=server.example", "digitalSignature"),
    "noku_trusted_ignore_keyusage": Case(lambda f: T(f, "-trusted", f("root"), "-ignore_keyusage",
                                                     signer="server_noku"), True),
    "noku_srvcert": Case(lambda f: T(f, "-srvcert", f("server_noku"), signer="server_noku"), False,
                         "/CN=server.example", "digitalSignature"),
    "noku_srvcert_ignore_keyusage": Case(lambda f: T(f, "-srvcert", f("server_noku"), "-ignore_keyusage",
                                                     signer="server_noku"), True),
    # ---- validity times
    "expired": Case(lambda f: T(f, "-trusted", f("root"), signer="server_expired"), False,
                    "/CN=server.example", "expired"),
    "expired_attime": Case(lambda f: T(f, "-trusted", f("root"), "-attime", ts(PAST), signer="server_expired"),
                           True),
    "expired_no_check_time": Case(lambda f: T(f, "-trusted", f("root"), "-no_check_time",
                                              signer="server_expired"), True),
    "not_yet_valid": Case(lambda f: T(f, "-trusted", f("root"), signer="server_future"), False,
                          "/CN=server.example", "not yet valid"),
    "not_yet_valid_attime": Case(lambda f: T(f, "-trusted", f("root"), "-attime", ts(FUTURE),
                                             signer="server_future"), True),
    "not_yet_valid_no_check_time": Case(lambda f: T(f, "-trusted", f("root"), "-no_check_time",
                                                    signer="server_future"), True),
    "valid_server_at_past_attime": Case(lambda f: T(f, "-trusted", f("root"), "-attime", ts(NOW - 30 * DAY)),
                                        False, "/CN=Root CA", "not yet valid"),  # checked from the anchor down
    # ---- chain length: -verify_depth and pathLenConstraint
    "verify_depth_0": Case(lambda f: T(f, "-trusted", f("root"), "-verify_depth", "0"), False,
                           "/CN=Issuing CA", "certificate chain too long"),
    "verify_depth_1": Case(lambda f: T(f, "-trusted", f("root"), "-verify_depth", "1"), True),
    "verify_depth_2": Case(lambda f: T(f, "-trusted", f("root"), "-verify_depth", "2"), True),
    "path_length_exceeded": Case(lambda f: T(f, "-trusted", f("root"), signer="server_deep", chain="sub_chain"),
                                 False, "/CN=Issuing CA", "path length constraint exceeded"),
    # ---- purpose (extended key usage)
    "purpose_sslserver_wrong_eku": Case(lambda f: T(f, "-trusted", f("root"), "-purpose", "sslserver",
                                                    signer="server_client_eku"), False,
                                        "/CN=server.example", "unsuitable certificate purpose"),
    "purpose_sslclient_eku": Case(lambda f: T(f, "-trusted", f("root"), "-purpose", "sslclient",
                                              signer="server_client_eku"), True),
    # ---- revocation: openssl cmp (3.0) has no -crls, so no CRL is ever available to it
    "crl_check_without_crl": Case(lambda f: T(f, "-trusted", f("root"), "-crl_check"), False,
                                  "/CN=server.example", "unable to get certificate CRL"),
    # ---- -verify_hostname/-verify_ip/-verify_email do not apply to the CMP signer
    "verify_hostname_not_for_signer": Case(lambda f: T(f, "-trusted", f("root"), "-verify_hostname",
                                                       "nomatch.example"), True),
    # ---- the newly enrolled certificate: -out_trusted
    "out_trusted_good": Case(lambda f: T(f, "-trusted", f("root"), "-out_trusted", f("root")), True),
    "out_trusted_bad_anchor": Case(lambda f: T(f, "-trusted", f("root"), "-out_trusted", f("other_root")), False,
                                   "/CN=Issuing CA", "unable to get local issuer certificate"),
    "out_trusted_partial_chain_off": Case(lambda f: T(f, "-trusted", f("root"), "-out_trusted", f("issuing")),
                                          False, "/CN=Issuing CA", "unable to get issuer certificate"),
    "out_trusted_partial_chain_on": Case(lambda f: T(f, "-trusted", f("root"), "-out_trusted", f("issuing"),
                                                     "-partial_chain"), True),
    "out_trusted_new_cert_expired": Case(lambda f: T(f, "-trusted", f("root"), "-out_trusted", f("root")), False,
                                         "/CN=leaf", "expired", rsp_cert="issued_expired"),
    "out_trusted_new_cert_expired_no_check_time": Case(lambda f: T(f, "-trusted", f("root"), "-out_trusted",
                                                                   f("root"), "-no_check_time"), True,
                                                       rsp_cert="issued_expired"),
    # openssl's app clears -attime for -out_trusted: the new cert is checked at the current time
    "out_trusted_ignores_attime": Case(lambda f: T(f, "-trusted", f("root"), "-out_trusted", f("root"),
                                                   "-attime", ts(PAST)), True),
    "out_trusted_attime_no_rescue": Case(lambda f: T(f, "-trusted", f("root"), "-out_trusted", f("root"),
                                                     "-attime", ts(NOW - 3 * DAY)), False,
                                         "/CN=leaf", "expired", rsp_cert="issued_expired"),
    "out_trusted_no_crl_check": Case(lambda f: T(f, "-srvcert", f("server"), "-out_trusted", f("root"),
                                                 "-crl_check_all"), True),
    "out_trusted_verify_depth_0": Case(lambda f: T(f, "-srvcert", f("server"), "-out_trusted", f("root"),
                                                   "-verify_depth", "0"), False,
                                       "/CN=Issuing CA", "certificate chain too long"),
    "out_trusted_purpose_wrong_eku": Case(lambda f: T(f, "-trusted", f("root"), "-out_trusted", f("root"),
                                                      "-purpose", "sslserver"), False,
                                          "/CN=leaf", "unsuitable certificate purpose", rsp_cert="issued_client_eku"),
    "out_trusted_purpose_eku": Case(lambda f: T(f, "-trusted", f("root"), "-out_trusted", f("root"),
                                                "-purpose", "sslclient"), True, rsp_cert="issued_client_eku"),
    "verify_hostname_match": Case(lambda f: T(f, "-trusted", f("root"), "-out_trusted", f("root"),
                                              "-verify_hostname", "leaf.example"), True),
    "verify_hostname_mismatch": Case(lambda f: T(f, "-trusted", f("root"), "-out_trusted", f("root"),
                                                 "-verify_hostname", "other.example"), False,
                                     "/CN=leaf", "hostname mismatch"),
    "verify_hostname_without_out_trusted": Case(lambda f: T(f, "-trusted", f("root"),
                                                            "-verify_hostname", "other.example"), True),
    "verify_ip_match": Case(lambda f: T(f, "-trusted", f("root"), "-out_trusted", f("root"),
                                        "-verify_ip", "192.0.2.1"), True),
    "verify_ip_mismatch": Case(lambda f: T(f, "-trusted", f("root"), "-out_trusted", f("root"),
                                           "-verify_ip", "192.0.2.2"), False, "/CN=leaf", "IP address mismatch"),
    "verify_email_match": Case(lambda f: T(f, "-trusted", f("root"), "-out_trusted", f("root"),
                                           "-verify_email", "leaf@example.com"), True),
    "verify_email_mismatch": Case(lambda f: T(f, "-trusted", f("root"), "-out_trusted", f("root"),
                                              "-verify_email", "other@example.com"), False,
                                  "/CN=leaf", "email address mismatch"),
}


@dataclass
class Outcome:
    rc: int
    stderr: str
    certout: Optional[bytes]


def run_both(f, tmp_path, args, rsp_cert="issued"):
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("the system openssl is not installed")
    out = {}
    for tool, argv0 in (("openssl", [openssl, "cmp"]), ("cmpkit", CMPKIT)):
        certout = tmp_path / f"{tool}.pem"
        r = run(argv0 + ["-config", "", "-use_mock_srv", "-rsp_cert", f(rsp_cert), *args,
                         "-certout", str(certout)])
        out[tool] = Outcome(r.returncode, r.stdout + r.stderr,
                            certout.read_bytes() if certout.exists() else None)
    return out["openssl"], out["cmpkit"]


def _openssl_reason(stderr: str) -> Optional[str]:
    """The X509 verification error openssl reports, if it got as far as path validation."""
    m = re.search(r"Certificate verification at depth = \d+ error = \d+ \(([^)]*)\)", stderr)
    return m.group(1) if m else None


@pytest.mark.parametrize("name", sorted(CASES))
def test_same_verdict(name, f, tmp_path):
    case = CASES[name]
    ossl, ours = run_both(f, tmp_path, case.args(f), case.rsp_cert)
    assert "Traceback" not in ours.stderr, ours.stderr
    assert (ossl.rc == 0) == case.ok, f"scenario broken, openssl says:\n{ossl.stderr}"
    assert (ours.rc == 0) == (ossl.rc == 0), f"openssl rc={ossl.rc}, cmpkit rc={ours.rc}:\n{ours.stderr}"
    if case.ok:
        expected = pem_cert(f.certs[case.rsp_cert])
        assert ossl.certout == expected
        assert ours.certout == expected
        return
    assert ours.certout is None, "no -certout on failure"
    errors = [line for line in ours.stderr.splitlines() if line.startswith("CMP error:")]
    assert len(errors) == 1, ours.stderr
    line = errors[0]
    if case.subject is not NOT_NAMED:
        assert case.subject in line, line
    assert re.search(case.reason, line, re.IGNORECASE), line
    reason = _openssl_reason(ossl.stderr)
    if reason is not None:  # openssl got to path validation: same reason
        assert reason.lower() in line.lower(), f"openssl: {reason}; cmpkit: {line}"


# ---- -unprotected_errors: accepts missing or invalid protection of negative answers only
def _rr(f):
    return ["-cmd", "rr", "-unprotected_requests", "-ref", "1", "-oldcert", f("issued")]


def _attacker_signs(f, *extra):
    """Responses signed by another holder of a certificate of the PKI; the client pins -srvcert."""
    return [*mock(f, signer="attacker"), *client(f), "-srvcert", f("server"), "-expect_sender", "/CN=attacker",
            *extra]


REJECT = ["-pkistatus", "2", "-failure", "3"]
UNPROTECTED = {
    # name: (argv tail, True if the client must get to the server's negative answer)
    "rejection_unprotected": (lambda f: T(f, "-trusted", f("root"), *REJECT, "-send_unprot_err"), False),
    "rejection_unprotected_errors": (lambda f: T(f, "-trusted", f("root"), *REJECT, "-send_unprot_err",
                                                 "-unprotected_errors"), True),
    "error_msg_unprotected": (lambda f: T(f, "-trusted", f("root"), "-send_error", "-send_unprot_err"), False),
    "error_msg_unprotected_errors": (lambda f: T(f, "-trusted", f("root"), "-send_error", "-send_unprot_err",
                                                 "-unprotected_errors"), True),
    "rp_rejection_unprotected": (lambda f: [*mock(f), *_rr(f), "-trusted", f("root"), "-pkistatus", "2",
                                            "-send_unprot_err"], False),
    "rp_rejection_unprotected_errors": (lambda f: [*mock(f), *_rr(f), "-trusted", f("root"), "-pkistatus", "2",
                                                   "-send_unprot_err", "-unprotected_errors"], True),
    "positive_unprotected_errors": (lambda f: T(f, "-trusted", f("root"), "-send_unprotected",
                                                "-unprotected_errors"), False),
    "rejection_invalid_protection": (lambda f: _attacker_signs(f, *REJECT), False),
    "rejection_invalid_protection_unprotected_errors": (lambda f: _attacker_signs(f, *REJECT, "-unprotected_errors"),
                                                        True),
    "positive_invalid_protection_unprotected_errors": (lambda f: _attacker_signs(f, "-unprotected_errors"), False),
}
PROTECTION = {"openssl": r"missing protection|error validating protection|srvcert does not validate msg",
              "cmpkit": r"not protected|signature check failed"}


@pytest.mark.parametrize("name", sorted(UNPROTECTED))
def test_unprotected_errors(name, f, tmp_path):
    build, reaches_answer = UNPROTECTED[name]
    ossl, ours = run_both(f, tmp_path, build(f))
    assert "Traceback" not in ours.stderr, ours.stderr
    assert ossl.rc != 0 and ours.rc != 0
    assert ours.certout is None
    for tool, o in (("openssl", ossl), ("cmpkit", ours)):
        # the in-process mock server logs its own "CMP error:" lines, and openssl logs the protection
        # error it then ignores: the verdict is whether the client got to the server's answer
        errors = "\n".join(line for line in o.stderr.splitlines() if line.startswith("CMP error:"))
        assert bool(re.search(r"PKIStatus: rejection", errors)) == reaches_answer, f"{tool}: {o.stderr}"
        if not reaches_answer:
            assert re.search(PROTECTION[tool], errors, re.IGNORECASE), f"{tool}: {o.stderr}"
