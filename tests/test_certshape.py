"""core/certshape.py (issue 17): the plain-form check that lets a one-shot enrollment compare the new
certificate's key without cryptography.x509. Whatever it accepts, cryptography parses with the same
SubjectPublicKeyInfo (checked against pyasn1 as an independent decoder); what it refuses goes to the
full parse, so the client's answers do not change."""
import datetime
import random
import subprocess
import sys

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID
from pyasn1_alt_modules import rfc5280

from cmpkit.core import der
from cmpkit.core.certshape import plain_certificate_spki

from .asn1_schema import decode, encode
from .tools import imports_of_pbm_enrollment, imports_of_run
from .pki import build, ec_key, make_cert, mldsa_key, make_pq_cert, rsa_key

SPKI = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return build(tmp_path_factory.mktemp("pki"))


def pyasn1_spki(cert_der: bytes) -> bytes:
    return encode(decode(cert_der, rfc5280.Certificate())["tbsCertificate"]["subjectPublicKeyInfo"])


def cert_der(cert) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


def test_the_test_pki_certificates_are_plain_with_their_own_spki(pki):
    for key in ("root", "issuing", "server", "client", "issued", "attacker"):
        cert = pki.objs[key]
        spki = plain_certificate_spki(cert_der(cert))
        assert spki is not None, key
        assert spki == pyasn1_spki(cert_der(cert)) == cert.public_key().public_bytes(*SPKI)


def test_other_key_types_and_names(pki):
    k = pki.objs["issuing_key"]
    for subject_key in (ec_key(), rsa_key()):
        c = make_cert(subject_key, "x\u00fc\u4e2d", k, pki.objs["issuing"],
                      sans=[x509.DNSName("a.example"), x509.RFC822Name("a@b.example")])
        assert plain_certificate_spki(cert_der(c)) == subject_key.public_key().public_bytes(*SPKI)
    late = make_cert(ec_key(), "late", k, pki.objs["issuing"],
                     not_after=datetime.datetime(2060, 2, 29, tzinfo=datetime.timezone.utc))
    assert plain_certificate_spki(cert_der(late)) == pyasn1_spki(cert_der(late))


def test_ml_dsa_certificates_go_to_the_full_parse():
    key = mldsa_key(44)
    c = make_pq_cert(key, "pq")
    assert plain_certificate_spki(cert_der(c)) is None  # not in the plain algorithm table


def _rebuild_tbs(cert: bytes, edit) -> bytes:
    """The certificate with its TBS fields replaced by edit(list of field TLVs)."""
    top = der.children(cert)
    fields = der.children(top[0])
    return der.sequence(der.sequence(*edit(fields)), top[1], top[2])


def _name_der(*rdns) -> bytes:
    return x509.Name([x509.RelativeDistinguishedName(r) for r in rdns]).public_bytes()


ODD = {
    "trailing byte": lambda c: c + b"\x00",
    "non-minimal length": lambda c: b"\x30\x84" + len(der.content(c)).to_bytes(4, "big") + der.content(c),
    "negative serial": lambda c: _rebuild_tbs(c, lambda f: [f[0], b"\x02\x01\xff", *f[2:]]),
    "non-minimal serial": lambda c: _rebuild_tbs(c, lambda f: [f[0], b"\x02\x02\x00\x01", *f[2:]]),
    "version v2": lambda c: _rebuild_tbs(c, lambda f: [b"\xa0\x03\x02\x01\x01", *f[1:]]),
    "version v1 written out": lambda c: _rebuild_tbs(c, lambda f: [b"\xa0\x03\x02\x01\x00", *f[1:]]),
    "v1 with extensions": lambda c: _rebuild_tbs(c, lambda f: f[1:]),
    "multi-valued RDN": lambda c: _rebuild_tbs(c, lambda f: [*f[:5], _name_der(
        [x509.NameAttribute(NameOID.COMMON_NAME, "a"), x509.NameAttribute(NameOID.ORGANIZATION_NAME, "b")]), *f[6:]]),
    "BMPString": lambda c: _rebuild_tbs(c, lambda f: [*f[:5], _name_der(
        [x509.NameAttribute(NameOID.COMMON_NAME, "a", x509.name._ASN1Type.BMPString)]), *f[6:]]),
    "PrintableString with @": lambda c: _rebuild_tbs(c, lambda f: [*f[:5], _name_der(
        [x509.NameAttribute(NameOID.COUNTRY_NAME, "A@", x509.name._ASN1Type.PrintableString)]), *f[6:]]),
    "GeneralizedTime before 2050": lambda c: _rebuild_tbs(c, lambda f: [*f[:4], der.sequence(
        der.tlv(0x18, b"20240101000000Z"), der.tlv(0x17, b"300101000000Z")), *f[5:]]),
    "30 February": lambda c: _rebuild_tbs(c, lambda f: [*f[:4], der.sequence(
        der.tlv(0x17, b"240230000000Z"), der.tlv(0x17, b"300101000000Z")), *f[5:]]),
    "time zone offset": lambda c: _rebuild_tbs(c, lambda f: [*f[:4], der.sequence(
        der.tlv(0x17, b"2401010000+0100"), der.tlv(0x17, b"300101000000Z")), *f[5:]]),
    "issuerUniqueID": lambda c: _rebuild_tbs(c, lambda f: [*f[:7], b"\x81\x02\x00\x01", *f[7:]]),
    "critical FALSE written out": lambda c: _rebuild_tbs(c, lambda f: [*f[:7], der.tlv(0xA3, der.sequence(
        der.sequence(der.oid("2.5.29.14"), b"\x01\x01\x00", der.tlv(0x04, b"\x04\x01\x00"))))]),
    "empty extensions": lambda c: _rebuild_tbs(c, lambda f: [*f[:7], der.tlv(0xA3, der.sequence())]),
    "unknown signature algorithm": lambda c: _rebuild_tbs(c, lambda f: [f[0], f[1], der.sequence(
        der.oid("1.2.3.4")), *f[3:]]),
    "EC key on an unlisted curve": lambda c: _rebuild_tbs(c, lambda f: [*f[:6], der.sequence(der.sequence(
        der.oid("1.2.840.10045.2.1"), der.oid("1.3.132.0.10")), der.children(f[6])[1]), *f[7:]]),
    "signature with unused bits": lambda c: der.sequence(*der.children(c)[:2], b"\x03\x02\x07\x80"),
}


@pytest.mark.parametrize("what", sorted(ODD))
def test_odd_forms_go_to_the_full_parse(pki, what):
    good = cert_der(pki.objs["issued"])
    odd = ODD[what](good)
    assert odd != good
    assert plain_certificate_spki(odd) is None


def test_mutations_never_pass_what_cryptography_refuses(pki):
    """Random byte changes, truncations and insertions of real certificates: whatever the check
    passes, cryptography loads, with the SPKI pyasn1 reads (a fixed seed: reproducible)."""
    rng = random.Random(17)
    seeds = [cert_der(pki.objs[k]) for k in ("root", "server", "client", "issued")]
    passed = 0
    for _ in range(3000):
        data = bytearray(rng.choice(seeds))
        for _ in range(rng.randint(1, 3)):
            op, i = rng.randrange(4), rng.randrange(len(data))
            if op == 0:
                data[i] = rng.randrange(256)
            elif op == 1:
                data[i] ^= 1 << rng.randrange(8)
            elif op == 2:
                del data[i]
            else:
                data.insert(i, rng.randrange(256))
        spki = plain_certificate_spki(bytes(data))
        if spki is None:
            continue
        passed += 1
        cert = x509.load_der_x509_certificate(bytes(data))  # must not raise
        assert cert.serial_number >= 0 and cert.version == x509.Version.v3
        assert spki == pyasn1_spki(bytes(data))
    assert passed > 100  # the property was exercised (changes inside names, keys, signatures)


@pytest.mark.slow
def test_a_pbm_enrollment_imports_no_cryptography_x509(tmp_path):
    """The in-process PBM ir with -newkey: the new certificate's key check, the chain (none to
    build) and the output need no cryptography.x509."""
    p = build(tmp_path)
    imported = imports_of_pbm_enrollment(p, tmp_path)
    assert "cmpkit.core.certshape" in imported
    assert "cryptography.x509" not in imported
    saved = x509.load_pem_x509_certificate((tmp_path / "out.pem").read_bytes())
    assert saved == p.objs["issued"]


@pytest.mark.slow
def test_a_wrong_key_is_still_refused_through_the_full_parse(tmp_path):
    """-newkey other than the certificate's: the plain check passes the shape but not the key, and
    the full parse refuses as before (openssl's message)."""
    p = build(tmp_path)
    args = ["-config", "", "-use_mock_srv", "-srv_ref", "1", "-srv_secret", "pass:s", "-rsp_cert", p.path("issued"),
            "-cmd", "ir", "-ref", "1", "-secret", "pass:s", "-newkey", p.path("client_key"), "-subject", "/CN=x",
            "-certout", str(tmp_path / "out.pem")]
    env = dict(__import__("os").environ, XDG_CACHE_HOME=str(tmp_path / "cache"))
    r = subprocess.run([sys.executable, "-m", "cmpkit", *args], capture_output=True, text=True, env=env,
                       timeout=60, cwd=tmp_path)
    assert r.returncode != 0
    assert "public key in new certificate does not match our enrollment key" in r.stderr
    assert not (tmp_path / "out.pem").exists()


def test_light_serialization_gives_cryptographys_own_objects():
    """core/lazy.serialization: the enums and key loaders are the very objects the package exports."""
    from cmpkit.core.lazy import LightSerialization, _LIGHT_ENUMS, _LIGHT_LOADERS
    light = LightSerialization("cryptography.hazmat.primitives.serialization")
    for attr in _LIGHT_ENUMS + _LIGHT_LOADERS:
        assert getattr(light, attr) is getattr(serialization, attr), attr
    assert light._module is None  # none of them imported the package through the stand-in
    assert light.load_ssh_public_key is serialization.load_ssh_public_key  # the rest: from the package


@pytest.mark.slow
def test_a_pbm_enrollment_over_http_needs_no_serialization_package(tmp_path):
    """PBM ir over HTTP up to the send: the key loaded, the request assembled and protected, then
    the connection refused (nothing listens), all without the serialization package or x509."""
    import socket
    p = build(tmp_path)
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    args = ["-config", "", "-server", f"127.0.0.1:{port}", "-cmd", "ir", "-ref", "1", "-secret", "pass:s",
            "-newkey", p.path("new_key"), "-subject", "/CN=x", "-certout", str(tmp_path / "out.pem")]
    r, imported = imports_of_run(args, tmp_path)
    assert r.returncode != 0 and "cannot connect to" in r.stderr
    assert "cmpkit_file.credentials" in imported and "cmpkit.core.message" in imported
    assert "cryptography.hazmat.primitives.serialization" not in imported
    assert "cryptography.x509" not in imported
    assert "cmpkit.core.x509conf" not in imported  # only for -reqexts, -policies, -sans, -policy_oids


def test_plain_pem_certificates_read_without_cryptography_x509_as_with_it(pki):
    """cmpkit_file's PEM fast path: the standard layout gives cryptography's own DER; anything
    changed in the text either gives it still or goes to cryptography's parser (None)."""
    from cmpkit_file.credentials import _plain_pem_cert
    rng = random.Random(9)
    for key in ("root", "server", "issued"):
        pem = pki.objs[key].public_bytes(serialization.Encoding.PEM)
        assert _plain_pem_cert(pem) == cert_der(pki.objs[key])
        for _ in range(300):
            text = bytearray(pem)
            i = rng.randrange(len(text))
            op = rng.randrange(3)
            if op == 0:
                text[i] = rng.choice(b"AQgw+/=\n\r -")
            elif op == 1:
                del text[i]
            else:
                text.insert(i, rng.choice(b"AQgw+/=\n\r -"))
            got = _plain_pem_cert(bytes(text))
            if got is not None:
                assert got == x509.load_pem_x509_certificate(bytes(text)).public_bytes(serialization.Encoding.DER)
    assert _plain_pem_cert(pem.replace(b"\n", b"\r\n")) is None
    assert _plain_pem_cert(pem.replace(b"CERTIFICATE", b"X509 CERTIFICATE")) is None
