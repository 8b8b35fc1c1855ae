"""A strict, bounded shape check of an X.509 certificate's DER, without cryptography.x509 (issue 17).

``plain_certificate_spki`` returns the SubjectPublicKeyInfo DER of a certificate only when the whole
certificate is of a plain, common form that cryptography's parser certainly accepts too: strict DER
lengths, v3 or v1, a positive serial, known algorithm identifiers with their usual parameters,
single-valued RDNs of UTF8/Printable/IA5 strings, valid UTCTime (1950-2049) or GeneralizedTime
(2050 on) dates, well-formed extensions, no unique identifiers, nothing after the certificate.
For anything else it returns None and the caller parses with cryptography as before, so the
answer of the caller never depends on this module's leniency, only the cost does.
"""
from __future__ import annotations

from .der import MAX_LENGTH_OCTETS
from .memo import MAX_CACHED_CERT, memo

# (algorithm OID content octets) -> allowed parameter encodings; b"" means absent.
_NULL = b"\x05\x00"
_SIG_ALGS = {
    bytes.fromhex("2a864886f70d01010b"): (b"", _NULL),  # sha256WithRSAEncryption
    bytes.fromhex("2a864886f70d01010c"): (b"", _NULL),  # sha384WithRSAEncryption
    bytes.fromhex("2a864886f70d01010d"): (b"", _NULL),  # sha512WithRSAEncryption
    bytes.fromhex("2a8648ce3d040302"): (b"",),  # ecdsa-with-SHA256
    bytes.fromhex("2a8648ce3d040303"): (b"",),  # ecdsa-with-SHA384
    bytes.fromhex("2a8648ce3d040304"): (b"",),  # ecdsa-with-SHA512
    bytes.fromhex("2b6570"): (b"",),  # Ed25519
    bytes.fromhex("2b6571"): (b"",),  # Ed448
}
_CURVES = (bytes.fromhex("06082a8648ce3d030107"), bytes.fromhex("06052b81040022"),
           bytes.fromhex("06052b81040023"))  # P-256, P-384, P-521
_KEY_ALGS = {
    bytes.fromhex("2a864886f70d010101"): (_NULL,),  # rsaEncryption
    bytes.fromhex("2a8648ce3d0201"): _CURVES,  # id-ecPublicKey, named curve
    bytes.fromhex("2b6570"): (b"",),  # Ed25519
    bytes.fromhex("2b6571"): (b"",),  # Ed448
}
_STRINGS = frozenset((0x0C, 0x13, 0x16))  # UTF8String, PrintableString, IA5String
_PRINTABLE = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 '()+,-./:=?")
_DAYS = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


class _Odd(Exception):
    """Not of the plain form: the caller falls back to the full parser."""


def _tlv(data: bytes, pos: int, end: int) -> tuple[int, int, int]:
    """(tag, content start, content end) of the item at pos, which must end within ``end``;
    strict DER: single-byte tag, minimal definite length."""
    if pos + 2 > end:
        raise _Odd
    tag, first = data[pos], data[pos + 1]
    if tag & 0x1F == 0x1F:
        raise _Odd
    pos += 2
    if first >= 0x80:
        count = first & 0x7F
        if count == 0 or count > MAX_LENGTH_OCTETS or pos + count > end or data[pos] == 0:
            raise _Odd
        length = int.from_bytes(data[pos:pos + count], "big")
        if length < 0x80:
            raise _Odd
        pos += count
    else:
        length = first
    if pos + length > end:
        raise _Odd
    return tag, pos, pos + length


def _items(data: bytes, start: int, end: int) -> list[tuple[int, int, int, int]]:
    """The items filling data[start:end] exactly: (tag, item start, content start, content end)."""
    out = []
    pos = start
    while pos < end:
        tag, s, e = _tlv(data, pos, end)
        out.append((tag, pos, s, e))
        pos = e
    return out


def _oid(data: bytes, item) -> None:
    """A well-formed OBJECT IDENTIFIER: minimal arcs of at most 9 octets, at most 63 octets in all."""
    tag, _p, s, e = item
    body = data[s:e]
    if tag != 0x06 or not body or len(body) > 63 or body[-1] & 0x80:
        raise _Odd
    arc = 0
    for b in body:
        if arc == 0 and b == 0x80:
            raise _Odd
        arc += 1
        if arc > 9:
            raise _Odd
        if not b & 0x80:
            arc = 0


def _alg(data: bytes, item, table) -> None:
    tag, _p, s, e = item
    if tag != 0x30:
        raise _Odd
    parts = _items(data, s, e)
    if not parts or len(parts) > 2 or parts[0][0] != 0x06:
        raise _Odd
    oid = data[parts[0][2]:parts[0][3]]
    params = data[parts[1][1]:parts[1][3]] if len(parts) == 2 else b""
    if params not in table.get(oid, ()):
        raise _Odd


def _name(data: bytes, item) -> None:
    tag, _p, s, e = item
    if tag != 0x30:
        raise _Odd
    for rdn in _items(data, s, e):
        atvs = _items(data, rdn[2], rdn[3]) if rdn[0] == 0x31 else ()
        if len(atvs) != 1 or atvs[0][0] != 0x30:  # single-valued RDNs only (no SET OF ordering)
            raise _Odd
        pair = _items(data, atvs[0][2], atvs[0][3])
        if len(pair) != 2:
            raise _Odd
        typ, value = pair
        _oid(data, typ)
        if value[0] not in _STRINGS:
            raise _Odd
        text = data[value[2]:value[3]]
        if value[0] == 0x13 and not _PRINTABLE.issuperset(text):
            raise _Odd
        if value[0] == 0x16 and not text.isascii():
            raise _Odd
        if value[0] == 0x0C:
            try:
                text.decode("utf-8")
            except UnicodeDecodeError:
                raise _Odd from None


def _time(data: bytes, item) -> None:
    tag, _p, s, e = item
    text = data[s:e]
    if tag == 0x17 and len(text) == 13:
        digits, year = text[:12], None
    elif tag == 0x18 and len(text) == 15:
        digits, year = text[:14], None
    else:
        raise _Odd
    if text[-1:] != b"Z" or not digits.isdigit():
        raise _Odd
    if tag == 0x17:
        year = int(digits[:2]) + (1900 if int(digits[:2]) >= 50 else 2000)
        rest = digits[2:]
    else:
        year = int(digits[:4])
        rest = digits[4:]
        if year < 2050:
            raise _Odd
    month, day, hour, minute, second = (int(rest[i:i + 2]) for i in range(0, 10, 2))
    leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    if not 1 <= month <= 12 or not 1 <= day <= _DAYS[month - 1] or (month == 2 and day == 29 and not leap):
        raise _Odd
    if hour > 23 or minute > 59 or second > 59:
        raise _Odd


def _extensions(data: bytes, item) -> None:
    tag, _p, s, e = item
    outer = _items(data, s, e)
    if tag != 0xA3 or len(outer) != 1 or outer[0][0] != 0x30:
        raise _Odd
    exts = _items(data, outer[0][2], outer[0][3])
    if not exts:
        raise _Odd
    for ext in exts:
        parts = _items(data, ext[2], ext[3]) if ext[0] == 0x30 else ()
        if len(parts) == 3 and data[parts[1][1]:parts[1][3]] == b"\x01\x01\xff":  # critical: TRUE only (DER)
            parts = (parts[0], parts[2])
        if len(parts) != 2 or parts[1][0] != 0x04:
            raise _Odd
        _oid(data, parts[0])


def _bit_string(data: bytes, item) -> None:
    tag, _p, s, e = item
    if tag != 0x03 or e == s or data[s] != 0:
        raise _Odd


def plain_certificate_spki(cert_der: bytes) -> bytes | None:
    """The SubjectPublicKeyInfo DER of ``cert_der`` if it is a certificate of the plain form
    (module docstring), else None. Remembered per DER: a -repeat run or a server meets the same
    certificates again and again (issue 17)."""
    return _plain_certificate_spki(bytes(cert_der))


@memo(maxsize=64, max_bytes=MAX_CACHED_CERT)
def _plain_certificate_spki(data: bytes) -> bytes | None:
    try:
        tag, s, e = _tlv(data, 0, len(data))
        if tag != 0x30 or e != len(data):
            raise _Odd
        top = _items(data, s, e)
        if len(top) != 3 or top[0][0] != 0x30:
            raise _Odd
        _alg(data, top[1], _SIG_ALGS)
        _bit_string(data, top[2])
        tbs = _items(data, top[0][2], top[0][3])
        if tbs and tbs[0][0] == 0xA0:  # version [0] EXPLICIT: only v3 (v1 is left out in DER)
            if data[tbs[0][2]:tbs[0][3]] != b"\x02\x01\x02":
                raise _Odd
            tbs = tbs[1:]
            v3 = True
        else:
            v3 = False
        if len(tbs) not in (6, 7):
            raise _Odd
        serial, sig, issuer, validity, subject, spki = tbs[:6]
        body = data[serial[2]:serial[3]]
        if (serial[0] != 0x02 or not body or len(body) > 21 or body[0] >= 0x80
                or (len(body) > 1 and body[0] == 0 and body[1] < 0x80)):
            raise _Odd
        _alg(data, sig, _SIG_ALGS)
        _name(data, issuer)
        times = _items(data, validity[2], validity[3]) if validity[0] == 0x30 else ()
        if len(times) != 2:
            raise _Odd
        _time(data, times[0])
        _time(data, times[1])
        _name(data, subject)
        key = _items(data, spki[2], spki[3]) if spki[0] == 0x30 else ()
        if len(key) != 2:
            raise _Odd
        _alg(data, key[0], _KEY_ALGS)
        _bit_string(data, key[1])
        if len(tbs) == 7:
            if not v3:
                raise _Odd
            _extensions(data, tbs[6])
        return data[spki[1]:spki[3]]
    except (_Odd, ValueError, IndexError):
        return None
