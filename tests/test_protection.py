"""Protection: PBM/PBMAC1 MACs, signatures and certHash, checked against OpenSSL and recorded vectors.

Known answers come from three independent sources: the Python standard library (hashlib/hmac
as a second implementation of PBM and PBKDF2), the system ``openssl`` (its mock CMP server
writes and checks protected messages; ``openssl pkeyutl``/``dgst`` check raw signatures) and
the LightweightCmpRa recordings in tests/data/vectors (made with BouncyCastle).
"""
import datetime
import hashlib
import hmac as std_hmac
import pathlib
import subprocess

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, padding, rsa
from cryptography.x509.oid import NameOID


from cmpkit.core import algs, der, protection
from cmpkit.core.keys import SoftwareKey
from cmpkit.errors import ConfigError, DecodeError, ProtectionError

from . import asn1_schema as schema

VECTORS = pathlib.Path(__file__).resolve().parent / "data" / "vectors" / "lightweightcmpra"

NOW = datetime.datetime.now(datetime.timezone.utc)
DATA = b"SEQUENCE { header, body } stands in here" * 3


# ---------------------------------------------------------------- helpers


def split_message(msg_der: bytes):
    """(protectionAlg DER, ProtectedPart DER, protection octets, extraCerts DER list) by TLV walking."""
    items = der.children(msg_der)
    header, body = items[0], items[1]
    alg = next(der.content(c) for c in der.children(header) if c[0] == 0xA1)
    bits = next(der.content(der.content(c)) for c in items[2:] if c[0] == 0xA0)
    assert bits[0] == 0  # no unused bits
    extra = next((der.children(der.content(c)) for c in items[2:] if c[0] == 0xA1), [])
    return alg, protection.protected_part(header, body), bits[1:], extra


def reprotect(msg_der: bytes, alg: bytes, protect) -> bytes:
    """The message with protectionAlg replaced by ``alg`` and protection = protect(ProtectedPart)."""
    items = der.children(msg_der)
    header = der.sequence(*[der.tlv(0xA1, alg) if c[0] == 0xA1 else c for c in der.children(items[0])])
    prot = protect(protection.protected_part(header, items[1]))
    rest = [c for c in items[2:] if c[0] != 0xA0]
    return der.sequence(header, items[1], der.tlv(0xA0, der.tlv(0x03, b"\0" + prot)), *rest)


def name(cn):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def make_cert(key, cn, issuer_key, issuer_cn, digest=hashes.SHA256(), rsa_padding=None):
    b = (x509.CertificateBuilder().subject_name(name(cn)).issuer_name(name(issuer_cn))
         .public_key(key.public_key()).serial_number(x509.random_serial_number())
         .not_valid_before(NOW - datetime.timedelta(hours=1))
         .not_valid_after(NOW + datetime.timedelta(days=1))
         .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
         .add_extension(x509.BasicConstraints(ca=key is issuer_key, path_length=None), True))
    if isinstance(issuer_key, (ed25519.Ed25519PrivateKey, ed448.Ed448PrivateKey)):
        digest = None
    if rsa_padding is not None:
        return b.sign(issuer_key, digest, rsa_padding=rsa_padding)
    return b.sign(issuer_key, digest)


def cert_der(cert) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


@pytest.fixture(scope="module")
def keys():
    return {"rsa": rsa.generate_private_key(public_exponent=65537, key_size=2048),
            "ec": ec.generate_private_key(ec.SECP256R1()),
            "ec384": ec.generate_private_key(ec.SECP384R1()),
            "ed25519": ed25519.Ed25519PrivateKey.generate(),
            "ed448": ed448.Ed448PrivateKey.generate()}


def pbm_alg_der(salt=b"0123456789abcdef", owf_oid=algs.HASH_OIDS["sha256"], iterations=500,
                mac_oid=algs.HMAC_ALGS["hmac-sha1"][0]):
    """A PBM AlgorithmIdentifier built field by field (bypassing pbm_algorithm's own checks)."""
    p = schema.PBMParameter()
    p["salt"] = salt
    schema.fill_algorithm_identifier(p["owf"], owf_oid)
    p["iterationCount"] = iterations
    schema.fill_algorithm_identifier(p["mac"], mac_oid)
    return algs.encode_algorithm_identifier(algs.PBM_OID, schema.encode(p))


def with_pbkdf2(alg_der, **changes):
    """A PBMAC1 AlgorithmIdentifier with some PBKDF2-params fields changed."""
    oid, params = algs.decode_algorithm_identifier(alg_der)
    p = schema.decode(params, schema.PBMAC1Params())
    _kdf_oid, kdf_params = schema.split_algorithm_identifier(p["keyDerivationFunc"])
    kdf = schema.decode(kdf_params, schema.PBKDF2Params())
    for field, value in changes.items():
        kdf[field] = value
    from pyasn1.type import univ
    p["keyDerivationFunc"]["parameters"] = univ.Any(schema.encode(kdf))
    return algs.encode_algorithm_identifier(oid, schema.encode(p))


def reference_pbm(secret, salt, owf, iterations, mac_hash, data):
    """RFC 4210 5.1.3.1 with the standard library: the independent second implementation."""
    key = hashlib.new(owf, secret + salt).digest()
    for _ in range(iterations - 1):
        key = hashlib.new(owf, key).digest()
    return std_hmac.new(key, data, mac_hash).digest()


# ================================================================ algs: names and codecs


@pytest.mark.parametrize("value,expected", [
    ("sha256", "sha256"), ("sha1", "sha1"), ("sha3-256", "sha3-256"), ("sha512-256", "sha512-256"),
    ("SHA256", "sha256"), ("SHA-256", "sha256"), ("sha3_256", "sha3-256"), ("SHA3-512", "sha3-512"),
    ("md5", "md5"), ("sm3", "sm3")])
def test_digest_names(value, expected):
    assert algs.digest_name(value) == expected


@pytest.mark.parametrize("value,expected", [
    ("hmac-sha1", "hmac-sha1"), ("hmacWithSHA1", "hmacWithSHA1"), ("hmacWithSHA256", "hmacWithSHA256"),
    ("hmacWithSHA512-256", "hmacWithSHA512-256"), ("hmac-md5", "hmac-md5"), ("HMAC-SHA1", "hmac-sha1"),
    ("hmacwithsha384", "hmacWithSHA384"), ("HMAC-SHA256", "hmacWithSHA256"), ("hmac-sha3-256", "hmac-sha3-256")])
def test_mac_names(value, expected):
    assert algs.mac_name(value) == expected


def test_hmac_sha1_is_the_rfc4210_oid():
    assert algs.HMAC_ALGS["hmac-sha1"] == ("1.3.6.1.5.5.8.1.2", "sha1")
    assert algs.HMAC_ALGS["hmacWithSHA1"] == ("1.2.840.113549.2.7", "sha1")


@pytest.mark.parametrize("bad", ["sha257", "rsaEncryption", "", "hmac", "2.16.840.1.101.3.4.2.1"])
def test_unknown_names_are_config_errors(bad):
    with pytest.raises(ConfigError, match="digest algorithm name not recognized.*-digest"):
        algs.digest_name(bad)
    with pytest.raises(ConfigError, match="MAC algorithm name not recognized.*-mac"):
        algs.mac_name(bad)


def test_algorithm_identifier_round_trip():
    for oid, params in [("1.2.840.10045.4.3.2", None), ("1.2.840.113549.1.1.11", algs.NULL_DER),
                        (algs.PBM_OID, der.sequence(der.tlv(0x04, b"salt")))]:
        enc = algs.encode_algorithm_identifier(oid, params)
        assert algs.decode_algorithm_identifier(enc) == (oid, params)
    assert algs.encode_algorithm_identifier("1.2.840.10045.4.3.2").hex() == "300a06082a8648ce3d040302"
    # written as DER directly: the same bytes as the pyasn1 schema's encoding
    from pyasn1.type import univ
    for oid, params in [("1.2.840.113549.1.1.10", der.sequence(der.tlv(0xA0, der.sequence(der.oid("2.16.840.1.101.3.4.2.1"))))),
                        ("1.3.101.112", None), (algs.PBM_OID, der.sequence(der.tlv(0x04, b"s" * 16)))]:
        alg = schema.fill_algorithm_identifier(schema.AlgorithmIdentifier(), oid, params)
        assert algs.encode_algorithm_identifier(oid, params) == schema.encode(alg)


@pytest.mark.parametrize("garbage", [b"", b"\x30", b"\x30\x00", b"\x04\x01x",
                                     bytes.fromhex("300a06082a8648ce3d04030200")])
def test_malformed_algorithm_identifier(garbage):
    with pytest.raises(DecodeError, match="AlgorithmIdentifier"):
        algs.decode_algorithm_identifier(garbage)


# ================================================================ protected part


def test_protected_part_is_sequence_of_header_and_body():
    header, body = der.sequence(der.tlv(0x02, b"\x02")), der.tlv(0xB3, b"\x05\x00")
    assert protection.protected_part(header, body) == b"\x30" + bytes([len(header + body)]) + header + body
    with pytest.raises(DecodeError):
        protection.protected_part(header + b"\x00", body)


# ================================================================ PBM


def test_pbm_algorithm_has_openssl_defaults():
    alg = protection.pbm_algorithm()
    oid, params = algs.decode_algorithm_identifier(alg)
    assert oid == "1.2.840.113533.7.66.13"
    p = schema.decode(params, schema.PBMParameter())
    assert len(p["salt"]) == 16
    assert schema.split_algorithm_identifier(p["owf"]) == (algs.HASH_OIDS["sha256"], None)
    assert int(p["iterationCount"]) == 500
    assert schema.split_algorithm_identifier(p["mac"]) == ("1.3.6.1.5.5.8.1.2", None)
    assert protection.pbm_algorithm() != alg  # fresh random salt


@pytest.mark.parametrize("owf,mac", [("sha256", "hmac-sha1"), ("sha512", "hmacWithSHA256"),
                                     ("sha1", "hmacWithSHA512"), ("sha384", "hmac-md5")])
def test_pbm_matches_stdlib_reference(owf, mac):
    salt = bytes(range(16))
    alg = protection.pbm_algorithm(owf=owf, iterations=123, mac=mac, salt=salt)
    mac_hash = algs.HMAC_ALGS[mac][1]
    expected = reference_pbm(b"secret", salt, owf, 123, mac_hash, DATA)
    assert protection.mac_protect(alg, b"secret", DATA) == expected
    protection.verify_mac(alg, b"secret", DATA, expected)


def test_verify_mac_failures():
    alg = protection.pbm_algorithm()
    good = protection.mac_protect(alg, b"secret", DATA)
    for secret, data, prot in [(b"Secret", DATA, good), (b"secret", DATA + b"!", good),
                               (b"secret", DATA, good[:-1]), (b"secret", DATA, b"")]:
        with pytest.raises(ProtectionError, match="MAC check failed"):
            protection.verify_mac(alg, secret, data, prot)


@pytest.mark.parametrize("iterations", [99, (1 << 19) + 1, 10**12, 0, -1])
def test_pbm_iteration_bounds_on_received_parameters(iterations):
    with pytest.raises(ProtectionError, match="iteration count"):
        protection.mac_protect(pbm_alg_der(iterations=iterations), b"secret", DATA)


def test_pbm_bounds_at_the_limits_are_accepted():
    assert protection.MAX_ITERATIONS == 1 << 19  # admits the 262144 other implementations send
    protection.mac_protect(pbm_alg_der(iterations=100), b"s", DATA)


@pytest.mark.parametrize("kwargs", [dict(iterations=99), dict(iterations=(1 << 19) + 1), dict(owf="nosuch"),
                                    dict(mac="sha256"), dict(owf="shake256"), dict(salt=b"")])
def test_pbm_algorithm_rejects_bad_settings(kwargs):
    with pytest.raises(ConfigError):
        protection.pbm_algorithm(**kwargs)


@pytest.mark.parametrize("alg,match", [
    (pbm_alg_der(owf_oid="1.2.3.4"), "unsupported PBM one-way function"),
    (pbm_alg_der(mac_oid=algs.HASH_OIDS["sha256"]), "unsupported PBM MAC algorithm"),
    (algs.encode_algorithm_identifier(algs.PBM_OID), "missing PBM parameters"),
    (algs.encode_algorithm_identifier(algs.PBM_OID, der.sequence()), "malformed PBM parameters"),
    (algs.encode_algorithm_identifier("1.2.840.113549.1.1.11", algs.NULL_DER), "unsupported MAC protection"),
    (b"\x30\x03\x06\x01", "invalid protection algorithm"),
])
def test_unsupported_or_malformed_mac_algorithms(alg, match):
    with pytest.raises(ProtectionError, match=match):
        protection.verify_mac(alg, b"secret", DATA, b"x" * 20)


def test_is_mac_algorithm():
    assert protection.is_mac_algorithm(protection.pbm_algorithm())
    assert protection.is_mac_algorithm(protection.pbmac1_algorithm(iterations=1000))
    assert not protection.is_mac_algorithm(algs.encode_algorithm_identifier("1.2.840.10045.4.3.2"))
    assert not protection.is_mac_algorithm(b"garbage")


# ================================================================ PBMAC1


def test_pbmac1_defaults_and_stdlib_reference():
    salt = b"fixed-salt-16-by"
    alg = protection.pbmac1_algorithm(salt=salt, iterations=1000)
    oid, params = algs.decode_algorithm_identifier(alg)
    assert oid == "1.2.840.113549.1.5.14"
    p = schema.decode(params, schema.PBMAC1Params())
    kdf_oid, kdf_params = schema.split_algorithm_identifier(p["keyDerivationFunc"])
    assert kdf_oid == "1.2.840.113549.1.5.12"
    kdf = schema.decode(kdf_params, schema.PBKDF2Params())
    assert int(kdf["keyLength"]) == 32 and int(kdf["iterationCount"]) == 1000
    assert schema.split_algorithm_identifier(kdf["prf"]) == ("1.2.840.113549.2.9", algs.NULL_DER)
    assert schema.split_algorithm_identifier(p["messageAuthScheme"]) == ("1.2.840.113549.2.9", algs.NULL_DER)
    key = hashlib.pbkdf2_hmac("sha256", b"secret", salt, 1000, 32)
    expected = std_hmac.new(key, DATA, "sha256").digest()
    assert protection.mac_protect(alg, b"secret", DATA) == expected
    protection.verify_mac(alg, b"secret", DATA, expected)
    with pytest.raises(ProtectionError, match="MAC check failed"):
        protection.verify_mac(alg, b"Secret", DATA, expected)


def test_pbmac1_other_prf_and_mac():
    alg = protection.pbmac1_algorithm(prf="hmacWithSHA512", mac="hmacWithSHA384", iterations=50,
                                      salt=b"s" * 8, key_length=20)
    key = hashlib.pbkdf2_hmac("sha512", b"pw", b"s" * 8, 50, 20)
    assert protection.mac_protect(alg, b"pw", DATA) == std_hmac.new(key, DATA, "sha384").digest()


def test_pbmac1_without_optional_fields_uses_defaults():
    # no keyLength: the MAC's hash length; no prf: hmacWithSHA1 (RFC 8018 DEFAULT)
    s = schema
    kdf = s.PBKDF2Params()
    kdf["salt"]["specified"] = b"saltsalt"
    kdf["iterationCount"] = 10
    p = s.PBMAC1Params()
    schema.fill_algorithm_identifier(p["keyDerivationFunc"], algs.PBKDF2_OID, schema.encode(kdf))
    schema.fill_algorithm_identifier(p["messageAuthScheme"], algs.HMAC_ALGS["hmacWithSHA256"][0])
    alg = algs.encode_algorithm_identifier(algs.PBMAC1_OID, schema.encode(p))
    key = hashlib.pbkdf2_hmac("sha1", b"pw", b"saltsalt", 10, 32)
    assert protection.mac_protect(alg, b"pw", DATA) == std_hmac.new(key, DATA, "sha256").digest()


@pytest.mark.parametrize("changes,match", [
    (dict(iterationCount=(1 << 19) + 1), "iteration count"),
    (dict(iterationCount=10**15), "iteration count"),
    (dict(iterationCount=0), "iteration count"),
    (dict(keyLength=2**31), "key length"),
    (dict(iterationCount=1 << 19, keyLength=65), "key length"),  # 3 blocks of SHA-256 x 2**19
    (dict(keyLength=0), "key length"),
])
def test_pbmac1_bounds(changes, match):
    alg = with_pbkdf2(protection.pbmac1_algorithm(iterations=1), **changes)
    with pytest.raises(ProtectionError, match=match):
        protection.mac_protect(alg, b"secret", DATA)


def test_pbmac1_algorithm_rejects_bad_settings():
    for kwargs in (dict(iterations=0), dict(iterations=(1 << 19) + 1), dict(prf="sha256"),
                   dict(key_length=0), dict(iterations=1 << 19, key_length=4096)):
        with pytest.raises(ConfigError):
            protection.pbmac1_algorithm(**kwargs)


# ================================================================ signatures

SIG_CASES = [("rsa", "sha256", False), ("rsa", "sha384", False), ("rsa", "sha3-256", False),
             ("rsa", "sha256", True), ("rsa", "sha512", True), ("ec", "sha256", False),
             ("ec", "sha512", False), ("ec384", "sha384", False), ("ed25519", None, False),
             ("ed448", None, False)]


@pytest.mark.parametrize("kind,digest,pss", SIG_CASES)
def test_signature_round_trip(keys, kind, digest, pss):
    signer = SoftwareKey(keys[kind])
    alg = protection.signature_algorithm(signer.public_key(), digest, pss=pss)
    sig = protection.sign(signer, alg, DATA)
    protection.verify_signature(signer.public_key(), alg, DATA, sig)
    with pytest.raises(ProtectionError, match="signature check failed"):
        protection.verify_signature(signer.public_key(), alg, DATA + b"x", sig)
    with pytest.raises(ProtectionError, match="signature check failed"):
        protection.verify_signature(signer.public_key(), alg, DATA, sig[:-1] + bytes([sig[-1] ^ 1]))


@pytest.mark.parametrize("kind,digest,pss,expected", [
    ("rsa", "sha256", False, "300d06092a864886f70d01010b0500"),
    ("ec", "sha256", False, "300a06082a8648ce3d040302"),
    ("ec", "SHA384", False, "300a06082a8648ce3d040303"),
    ("ed25519", "sha256", False, "300506032b6570"),  # digest ignored
    ("ed448", None, False, "300506032b6571"),
    # RSASSA-PSS with full parameters, byte for byte as `openssl req -sigopt rsa_padding_mode:pss` writes
    ("rsa", "sha256", True, "304106092a864886f70d01010a3034a00f300d06096086480165030402010500a11c301a"
                            "06092a864886f70d010108300d06096086480165030402010500a203020120"),
    ("rsa", "sha1", True, "300d06092a864886f70d01010a3000"),  # all DEFAULTs: empty params
])
def test_signature_algorithm_encodings(keys, kind, digest, pss, expected):
    assert protection.signature_algorithm(keys[kind].public_key(), digest, pss=pss).hex() == expected


def test_signature_algorithm_errors(keys):
    with pytest.raises(ProtectionError, match="not supported for EC"):
        protection.signature_algorithm(keys["ec"].public_key(), "md5")
    with pytest.raises(ConfigError, match="-digest"):
        protection.signature_algorithm(keys["rsa"].public_key(), "nosuch")
    from cryptography.hazmat.primitives.asymmetric import x25519
    with pytest.raises(ProtectionError, match="unsupported key type"):
        protection.signature_algorithm(x25519.X25519PrivateKey.generate().public_key())


def test_signature_key_mismatch(keys):
    rsa_alg = protection.signature_algorithm(keys["rsa"].public_key())
    ec_alg = protection.signature_algorithm(keys["ec"].public_key())
    sig = protection.sign(SoftwareKey(keys["ec"]), ec_alg, DATA)
    with pytest.raises(ProtectionError, match="for RSA keys but the signer key is EC"):
        protection.verify_signature(keys["ec"].public_key(), rsa_alg, DATA, sig)
    with pytest.raises(ProtectionError, match="signature check failed"):
        protection.verify_signature(keys["ec384"].public_key(), ec_alg, DATA, sig)
    with pytest.raises(ProtectionError, match="for RSA keys does not fit the EC signing key"):
        protection.sign(SoftwareKey(keys["ec"]), rsa_alg, DATA)
    with pytest.raises(ProtectionError, match="signature check failed"):
        protection.verify_signature(keys["ed25519"].public_key(),
                                    protection.signature_algorithm(keys["ed25519"].public_key()), DATA, b"short")


def test_pss_with_other_parameters(keys):
    """Verification honours any PSS salt length and MGF1 hash; signing refuses what a Signer cannot do."""
    key = keys["rsa"]
    alg = algs.encode_algorithm_identifier(algs.RSASSA_PSS_OID, protection._pss_params_der("sha256", "sha1", 0))
    sig = key.sign(DATA, padding.PSS(mgf=padding.MGF1(hashes.SHA1()), salt_length=0), hashes.SHA256())
    protection.verify_signature(key.public_key(), alg, DATA, sig)
    with pytest.raises(ProtectionError, match="unsupported RSASSA-PSS parameters for signing"):
        protection.sign(SoftwareKey(key), alg, DATA)


@pytest.mark.parametrize("alg,match", [
    (algs.encode_algorithm_identifier("1.2.840.10045.4.3.2", der.sequence()), "unexpected parameters"),
    (algs.encode_algorithm_identifier(algs.ED25519_OID, algs.NULL_DER), "unexpected parameters"),
    (algs.encode_algorithm_identifier("1.2.3.4"), "unsupported signature algorithm: 1.2.3.4"),
    (algs.encode_algorithm_identifier(algs.RSASSA_PSS_OID), "missing RSASSA-PSS parameters"),
    (algs.encode_algorithm_identifier(algs.RSASSA_PSS_OID, bytes.fromhex("3005a303020102")), "trailerField"),
    (algs.encode_algorithm_identifier(algs.RSASSA_PSS_OID, bytes.fromhex("3000ff")), "malformed"),
    (b"\x30\x80", "invalid protection algorithm"),
])
def test_bad_signature_algorithms(keys, alg, match):
    with pytest.raises(ProtectionError, match=match):
        protection.verify_signature(keys["ec"].public_key(), alg, DATA, b"sig")


def test_rsa_absent_null_parameters_accepted(keys):
    """OpenSSL 3.0's CMP writes sha256WithRSAEncryption without parameters; both forms verify."""
    key = keys["rsa"]
    sig = key.sign(DATA, padding.PKCS1v15(), hashes.SHA256())
    for params in (None, algs.NULL_DER):
        protection.verify_signature(key.public_key(), algs.encode_algorithm_identifier(
            "1.2.840.113549.1.1.11", params), DATA, sig)


# ================================================================ certHash


@pytest.mark.parametrize("issuer,digest,pss,expected", [
    ("rsa", hashes.SHA256(), False, "sha256"), ("rsa", hashes.SHA512(), False, "sha512"),
    ("rsa", hashes.SHA384(), True, "sha384"), ("ec384", hashes.SHA384(), False, "sha384"),
    ("ed25519", None, False, "sha512"), ("ed448", None, False, "shake256")])
def test_cert_hash(keys, issuer, digest, pss, expected):
    pad = padding.PSS(mgf=padding.MGF1(digest), salt_length=padding.PSS.DIGEST_LENGTH) if pss else None
    cert = cert_der(make_cert(keys["ec"], "leaf", keys[issuer], "CA", digest, pad))
    assert protection.digest_for_cert_hash(cert) == expected
    h = hashlib.shake_256(cert).digest(32) if expected == "shake256" else hashlib.new(expected, cert).digest()
    assert protection.cert_hash(cert) == h
    assert protection.cert_hash(cert, "sha1") == hashlib.sha1(cert).digest()


def test_cert_hash_errors():
    with pytest.raises(DecodeError, match="malformed certificate"):
        protection.cert_hash(b"\x30\x00")
    fake = der.sequence(der.sequence(), algs.encode_algorithm_identifier("1.2.3.4"), der.tlv(0x03, b"\0"))
    with pytest.raises(ProtectionError, match="unsupported certificate signature algorithm 1.2.3.4"):
        protection.cert_hash(fake)


# ================================================================ recorded LightweightCmpRa vectors


MAC_VECTORS = {"IrWithMacProtection/downstream_INIT_REQ", "IrWithMacProtection/downstream_CERT_CONFIRM"}


def signed_vectors():
    paths = sorted(VECTORS.glob("*/*.PKI")) if VECTORS.is_dir() else []
    return [p for p in paths if f"{p.parent.name}/{p.stem}" not in MAC_VECTORS]


@pytest.mark.parametrize("path", signed_vectors(), ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_vector_signatures_verify_with_first_extra_cert(path):
    alg, pp, prot, extra = split_message(path.read_bytes())
    assert not protection.is_mac_algorithm(alg)
    public_key = x509.load_der_x509_certificate(extra[0]).public_key()
    protection.verify_signature(public_key, alg, pp, prot)
    with pytest.raises(ProtectionError):
        protection.verify_signature(public_key, alg, pp + b"\x00", prot)


# The PBMAC1-protected vectors were written by LightweightCmpRa's 2022 PBMAC1Protection, which
# passed PBKDF2-params.keyLength (4096) to Java's PBEKeySpec, whose unit is bits: the key is
# really 512 octets, while RFC 8018 counts octets (cmp-ra-component fixed this later). The
# shared secret is not documented with the recordings; it is "Password" (the password of the
# project's test key stores), found by trying the project's test passwords.
VECTOR_SECRET = b"Password"


@pytest.mark.parametrize("stem", ["downstream_INIT_REQ", "downstream_CERT_CONFIRM"])
def test_vector_pbmac1(stem):
    alg, pp, prot, _extra = split_message((VECTORS / "IrWithMacProtection" / f"{stem}.PKI").read_bytes())
    assert protection.is_mac_algorithm(alg)
    # as recorded, 4096 octets x 10000 iterations exceeds what we agree to compute
    with pytest.raises(ProtectionError, match="key length 4096"):
        protection.verify_mac(alg, VECTOR_SECRET, pp, prot)
    fixed = with_pbkdf2(alg, keyLength=512)
    protection.verify_mac(fixed, VECTOR_SECRET, pp, prot)
    with pytest.raises(ProtectionError, match="MAC check failed"):
        protection.verify_mac(fixed, b"myPresharedSecret", pp, prot)


@pytest.mark.parametrize("flow,rep,conf", [
    ("IrWithMacProtection", "downstream_INIT_REP", "downstream_CERT_CONFIRM"),
    ("CrWithSignatureProtection", "upstream_CERT_REP", "upstream_CERT_CONFIRM"),
    ("Kur", "downstream_KEY_UPDATE_REP", "downstream_CERT_CONFIRM")])
def test_vector_cert_hash(flow, rep, conf):
    def body(stem):
        return der.content(der.children((VECTORS / flow / f"{stem}.PKI").read_bytes())[1])
    response = der.children(der.children(body(rep))[-1])[0]          # first CertResponse
    cert = der.content(der.children(der.children(response)[2])[0])    # certifiedKeyPair.certificate
    cert_status = der.children(body(conf))[0]
    assert protection.cert_hash(cert) == der.content(der.children(cert_status)[0])


# ================================================================ interop with the system openssl


def pem(obj) -> bytes:
    if isinstance(obj, x509.Certificate):
        return obj.public_bytes(serialization.Encoding.PEM)
    if hasattr(obj, "private_bytes"):
        return obj.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption())
    return obj.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


@pytest.fixture(scope="module")
def kit(keys, tmp_path_factory):
    """Files for openssl: CA, mock server and client credentials, certs for the mock server to issue."""
    d = tmp_path_factory.mktemp("prot")
    root_key, new_key = keys["ec384"], keys["ec"]
    files = {"root.crt": make_cert(root_key, "Root", root_key, "Root"), "root.key": root_key,
             "new.key": new_key}
    srv_key = ec.generate_private_key(ec.SECP256R1())
    files.update({"srv.key": srv_key, "srv.crt": make_cert(srv_key, "server", root_key, "Root")})
    for kind in ("rsa", "ec"):
        client_key = keys["rsa"] if kind == "rsa" else ec.generate_private_key(ec.SECP256R1())
        files.update({f"client_{kind}.key": client_key,
                      f"client_{kind}.crt": make_cert(client_key, f"client {kind}", root_key, "Root")})
    pss = padding.PSS(mgf=padding.MGF1(hashes.SHA384()), salt_length=padding.PSS.DIGEST_LENGTH)
    for kind, issuer, digest, pad in [("rsa", "rsa", hashes.SHA256(), None), ("ec384", "ec384", hashes.SHA384(), None),
                                      ("ed25519", "ed25519", None, None), ("ed448", "ed448", None, None),
                                      ("pss", "rsa", hashes.SHA384(), pss)]:
        files[f"issued_{kind}.crt"] = make_cert(new_key, "x", keys[issuer], f"CA {issuer}", digest, pad)
    for fn, obj in files.items():
        (d / fn).write_bytes(pem(obj))
    return d


def run_cmp(openssl, cwd, *args, ok=True):
    r = subprocess.run([openssl, "cmp", "-use_mock_srv", "-newkey", "new.key", "-subject", "/CN=x",
                        "-certout", "out.pem", *args], cwd=cwd, capture_output=True, text=True, timeout=60)
    if ok:
        assert r.returncode == 0, r.stderr[-2000:]
    return r


PBM_ARGS = ("-secret", "pass:test", "-ref", "1234", "-srv_secret", "pass:test", "-srv_ref", "1234")
SIG_ARGS = ("-srvcert", "srv.crt", "-srv_cert", "srv.crt", "-srv_key", "srv.key", "-srv_trusted", "root.crt")


@pytest.mark.slow
@pytest.mark.parametrize("extra", [(), ("-digest", "sha512", "-mac", "hmacWithSHA256"),
                                   ("-digest", "sha1", "-mac", "hmac-md5")])
def test_openssl_pbm_messages_verify(openssl, kit, extra):
    run_cmp(openssl, kit, "-cmd", "ir", "-rsp_cert", "issued_rsa.crt", *PBM_ARGS, *extra,
            "-reqout", "ir.der,certConf.der", "-rspout", "ip.der,pkiConf.der")
    for fn in ("ir.der", "certConf.der", "ip.der", "pkiConf.der"):
        alg, pp, prot, _ = split_message((kit / fn).read_bytes())
        protection.verify_mac(alg, b"test", pp, prot)
        with pytest.raises(ProtectionError, match="MAC check failed"):
            protection.verify_mac(alg, b"tesT", pp, prot)
    # our encoding of the same parameters is byte-identical to openssl's
    alg = split_message((kit / "ir.der").read_bytes())[0]
    p = schema.decode(algs.decode_algorithm_identifier(alg)[1], schema.PBMParameter())
    owf = extra[1] if extra else "sha256"
    mac = extra[3] if extra else "hmac-sha1"
    assert protection.pbm_algorithm(owf=owf, mac=mac, salt=p["salt"].asOctets()) == alg


@pytest.mark.slow
def test_openssl_mock_server_accepts_our_pbm(openssl, kit):
    run_cmp(openssl, kit, "-cmd", "ir", "-rsp_cert", "issued_rsa.crt", *PBM_ARGS, "-reqout", "orig_ir.der")
    orig = (kit / "orig_ir.der").read_bytes()
    for secret, owf, mac, accepted in [(b"test", "sha512", "hmacWithSHA256", True),
                                       (b"test", "sha256", "hmac-sha1", True),
                                       (b"wrong", "sha256", "hmac-sha1", False)]:
        alg = protection.pbm_algorithm(owf=owf, iterations=1000, mac=mac)
        (kit / "our_ir.der").write_bytes(reprotect(orig, alg, lambda pp: protection.mac_protect(alg, secret, pp)))
        r = run_cmp(openssl, kit, "-cmd", "ir", "-reqin", "our_ir.der", "-rsp_cert", "issued_rsa.crt", *PBM_ARGS,
                    ok=accepted)
        assert (r.returncode == 0) == accepted, r.stderr[-2000:]
        if not accepted:
            assert "wrong pbm value" in r.stderr


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["rsa", "ec"])
def test_openssl_signed_messages_verify(openssl, kit, kind):
    run_cmp(openssl, kit, "-cmd", "cr", "-rsp_cert", "issued_rsa.crt", "-cert", f"client_{kind}.crt",
            "-key", f"client_{kind}.key", *SIG_ARGS, "-reqout", "cr.der,certConf.der", "-rspout", "cp.der,pkiConf.der")

    def public_key(fn):
        return x509.load_pem_x509_certificate((kit / fn).read_bytes()).public_key()

    client = f"client_{kind}.crt"
    for fn, signer, other in [("cr.der", client, "srv.crt"), ("certConf.der", client, "srv.crt"),
                              ("cp.der", "srv.crt", "client_ec.crt"), ("pkiConf.der", "srv.crt", "client_ec.crt")]:
        alg, pp, prot, _ = split_message((kit / fn).read_bytes())
        protection.verify_signature(public_key(signer), alg, pp, prot)
        with pytest.raises(ProtectionError):
            protection.verify_signature(public_key(other), alg, pp, prot)
        with pytest.raises(ProtectionError, match="signature check failed"):
            protection.verify_signature(public_key(signer), alg, pp[:-1] + bytes([pp[-1] ^ 1]), prot)


@pytest.mark.slow
@pytest.mark.parametrize("kind,digest,pss,accepted", [("rsa", "sha384", False, True), ("rsa", "sha256", True, True),
                                                      ("ec", "sha512", False, True), ("ec", "sha256", False, False)])
def test_openssl_mock_server_accepts_our_signatures(openssl, kit, keys, kind, digest, pss, accepted):
    args = ("-cmd", "cr", "-rsp_cert", "issued_rsa.crt", "-cert", f"client_{kind}.crt", "-key", f"client_{kind}.key",
            *SIG_ARGS)
    run_cmp(openssl, kit, *args, "-reqout", "orig_cr.der")
    key_file = f"client_{kind}.key" if accepted else "srv.key"  # the last case signs with a wrong key
    signer = SoftwareKey(serialization.load_pem_private_key((kit / key_file).read_bytes(), None))
    alg = protection.signature_algorithm(signer.public_key(), digest, pss=pss)
    (kit / "our_cr.der").write_bytes(reprotect((kit / "orig_cr.der").read_bytes(), alg,
                                               lambda pp: protection.sign(signer, alg, pp)))
    r = run_cmp(openssl, kit, *args, "-reqin", "our_cr.der", ok=False)
    assert (r.returncode == 0) == accepted, r.stderr[-2000:]


@pytest.mark.slow
@pytest.mark.parametrize("kind,length", [("rsa", 32), ("ec384", 48), ("ed25519", 64), ("ed448", 32), ("pss", 48)])
def test_cert_hash_matches_openssl_cert_conf(openssl, kit, kind, length):
    run_cmp(openssl, kit, "-cmd", "ir", "-rsp_cert", f"issued_{kind}.crt", *PBM_ARGS,
            "-reqout", "ir.der,certConf.der")
    body = der.content(der.children((kit / "certConf.der").read_bytes())[1])
    cert_hash = der.content(der.children(der.children(body)[0])[0])
    cert = cert_der(x509.load_pem_x509_certificate((kit / f"issued_{kind}.crt").read_bytes()))
    assert len(cert_hash) == length
    assert protection.cert_hash(cert) == cert_hash


@pytest.mark.slow
@pytest.mark.parametrize("kind,digest,pss", [("ed25519", None, False), ("ed448", None, False), ("rsa", "sha256", True),
                                             ("rsa", "sha512", False), ("ec384", "sha384", False)])
def test_our_raw_signatures_verify_with_openssl(openssl, keys, tmp_path, kind, digest, pss):
    signer = SoftwareKey(keys[kind])
    sig = protection.sign(signer, protection.signature_algorithm(signer.public_key(), digest, pss=pss), DATA)
    (tmp_path / "pub.pem").write_bytes(pem(signer.public_key()))
    (tmp_path / "data").write_bytes(DATA)
    (tmp_path / "sig").write_bytes(sig)
    if digest is None:
        cmd = ["pkeyutl", "-verify", "-pubin", "-inkey", "pub.pem", "-rawin", "-in", "data", "-sigfile", "sig"]
    else:
        cmd = ["dgst", f"-{digest}", "-verify", "pub.pem", "-signature", "sig"]
        if pss:
            cmd += ["-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:digest"]
        cmd.append("data")
    r = subprocess.run([openssl, *cmd], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "Verified" in r.stdout, r.stdout + r.stderr
    (tmp_path / "data").write_bytes(DATA + b"x")
    assert subprocess.run([openssl, *cmd], cwd=tmp_path, capture_output=True, timeout=60).returncode != 0


@pytest.mark.slow
@pytest.mark.parametrize("newkey,sigopts", [
    (["-newkey", "ed25519"], []), (["-newkey", "ed448"], []),
    (["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-384", "-sha384"], []),
    (["-newkey", "rsa:2048", "-sha256"], []),
    (["-newkey", "rsa:2048", "-sha256"], ["rsa_padding_mode:pss", "rsa_pss_saltlen:max"]),
    (["-newkey", "rsa:2048", "-sha512"], ["rsa_padding_mode:pss", "rsa_pss_saltlen:20"]),
])
def test_openssl_certificate_signatures_verify(openssl, tmp_path, newkey, sigopts):
    """Signatures and AlgorithmIdentifiers written by openssl (in self-signed certificates) verify."""
    opts = [a for o in sigopts for a in ("-sigopt", o)]
    subprocess.run([openssl, "req", "-x509", *newkey, *opts, "-nodes", "-keyout", "k.pem", "-subj", "/CN=t",
                    "-days", "1", "-outform", "DER", "-out", "c.der"], cwd=tmp_path, check=True,
                   capture_output=True, timeout=60)
    data = (tmp_path / "c.der").read_bytes()
    tbs, alg, bits = der.children(data)
    public_key = x509.load_der_x509_certificate(data).public_key()
    protection.verify_signature(public_key, alg, tbs, der.content(bits)[1:])
    with pytest.raises(ProtectionError, match="signature check failed"):
        protection.verify_signature(public_key, alg, tbs + b"\x00", der.content(bits)[1:])
