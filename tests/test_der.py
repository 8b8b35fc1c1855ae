"""The DER helpers: INTEGER and OBJECT IDENTIFIER agree with pyasn1 and reject what DER forbids."""
import pytest
from pyasn1.codec.der import encoder
from pyasn1.type import univ

from cmpkit.core import der
from cmpkit.errors import DecodeError


@pytest.mark.parametrize("n", [0, 1, 127, 128, 255, 256, 65535, 2**64, -1, -129, -256, -257, -2**64])
def test_integer_matches_pyasn1(n):
    assert der.integer(n) == encoder.encode(univ.Integer(n))
    assert der.read_integer(der.integer(n)) == n


def test_integer_minimal_length():
    assert der.integer(-128) == b"\x02\x01\x80"   # X.690 8.3.2 (pyasn1 writes ff 80 here)
    for bad in (b"\x02\x02\x00\x01", b"\x02\x02\xff\x80", b"\x02\x00", b"\x04\x01\x00"):
        with pytest.raises(DecodeError):
            der.read_integer(bad)


@pytest.mark.parametrize("oid", ["1.3.6.1.5.5.7.4.13", "2.5.29.17", "2.999.3", "0.9.2342.19200300.100.1.1",
                                 "1.2.840.113549.1.1.11", "1.3.6.1.4.1.311.21.20"])
def test_oid_matches_pyasn1(oid):
    assert der.oid(oid) == encoder.encode(univ.ObjectIdentifier(oid))
    assert der.read_oid(der.oid(oid)) == oid


def test_oid_errors():
    for bad in (b"\x06\x00", b"\x06\x02\x2b\x86", b"\x06\x02\x80\x01", b"\x02\x01\x00"):
        with pytest.raises(DecodeError):
            der.read_oid(bad)
    with pytest.raises(ValueError):
        der.oid("3.1")


def test_children_short_and_long_forms():
    long_item = der.tlv(0x04, b"x" * 200)  # a two-byte length
    outer = der.sequence(der.tlv(0x02, b"\x01"), long_item, der.tlv(0x05, b""))
    assert der.children(outer) == [b"\x02\x01\x01", long_item, b"\x05\x00"]
    assert der.children(b"\x30\x00") == []


@pytest.mark.parametrize("data", [
    b"\x30\x03\x04\x05abc",          # a child claims more than its parent holds
    b"\x30\x03\x04\x05abcdef",       # ... even when the bytes after the parent would cover it
    b"\x30\x01\x04",                 # a child with no length byte
    b"\x30\x04\x04\x81\x05a",        # a long-form child beyond its parent
    b"\x30\x02\x1f\x00",             # a multi-byte tag
])
def test_children_rejects_items_beyond_their_parent(data):
    with pytest.raises(DecodeError):
        der.children(data)
