"""Post-quantum keys: ML-DSA (FIPS 204, RFC 9881) for protection, POPO, chains and certificates made by
cmpkit.core.certbuild; SLH-DSA (RFC 9909) recognised and refused in one line (cryptography lacks it).

Certificates built here are checked with independent decoders (cryptography's parser, pyasn1's
RFC 5280 schema) and signatures with cryptography's own verification."""
import datetime
import time

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, mldsa, rsa
from cryptography.x509.oid import NameOID

from cmpkit import cli
from cmpkit.core import algs, certbuild, der, protection
from cmpkit.core.keys import SoftwareKey
from cmpkit.core.verify.policy import verify_chain
from cmpkit.errors import ProtectionError, VerifyError

NOW = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
SPKI = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
# RFC 9881 / NIST CSOR: id-ml-dsa-44/65/87; RFC 9909: id-slh-dsa-sha2-128s ... id-slh-dsa-shake-256f
ML_DSA = {44: "2.16.840.1.101.3.4.3.17", 65: "2.16.840.1.101.3.4.3.18", 87: "2.16.840.1.101.3.4.3.19"}


def name(cn):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def build(signing_key, subject_key, subject="ee", issuer="ca", **kw):
    return certbuild.build_certificate(signing_key, subject=name(subject), issuer=name(issuer),
                                       subject_public_key=subject_key.public_key(), serial=12345,
                                       not_before=NOW, not_after=NOW + datetime.timedelta(days=1), **kw)


@pytest.fixture(autouse=True)
def cli_err(monkeypatch, capsys):
    """What cli.main prints to stderr: its handler is added on capsys' stream and removed after the
    test, with the logger's propagation (other tests' caplog needs it)."""
    import logging
    logger = logging.getLogger("cmpkit")
    monkeypatch.setattr(logger, "handlers", [])
    monkeypatch.setattr(logger, "propagate", logger.propagate)
    return lambda: capsys.readouterr().err


# ---------------------------------------------------------------- identifiers

@pytest.mark.parametrize("size", [44, 65, 87])
def test_ml_dsa_signature_algorithm_has_the_lamps_oid_and_no_parameters(size):
    key = getattr(mldsa, f"MLDSA{size}PrivateKey").generate()
    alg = protection.signature_algorithm(key.public_key(), "sha256")
    assert alg == der.sequence(der.oid(ML_DSA[size]))        # parameters absent (RFC 9881 2)
    # the SubjectPublicKeyInfo cryptography writes names the same OID (an independent source)
    spki = key.public_key().public_bytes(*SPKI)
    assert der.children(spki)[0] == alg


def test_slh_dsa_identifiers_are_refused_with_one_line():
    assert sorted(algs.SLH_DSA_OIDS) == sorted(f"2.16.840.1.101.3.4.3.{n}" for n in range(20, 32))
    assert algs.SLH_DSA_OIDS["2.16.840.1.101.3.4.3.20"] == "slh-dsa-sha2-128s"
    assert algs.SLH_DSA_OIDS["2.16.840.1.101.3.4.3.31"] == "slh-dsa-shake-256f"
    key = mldsa.MLDSA44PrivateKey.generate()
    alg = der.sequence(der.oid("2.16.840.1.101.3.4.3.26"))
    with pytest.raises(ProtectionError, match=r"SLH-DSA is not supported: the installed cryptography package "
                                              r"lacks it \(SLH-DSA-SHAKE-128S\)"):
        protection.verify_signature(key.public_key(), alg, b"data", b"sig")


# ---------------------------------------------------------------- signing and verifying

@pytest.mark.parametrize("size", [44, 65, 87])
def test_ml_dsa_protection_round_trip(size):
    key = getattr(mldsa, f"MLDSA{size}PrivateKey").generate()
    alg = protection.signature_algorithm(key.public_key())
    sig = protection.sign(SoftwareKey(key), alg, b"protected part")
    key.public_key().verify(sig, b"protected part")           # cryptography's own check: pure ML-DSA
    protection.verify_signature(key.public_key(), alg, b"protected part", sig)
    with pytest.raises(ProtectionError, match="signature check failed"):
        protection.verify_signature(key.public_key(), alg, b"protected part!", sig)
    with pytest.raises(ProtectionError, match="unexpected parameters"):   # RFC 9881: absent
        protection.verify_signature(key.public_key(), der.sequence(der.oid(ML_DSA[size]), algs.NULL_DER),
                                    b"protected part", sig)


def test_ml_dsa_algorithm_does_not_fit_other_keys():
    alg = der.sequence(der.oid(ML_DSA[65]))
    with pytest.raises(ProtectionError, match="does not fit"):
        protection.sign(SoftwareKey(ec.generate_private_key(ec.SECP256R1())), alg, b"x")
    with pytest.raises(ProtectionError, match="signer key is EC"):
        protection.verify_signature(ec.generate_private_key(ec.SECP256R1()).public_key(), alg, b"x", b"y")


# ---------------------------------------------------------------- certbuild

@pytest.mark.parametrize("make_key", [lambda: rsa.generate_private_key(65537, 2048),
                                      lambda: ec.generate_private_key(ec.SECP384R1()),
                                      ed25519.Ed25519PrivateKey.generate], ids=["rsa", "ec", "ed25519"])
def test_certbuild_classic_keys_verified_by_cryptography(make_key):
    ca_key, ee_key = make_key(), ec.generate_private_key(ec.SECP256R1())
    ca = x509.load_der_x509_certificate(build(ca_key, ca_key, "ca", "ca", ca=True, path_len=0))
    ee = x509.load_der_x509_certificate(build(ca_key, ee_key, issuer_public_key=ca_key.public_key()))
    ca.verify_directly_issued_by(ca)
    ee.verify_directly_issued_by(ca)
    # the identifiers are what cryptography computes (RFC 5280 4.2.1.2 method 1)
    ski = x509.SubjectKeyIdentifier.from_public_key(ee_key.public_key())
    assert ee.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value == ski
    aki = ee.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    assert aki.key_identifier == x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()).digest
    assert ee.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    bc = ca.extensions.get_extension_for_class(x509.BasicConstraints)
    assert bc.critical and bc.value.ca and bc.value.path_length == 0
    ku = ca.extensions.get_extension_for_class(x509.KeyUsage).value
    assert ku.key_cert_sign and ku.crl_sign and ku.digital_signature and not ku.key_encipherment
    assert ee.serial_number == 12345 and ee.subject == name("ee") and ee.issuer == name("ca")
    assert ee.not_valid_before_utc == NOW and ee.not_valid_after_utc == NOW + datetime.timedelta(days=1)
    with pytest.raises(x509.ExtensionNotFound):   # self-signed: no AKI, as cryptography's builder
        ca.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier)


@pytest.mark.parametrize("size", [44, 65, 87])
def test_certbuild_ml_dsa_certificate(size):
    from pyasn1.codec.der.decoder import decode
    from pyasn1_alt_modules import rfc5280

    ca_key = getattr(mldsa, f"MLDSA{size}PrivateKey").generate()
    ee_key = mldsa.MLDSA44PrivateKey.generate()
    cert_der = build(ca_key, ee_key, issuer_public_key=ca_key.public_key(), key_usages=("digital_signature",))
    cert = x509.load_der_x509_certificate(cert_der)
    assert cert.signature_algorithm_oid.dotted_string == ML_DSA[size]
    assert cert.public_key().public_bytes(*SPKI) == ee_key.public_key().public_bytes(*SPKI)
    ca_key.public_key().verify(cert.signature, cert.tbs_certificate_bytes)
    # pyasn1's RFC 5280 schema reads it and re-encodes it byte for byte; both algorithm fields agree
    parsed, rest = decode(cert_der, asn1Spec=rfc5280.Certificate())
    assert not rest and parsed["signatureAlgorithm"] == parsed["tbsCertificate"]["signature"]
    assert not parsed["signatureAlgorithm"]["parameters"].isValue
    from pyasn1.codec.der.encoder import encode
    assert encode(parsed) == cert_der


def test_certbuild_uses_generalized_time_from_2050():
    key = ec.generate_private_key(ec.SECP256R1())
    late = datetime.datetime(2051, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc)
    cert = x509.load_der_x509_certificate(certbuild.build_certificate(
        key, subject=name("x"), issuer=name("x"), subject_public_key=key.public_key(), serial=1,
        not_before=NOW, not_after=late))
    assert cert.not_valid_after_utc == late
    assert b"\x18\x0f20510102030405Z" in cert.tbs_certificate_bytes


# ---------------------------------------------------------------- chains

def test_ml_dsa_chain_validates_and_a_changed_signature_does_not(pq_pki):
    o = pq_pki.objs
    ders = {k: o[k].public_bytes(serialization.Encoding.DER) for k in ("root", "server", "issued")}
    chain = verify_chain(ders["server"], [], [ders["root"]], now=time.time())
    assert chain == [ders["server"], ders["root"]]
    broken = ders["issued"][:-5] + bytes([ders["issued"][-5] ^ 1]) + ders["issued"][-4:]
    with pytest.raises(VerifyError, match="signature"):
        verify_chain(broken, [], [ders["root"]], now=time.time())


# ---------------------------------------------------------------- credentials

def test_slh_dsa_key_and_certificate_files_give_one_line(tmp_path):
    from cmpkit_file.credentials import load_certs, load_private_key
    from cmpkit.errors import CredentialError
    oid = der.oid("2.16.840.1.101.3.4.3.21")     # id-slh-dsa-sha2-128f, RFC 9909
    pkcs8 = der.sequence(der.integer(0), der.sequence(oid), der.tlv(0x04, b"\x07" * 64))
    key_file = tmp_path / "slh.pem"
    key_file.write_text(pem("PRIVATE KEY", pkcs8))
    with pytest.raises(CredentialError) as info:
        load_private_key(str(key_file), what="private key for -key")
    assert str(info.value) == (f"cannot load private key for -key from '{key_file}': SLH-DSA is not supported: "
                               "the installed cryptography package lacks it")
    # a certificate with an SLH-DSA key and signature (placeholder values)
    ca = ec.generate_private_key(ec.SECP256R1())
    good = x509.load_der_x509_certificate(build(ca, ca, "x", "x"))
    tbs = der.children(good.public_bytes(serialization.Encoding.DER))[0]
    fields = der.children(tbs)
    spki = der.sequence(der.sequence(oid), der.tlv(0x03, b"\x00" + b"\x01" * 32))
    fields[6] = spki
    cert = der.sequence(der.sequence(*fields), der.sequence(oid), der.tlv(0x03, b"\x00" + b"\x02" * 17088))
    cert_file = tmp_path / "slh.crt"
    cert_file.write_bytes(cert)
    with pytest.raises(CredentialError, match="lacks it$"):
        load_certs(str(cert_file), what="certificate")


def pem(label, data):
    import base64
    body = base64.encodebytes(data).decode()
    return f"-----BEGIN {label}-----\n{body}-----END {label}-----\n"


# ---------------------------------------------------------------- command line, mock server in process

def _pq_args(pq_pki, cmd, tmp_path):
    p = pq_pki.path
    args = ["-config", "", "-cmd", cmd, "-use_mock_srv", "-newkey", p("new_key"), "-srv_key", p("server_key"),
            "-srv_cert", p("server"), "-srv_trusted", p("root"), "-trusted", p("root"), "-rsp_cert", p("issued"),
            "-certout", str(tmp_path / f"{cmd}.pem")]
    if cmd == "kur":     # the mock renews its -rsp_cert: protected with that certificate's key
        return args + ["-key", p("new_key"), "-cert", p("issued")]
    return args + ["-key", p("client_key"), "-cert", p("client"), "-subject", "/CN=pq-leaf"]


@pytest.mark.parametrize("cmd", ["ir", "cr", "kur"])
def test_ml_dsa_enrollment_with_the_mock_server(pq_pki, tmp_path, cmd, fresh_plugins):
    assert cli.main(_pq_args(pq_pki, cmd, tmp_path)) == 0
    got = x509.load_pem_x509_certificate((tmp_path / f"{cmd}.pem").read_bytes())
    assert got == pq_pki.objs["issued"]


def test_ml_dsa_requests_are_signed_with_ml_dsa(pq_pki, tmp_path, fresh_plugins):
    from pyasn1.codec.der.decoder import decode
    from pyasn1_alt_modules import rfc9480
    args = _pq_args(pq_pki, "ir", tmp_path) + ["-reqout", str(tmp_path / "req.der"),
                                                "-rspout", str(tmp_path / "rsp.der")]
    assert cli.main(args) == 0
    for f, size in (("req.der", 44), ("rsp.der", 65)):   # client key ML-DSA-44, server key ML-DSA-65
        msg, _ = decode((tmp_path / f).read_bytes(), asn1Spec=rfc9480.PKIMessage())
        assert str(msg["header"]["protectionAlg"]["algorithm"]) == ML_DSA[size]
        assert not msg["header"]["protectionAlg"]["parameters"].isValue
    req, _ = decode((tmp_path / "req.der").read_bytes(), asn1Spec=rfc9480.PKIMessage())
    popo = req["body"]["ir"][0]["popo"]["signature"]["algorithmIdentifier"]
    assert str(popo["algorithm"]) == ML_DSA[87]                          # POPO with the -newkey


def test_ml_dsa_wrong_server_key_is_refused(pq_pki, tmp_path, fresh_plugins, cli_err):
    args = _pq_args(pq_pki, "ir", tmp_path)
    args[args.index("-srv_key") + 1] = pq_pki.path("client_key")       # does not match -srv_cert
    assert cli.main(args) == 1
    assert not (tmp_path / "ir.pem").exists()
    err = cli_err()
    assert "Traceback" not in err and "CMP error:" in err


# ---------------------------------------------------------------- PKCS#12 with an ML-DSA key

def _pkcs12(key, certs, password=None):
    """A PFX as OpenSSL 3 writes it (RFC 7292): certificates in PBES2/AES-256-CBC encryptedData, the
    key in a pkcs8ShroudedKeyBag (cryptography's PKCS#8 encryption); without ``password`` both plain.
    No MAC (optional in RFC 7292)."""
    import os

    from cryptography.hazmat.primitives import hashes, padding
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
    from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC
    data_oid = der.oid("1.2.840.113549.1.7.1")
    cert_bags = der.sequence(*[der.sequence(der.oid("1.2.840.113549.1.12.10.1.3"), der.tlv(0xA0, der.sequence(
        der.oid("1.2.840.113549.1.9.22.1"), der.tlv(0xA0, der.tlv(0x04, c.public_bytes(serialization.Encoding.DER))))))
        for c in certs])
    if password is None:
        key_bag = der.sequence(der.oid("1.2.840.113549.1.12.10.1.1"), der.tlv(0xA0, key.private_bytes(
            serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())))
        cert_ci = der.sequence(data_oid, der.tlv(0xA0, der.tlv(0x04, cert_bags)))
    else:
        key_bag = der.sequence(der.oid("1.2.840.113549.1.12.10.1.2"), der.tlv(0xA0, key.private_bytes(
            serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(password))))
        salt, iv = os.urandom(16), os.urandom(16)
        aes_key = PBKDF2HMAC(hashes.SHA256(), 32, salt, 2048).derive(password)
        padder = padding.PKCS7(128).padder()
        enc = Cipher(algorithms.AES(aes_key), modes.CBC(iv)).encryptor()
        ciphertext = enc.update(padder.update(cert_bags) + padder.finalize()) + enc.finalize()
        pbes2 = der.sequence(der.oid("1.2.840.113549.1.5.13"), der.sequence(
            der.sequence(der.oid("1.2.840.113549.1.5.12"), der.sequence(
                der.tlv(0x04, salt), der.integer(2048), der.sequence(der.oid("1.2.840.113549.2.9"), algs.NULL_DER))),
            der.sequence(der.oid("2.16.840.1.101.3.4.1.42"), der.tlv(0x04, iv))))
        cert_ci = der.sequence(der.oid("1.2.840.113549.1.7.6"), der.tlv(0xA0, der.sequence(
            der.integer(0), der.sequence(data_oid, pbes2, der.tlv(0x80, ciphertext)))))
    key_ci = der.sequence(data_oid, der.tlv(0xA0, der.tlv(0x04, der.sequence(key_bag))))
    auth_safe = der.sequence(cert_ci, key_ci)
    return der.sequence(der.integer(3), der.sequence(data_oid, der.tlv(0xA0, der.tlv(0x04, auth_safe))))


@pytest.mark.parametrize("password", [None, b"p12 pass"])
def test_ml_dsa_pkcs12_is_refused_in_one_line(pq_pki, tmp_path, password, fresh_plugins, capsys):
    """cryptography 48 cannot read an ML-DSA key from PKCS#12, and cmpkit does not hand-roll PKCS#12
    (its integrity MAC needs RFC 7292's own KDF): one error line that says so, naming the way out."""
    from pyasn1.codec.der.decoder import decode
    from pyasn1_alt_modules import rfc7292

    from cmpkit_file.credentials import load_private_key
    from cmpkit.errors import CredentialError
    o = pq_pki.objs
    pfx = _pkcs12(o["client_key"], [o["root"], o["client"]], password)
    decode(pfx, asn1Spec=rfc7292.PFX())                       # a PFX by RFC 7292's schema
    with pytest.raises(ValueError):                          # what cryptography does with it
        from cryptography.hazmat.primitives.serialization import pkcs12
        pkcs12.load_key_and_certificates(pfx, password)
    path = tmp_path / "client.p12"
    path.write_bytes(pfx)
    with pytest.raises(CredentialError, match="ML-DSA key, which the installed cryptography cannot read") as info:
        load_private_key(str(path), password or b"x")
    assert "\n" not in str(info.value)
    args = _pq_args(pq_pki, "cr", tmp_path)
    args[args.index("-key") + 1] = args[args.index("-cert") + 1] = str(path)
    assert cli.main(args + ["-keypass", "pass:" + (password or b"x").decode()]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and "use a PKCS#8 PEM or DER key file" in err
    assert not (tmp_path / "cr.pem").exists()


def test_ml_dsa_cert_hash_is_sha256_as_openssl_falls_back(pq_pki):
    """X509_digest_sig() (OpenSSL 3.x) takes SHA-256 for a signature without a digest but EdDSA's."""
    import hashlib
    cert_der = pq_pki.objs["issued"].public_bytes(serialization.Encoding.DER)
    assert protection.digest_for_cert_hash(cert_der) == "sha256"
    assert protection.cert_hash(cert_der) == hashlib.sha256(cert_der).digest()


def test_pkcs11_ml_dsa_key_is_refused_in_one_line(monkeypatch):
    """A token key of type CKK_ML_DSA (PKCS#11 3.2; SoftHSM2 2.6 has none, so a stand-in token)."""
    pytest.importorskip("PyKCS11")
    from cmpkit_pkcs11 import token as tk
    from cmpkit_pkcs11.uri import parse_pkcs11_uri
    from cmpkit.errors import CredentialError
    p11 = tk.pykcs11()

    class StandIn:
        name = "'pq-token'"

        def login(self, get_pin):
            pass

        def find(self, cls, uri):
            return [7]

        def attributes(self, handle, attrs, binary=True):
            return [0x4A] if attrs == [p11.CKA_KEY_TYPE] else [b"mldsa key"]
    monkeypatch.setattr(tk, "open_token", lambda uri: StandIn())
    with pytest.raises(CredentialError) as info:
        tk.load_private_key(parse_pkcs11_uri("pkcs11:object=mldsa;type=private"), lambda label: b"1234",
                            "private key for -key")
    assert str(info.value) == ("cannot load private key for -key: ML-DSA keys in PKCS#11 tokens are not supported "
                               "(PKCS#11 3.2 mechanisms; SoftHSM2 2.6 has none): key 'mldsa key' in PKCS#11 "
                               "token 'pq-token'")


def test_slh_dsa_newkey_fails_in_one_line(pq_pki, tmp_path, fresh_plugins, cli_err):
    pkcs8 = der.sequence(der.integer(0), der.sequence(der.oid("2.16.840.1.101.3.4.3.30")),
                         der.tlv(0x04, b"\x05" * 128))
    (tmp_path / "slh.pem").write_text(pem("PRIVATE KEY", pkcs8))
    args = _pq_args(pq_pki, "ir", tmp_path)
    args[args.index("-newkey") + 1] = str(tmp_path / "slh.pem")
    assert cli.main(args) == 1
    last = cli_err().strip().splitlines()[-1]
    assert last.startswith("CMP error: cannot load new private key") and last.endswith(
        "SLH-DSA is not supported: the installed cryptography package lacks it")


def test_ml_dsa_p10cr_with_the_mock_server(pq_pki, tmp_path, fresh_plugins):
    """A PKCS#10 request self-signed with ML-DSA-87 (assembled here, signed by cryptography)."""
    key = pq_pki.objs["new_key"]
    info = der.sequence(der.integer(0), name("pq-leaf").public_bytes(), key.public_key().public_bytes(*SPKI),
                        der.tlv(0xA0, b""))
    csr = der.sequence(info, der.sequence(der.oid(ML_DSA[87])), der.tlv(0x03, b"\x00" + key.sign(info)))
    (tmp_path / "pq.csr").write_bytes(csr)
    args = _pq_args(pq_pki, "p10cr", tmp_path)
    i = args.index("-newkey")
    args[i:i + 2] = ["-csr", str(tmp_path / "pq.csr")]
    args.remove("-subject"), args.remove("/CN=pq-leaf")
    assert cli.main(args) == 0
    assert x509.load_pem_x509_certificate((tmp_path / "p10cr.pem").read_bytes()) == pq_pki.objs["issued"]
