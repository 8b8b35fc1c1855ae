"""Tests of cmpkit.core.names: DN parsing checked against `openssl req -subj`, formatting, DER decoding."""
import subprocess

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.name import _ASN1Type
from cryptography.x509.oid import NameOID

from cmpkit.core.names import ATTRIBUTE_TYPES, format_dn, name_from_der, name_to_der, parse_dn
from cmpkit.errors import ConfigError, DecodeError

from .tools import openssl_object_oid

SUBJECTS = [
    "/CN=leaf",
    "/C=AU/ST=Some-State/O=Internet Widgits Pty Ltd/CN=leaf",
    "/DC=org/DC=OpenSSL/DC=users/UID=123456+CN=John Doe",
    "/CN=a+OU=b+O=c/CN=b+CN=a",
    "/emailAddress=user@example.com/serialNumber=1234/dnQualifier=q/mail=a@b",
    "/title=Dr/GN=Ann/SN=Lee/name=n/initials=A/street=Main St 1/L=Town/postalCode=12345",
    "/c3=AUS/n3=036/dnsName=x.example/description=d/pseudonym=p/organizationIdentifier=VATDE-1",
    "/commonName=long names/organizationalUnitName=unit/countryName=DE/2.5.4.3=dotted",
    "/CN=escaped\\/slash\\+plus\\\\back/O= spaces kept ",
    "/CN=Grüße 日本/O=é",
    "/CN=" + "x" * 64,
]


@pytest.fixture(scope="module")
def keyfile(tmp_path_factory):
    d = tmp_path_factory.mktemp("names")
    key = ec.generate_private_key(ec.SECP256R1())
    path = d / "key.pem"
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    cnf = d / "req.cnf"
    cnf.write_text("[req]\ndistinguished_name = dn\n[dn]\n")
    return d, path, cnf


def openssl_subject(openssl, keyfile, subj):
    """The DER subject of a CSR made by `openssl req -subj` (None if openssl rejects it)."""
    d, key, cnf = keyfile
    out = d / "csr.der"
    if out.exists():
        out.unlink()
    r = subprocess.run([openssl, "req", "-new", "-key", str(key), "-config", str(cnf), "-utf8",
                        "-subj", subj, "-outform", "DER", "-out", str(out)], capture_output=True, timeout=30)
    if r.returncode != 0:
        return None
    return x509.load_der_x509_csr(out.read_bytes()).subject.public_bytes()


@pytest.mark.parametrize("subj", SUBJECTS)
def test_der_same_as_openssl_req(subj, openssl, keyfile):
    expected = openssl_subject(openssl, keyfile, subj)
    assert expected is not None
    assert parse_dn(subj, "-subject").public_bytes() == expected


@pytest.mark.parametrize("subj, message", [
    ("/CN=" + "x" * 65, "too long"),
    ("/C=AUS", "too long"),
    ("/C=A", "too short"),
    ("/C=D!", "illegal characters"),
    ("/emailAddress=é@x", "illegal characters"),
    ("/serialNumber=a_b", "illegal characters"),
    ("/n3=12a", "illegal characters"),
])
def test_values_openssl_rejects(subj, message, openssl, keyfile):
    assert openssl_subject(openssl, keyfile, subj) is None
    with pytest.raises(ConfigError, match=message) as info:
        parse_dn(subj, "-subject")
    assert str(info.value).startswith("-subject: ")


def test_encodings():
    name = parse_dn("/C=DE/emailAddress=a@b/DC=org/serialNumber=12/CN=x/UID=u", "-subject")
    types = {a.oid: a._type for a in name}
    assert types[NameOID.COUNTRY_NAME] == _ASN1Type.PrintableString
    assert types[NameOID.EMAIL_ADDRESS] == _ASN1Type.IA5String
    assert types[NameOID.DOMAIN_COMPONENT] == _ASN1Type.IA5String
    assert types[NameOID.SERIAL_NUMBER] == _ASN1Type.PrintableString
    assert types[NameOID.COMMON_NAME] == _ASN1Type.UTF8String
    assert types[NameOID.USER_ID] == _ASN1Type.UTF8String


def test_structure():
    name = parse_dn("/DC=org/UID=1+CN=John Doe/O=a\\+b", "-subject")
    assert len(name.rdns) == 3
    assert {a.oid for a in name.rdns[1]} == {NameOID.USER_ID, NameOID.COMMON_NAME}
    assert name.rdns[2].get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "a+b"
    assert parse_dn("/", "-subject") == x509.Name([])
    assert parse_dn("/", "-subject").public_bytes() == b"\x30\x00"
    # empty values are skipped (openssl warns), a trailing "/" is harmless
    assert parse_dn("/CN=/O=x/", "-subject") == x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "x")])


@pytest.mark.parametrize("text, message", [
    ("CN=x", "is not in the format /type0=value0"),
    ("", "is not in the format"),
    ("/CN", "missing '=' after RDN type 'CN'"),
    ("/CN=x/O", "missing '=' after RDN type 'O'"),
    ("/CN=x\\", "escape character at end"),
])
def test_errors(text, message):
    with pytest.raises(ConfigError) as info:
        parse_dn(text, "-recipient")
    msg = str(info.value)
    assert msg.startswith("-recipient: ") and "\n" not in msg
    assert message in msg


HINT = "; hint: a '+' in a value string needs be escaped using '\\' else a new member of a multi-valued RDN is expected"


@pytest.mark.parametrize("text, kept, warning", [
    ("/cn=x", "/", 'Skipping unknown recipient name attribute "cn"'),  # names are case-sensitive
    ("/XYZ=x", "/", 'Skipping unknown recipient name attribute "XYZ"'),
    ("/CN=a+b=c", "/CN=a", 'Skipping unknown recipient name attribute "b"' + HINT),
    ("/CN=a//O=b", "/CN=a", 'Skipping unknown recipient name attribute "/O"'),
    ("/1=x", "/", 'Skipping unknown recipient name attribute "1"'),  # one arc is no OID
    ("/1.40=x", "/", 'Skipping unknown recipient name attribute "1.40"'),
    ("/CN=x/ABC=", "/CN=x", 'Skipping unknown recipient name attribute "ABC"'),  # the type is checked first
    ("/CN=x/ABC=1+O=y", "/CN=x+O=y", 'Skipping unknown recipient name attribute "ABC"'),
])
def test_unknown_types_skipped_as_openssl(text, kept, warning, caplog):
    """apps' parse_name: an attribute of unknown type is left out with a warning (issue 13 item 15)."""
    with caplog.at_level("WARNING", logger="cmpkit"):
        name = parse_dn(text, "-recipient")
    assert format_dn(name) == kept
    assert [r.getMessage() for r in caplog.records] == [warning]
    caplog.clear()
    with caplog.at_level("WARNING", logger="cmpkit"):
        parse_dn(text, "-expect_sender", "expected sender")
    assert caplog.records[0].getMessage().startswith("Skipping unknown expected sender name attribute")


def test_dotted_oid():
    name = parse_dn("/1.2.3.4=v/2.5.4.3=cn", "-subject")
    assert name.rdns[0].get_attributes_for_oid(x509.ObjectIdentifier("1.2.3.4"))[0].value == "v"
    assert name.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "cn"


@pytest.mark.parametrize("subj", SUBJECTS + ["/"])
def test_format_round_trip(subj):
    name = parse_dn(subj, "-subject")
    text = format_dn(name)
    assert "\n" not in text
    assert parse_dn(text, "x") == name
    assert parse_dn(format_dn(name.public_bytes()), "x") == name


def test_format_style():
    assert format_dn(parse_dn("/C=AU/commonName=leaf+O=x", "s")) == "/C=AU/CN=leaf+O=x"
    assert format_dn(parse_dn("/CN=é", "s")) == "/CN=é"
    assert format_dn(parse_dn("/CN=a\tb", "s")) == "/CN=a\\x09b"
    assert format_dn(x509.Name([])) == "/"


def test_der_round_trip_of_cryptography_names():
    name = x509.Name([
        x509.RelativeDistinguishedName([x509.NameAttribute(NameOID.COUNTRY_NAME, "DE")]),
        x509.RelativeDistinguishedName([x509.NameAttribute(NameOID.COMMON_NAME, "a", _ASN1Type.BMPString),
                                        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "b",
                                                           _ASN1Type.PrintableString)]),
        x509.RelativeDistinguishedName([x509.NameAttribute(NameOID.LOCALITY_NAME, "ü",
                                                           _ASN1Type.UniversalString)]),
    ])
    der = name_to_der(name)
    back = name_from_der(der)
    assert back == name and name_to_der(back) == der


@pytest.mark.parametrize("data", [
    b"", b"\x30", b"\x31\x00", b"\x30\x00\x00", b"\x30\x02\x31\x00",
    bytes.fromhex("300b3109300706035504030c"),  # truncated value
    bytes.fromhex("300c310a300806035504030301ff"),  # BIT STRING value
    bytes.fromhex("3009310730050603550403"),  # attribute without value
    b"\x30\x80\x00\x00",
])
def test_name_from_der_rejects(data):
    with pytest.raises(DecodeError):
        name_from_der(data)


def test_attribute_names_match_openssl():
    """Each short and long name maps to the same OID as in OpenSSL's object table."""
    for sn, ln, oid in ATTRIBUTE_TYPES:
        for name in (sn, ln):
            assert openssl_object_oid(name) == oid, name
