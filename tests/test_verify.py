"""Tests of the certificate verification engine, each verdict cross-checked with `openssl verify`.

A PKI is generated at test time with cryptography. Every case runs cmpkit's verify_chain and the
system ``openssl verify`` with the same certificates, CRLs and options and asserts the same
verdict, the same first reason and depth (OpenSSL 3.0 wording).
"""
from __future__ import annotations

import dataclasses
import datetime
import ipaddress
import re
import shutil
import subprocess
import time

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from cmpkit.core.der import oid, sequence, tlv
from cmpkit.app.crl_files import crls_from_config, load_crls
from cmpkit.core.verify import (ENROLLED, DefaultVerificationPolicy, VerifyOptions,
                                check_signer_key_usage, verify_chain)
from cmpkit.errors import ConfigError, CredentialError, VerifyError

NOW = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
DAY = datetime.timedelta(days=1)
P1, P2, P3 = "1.3.6.1.4.1.99999.1", "1.3.6.1.4.1.99999.2", "1.3.6.1.4.1.99999.3"
ANY = "2.5.29.32.0"
DER = serialization.Encoding.DER
PEM = serialization.Encoding.PEM


# ----------------------------------------------------------------------------- PKI helpers
def name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def ec_key():
    return ec.generate_private_key(ec.SECP256R1())


def policy_mappings(*pairs) -> x509.UnrecognizedExtension:
    der = sequence(*(sequence(oid(a), oid(b)) for a, b in pairs))
    return x509.UnrecognizedExtension(x509.ObjectIdentifier("2.5.29.33"), der)


@dataclasses.dataclass
class Ent:
    """A certificate with its key."""
    cert: x509.Certificate
    key: object

    @property
    def der(self) -> bytes:
        return self.cert.public_bytes(DER)


def make(subject, issuer: "Ent | None" = None, *, key=None, ca=False, pathlen=None, bc=True,
         bc_critical=True, ku="default", eku=None, eku_critical=False, sans=None, policies=None,
         constraints=None, mappings=None, inhibit_any=None, nc=None, start=-DAY, end=30 * DAY,
         digest=None, extra=(), akid=True, subject_name=None, serial=None) -> Ent:
    key = key or ec_key()
    subj = subject_name or name(subject)
    b = (x509.CertificateBuilder().subject_name(subj)
         .issuer_name(issuer.cert.subject if issuer else subj)
         .public_key(key.public_key()).serial_number(serial or x509.random_serial_number())
         .not_valid_before(NOW + start).not_valid_after(NOW + end)
         .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False))
    if issuer is not None and akid:
        b = b.add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()), False)
    if bc:
        b = b.add_extension(x509.BasicConstraints(ca=ca, path_length=pathlen), bc_critical)
    if ku == "default":
        ku = {"key_cert_sign", "crl_sign", "digital_signature"} if ca else {"digital_signature", "key_encipherment"}
    if ku is not None:
        flags = dict.fromkeys(("digital_signature", "content_commitment", "key_encipherment",
                               "data_encipherment", "key_agreement", "key_cert_sign", "crl_sign",
                               "encipher_only", "decipher_only"), False)
        flags.update(dict.fromkeys(ku, True))
        b = b.add_extension(x509.KeyUsage(**flags), True)
    if eku:
        b = b.add_extension(x509.ExtendedKeyUsage(eku), eku_critical)
    if sans:
        b = b.add_extension(x509.SubjectAlternativeName(sans), False)
    if policies:
        b = b.add_extension(x509.CertificatePolicies(
            [x509.PolicyInformation(x509.ObjectIdentifier(p), None) for p in policies]), False)
    if constraints:
        b = b.add_extension(x509.PolicyConstraints(*constraints), True)
    if mappings:
        b = b.add_extension(policy_mappings(*mappings), True)
    if inhibit_any is not None:
        b = b.add_extension(x509.InhibitAnyPolicy(inhibit_any), True)
    if nc is not None:
        b = b.add_extension(nc, True)
    for ext, critical in extra:
        b = b.add_extension(ext, critical)
    signer = issuer.key if issuer else key
    return Ent(b.sign(signer, digest or hashes.SHA256()), key)


def make_crl(issuer: Ent, revoked=(), *, last=-DAY, next_=7 * DAY, akid=True, number=1, key=None,
             extra=()):
    b = (x509.CertificateRevocationListBuilder().issuer_name(issuer.cert.subject)
         .last_update(NOW + last).next_update(NOW + next_).add_extension(x509.CRLNumber(number), False))
    if akid:
        signer = key or issuer.key
        b = b.add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(signer.public_key()), False)
    for ext, critical in extra:
        b = b.add_extension(ext, critical)
    for serial in revoked:
        b = b.add_revoked_certificate(x509.RevokedCertificateBuilder().serial_number(serial)
                                      .revocation_date(NOW - DAY).build())
    return b.sign(key or issuer.key, hashes.SHA256())


def tamper(ent: Ent) -> Ent:
    """The same certificate with one bit of its signature value flipped."""
    der = bytearray(ent.der)
    der[-3] ^= 0x01
    return Ent(x509.load_der_x509_certificate(bytes(der)), ent.key)


def resign_sha1(ent: Ent, issuer_key) -> Ent:
    """Re-sign an RSA/SHA-256 certificate with SHA-1 (cryptography refuses to build SHA-1 certs)."""
    old, new = oid("1.2.840.113549.1.1.11"), oid("1.2.840.113549.1.1.5")
    tbs = ent.cert.tbs_certificate_bytes.replace(old, new)
    sig = issuer_key.sign(tbs, padding.PKCS1v15(), hashes.SHA1())
    alg = sequence(new, b"\x05\x00")
    der = sequence(tbs, alg, tlv(0x03, b"\x00" + sig))
    return Ent(x509.load_der_x509_certificate(der), ent.key)


# ----------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def pki():
    root = make("Test Root CA", ca=True)
    inter = make("Test Issuing CA", root, ca=True)
    leaf = make("Test Leaf", inter, sans=[x509.DNSName("www.example.com"), x509.RFC822Name("leaf@example.com"),
                                          x509.IPAddress(ipaddress.ip_address("192.0.2.1"))])
    return {"root": root, "int": inter, "leaf": leaf}


@pytest.fixture(scope="module")
def openssl_bin():
    return shutil.which("openssl")


class Checker:
    """Runs verify_chain and `openssl verify` on the same input and compares their verdicts."""

    def __init__(self, tmp_path, openssl_bin):
        self.tmp = tmp_path
        self.openssl = openssl_bin
        self.n = 0

    def _write(self, label, items, enc=PEM):
        self.n += 1
        path = self.tmp / f"{self.n}-{label}.pem"
        path.write_bytes(b"".join(i.public_bytes(enc) for i in items))
        return str(path)

    def openssl_verify(self, leaf, untrusted, trusted, crls, opts: VerifyOptions, purpose):
        cmd = [self.openssl, "verify", "-no-CApath", "-no-CAstore"]
        cmd += ["-CAfile", self._write("trusted", [t.cert for t in trusted])] if trusted else ["-no-CAfile"]
        if untrusted:
            cmd += ["-untrusted", self._write("untrusted", [u.cert for u in untrusted])]
        if crls:
            cmd += ["-CRLfile", self._write("crls", crls)]
        for f in dataclasses.fields(VerifyOptions):
            value = getattr(opts, f.name)
            if f.name == "crls" or value is None or value is False or value == ():
                continue
            if value is True:
                cmd.append("-" + f.name)
            elif f.name == "policy":
                for p in value:
                    cmd += ["-policy", p]
            else:
                cmd += ["-" + f.name, str(value)]
        if purpose:
            cmd += ["-purpose", purpose]
        cmd.append(self._write("leaf", [leaf.cert]))
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
        errors = re.findall(r"error (\d+) at (\d+) depth lookup: (.*)", proc.stderr)
        return proc.returncode == 0, errors, proc.stderr

    def __call__(self, leaf: Ent, untrusted=(), trusted=(), crls=(), *, expect=None, depth=None,
                 purpose=None, compare=True, **options):
        opts = VerifyOptions(crls=[c.public_bytes(DER) for c in crls], **options)
        err = chain = None
        try:
            chain = verify_chain(leaf.der, [u.der for u in untrusted], [t.der for t in trusted], opts,
                                 purpose=purpose, now=time.time())
        except VerifyError as exc:
            err = exc
        if expect is None:
            assert err is None, f"unexpected failure: {err}"
        else:
            assert err is not None, f"expected '{expect}' but verification succeeded"
            msg = str(err)
            assert "\n" not in msg and expect in msg, msg
            assert err.reason == expect, msg
            assert err.subject in msg and err.subject.startswith("/"), msg
            if depth is not None:
                assert err.depth == depth, msg
        if compare and self.openssl:
            ok, errors, text = self.openssl_verify(leaf, untrusted, trusted, crls, opts, purpose)
            assert ok == (expect is None), f"openssl disagrees (ok={ok}): {text}"
            if expect is not None:
                assert errors, f"openssl failed without a verification error: {text}"
                code, odepth, reason = errors[0]
                assert reason == expect, f"openssl's first error differs: {text}"
                assert int(code) == err.code, f"error code {err.code} vs openssl {code}"
                if err.depth is not None:
                    assert int(odepth) == err.depth, f"openssl's depth differs: {text}"
        return chain if err is None else err


@pytest.fixture
def check(tmp_path, openssl_bin):
    return Checker(tmp_path, openssl_bin)


# ----------------------------------------------------------------------------- chains and trust
def test_valid_chain_returns_leaf_to_anchor(pki, check):
    chain = check(pki["leaf"], [pki["int"]], [pki["root"]])
    assert chain == [pki["leaf"].der, pki["int"].der, pki["root"].der]


def test_missing_intermediate(pki, check):
    check(pki["leaf"], [], [pki["root"]], expect="unable to get local issuer certificate", depth=0)


def test_untrusted_root_in_chain(pki, check):
    check(pki["leaf"], [pki["int"], pki["root"]], [], expect="self-signed certificate in certificate chain",
          depth=2)


def test_self_signed_leaf(pki, check):
    other = make("Lonely", ca=False)
    check(other, [], [pki["root"]], expect="self-signed certificate", depth=0)
    assert check(other, [], [other]) == [other.der]


def test_untrusted_copies_and_order_do_not_matter(pki, check):
    chain = check(pki["leaf"], [pki["root"], pki["int"], pki["int"], pki["leaf"]], [pki["root"], pki["int"]])
    assert chain == [pki["leaf"].der, pki["int"].der, pki["root"].der]


def test_partial_chain(pki, check):
    check(pki["leaf"], [], [pki["int"]], expect="unable to get issuer certificate", depth=1)
    assert check(pki["leaf"], [], [pki["int"]], partial_chain=True) == [pki["leaf"].der, pki["int"].der]
    # the leaf itself as trust anchor
    assert check(pki["leaf"], [], [pki["leaf"]], partial_chain=True) == [pki["leaf"].der]
    check(pki["leaf"], [], [pki["leaf"]], expect="unable to get local issuer certificate", depth=0)


def test_attacker_certificate_from_the_same_pki_is_a_valid_chain(pki, check):
    """The CMP layer (expect_sender) rejects such a sender; path validation accepts it."""
    attacker = make("Attacker", pki["int"])
    check(attacker, [pki["int"]], [pki["root"]])


def test_wrong_root_with_same_name(pki, check):
    fake_root = make("Test Root CA", ca=True)
    check(pki["leaf"], [pki["int"]], [fake_root], expect="unable to get local issuer certificate", depth=1)


def test_bad_signatures(pki, check):
    check(tamper(pki["leaf"]), [pki["int"]], [pki["root"]], expect="certificate signature failure", depth=0)
    broken_root = tamper(pki["root"])
    check(pki["leaf"], [pki["int"]], [broken_root])
    check(pki["leaf"], [pki["int"]], [broken_root], check_ss_sig=True,
          expect="certificate signature failure", depth=2)


# ----------------------------------------------------------------------------- time
def test_expired_and_not_yet_valid(pki, check):
    expired = make("Expired", pki["int"], start=-10 * DAY, end=-DAY)
    check(expired, [pki["int"]], [pki["root"]], expect="certificate has expired", depth=0)
    future = make("Future", pki["int"], start=DAY, end=10 * DAY)
    check(future, [pki["int"]], [pki["root"]], expect="certificate is not yet valid", depth=0)
    check(expired, [pki["int"]], [pki["root"]], no_check_time=True)
    check(future, [pki["int"]], [pki["root"]], no_check_time=True)


def test_expired_anchor_is_reported_first(pki, check):
    old_root = make("Old Root", ca=True, start=-20 * DAY, end=-2 * DAY)
    inter = make("Old Int", old_root, ca=True, start=-20 * DAY, end=-DAY)
    leaf = make("Old Leaf", inter, start=-10 * DAY, end=-DAY)
    check(leaf, [inter], [old_root], expect="certificate has expired", depth=2)


def test_attime(pki, check):
    root = make("Long Root", ca=True, start=-20 * DAY)
    inter = make("Long Int", root, ca=True, start=-20 * DAY)
    expired = make("Expired", inter, start=-10 * DAY, end=-DAY)
    check(expired, [inter], [root], expect="certificate has expired", depth=0)
    check(expired, [inter], [root], attime=int((NOW - 5 * DAY).timestamp()))
    check(expired, [inter], [root], attime=int((NOW - 15 * DAY).timestamp()),
          expect="certificate is not yet valid", depth=0)
    future = int((NOW + 60 * DAY).timestamp())
    check(pki["leaf"], [pki["int"]], [pki["root"]], attime=future, expect="certificate has expired", depth=2)


def test_attime_boundaries(pki, check):
    leaf = make("Boundary", pki["int"], start=-DAY, end=DAY)
    nb, na = int((NOW - DAY).timestamp()), int((NOW + DAY).timestamp())
    check(leaf, [pki["int"]], [pki["root"]], attime=nb)
    check(leaf, [pki["int"]], [pki["root"]], attime=na - 1)
    check(leaf, [pki["int"]], [pki["root"]], attime=na, expect="certificate has expired", depth=0)


# ----------------------------------------------------------------------------- CA, path length, depth
def test_path_length_exceeded(pki, check):
    root = make("PL Root", ca=True)
    int1 = make("PL Int1", root, ca=True, pathlen=0)
    int2 = make("PL Int2", int1, ca=True)
    leaf = make("PL Leaf", int2)
    check(leaf, [int1, int2], [root], expect="path length constraint exceeded", depth=1 + 1)
    ok1 = make("PL Int1 ok", root, ca=True, pathlen=1)
    int2b = make("PL Int2", ok1, ca=True, key=int2.key)
    leaf2 = make("PL Leaf", int2b, key=leaf.key)
    check(leaf2, [ok1, int2b], [root])


def test_verify_depth(pki, check):
    check(pki["leaf"], [pki["int"]], [pki["root"]], verify_depth=0, expect="certificate chain too long", depth=1)
    check(pki["leaf"], [pki["int"]], [pki["root"]], verify_depth=1)
    direct = make("Direct", pki["root"])
    check(direct, [], [pki["root"]], verify_depth=0)


def test_intermediate_without_keycertsign_or_ca_flag(pki, check):
    no_ku = make("No KU CA", pki["root"], ca=True, ku={"digital_signature", "crl_sign"})
    leaf = make("Leaf of no KU CA", no_ku)
    check(leaf, [no_ku], [pki["root"]], expect="invalid CA certificate", depth=1)
    not_ca = make("Not a CA", pki["root"], ca=False, ku={"key_cert_sign", "digital_signature"})
    leaf2 = make("Leaf of non-CA", not_ca)
    check(leaf2, [not_ca], [pki["root"]], expect="invalid CA certificate", depth=1)


def test_unhandled_critical_extension(pki, check):
    odd = x509.UnrecognizedExtension(x509.ObjectIdentifier("1.3.6.1.4.1.99999.7"), b"\x05\x00")
    leaf = make("Critical", pki["int"], extra=[(odd, True)])
    check(leaf, [pki["int"]], [pki["root"]], expect="unhandled critical extension", depth=0)
    check(leaf, [pki["int"]], [pki["root"]], ignore_critical=True)
    leaf2 = make("Noncritical", pki["int"], extra=[(odd, False)])
    check(leaf2, [pki["int"]], [pki["root"]])


# ----------------------------------------------------------------------------- purposes
def test_purposes(pki, check):
    server = make("Server", pki["int"], eku=[ExtendedKeyUsageOID.SERVER_AUTH])
    args = ([pki["int"]], [pki["root"]])
    check(server, *args, purpose="sslserver")
    check(server, *args, purpose="sslclient", expect="unsuitable certificate purpose", depth=0)
    check(server, *args, purpose="any")
    check(server, *args, verify_name="ssl_client", expect="unsuitable certificate purpose", depth=0)
    client = make("Client", pki["int"], ku={"key_encipherment"}, eku=[ExtendedKeyUsageOID.CLIENT_AUTH])
    check(client, *args, purpose="sslclient", expect="unsuitable certificate purpose", depth=0)
    check(pki["leaf"], *args, purpose="crlsign", expect="unsuitable certificate purpose", depth=0)
    check(pki["leaf"], *args, purpose="smimesign")
    check(pki["leaf"], *args, purpose="ocsphelper")
    tsa = make("TSA", pki["int"], ku={"digital_signature"}, eku=[ExtendedKeyUsageOID.TIME_STAMPING],
               eku_critical=True)
    check(tsa, *args, purpose="timestampsign")
    tsa_nc = make("TSA2", pki["int"], ku={"digital_signature"}, eku=[ExtendedKeyUsageOID.TIME_STAMPING])
    check(tsa_nc, *args, purpose="timestampsign", expect="unsuitable certificate purpose", depth=0)


def test_purpose_applies_to_ca_eku(pki, check):
    ca = make("Server-only CA", pki["root"], ca=True, eku=[ExtendedKeyUsageOID.SERVER_AUTH])
    leaf = make("Client behind server-only CA", ca)
    check(leaf, [ca], [pki["root"]], purpose="sslclient", expect="unsuitable certificate purpose", depth=1)
    check(leaf, [ca], [pki["root"]], purpose="sslserver")


def test_unknown_purpose_is_a_config_error():
    with pytest.raises(ConfigError, match="purpose"):
        VerifyOptions(purpose="nonsense")
    with pytest.raises(ConfigError, match="verify_name"):
        VerifyOptions(verify_name="nonsense")


# ----------------------------------------------------------------------------- CRLs
@pytest.fixture(scope="module")
def crl_pki():
    root = make("CRL Root", ca=True)
    inter = make("CRL Int", root, ca=True)
    good = make("Good Leaf", inter)
    revoked = make("Revoked Leaf", inter)
    int_crl = make_crl(inter, [revoked.cert.serial_number])
    root_crl = make_crl(root)
    return dict(root=root, int=inter, good=good, revoked=revoked, int_crl=int_crl, root_crl=root_crl)


def test_crl_check_leaf(crl_pki, check):
    p = crl_pki
    args = ([p["int"]], [p["root"]])
    check(p["revoked"], *args, [p["int_crl"]], crl_check=True, expect="certificate revoked", depth=0)
    check(p["good"], *args, [p["int_crl"]], crl_check=True)
    check(p["revoked"], *args, [p["int_crl"]])  # no -crl_check: CRLs are not consulted
    check(p["good"], *args, [], crl_check=True, expect="unable to get certificate CRL", depth=0)
    check(p["good"], *args, [p["root_crl"]], crl_check=True, expect="unable to get certificate CRL", depth=0)


def test_crl_check_all(crl_pki, check):
    p = crl_pki
    args = ([p["int"]], [p["root"]])
    check(p["good"], *args, [p["int_crl"]], crl_check_all=True, expect="unable to get certificate CRL", depth=1)
    check(p["good"], *args, [p["int_crl"], p["root_crl"]], crl_check_all=True)
    check(p["revoked"], *args, [p["int_crl"], p["root_crl"]], crl_check_all=True,
          expect="certificate revoked", depth=0)
    revoking_root = make_crl(p["root"], [p["int"].cert.serial_number], number=2)
    check(p["good"], *args, [p["int_crl"], revoking_root], crl_check_all=True, expect="certificate revoked",
          depth=1)
    check(p["good"], *args, [p["int_crl"], revoking_root], crl_check=True)


def test_crl_validity_and_signature(crl_pki, check):
    p = crl_pki
    args = ([p["int"]], [p["root"]])
    stale = make_crl(p["int"], last=-10 * DAY, next_=-DAY)
    check(p["good"], *args, [stale], crl_check=True, expect="CRL has expired", depth=0)
    check(p["good"], *args, [stale], crl_check=True, no_check_time=True)
    early = make_crl(p["int"], last=DAY, next_=7 * DAY)
    check(p["good"], *args, [early], crl_check=True, expect="CRL is not yet valid", depth=0)
    forged = make_crl(p["int"], akid=False, key=ec_key())
    check(p["good"], *args, [forged], crl_check=True, expect="CRL signature failure", depth=0)
    foreign = make_crl(p["int"], key=ec_key())  # AKID names another key: not this CA's CRL
    check(p["good"], *args, [foreign], crl_check=True, expect="unable to get certificate CRL", depth=0)


def test_crl_with_unhandled_critical_extension(crl_pki, check):
    p = crl_pki
    odd = x509.UnrecognizedExtension(x509.ObjectIdentifier("1.3.6.1.4.1.99999.8"), b"\x05\x00")
    crl = make_crl(p["int"], extra=[(odd, True)])
    check(p["good"], [p["int"]], [p["root"]], [crl], crl_check=True, expect="unhandled critical CRL extension",
          depth=0)


def test_crl_issuer_without_crlsign(check):
    root = make("NoCRLSign Root", ca=True)
    inter = make("NoCRLSign Int", root, ca=True, ku={"key_cert_sign", "digital_signature"})
    leaf = make("NoCRLSign Leaf", inter)
    check(leaf, [inter], [root], [make_crl(inter)], crl_check=True,
          expect="key usage does not include CRL signing", depth=0)


# ----------------------------------------------------------------------------- policies
@pytest.fixture(scope="module")
def pol_root():
    return make("Policy Root", ca=True)


def test_policy_explicit_and_user_set(pol_root, check):
    inter = make("Pol Int", pol_root, ca=True, policies=[P1])
    leaf = make("Pol Leaf", inter, policies=[P1])
    args = ([inter], [pol_root])
    check(leaf, *args, policy_check=True)
    check(leaf, *args, explicit_policy=True, policy=[P1])
    check(leaf, *args, explicit_policy=True, policy=[P2], expect="no explicit policy")
    check(leaf, *args, policy_check=True, policy=[P2])  # mismatch is fine while not required
    bare = make("Pol Bare Leaf", inter)
    check(bare, *args, explicit_policy=True, expect="no explicit policy")
    check(bare, *args, policy_check=True)


def test_require_explicit_policy_extension(pol_root, check):
    inter = make("ReqExp Int", pol_root, ca=True, policies=[P1], constraints=(0, None))
    good = make("ReqExp Leaf", inter, policies=[P1])
    bad = make("ReqExp Other", inter, policies=[P2])
    check(good, [inter], [pol_root], policy_check=True, policy=[ANY])
    check(good, [inter], [pol_root], policy_check=True, policy=[P1])
    check(bad, [inter], [pol_root], policy_check=True, policy=[ANY], expect="no explicit policy")
    check(bad, [inter], [pol_root], policy_check=True, expect="no explicit policy")


def test_explicit_policy_without_policy_option_differs_from_openssl(pol_root, check):
    """Known difference: OpenSSL 3.0 leaves the user policy set empty when no -policy is given
    (tree_calculate_user_set returns early), so every required explicit policy fails there.
    cmpkit follows RFC 5280 6.1: the default user-initial-policy-set is any-policy."""
    inter = make("Quirk Int", pol_root, ca=True, policies=[P1])
    leaf = make("Quirk Leaf", inter, policies=[P1])
    check(leaf, [inter], [pol_root], explicit_policy=True, compare=False)
    check(leaf, [inter], [pol_root], explicit_policy=True, policy=[ANY])  # same verdict with -policy
    if check.openssl:
        ok, errors, _ = check.openssl_verify(leaf, [inter], [pol_root], (),
                                             VerifyOptions(explicit_policy=True), None)
        assert not ok and errors[0][2] == "no explicit policy"


def test_policy_mapping_and_inhibit_map(pol_root, check):
    inter = make("Map Int", pol_root, ca=True, policies=[P1], mappings=[(P1, P2)])
    leaf = make("Map Leaf", inter, policies=[P2])
    args = ([inter], [pol_root])
    check(leaf, *args, explicit_policy=True, policy=[P1])
    check(leaf, *args, explicit_policy=True, policy=[P2], expect="no explicit policy")
    check(leaf, *args, explicit_policy=True, inhibit_map=True, expect="no explicit policy")
    check(leaf, *args, policy_check=True, inhibit_map=True)
    # inhibitPolicyMapping=0 in the CA above the mapping CA
    top = make("InhMap Int1", pol_root, ca=True, policies=[P1], constraints=(None, 0))
    mapper = make("InhMap Int2", top, ca=True, policies=[P1], mappings=[(P1, P2)])
    leaf2 = make("InhMap Leaf", mapper, policies=[P2])
    check(leaf2, [top, mapper], [pol_root], explicit_policy=True, expect="no explicit policy")
    unconstrained = make("InhMap Int1", pol_root, ca=True, policies=[P1], key=top.key)
    mapper2 = make("InhMap Int2", unconstrained, ca=True, policies=[P1], mappings=[(P1, P2)], key=mapper.key)
    leaf3 = make("InhMap Leaf", mapper2, policies=[P2], key=leaf2.key)
    check(leaf3, [unconstrained, mapper2], [pol_root], explicit_policy=True, policy=[ANY])


def test_any_policy_and_inhibit_any(pol_root, check):
    inter = make("Any Int", pol_root, ca=True, policies=[ANY])
    leaf = make("Any Leaf", inter, policies=[P1])
    check(leaf, [inter], [pol_root], explicit_policy=True, policy=[P1])
    check(leaf, [inter], [pol_root], explicit_policy=True, inhibit_any=True, expect="no explicit policy")
    top = make("InhAny Int1", pol_root, ca=True, policies=[ANY], inhibit_any=0)
    below = make("InhAny Int2", top, ca=True, policies=[ANY])
    leaf2 = make("InhAny Leaf", below, policies=[P1])
    check(leaf2, [top, below], [pol_root], explicit_policy=True, expect="no explicit policy")
    top_ok = make("InhAny Int1", pol_root, ca=True, policies=[ANY], inhibit_any=1, key=top.key)
    below2 = make("InhAny Int2", top_ok, ca=True, policies=[ANY], key=below.key)
    leaf3 = make("InhAny Leaf", below2, policies=[P1], key=leaf2.key)
    check(leaf3, [top_ok, below2], [pol_root], explicit_policy=True, policy=[ANY])


def test_invalid_policy_mapping_to_any_policy(pol_root, check):
    inter = make("BadMap Int", pol_root, ca=True, policies=[P1], mappings=[(P1, ANY)])
    leaf = make("BadMap Leaf", inter, policies=[P1])
    check(leaf, [inter], [pol_root], policy_check=True,
          expect="invalid or inconsistent certificate policy extension", depth=1)


# ----------------------------------------------------------------------------- host, email, IP
def test_hostname_ip_email(pki, check):
    args = ([pki["int"]], [pki["root"]])
    leaf = pki["leaf"]
    check(leaf, *args, verify_hostname="www.example.com")
    check(leaf, *args, verify_hostname="WWW.Example.COM")
    check(leaf, *args, verify_hostname="other.example.com", expect="hostname mismatch", depth=0)
    check(leaf, *args, verify_hostname="Test Leaf", expect="hostname mismatch", depth=0)  # no CN fallback
    check(leaf, *args, verify_ip="192.0.2.1")
    check(leaf, *args, verify_ip="192.0.2.2", expect="IP address mismatch", depth=0)
    check(leaf, *args, verify_email="leaf@example.com")
    check(leaf, *args, verify_email="leaf@EXAMPLE.com")
    check(leaf, *args, verify_email="Leaf@example.com", expect="email address mismatch", depth=0)


def test_hostname_wildcards_and_cn_fallback(pki, check):
    args = ([pki["int"]], [pki["root"]])
    wild = make("Wild", pki["int"], sans=[x509.DNSName("*.example.com")])
    check(wild, *args, verify_hostname="a.example.com")
    check(wild, *args, verify_hostname="a.b.example.com", expect="hostname mismatch", depth=0)
    check(wild, *args, verify_hostname="example.com", expect="hostname mismatch", depth=0)
    cn_only = make("host.example.org", pki["int"])
    check(cn_only, *args, verify_hostname="host.example.org")
    email_dn = make("Mail", pki["int"], subject_name=x509.Name([
        x509.NameAttribute(NameOID.COMMON_NAME, "Mail"),
        x509.NameAttribute(NameOID.EMAIL_ADDRESS, "mail@example.org")]))
    check(email_dn, *args, verify_email="mail@example.org")
    check(email_dn, *args, verify_ip="192.0.2.1", expect="IP address mismatch", depth=0)


# ----------------------------------------------------------------------------- name constraints
def test_name_constraints(pki, check):
    nc = x509.NameConstraints(permitted_subtrees=[x509.DNSName("example.com")], excluded_subtrees=None)
    ca = make("NC CA", pki["root"], ca=True, nc=nc)
    inside = make("In", ca, sans=[x509.DNSName("www.example.com")])
    outside = make("Out", ca, sans=[x509.DNSName("www.example.net")])
    check(inside, [ca], [pki["root"]])
    check(outside, [ca], [pki["root"]], expect="permitted subtree violation", depth=0)
    nc2 = x509.NameConstraints(permitted_subtrees=None, excluded_subtrees=[x509.DNSName("bad.example.com")])
    ca2 = make("NC CA2", pki["root"], ca=True, nc=nc2)
    check(make("Bad", ca2, sans=[x509.DNSName("x.bad.example.com")]), [ca2], [pki["root"]],
          expect="excluded subtree violation", depth=0)


# ----------------------------------------------------------------------------- strength, suite B, strict
def test_auth_level_weak_key_and_sha1(check):
    root = make("AL Root", ca=True, key=rsa.generate_private_key(public_exponent=65537, key_size=2048))
    weak = make("AL Weak", root, key=rsa.generate_private_key(public_exponent=65537, key_size=1024))
    check(weak, [], [root], auth_level=1)
    check(weak, [], [root], auth_level=2, expect="EE certificate key too weak", depth=0)
    inter = make("AL Int", root, ca=True, key=rsa.generate_private_key(public_exponent=65537, key_size=2048))
    sha1_int = resign_sha1(inter, root.key)
    leaf = make("AL Leaf", sha1_int)
    check(leaf, [sha1_int], [root], auth_level=0)
    check(leaf, [sha1_int], [root])
    check(leaf, [sha1_int], [root], auth_level=1, expect="CA signature digest algorithm too weak", depth=1)
    # the signature of the trust anchor itself is not rated
    check(leaf, [], [sha1_int], partial_chain=True, auth_level=2)
    check(leaf, [], [sha1_int], partial_chain=True, auth_level=3, expect="CA certificate key too weak", depth=1)


def test_suite_b(pki, check):
    check(pki["leaf"], [pki["int"]], [pki["root"]], suiteB_128_only=True)
    check(pki["leaf"], [pki["int"]], [pki["root"]], suiteB_192=True,
          expect="Suite B: curve not allowed for this LOS", depth=0)
    rsa_leaf = make("RSA leaf", pki["int"], key=rsa.generate_private_key(public_exponent=65537, key_size=2048))
    check(rsa_leaf, [pki["int"]], [pki["root"]], suiteB_128=True,
          expect="Suite B: invalid public key algorithm", depth=0)


def test_x509_strict(pki, check):
    lax_ca = make("Lax CA", pki["root"], ca=True, bc_critical=False)
    leaf = make("Lax Leaf", lax_ca)
    check(leaf, [lax_ca], [pki["root"]])
    check(leaf, [lax_ca], [pki["root"]], x509_strict=True, expect="Basic Constraints of CA cert not marked critical",
          depth=1)
    signer_leaf = make("KCS Leaf", pki["int"], ku={"digital_signature", "key_cert_sign"})
    check(signer_leaf, [pki["int"]], [pki["root"]], x509_strict=True,
          expect="Key usage keyCertSign invalid for non-CA cert", depth=0)


def test_proxy_certificates_rejected_unless_allowed(pki, check):
    pci = x509.UnrecognizedExtension(x509.ObjectIdentifier("1.3.6.1.5.5.7.1.14"),
                                     sequence(sequence(oid("1.3.6.1.5.5.7.21.1"))))
    proxy = make("Proxy", pki["leaf"], bc=False, ku={"digital_signature"},
                 subject_name=x509.Name(list(pki["leaf"].cert.subject) +
                                        [x509.NameAttribute(NameOID.COMMON_NAME, "proxy")]),
                 extra=[(pci, True)])
    check(proxy, [pki["leaf"], pki["int"]], [pki["root"]],
          expect="proxy certificates not allowed, please set the appropriate flag", depth=0)
    check(proxy, [pki["leaf"], pki["int"]], [pki["root"]], allow_proxy_certs=True)


# ----------------------------------------------------------------------------- messages and API
def test_error_attributes_and_single_line(pki):
    with pytest.raises(VerifyError) as info:
        verify_chain(pki["leaf"].der, [], [pki["root"].der], now=time.time())
    exc = info.value
    assert str(exc) == ("certificate verification failed for /CN=Test Leaf at depth 0: "
                        "unable to get local issuer certificate")
    assert (exc.code, exc.depth, exc.subject) == (20, 0, "/CN=Test Leaf")


def test_garbage_certificate(pki):
    with pytest.raises(VerifyError, match="cannot parse"):
        verify_chain(b"\x30\x03\x02\x01\x00", [], [pki["root"].der], now=time.time())
    # garbage in the pools is ignored
    assert verify_chain(pki["leaf"].der, [b"junk", pki["int"].der], [b"", pki["root"].der],
                        now=time.time())[-1] == pki["root"].der


def test_check_status_false_drops_crl_checks(crl_pki):
    p = crl_pki
    opts = VerifyOptions(crl_check=True)
    with pytest.raises(VerifyError, match="unable to get certificate CRL"):
        verify_chain(p["revoked"].der, [p["int"].der], [p["root"].der], opts, now=time.time())
    chain = verify_chain(p["revoked"].der, [p["int"].der], [p["root"].der], opts, check_status=False,
                         now=time.time())
    assert len(chain) == 3


def test_default_policy_applies_host_checks_only_to_enrolled_certs(pki):
    policy = DefaultVerificationPolicy(VerifyOptions(verify_hostname="nothere.example.com"), clock=time.time)
    args = (pki["leaf"].der, [pki["int"].der], [pki["root"].der])
    assert len(policy.verify_chain(*args)) == 3
    with pytest.raises(VerifyError, match="hostname mismatch"):
        policy.verify_chain(*args, purpose=ENROLLED, check_status=False)
    assert DefaultVerificationPolicy(clock=time.time).options == VerifyOptions()


def test_check_signer_key_usage(pki):
    check_signer_key_usage(pki["leaf"].der, False)  # has digitalSignature
    no_ds = make("No DS", pki["int"], ku={"key_encipherment"})
    with pytest.raises(VerifyError, match="/CN=No DS.*digitalSignature"):
        check_signer_key_usage(no_ds.der, False)
    check_signer_key_usage(no_ds.der, True)
    check_signer_key_usage(make("No KU", pki["int"], ku=None).der, False)


class FakeConfig:
    """Stand-in for cmpkit.core.options.Config."""

    def __init__(self, **values):
        self.values = values

    def get(self, name):
        return self.values.get(name)

    def get_list(self, name):
        value = self.values.get(name)
        if value is None:
            return []
        return [v for v in re.split(r"[,\s]+", value) if v] if isinstance(value, str) else list(value)


def test_from_config(tmp_path, crl_pki):
    pem = tmp_path / "crls.pem"
    pem.write_bytes(crl_pki["int_crl"].public_bytes(PEM) + crl_pki["root_crl"].public_bytes(PEM))
    der = tmp_path / "one.crl"
    der.write_bytes(crl_pki["root_crl"].public_bytes(DER))
    cfg = FakeConfig(crl_check=True, partial_chain=True, attime=1700000000, verify_depth="3", purpose="sslclient",
                     policy=f"{P1}, {P2}", crls=f"{pem} {der}", verify_hostname="h.example")
    opts = VerifyOptions.from_config(cfg, crls_from_config(cfg))
    assert opts.crl_check and opts.partial_chain and not opts.crl_check_all
    assert (opts.attime, opts.verify_depth, opts.purpose) == (1700000000, 3, "sslclient")
    assert opts.policy == (P1, P2) and len(opts.crls) == 3
    assert opts.verify_hostname == "h.example"
    assert VerifyOptions.from_config(FakeConfig()) == VerifyOptions()
    with pytest.raises(ConfigError, match="purpose"):
        VerifyOptions.from_config(FakeConfig(purpose="bogus"))
    with pytest.raises(ConfigError, match="verify_depth"):
        VerifyOptions.from_config(FakeConfig(verify_depth="deep"))
    with pytest.raises(CredentialError, match="missing.crl"):
        load_crls(str(tmp_path / "missing.crl"))
    (tmp_path / "bad.crl").write_bytes(b"not a crl")
    with pytest.raises(CredentialError, match="bad.crl"):
        load_crls(str(tmp_path / "bad.crl"))


def test_options_without_effect_are_accepted(pki, check):
    check(pki["leaf"], [pki["int"]], [pki["root"]], issuer_checks=True, trusted_first=True, no_alt_chains=True,
          use_deltas=True, extended_crl=True, policy_print=True)


# ----------------------------------------------------------------------------- more corners
def test_crl_check_all_and_self_signed_root(crl_pki, check):
    p = crl_pki
    root_revokes_itself = make_crl(p["root"], [p["root"].cert.serial_number], number=3)
    check(p["good"], [p["int"]], [p["root"]], [p["int_crl"], root_revokes_itself], crl_check_all=True,
          expect="certificate revoked", depth=2)


def test_crl_scope_and_deltas(crl_pki, check):
    p = crl_pki
    args = ([p["int"]], [p["root"]])
    ca_only = x509.IssuingDistributionPoint(full_name=None, relative_name=None, only_contains_user_certs=False,
                                            only_contains_ca_certs=True, only_some_reasons=None,
                                            indirect_crl=False, only_contains_attribute_certs=False)
    crl = make_crl(p["int"], extra=[(ca_only, True)])
    check(p["good"], *args, [crl], crl_check=True, expect="different CRL scope", depth=0)
    fresh = x509.FreshestCRL([x509.DistributionPoint([x509.UniformResourceIdentifier("http://x/d.crl")],
                                                     None, None, None)])
    base = make_crl(p["int"], number=10, extra=[(fresh, False)])
    delta = make_crl(p["int"], [p["good"].cert.serial_number], number=11,
                     extra=[(x509.DeltaCRLIndicator(10), True)])
    check(p["good"], *args, [base, delta], crl_check=True)
    check(p["good"], *args, [base, delta], crl_check=True, use_deltas=True, expect="certificate revoked",
          depth=0)


def test_strict_missing_akid(pki, check):
    leaf = make("No AKID", pki["int"], akid=False)
    check(leaf, [pki["int"]], [pki["root"]])
    check(leaf, [pki["int"]], [pki["root"]], x509_strict=True, expect="Missing Authority Key Identifier", depth=0)


def test_more_name_constraints(pki, check):
    nc = x509.NameConstraints(
        permitted_subtrees=[x509.RFC822Name("example.com"),
                            x509.IPAddress(ipaddress.ip_network("192.0.2.0/24")),
                            x509.DirectoryName(x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Good")]))],
        excluded_subtrees=None)
    ca = make("NC3 CA", pki["root"], ca=True, nc=nc)
    good_dn = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Good"),
                         x509.NameAttribute(NameOID.COMMON_NAME, "ok")])
    ip = ipaddress.ip_address
    ok = make("ok", ca, subject_name=good_dn, sans=[x509.RFC822Name("a@example.com"), x509.IPAddress(ip("192.0.2.9"))])
    check(ok, [ca], [pki["root"]])
    bad_ip = make("x", ca, subject_name=good_dn, sans=[x509.IPAddress(ip("198.51.100.1"))])
    check(bad_ip, [ca], [pki["root"]], expect="permitted subtree violation", depth=0)
    bad_dn = make("Elsewhere", ca)
    check(bad_dn, [ca], [pki["root"]], expect="permitted subtree violation", depth=0)
    dns_nc = x509.NameConstraints(permitted_subtrees=[x509.DNSName("example.com")], excluded_subtrees=None)
    ca2 = make("NC4 CA", pki["root"], ca=True, nc=dns_nc)
    check(make("host.example.net", ca2), [ca2], [pki["root"]], expect="permitted subtree violation", depth=0)
    check(make("host.example.com", ca2), [ca2], [pki["root"]])
    check(make("Not A Host Name", ca2), [ca2], [pki["root"]])


def test_prefers_valid_issuer_among_namesakes(pki, check):
    old_int = make("Test Issuing CA", pki["root"], ca=True, key=pki["int"].key, start=-10 * DAY, end=-DAY)
    chain = check(pki["leaf"], [old_int, pki["int"]], [pki["root"]])
    assert chain[1] == pki["int"].der
    check(pki["leaf"], [old_int], [pki["root"]], expect="certificate has expired", depth=1)


def test_trusted_intermediate_without_partial_chain_uses_root(pki, check):
    chain = check(pki["leaf"], [], [pki["int"], pki["root"]])
    assert chain == [pki["leaf"].der, pki["int"].der, pki["root"].der]


def test_any_extended_key_usage_is_not_a_purpose(pki, check):
    anyeku = make("AnyEKU", pki["int"], eku=[ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE])
    check(anyeku, [pki["int"]], [pki["root"]], purpose="sslclient", expect="unsuitable certificate purpose",
          depth=0)
    check(anyeku, [pki["int"]], [pki["root"]], verify_name="default")


def test_suite_b_p384(check):
    k384 = lambda: ec.generate_private_key(ec.SECP384R1())  # noqa: E731
    root = make("B Root", ca=True, key=k384(), digest=hashes.SHA384())
    leaf = make("B Leaf", root, key=k384(), digest=hashes.SHA384())
    check(leaf, [], [root], suiteB_192=True)
    check(leaf, [], [root], suiteB_128=True)
    check(leaf, [], [root], suiteB_128_only=True, expect="Suite B: curve not allowed for this LOS", depth=0)
    mixed = make("B Mixed", root, digest=hashes.SHA384())  # P-256 key below a P-384 CA is fine
    check(mixed, [], [root], suiteB_128=True)
    root256 = make("B Root 256", ca=True)
    big_leaf = make("B Big Leaf", root256, key=k384())  # a P-384 key certified by a P-256 CA
    check(big_leaf, [], [root256], suiteB_128=True, expect="Suite B: cannot sign P-384 with P-256", depth=0)
    wrong_hash = make("B Hash", root, key=k384(), digest=hashes.SHA256())
    check(wrong_hash, [], [root], suiteB_192=True, expect="Suite B: invalid signature algorithm", depth=0)


def test_partial_chain_with_crl_check_all(crl_pki, check):
    p = crl_pki
    check(p["good"], [], [p["int"]], [p["int_crl"]], partial_chain=True, crl_check=True)
    check(p["good"], [], [p["int"]], [p["int_crl"], p["root_crl"]], partial_chain=True, crl_check_all=True,
          expect="unable to get certificate CRL", depth=1)


def test_indirect_crl_needs_extended_crl(check):
    root = make("Ind Root", ca=True)
    inter = make("Ind Int", root, ca=True)
    uri = x509.UniformResourceIdentifier("http://crl.example/ind.crl")
    dp = x509.CRLDistributionPoints([x509.DistributionPoint([uri], None, None,
                                                            [x509.DirectoryName(root.cert.subject)])])
    leaf = make("Ind Leaf", inter, extra=[(dp, False)])
    idp = x509.IssuingDistributionPoint(full_name=[uri], relative_name=None, only_contains_user_certs=False,
                                        only_contains_ca_certs=False, only_some_reasons=None, indirect_crl=True,
                                        only_contains_attribute_certs=False)
    entry = (x509.RevokedCertificateBuilder().serial_number(leaf.cert.serial_number).revocation_date(NOW - DAY)
             .add_extension(x509.CertificateIssuer([x509.DirectoryName(inter.cert.subject)]), True).build())
    crl = (x509.CertificateRevocationListBuilder().issuer_name(root.cert.subject).last_update(NOW - DAY)
           .next_update(NOW + DAY).add_extension(x509.CRLNumber(1), False)
           .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(root.key.public_key()), False)
           .add_extension(idp, True).add_revoked_certificate(entry).sign(root.key, hashes.SHA256()))
    check(leaf, [inter], [root], [crl], crl_check=True, expect="unable to get certificate CRL", depth=0)
    check(leaf, [inter], [root], [crl], crl_check=True, extended_crl=True, expect="certificate revoked", depth=0)


def test_without_status_checks_keeps_time_partial_chain_and_policy_check():
    opts = VerifyOptions(crl_check_all=True, ignore_critical=True, explicit_policy=True, partial_chain=True,
                         attime=1, purpose="sslserver", verify_hostname="h.example")
    kept = opts.without_status_checks()
    assert not (kept.crl_check_all or kept.ignore_critical or kept.explicit_policy)
    assert kept.partial_chain and kept.policy_check and kept.attime == 1
    assert (kept.purpose, kept.verify_hostname) == ("sslserver", "h.example")


def test_check_status_false_still_checks_time(pki):
    expired = make("Expired new cert", pki["int"], start=-10 * DAY, end=-DAY)
    with pytest.raises(VerifyError, match="certificate has expired"):
        verify_chain(expired.der, [pki["int"].der], [pki["root"].der], VerifyOptions(), check_status=False,
                     now=time.time())


def test_policy_remembers_successful_verdicts_within_the_second(pki, monkeypatch):
    from cmpkit.core.verify import policy as verify_mod
    calls = []
    real = verify_mod.verify_chain

    def counting(*args, **kwargs):
        calls.append(args[0])
        return real(*args, **kwargs)
    monkeypatch.setattr(verify_mod, "verify_chain", counting)
    now = int(datetime.datetime.now(datetime.timezone.utc).timestamp())
    leaf, inter, root = (pki[n].der for n in ("leaf", "int", "root"))
    policy = verify_mod.DefaultVerificationPolicy(clock=lambda: now + 0.5)  # all of it within one second
    policy.options = verify_mod.VerifyOptions(attime=now)
    first = policy.verify_chain(leaf, [inter], [root])
    assert policy.verify_chain(leaf, [inter], [root]) == first and len(calls) == 1
    policy.verify_chain(leaf, [inter], [root], purpose="sslclient")        # another question: computed
    assert len(calls) == 2
    policy.options = verify_mod.VerifyOptions(attime=now)                   # new options: computed again
    policy.verify_chain(leaf, [inter], [root])
    assert len(calls) == 3
    for _ in range(2):                                                      # failures are never remembered
        with pytest.raises(VerifyError):
            policy.verify_chain(leaf, [], [root])
    assert len(calls) == 5


def test_store_parses_each_certificate_once_per_run(pki, monkeypatch):
    from cmpkit.core.verify import certs
    parsed, signatures = [], []
    real_init, real_sig = certs._Cert.__init__, certs._signature_valid

    def counting_init(self, der, *args, **kwargs):
        parsed.append(der)
        real_init(self, der, *args, **kwargs)

    def counting_sig(subject, issuer):
        signatures.append((subject.der, issuer.der))
        return real_sig(subject, issuer)
    monkeypatch.setattr(certs._Cert, "__init__", counting_init)
    monkeypatch.setattr(certs, "_signature_valid", counting_sig)
    leaf, inter, root = (pki[n].der for n in ("leaf", "int", "root"))
    policy = DefaultVerificationPolicy(clock=time.time)
    for purpose in (None, "sslclient", "any", ENROLLED):          # different questions: no verdict reuse
        assert policy.verify_chain(leaf, [inter], [root], purpose=purpose) == [leaf, inter, root]
    check_signer_key_usage(leaf, False, policy.store)
    assert sorted(parsed) == sorted([leaf, inter, root])           # each certificate parsed once
    assert sorted(signatures) == sorted([(leaf, inter), (inter, root)])  # each signature checked once
    store = policy.store
    assert store.parsed(leaf) is store.parsed(leaf)
    assert store.cert(leaf) is not store.cert(leaf) and store.cert(leaf).der == leaf
    DefaultVerificationPolicy(clock=time.time).verify_chain(leaf, [inter], [root])  # another run: its own store
    assert len(parsed) == 6


def test_verify_chain_takes_the_time_from_the_caller(pki):
    leaf, inter, root = (pki[n].der for n in ("leaf", "int", "root"))
    with pytest.raises(TypeError, match="now="):
        verify_chain(leaf, [inter], [root])
    assert len(verify_chain(leaf, [inter], [root], VerifyOptions(no_check_time=True))) == 3
    later = (NOW + 1000 * DAY).timestamp()
    assert len(verify_chain(leaf, [inter], [root], VerifyOptions(attime=int(NOW.timestamp())), now=later)) == 3
    with pytest.raises(VerifyError, match="certificate has expired"):
        verify_chain(leaf, [inter], [root], now=later)
    with pytest.raises(VerifyError, match="certificate has expired"):
        DefaultVerificationPolicy(clock=lambda: later).verify_chain(leaf, [inter], [root])


def test_error_information_is_typed(pki):
    import pickle

    from cmpkit.core.verify.reasons import CertificateVerifyError, Reason
    with pytest.raises(CertificateVerifyError) as info:
        verify_chain(pki["leaf"].der, [], [pki["root"].der], now=time.time())
    exc = info.value
    assert isinstance(exc, VerifyError)
    assert exc.code is Reason.UNABLE_TO_GET_ISSUER_CERT_LOCALLY and exc.code == 20 and str(exc.code) == "20"
    assert exc.reason == exc.code.text == "unable to get local issuer certificate"
    again = pickle.loads(pickle.dumps(exc))
    assert (str(again), again.code, again.depth, again.subject) == (str(exc), exc.code, exc.depth, exc.subject)


def test_verification_core_does_no_io():
    import ast
    import pathlib

    import cmpkit.core.verify as package
    for path in pathlib.Path(package.__file__).parent.glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                names = []
            assert not {n.split(".")[0] for n in names} & {"time", "os", "io", "pathlib", "datetime"}, path.name
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                assert node.func.id != "open", path.name
