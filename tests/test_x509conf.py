"""Tests of cmpkit.core.x509conf: extension sections compared with `openssl req -reqexts`, -sans, -policy_oids."""
import ipaddress
import pathlib
import re
import subprocess

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID

from cmpkit.app.config_files import load_config
from cmpkit.core.x509conf import _EKU, extensions_from_section, parse_sans, policy_oids_extension
from cmpkit.errors import ConfigError

from .tools import openssl_object_oid

MOCK = pathlib.Path(__file__).resolve().parent / "data" / "openssl-3.0" / "Mock"

CNF = """
[req]
distinguished_name = dn
[dn]

[exts]
basicConstraints = critical, CA:TRUE, pathlen:0x3
keyUsage = critical, digitalSignature, keyEncipherment, Certificate Sign, cRLSign
extendedKeyUsage = serverAuth, clientAuth, codeSigning, emailProtection, timeStamping, OCSPSigning, 1.2.3.4
subjectAltName = DNS:example.com, IP:10.0.0.1, IP:::1, URI:http://x.example/p?q=1, email:a@b.example, RID:1.2.3.4, dirName:dir_sect
certificatePolicies = 1.2.3.4, @polsect, anyPolicy
nameConstraints = permitted;DNS:.example.com, permitted;IP:192.168.0.0/255.255.0.0, excluded;email:bad.example
crlDistributionPoints = URI:http://crl.example/ca.crl, URI:ldap://x.example/
authorityInfoAccess = OCSP;URI:http://ocsp.example, caIssuers;URI:http://ca.example/ca.crt
nsComment = "a comment"
subjectKeyIdentifier = 01:02:03:A4

[dir_sect]
C = DE
O = Org
1.OU = one
2.OU = two
+CN = multi

[polsect]
policyIdentifier = 1.3.6.1.4.1.5.6
CPS.1 = http://cps.example/
CPS.2 = http://cps2.example/

[sanlist]
subjectAltName = @alt
basicConstraints = CA:false
extendedKeyUsage = @ekus

[alt]
DNS.0 = localhost
DNS.1 = b.example
IP.0 = 127.0.0.1
IP.1 = 2001:db8::1
URI.0 = http://192.168.0.2

[ekus]
a = clientAuth
b = TLS Web Server Authentication

[skid]
subjectKeyIdentifier = hash
basicConstraints = CA:FALSE

[bcsect]
basicConstraints = @bc
[bc]
CA = true
pathlen = 2
"""


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    d = tmp_path_factory.mktemp("x509conf")
    key = ec.generate_private_key(ec.SECP256R1())
    (d / "key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                  serialization.NoEncryption()))
    (d / "t.cnf").write_text(CNF)
    return d, key, load_config(str(d / "t.cnf"))


def openssl_exts(openssl, d, section):
    out = d / f"{section}.der"
    r = subprocess.run([openssl, "req", "-new", "-key", str(d / "key.pem"), "-config", str(d / "t.cnf"),
                        "-reqexts", section, "-subj", "/CN=x", "-outform", "DER", "-out", str(out)],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    csr = x509.load_der_x509_csr(out.read_bytes())
    return list(csr.extensions)


@pytest.mark.parametrize("section", ["exts", "sanlist", "skid", "bcsect"])
def test_same_as_openssl_req(section, setup, openssl):
    d, key, conf = setup
    expected = openssl_exts(openssl, d, section)
    ours = extensions_from_section(conf, section, "-reqexts", public_key=key.public_key())
    assert [e.oid for e in ours] == [e.oid for e in expected]
    for mine, theirs in zip(ours, expected):
        assert mine.critical == theirs.critical, mine.oid
        assert mine.value.public_bytes() == theirs.value.public_bytes(), mine.oid


def test_values(setup):
    _d, _key, conf = setup
    exts = {e.oid: e for e in extensions_from_section(conf, "exts", "-reqexts")}
    bc = exts[x509.BasicConstraints.oid]
    assert bc.critical and bc.value.ca and bc.value.path_length == 3
    ku = exts[x509.KeyUsage.oid].value
    assert ku.digital_signature and ku.key_cert_sign and not ku.key_agreement
    san = exts[x509.SubjectAlternativeName.oid].value
    assert san.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("10.0.0.1"), ipaddress.ip_address("::1")]
    dn = san.get_values_for_type(x509.DirectoryName)[0]
    assert len(dn.rdns) == 4 and len(dn.rdns[3]) == 2
    # no public key: subjectKeyIdentifier=hash is left out
    assert [e.oid for e in extensions_from_section(conf, "skid", "-reqexts")] == [x509.BasicConstraints.oid]


def test_mock_test_cnf(openssl):
    conf = load_config(str(MOCK / "test.cnf"))
    exts = extensions_from_section(conf, "reqexts", "-reqexts")
    assert [e.oid for e in exts] == [x509.BasicConstraints.oid, x509.KeyUsage.oid, x509.ExtendedKeyUsage.oid,
                                     x509.SubjectAlternativeName.oid]
    assert [e.critical for e in exts] == [False, True, True, False]
    assert list(exts[2].value) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    assert list(exts[3].value) == [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                                   x509.IPAddress(ipaddress.ip_address("192.168.1.1")),
                                   x509.UniformResourceIdentifier("http://192.168.0.2")]
    (pol,) = extensions_from_section(conf, "certificatePolicies", "-policies")
    assert pol.critical and [p.policy_identifier.dotted_string for p in pol.value] == ["1.2.3.4"]
    with pytest.raises(ConfigError, match=r"^-reqexts: error in section \[reqexts_invalidkey\]: subjectAltName: "
                                          r"unsupported option 'DNS__3'$"):
        extensions_from_section(conf, "reqexts_invalidkey", "-reqexts")


BAD = {
    "unknown_ext": ("fooBar = x", "unknown or unsupported extension name"),
    "bc_bool": ("basicConstraints = CA:maybe", "invalid boolean string 'maybe'"),
    "bc_name": ("basicConstraints = CA:TRUE, depth:1", "invalid name 'depth'"),
    "bc_pathlen": ("basicConstraints = CA:TRUE, pathlen:x", "invalid integer 'x'"),
    "bc_ca_false_pathlen": ("basicConstraints = CA:FALSE, pathlen:1", "path_length"),
    "ku": ("keyUsage = digitalSignature, signEverything", "unknown bit string argument 'signEverything'"),
    "eku": ("extendedKeyUsage = serverAuth, bogus", "invalid object identifier 'bogus'"),
    "san_type": ("subjectAltName = DNZ:x", "unsupported option 'DNZ'"),
    "san_ip": ("subjectAltName = IP:1.2.3.256", "bad IP address '1.2.3.256'"),
    "san_missing_section": ("subjectAltName = @nosuch", r"section \[nosuch\] not found"),
    "san_dirname": ("subjectAltName = dirName:nosuch", r"section \[nosuch\] not found"),
    "san_empty_value": ("subjectAltName = DNS:", "missing value for 'DNS'"),
    "san_empty_name": ("subjectAltName = DNS:a,,DNS:b", "empty name"),
    "pol_value": ("certificatePolicies = 1.2.3:x", "invalid policy identifier"),
    "pol_oid": ("certificatePolicies = notAnOid", "invalid policy identifier 'notAnOid'"),
    "nc": ("nameConstraints = allowed;DNS:x", "invalid syntax 'allowed;DNS'"),
    "nc_mask": ("nameConstraints = permitted;IP:10.0.0.0/255.0.255.0", "bad IP address mask"),
    "skid": ("subjectKeyIdentifier = xyz", "invalid hex key identifier"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_errors(case, tmp_path):
    line, reason = BAD[case]
    path = tmp_path / "bad.cnf"
    path.write_text(f"[e]\n{line}\n")
    conf = load_config(str(path))
    with pytest.raises(ConfigError) as info:
        extensions_from_section(conf, "e", "-reqexts")
    msg = str(info.value)
    assert msg.startswith("-reqexts: error in section [e]: ") and "\n" not in msg
    assert re.search(reason, msg), msg


def test_missing_section(tmp_path):
    path = tmp_path / "a.cnf"
    path.write_text("[x]\n")
    with pytest.raises(ConfigError, match=r"^-policies: section \[nosuch\] not found in config file '.*a.cnf'$"):
        extensions_from_section(load_config(str(path)), "nosuch", "-policies")


def test_later_extension_replaces_earlier(tmp_path):
    path = tmp_path / "a.cnf"
    path.write_text("[e]\nbasicConstraints = CA:TRUE\nkeyUsage = cRLSign\nbasicConstraints = critical,CA:FALSE\n")
    # the conf layer already keeps only the last definition of a name, as OpenSSL does
    exts = extensions_from_section(load_config(str(path)), "e", "-reqexts")
    assert [e.oid for e in exts] == [x509.KeyUsage.oid, x509.BasicConstraints.oid]
    assert exts[1].critical and not exts[1].value.ca


# ---------------------------------------------------------------- -sans

def test_sans_rules():
    names, critical = parse_sans("critical 127.0.0.1, ::1,a@b.example  http://x.example/ www.example.com 010.1.1.1 x:y")
    assert critical
    assert names == [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.IPAddress(ipaddress.ip_address("::1")),
                     x509.RFC822Name("a@b.example"), x509.UniformResourceIdentifier("http://x.example/"),
                     x509.DNSName("www.example.com"), x509.IPAddress(ipaddress.ip_address("10.1.1.1")),
                     x509.UniformResourceIdentifier("x:y")]
    assert parse_sans("a.example") == ([x509.DNSName("a.example")], False)
    assert parse_sans("critical") == ([], True)
    assert parse_sans("1.2.3.256") == ([x509.DNSName("1.2.3.256")], False)  # not an IP: a DNS name, as openssl
    assert parse_sans("fe80::1%eth0")[0] == [x509.UniformResourceIdentifier("fe80::1%eth0")]


def test_sans_bad():
    with pytest.raises(ConfigError, match=r"^-sans: bad syntax of Subject Alternative Name '.*'$"):
        parse_sans("ok.example, bücher.example")


# ---------------------------------------------------------------- -policy_oids

def test_policy_oids():
    ext = policy_oids_extension("1.2.3.4, 2.5.29.32.0 1.3.6.1.4.1.99", True)
    assert ext.critical and ext.oid == x509.CertificatePolicies.oid
    assert [p.policy_identifier.dotted_string for p in ext.value] == ["1.2.3.4", "2.5.29.32.0", "1.3.6.1.4.1.99"]
    assert all(p.policy_qualifiers is None for p in ext.value)
    assert not policy_oids_extension("1.2.3", False).critical


@pytest.mark.parametrize("text", ["", " , ", "anyPolicy", "1", "1.2.x", "3.1", "1.40"])
def test_policy_oids_bad(text):
    with pytest.raises(ConfigError, match=r"^invalid -policy_oids arg"):
        policy_oids_extension(text, False)


def test_eku_names_match_openssl():
    for sn, ln, oid in _EKU:
        for name in (sn, ln):
            assert openssl_object_oid(name) == oid, name
