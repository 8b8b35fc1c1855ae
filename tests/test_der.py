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
