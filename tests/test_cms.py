"""cmpkit.core.cms: EnvelopedData (ktri, kari, pwri), SignedData and AsymmetricKeyPackage, checked
with an independent decoder (pyasn1_alt_modules' RFC 5652/5958 schemas) and against `openssl cms`."""
import subprocess

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from pyasn1.codec.der import decoder, encoder
from pyasn1_alt_modules import rfc5652, rfc5958

from cmpkit.core import cms, der
from cmpkit.core.keys import SoftwareKey
from cmpkit.errors import DecodeError, ProtectionError

from . import pki as P

DER = serialization.Encoding.DER


@pytest.fixture(scope="module")
def keys():
    rk, ek = P.rsa_key(), P.ec_key()
    rc = P.make_cert(rk, "rsa recipient")
    ec_ = P.make_cert(ek, "ec recipient", key_usage=dict(key_agreement=True, digital_signature=True))
    return dict(rsa=rk, rsa_cert=rc.public_bytes(DER), ec=ek, ec_cert=ec_.public_bytes(DER), rc=rc, ecc=ec_)


def _decode(data, spec):
    obj, rest = decoder.decode(data, asn1Spec=spec)
    assert rest == b"" and encoder.encode(obj) == data   # DER: re-encodes to the same octets
    return obj


def _recipients(keys):
    return {
        "ktri": (cms.Recipient(cert=keys["rsa_cert"]), cms.Decryptor(keys["rsa"], keys["rsa_cert"])),
        "ktri-oaep": (cms.Recipient(cert=keys["rsa_cert"], oaep=True), cms.Decryptor(keys["rsa"], keys["rsa_cert"])),
        "kari": (cms.Recipient(cert=keys["ec_cert"]), cms.Decryptor(keys["ec"], keys["ec_cert"])),
        "pwri": (cms.Recipient(password=b"secret"), cms.Decryptor(password=b"secret")),
        "pwri-kek": (cms.Recipient(password=b"secret", pwri_kek=True), cms.Decryptor(password=b"secret")),
    }


# RFC 5652 6.1: version 0 for ktri with issuerAndSerialNumber only, 2 for kari or SKI, 3 for pwri;
# the RecipientInfo's CHOICE and its own version (6.2.1-6.2.4)
EXPECTED = {"ktri": ("ktri", 2, 2), "ktri-oaep": ("ktri", 2, 2), "kari": ("kari", 2, 3),
            "pwri": ("pwri", 3, 0), "pwri-kek": ("pwri", 3, 0)}


@pytest.mark.parametrize("kind", sorted(EXPECTED))
def test_enveloped_data_decodes_with_rfc5652_and_opens(kind, keys):
    recipient, decryptor = _recipients(keys)[kind]
    env = cms.enveloped_data_der(b"content " * 10, recipient)
    obj = _decode(env, rfc5652.EnvelopedData())
    choice, version, ri_version = EXPECTED[kind]
    assert int(obj["version"]) == version
    ri = obj["recipientInfos"][0]
    assert ri.getName() == choice and int(ri[choice]["version"]) == ri_version
    eci = obj["encryptedContentInfo"]
    assert eci["contentType"] == rfc5652.id_signedData
    assert str(eci["contentEncryptionAlgorithm"]["algorithm"]) == "2.16.840.1.101.3.4.1.42"   # aes256-CBC
    assert cms.open_enveloped_data(env, decryptor) == (cms.ID_SIGNED_DATA, b"content " * 10)


def test_wrong_key_or_password_is_a_protection_error(keys):
    rec = _recipients(keys)
    env = cms.enveloped_data_der(b"x", rec["pwri"][0])
    with pytest.raises(ProtectionError, match="wrong key or password"):
        cms.open_enveloped_data(env, cms.Decryptor(password=b"wrong"))
    env = cms.enveloped_data_der(b"x", rec["pwri-kek"][0])
    with pytest.raises(ProtectionError, match="wrong password"):
        cms.open_enveloped_data(env, cms.Decryptor(password=b"wrong"))
    env = cms.enveloped_data_der(b"x", rec["kari"][0])
    other = P.ec_key()
    with pytest.raises(ProtectionError):
        cms.open_enveloped_data(env, cms.Decryptor(other))   # no certificate given: tried, and fails
    with pytest.raises(ProtectionError, match="no recipient"):
        cms.open_enveloped_data(env, cms.Decryptor(password=b"secret"))


def test_truncated_or_garbage_input_is_a_decode_error(keys):
    env = cms.enveloped_data_der(b"x", cms.Recipient(password=b"pw"))
    for bad in (env[:-5], b"\x30\x03\x02\x01\x00", b"\x04\x00"):
        with pytest.raises((DecodeError, ProtectionError)):
            cms.open_enveloped_data(bad, cms.Decryptor(password=b"pw"))


@pytest.mark.parametrize("key_kind", ["rsa", "ec", "ed25519"])
def test_signed_data_and_key_package_decode_with_rfc5652_and_rfc5958(key_kind, keys):
    returned = {"rsa": keys["rsa"], "ec": keys["ec"], "ed25519": ed25519.Ed25519PrivateKey.generate()}[key_kind]
    package = cms.key_package_der(returned)
    akp = _decode(package, rfc5958.AsymmetricKeyPackage())
    assert len(akp) == 1 and int(akp[0]["version"]) in (0, 1)
    signer_key = P.ec_key()
    signer_cert = P.make_cert(signer_key, "kga").public_bytes(DER)
    sd = cms.signed_data_der(package, SoftwareKey(signer_key), signer_cert)
    obj = _decode(sd, rfc5652.SignedData())
    assert int(obj["version"]) == 3   # eContentType other than id-data (RFC 5652 5.1)
    assert obj["encapContentInfo"]["eContentType"] == rfc5958.id_ct_KP_aKeyPackage
    si = obj["signerInfos"][0]
    assert int(si["version"]) == 3 and si["sid"].getName() == "subjectKeyIdentifier"
    attrs = {str(a["attrType"]) for a in si["signedAttrs"]}
    assert attrs == {str(rfc5652.id_contentType), str(rfc5652.id_messageDigest)}
    opened = cms.open_signed_data(sd)
    assert opened.signer_cert == signer_cert and opened.content == package
    got = cms.read_key_package(opened.content)
    fmt = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    assert got.public_key().public_bytes(*fmt) == returned.public_key().public_bytes(*fmt)


def test_signed_data_tampering_is_detected():
    signer_key = P.ec_key()
    signer_cert = P.make_cert(signer_key, "kga").public_bytes(DER)
    package = cms.key_package_der(P.ec_key())
    sd = cms.signed_data_der(package, SoftwareKey(signer_key), signer_cert)
    with pytest.raises(ProtectionError, match="invalid signature"):
        cms.open_signed_data(sd[:-1] + bytes([sd[-1] ^ 1]))   # the signature's last octet
    other = P.make_cert(P.ec_key(), "kga").public_bytes(DER)   # same SKI? no: another key
    i = sd.index(signer_cert)
    swapped = der.sequence(*[c if not c.startswith(b"\xA0") or signer_cert not in c else der.tlv(0xA0, other)
                             for c in der.children(sd)])
    assert i and swapped != sd
    with pytest.raises(ProtectionError):
        cms.open_signed_data(swapped)
    idx = sd.index(package)   # the content itself: the messageDigest no longer matches
    flipped = sd[:idx + 10] + bytes([sd[idx + 10] ^ 1]) + sd[idx + 11:]
    with pytest.raises((ProtectionError, DecodeError)):
        cms.open_signed_data(flipped)


def test_encrypted_key_round_trip(keys):
    signer_key = P.ec_key()
    signer_cert = P.make_cert(signer_key, "kga").public_bytes(DER)
    returned = P.rsa_key()
    item = cms.encrypted_key_der(returned, cms.Recipient(cert=keys["ec_cert"]), SoftwareKey(signer_key), signer_cert)
    assert item[0] == 0xA0   # EncryptedKey's envelopedData [0] (RFC 4211, implicit)
    _decode(b"\x30" + item[1:], rfc5652.EnvelopedData())
    key, signed = cms.open_encrypted_key(item, cms.Decryptor(keys["ec"], keys["ec_cert"]))
    assert key.private_numbers() == returned.private_numbers() and signed.signer_cert == signer_cert
    with pytest.raises(ProtectionError, match="only envelopedData"):
        cms.open_encrypted_key(b"\x30" + item[1:], cms.Decryptor(keys["ec"], keys["ec_cert"]))


# ---------------------------------------------------------------- against openssl cms (independent)

def _files(tmp_path, keys):
    for name, obj in (("r.crt", keys["rc"]), ("e.crt", keys["ecc"])):
        (tmp_path / name).write_bytes(P.pem_cert(obj))
    (tmp_path / "r.key").write_bytes(P.pem_key(keys["rsa"]))
    (tmp_path / "e.key").write_bytes(P.pem_key(keys["ec"]))


OPENSSL_ENCRYPT = {   # openssl cms -encrypt options -> which of our Decryptors opens it
    "ktri": (["r.crt"], "rsa"),
    "ktri-oaep": (["-recip", "r.crt", "-keyopt", "rsa_padding_mode:oaep"], "rsa"),
    "ktri-keyid": (["-keyid", "r.crt"], "rsa"),
    "kari": (["e.crt"], "ec"),
    "kari-keyid": (["-keyid", "e.crt"], "ec"),
    "pwri": (["-pwri_password", "s3cret"], "pw"),   # id-alg-PWRI-KEK (RFC 3211)
}


@pytest.mark.slow
@pytest.mark.parametrize("kind", sorted(OPENSSL_ENCRYPT))
@pytest.mark.parametrize("cipher", ["-aes-128-cbc", "-aes-256-cbc"])
def test_opens_what_openssl_cms_encrypts(kind, cipher, keys, tmp_path, openssl):
    _files(tmp_path, keys)
    (tmp_path / "msg").write_bytes(b"the content, longer than one block " * 3)
    args, who = OPENSSL_ENCRYPT[kind]
    r = subprocess.run([openssl, "cms", "-encrypt", "-binary", "-in", "msg", "-outform", "DER", cipher, *args],
                       capture_output=True, cwd=tmp_path, timeout=60)
    assert r.returncode == 0, r.stderr
    d = {"rsa": cms.Decryptor(keys["rsa"], keys["rsa_cert"]), "ec": cms.Decryptor(keys["ec"], keys["ec_cert"]),
         "pw": cms.Decryptor(password=b"s3cret")}[who]
    assert cms.open_enveloped_data(r.stdout, d) == (cms.ID_DATA, (tmp_path / "msg").read_bytes())
    if who == "pw":
        with pytest.raises(ProtectionError):
            cms.open_enveloped_data(r.stdout, cms.Decryptor(password=b"wrong"))


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["ktri", "ktri-oaep", "kari", "pwri-kek"])
def test_openssl_cms_opens_what_we_encrypt(kind, keys, tmp_path, openssl):
    _files(tmp_path, keys)
    recipient, _ = _recipients(keys)[kind]
    env = cms.enveloped_data_der(b"our content", recipient, cms.ID_DATA)
    (tmp_path / "env.der").write_bytes(der.sequence(der.oid(cms.ID_ENVELOPED_DATA), der.tlv(0xA0, env)))
    args = {"ktri": ["-recip", "r.crt", "-inkey", "r.key"], "ktri-oaep": ["-recip", "r.crt", "-inkey", "r.key"],
            "kari": ["-recip", "e.crt", "-inkey", "e.key"], "pwri-kek": ["-pwri_password", "secret"]}[kind]
    r = subprocess.run([openssl, "cms", "-decrypt", "-inform", "DER", "-in", "env.der", *args],
                       capture_output=True, cwd=tmp_path, timeout=60)
    assert r.returncode == 0 and r.stdout == b"our content", r.stderr


@pytest.mark.slow
def test_openssl_cms_verifies_our_signed_data(tmp_path, openssl):
    signer_key = P.rsa_key()
    signer = P.make_cert(signer_key, "kga")
    (tmp_path / "kga.crt").write_bytes(P.pem_cert(signer))
    package = cms.key_package_der(P.ec_key())
    sd = cms.signed_data_der(package, SoftwareKey(signer_key), signer.public_bytes(DER))
    (tmp_path / "sd.der").write_bytes(der.sequence(der.oid(cms.ID_SIGNED_DATA), der.tlv(0xA0, sd)))
    r = subprocess.run([openssl, "cms", "-verify", "-inform", "DER", "-in", "sd.der", "-CAfile", "kga.crt",
                        "-binary", "-purpose", "any"], capture_output=True, cwd=tmp_path, timeout=60)
    assert r.returncode == 0 and r.stdout == package, r.stderr


@pytest.mark.slow
def test_reads_signed_data_openssl_cms_signs(tmp_path, openssl):
    signer_key = P.ec_key()
    signer = P.make_cert(signer_key, "kga")
    (tmp_path / "kga.crt").write_bytes(P.pem_cert(signer))
    (tmp_path / "kga.key").write_bytes(P.pem_key(signer_key))
    package = cms.key_package_der(P.rsa_key())
    (tmp_path / "pkg.der").write_bytes(package)
    r = subprocess.run([openssl, "cms", "-sign", "-binary", "-nodetach", "-in", "pkg.der", "-signer", "kga.crt",
                        "-inkey", "kga.key", "-outform", "DER", "-econtent_type", cms.ID_CT_KP_AKEYPACKAGE],
                       capture_output=True, cwd=tmp_path, timeout=60)
    assert r.returncode == 0, r.stderr
    opened = cms.open_signed_data(r.stdout)
    assert opened.content == package and opened.content_type == cms.ID_CT_KP_AKEYPACKAGE
    assert opened.signer_cert == signer.public_bytes(DER)


def _cert_without_ski(key):
    import datetime
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    now = datetime.datetime.now(datetime.timezone.utc)
    return (x509.CertificateBuilder().subject_name(P.name("no ski")).issuer_name(P.name("no ski"))
            .public_key(key.public_key()).serial_number(7).not_valid_before(now)
            .not_valid_after(now + datetime.timedelta(days=1)).sign(key, hashes.SHA256())).public_bytes(DER)


def test_ktri_for_a_certificate_without_ski_is_version_0():
    key = P.rsa_key()
    cert = _cert_without_ski(key)
    env = cms.enveloped_data_der(b"x", cms.Recipient(cert=cert))
    obj = _decode(env, rfc5652.EnvelopedData())
    ktri = obj["recipientInfos"][0]["ktri"]
    assert int(obj["version"]) == 0 and int(ktri["version"]) == 0   # RFC 5652 6.1, 6.2.1
    assert ktri["rid"].getName() == "issuerAndSerialNumber" and int(ktri["rid"]["issuerAndSerialNumber"]["serialNumber"]) == 7
    assert cms.open_enveloped_data(env, cms.Decryptor(key, cert))[1] == b"x"


@pytest.mark.parametrize("originator_id", ["issuerAndSerialNumber", "subjectKeyIdentifier"])
def test_kari_with_a_static_originator_key(originator_id, keys):
    """RFC 9483 4.1.6.2 lets the originator be the server's certificate (static-static ECDH): built
    here by hand from RFC 5652 6.2.2 / RFC 5753, opened with that certificate among the candidates."""
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.keywrap import aes_key_wrap
    from cryptography.hazmat.primitives.kdf.x963kdf import X963KDF
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
    import os
    srv_key = P.ec_key()
    srv_cert = P.make_cert(srv_key, "server", key_usage=dict(key_agreement=True)).public_bytes(DER)
    shared = srv_key.exchange(ec.ECDH(), keys["ec"].public_key())
    wrap_alg = der.sequence(der.oid("2.16.840.1.101.3.4.1.45"))   # id-aes256-wrap
    shared_info = der.sequence(wrap_alg, der.tlv(0xA2, der.tlv(0x04, (256).to_bytes(4, "big"))))
    kek = X963KDF(hashes.SHA384(), 32, shared_info).derive(shared)
    cek, iv = os.urandom(32), os.urandom(16)
    if originator_id == "subjectKeyIdentifier":
        from cmpkit.core.protection import subject_key_id
        originator = der.tlv(0x80, subject_key_id(srv_cert))
    else:
        originator = cms.issuer_and_serial(srv_cert)
    rid = cms.issuer_and_serial(keys["ec_cert"])
    kari = der.tlv(0xA1, der.integer(3) + der.tlv(0xA0, originator)
                   + der.sequence(der.oid("1.3.132.1.11.2"), wrap_alg)   # dhSinglePass-stdDH-sha384kdf-scheme
                   + der.sequence(der.sequence(rid, der.tlv(0x04, aes_key_wrap(kek, cek)))))
    content = b"sixteen octets!!"
    enc = Cipher(algorithms.AES(cek), modes.CBC(iv)).encryptor()
    ct = enc.update(content + b"\x10" * 16) + enc.finalize()
    env = der.sequence(der.integer(2), der.tlv(0x31, kari),
                       der.sequence(der.oid(cms.ID_DATA), der.sequence(der.oid("2.16.840.1.101.3.4.1.42"),
                                                                       der.tlv(0x04, iv)), der.tlv(0x80, ct)))
    obj = _decode(env, rfc5652.EnvelopedData())   # the hand-made structure is valid RFC 5652
    assert obj["recipientInfos"][0]["kari"]["originator"].getName() == originator_id
    d = cms.Decryptor(keys["ec"], keys["ec_cert"], originator_certs=(keys["rsa_cert"], srv_cert))
    assert cms.open_enveloped_data(env, d) == (cms.ID_DATA, content)
    with pytest.raises(ProtectionError, match="originator certificate not found"):
        cms.open_enveloped_data(env, cms.Decryptor(keys["ec"], keys["ec_cert"]))


def _mutations(data: bytes, rng, n: int):
    for _ in range(n):
        b = bytearray(data)
        op = rng.randrange(4)
        i = rng.randrange(len(b))
        if op == 0:
            b[i] ^= 1 << rng.randrange(8)
        elif op == 1:
            b[i] = rng.randrange(256)
        elif op == 2:
            del b[i:i + rng.randrange(1, 8)]
        else:
            b = b[:i]
        yield bytes(b)


@pytest.mark.parametrize("kind", ["ktri", "kari", "pwri", "pwri-kek", "signed"])
def test_mutated_input_gives_only_cmpkit_errors(kind, keys):
    """Hostile or damaged input: each mutation opens, or fails with DecodeError/ProtectionError
    (never an IndexError, a ValueError of a library, ...)."""
    import random
    rng = random.Random(f"cms-{kind}")
    signer_key = P.ec_key()
    signer_cert = P.make_cert(signer_key, "kga").public_bytes(DER)
    if kind == "signed":
        data = cms.signed_data_der(cms.key_package_der(P.ec_key()), SoftwareKey(signer_key), signer_cert)
        opener = cms.open_signed_data
    else:
        recipient, decryptor = _recipients(keys)[kind]
        if kind.startswith("pwri"):
            recipient.iterations = decryptor_iterations = 1   # fast enough for many runs
            assert decryptor_iterations == 1
        data = cms.encrypted_key_der(P.ec_key(), recipient, SoftwareKey(signer_key), signer_cert)

        def opener(item):
            return cms.open_encrypted_key(item, decryptor)
    opener(data)   # the unmutated input opens
    for bad in _mutations(data, rng, 300):
        try:
            opener(bad)
        except (DecodeError, ProtectionError):
            pass


@pytest.mark.parametrize("kind", ["rsa", "ec", "ed25519"])
def test_reads_a_bare_private_key_as_openssl_3_5_signs_it(kind):
    """OpenSSL 3.5's server signs i2d_PrivateKey() output (PKCS#1 RSAPrivateKey, SEC1
    ECPrivateKey, or PKCS#8 for the others) with eContentType id-data, and its client reads any of
    these: cmpkit's client accepts them beside RFC 9483's AsymmetricKeyPackage."""
    key = {"rsa": P.rsa_key, "ec": P.ec_key, "ed25519": ed25519.Ed25519PrivateKey.generate}[kind]()
    fmt = serialization.PrivateFormat.PKCS8 if kind == "ed25519" else serialization.PrivateFormat.TraditionalOpenSSL
    bare = key.private_bytes(DER, fmt, serialization.NoEncryption())
    assert bare[0] == 0x30 and der.children(bare)[0][0] == 0x02   # SEQUENCE { INTEGER version, ...}
    spki = (DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    assert cms.read_key_package(bare).public_key().public_bytes(*spki) == key.public_key().public_bytes(*spki)
    signer_key = P.ec_key()
    signer_cert = P.make_cert(signer_key, "kga").public_bytes(DER)
    sd = cms.signed_data_der(bare, SoftwareKey(signer_key), signer_cert, content_type=cms.ID_DATA)
    env = cms.enveloped_data_der(sd, cms.Recipient(password=b"pw", iterations=1))
    got, signed = cms.open_encrypted_key(b"\xA0" + env[1:], cms.Decryptor(password=b"pw"))
    assert got.public_key().public_bytes(*spki) == key.public_key().public_bytes(*spki)
    assert signed.content_type == cms.ID_DATA
    with pytest.raises(DecodeError, match="holds 2 keys"):
        cms.read_key_package(der.sequence(bare, bare))   # an AsymmetricKeyPackage of two keys
