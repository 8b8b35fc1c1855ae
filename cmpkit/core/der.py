"""Minimal DER framing: split and build tag-length-value items (no schema, no values)."""
from __future__ import annotations

import functools

from ..errors import DecodeError

# The limits of every DER read, in one place (DESIGN 6: every decoder is linear in its input and
# bounded). What exceeds them is refused as malformed before any arithmetic is done on it.
MAX_LENGTH_OCTETS = 4      # a length field of up to 4 octets: items up to 4 GiB (requests are bounded long before)
MAX_DEPTH = 48             # nesting of constructed items (a certificate inside a message needs about 15)
MAX_OID_BYTES = 128        # content octets of one OBJECT IDENTIFIER (registered ones need < 40, cryptography takes 63)
MAX_OID_ARC_BYTES = 20     # one arc: 140 bits, room for the 128-bit UUID arcs under 2.25 (ITU-T X.667)
MAX_INTEGER_BYTES = 64     # an INTEGER read as a number: versions, counters, certReqIds, serials (RFC 5280: 20)
MAX_BIG_INTEGER_BYTES = 1040  # any INTEGER inside a structure: room for 8192-bit DH/DSA domain parameters


def read_tlv(data: bytes, pos: int = 0) -> tuple[int, int, int]:
    """The item at ``pos``: (first tag byte, content start, end). Definite lengths only."""
    n = len(data)
    if pos + 2 > n:
        raise DecodeError("truncated DER: no room for tag and length")
    tag = data[pos]
    first = data[pos + 1]
    if tag & 0x1F == 0x1F:
        raise DecodeError("unsupported DER: multi-byte tag")
    if first < 0x80:  # the short form, read here (issue 17: the hot path of every item read)
        end = pos + 2 + first
        if end > n:
            raise DecodeError(f"truncated DER: item claims {first} bytes, {n - pos - 2} present")
        return tag, pos + 2, end
    pos += 2
    count = first & 0x7F
    if count == 0 or count > MAX_LENGTH_OCTETS:
        raise DecodeError("unsupported DER length encoding")
    if pos + count > n:
        raise DecodeError("truncated DER length")
    length = int.from_bytes(data[pos:pos + count], "big")
    pos += count
    end = pos + length
    if end > n:
        raise DecodeError(f"truncated DER: item claims {length} bytes, {n - pos} present")
    return tag, pos, end


def _common_header(data: bytes, pos: int, limit: int):
    """(content start, end) of the item at ``pos`` when its header has a common form (single-byte
    tag; short, 0x81 or 0x82 length) and it ends within ``limit``; None for anything else, which
    read_tlv then reads with its exact error. :func:`children` reads the same forms inline (its loop
    is the hottest of every message read: issue 17)."""
    if pos + 2 > limit or data[pos] & 0x1F == 0x1F:
        return None
    first = data[pos + 1]
    if first < 0x80:
        start, end = pos + 2, pos + 2 + first
    elif first == 0x81 and pos + 3 <= limit:
        start = pos + 3
        end = start + data[pos + 2]
    elif first == 0x82 and pos + 4 <= limit:
        start = pos + 4
        end = start + (data[pos + 2] << 8 | data[pos + 3])
    else:
        return None
    return (start, end) if end <= limit else None


def children(data: bytes) -> list[bytes]:
    """The complete TLVs inside the single constructed item ``data`` (each within it)."""
    n = len(data)
    pos = end = -1
    if n >= 2 and data[0] & 0x1F != 0x1F:  # its own header in the common forms, inline (issue 17)
        first = data[1]
        if first < 0x80:
            pos, end = 2, 2 + first
        elif first == 0x81 and n >= 3:
            pos, end = 3, 3 + data[2]
        elif first == 0x82 and n >= 4:
            pos, end = 4, 4 + (data[2] << 8 | data[3])
    if pos < 0 or end > n:  # anything else, and every error, as read_tlv says it
        _tag, pos, end = read_tlv(data)
    out = []
    append = out.append
    while pos < end:
        # the common forms (short, 0x81, 0x82 lengths) read here: the hot path (issue 17);
        # anything else, and every error, through the general code below
        e = -1
        if pos + 2 <= end and data[pos] & 0x1F != 0x1F:
            first = data[pos + 1]
            if first < 0x80:
                e = pos + 2 + first
            elif first == 0x81:
                if pos + 3 <= end:
                    e = pos + 3 + data[pos + 2]
            elif first == 0x82 and pos + 4 <= end:
                e = pos + 4 + (data[pos + 2] << 8 | data[pos + 3])
        if e < 0 or e > end:
            first = data[pos + 1] if pos + 1 < end else 0x80
            if first < 0x80 and data[pos] & 0x1F != 0x1F:
                e = pos + 2 + first
            else:
                _t, _s, e = read_tlv(data, pos)
            if e > end:
                raise DecodeError(f"truncated DER: item claims {e - pos} bytes, {end - pos} present")
        append(data[pos:e])
        pos = e
    return out


def sole(item: bytes) -> bytes | None:
    """The one item filling the content of the single (explicitly tagged) item ``item`` exactly, both
    headers in a common form (see _common_header); None for anything else, which the caller then reads
    with :func:`children` for its exact error (issue 17: no list, no second header read)."""
    n = len(item)
    outer = _common_header(item, 0, n)
    if outer is None or outer[1] != n:
        return None
    inner = _common_header(item, outer[0], n)
    return item[outer[0]:] if inner is not None and inner[1] == n else None


def content(data: bytes) -> bytes:
    """The content octets of the single item ``data``."""
    _tag, start, end = read_tlv(data)
    return data[start:end]


def encode_length(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(raw)]) + raw


def tlv(tag: int, body: bytes) -> bytes:
    """One DER item with the given (single-byte) tag and content."""
    n = len(body)
    if n < 0x80:  # the short and the common long forms inline: the hot path of every message built
        return bytes((tag, n)) + body
    if n < 0x100:
        return bytes((tag, 0x81, n)) + body
    if n < 0x10000:
        return bytes((tag, 0x82, n >> 8, n & 0xFF)) + body
    return bytes([tag]) + encode_length(n) + body


def sequence(*items: bytes) -> bytes:
    return tlv(0x30, b"".join(items))


def integer(n: int) -> bytes:
    """DER INTEGER (two's complement, minimal length)."""
    return tlv(0x02, n.to_bytes((n + (n < 0)).bit_length() // 8 + 1, "big", signed=True))


def read_integer(item: bytes, what: str = "INTEGER") -> int:
    """The value of the single DER INTEGER ``item`` (at most MAX_INTEGER_BYTES); DecodeError naming ``what``."""
    tag, start, end = read_tlv(item)
    if tag != 0x02 or start == end:
        raise DecodeError(f"malformed {what}")
    if end - start > MAX_INTEGER_BYTES:
        raise DecodeError(f"malformed {what}: an INTEGER of {end - start} octets (at most {MAX_INTEGER_BYTES})")
    if end - start > 1 and (item[start] == 0 and item[start + 1] < 0x80
                            or item[start] == 0xFF and item[start + 1] >= 0x80):
        raise DecodeError(f"malformed {what}: not minimally encoded")
    return int.from_bytes(item[start:end], "big", signed=True)


@functools.lru_cache(maxsize=256)
def oid(dotted: str) -> bytes:
    """DER OBJECT IDENTIFIER of a dotted string such as "1.3.6.1.5.5.7.4.13" (memoised: a run
    meets the same few identifiers again and again)."""
    arcs = [int(a) for a in dotted.split(".")]
    if len(arcs) < 2 or arcs[0] > 2 or (arcs[0] < 2 and arcs[1] > 39) or min(arcs) < 0:
        raise ValueError(f"invalid OID {dotted!r}")
    out = bytearray()
    for arc in [40 * arcs[0] + arcs[1]] + arcs[2:]:
        chunk = [arc & 0x7F]
        arc >>= 7
        while arc:
            chunk.append(0x80 | (arc & 0x7F))
            arc >>= 7
        out += bytes(reversed(chunk))
    return tlv(0x06, bytes(out))


def read_oid(item: bytes) -> str:
    """The dotted string of the single DER OBJECT IDENTIFIER ``item``."""
    tag, start, end = read_tlv(item)
    if tag != 0x06:
        raise DecodeError("malformed OBJECT IDENTIFIER")
    return oid_text(item[start:end])


def oid_text(body: bytes) -> str:
    """The dotted string of OBJECT IDENTIFIER content octets (minimal arcs required).

    Linear: at most MAX_OID_BYTES octets, no arc longer than MAX_OID_ARC_BYTES. A message names
    the same few OIDs again and again: their texts are remembered (only valid ones, bounded)."""
    if type(body) is bytes:
        return _oid_text_cached(body)
    return _oid_text(body)


@functools.lru_cache(maxsize=256)
def _oid_text_cached(body: bytes) -> str:
    return _oid_text(body)


def _oid_text(body: bytes) -> str:
    if not body or body[-1] & 0x80:
        raise DecodeError("malformed OBJECT IDENTIFIER")
    if len(body) > MAX_OID_BYTES:
        raise DecodeError(f"malformed OBJECT IDENTIFIER: {len(body)} octets (at most {MAX_OID_BYTES})")
    arcs, value, fresh, size = [], 0, True, 0
    for byte in body:
        if fresh and byte == 0x80:
            raise DecodeError("malformed OBJECT IDENTIFIER: not minimally encoded")
        value = (value << 7) | (byte & 0x7F)
        fresh = not byte & 0x80
        if fresh:
            arcs.append(value)
            value = size = 0
        else:
            size += 1
            if size >= MAX_OID_ARC_BYTES:
                raise DecodeError(f"malformed OBJECT IDENTIFIER: an arc longer than {MAX_OID_ARC_BYTES} octets")
    first = arcs[0]
    head = [0, first] if first < 40 else [1, first - 40] if first < 80 else [2, first - 80]
    return ".".join(str(a) for a in head + arcs[1:])


def check_bounds(data: bytes, what: str) -> None:
    """Refuse the DER item ``data`` if anything inside it breaks the limits above: nesting deeper
    than MAX_DEPTH, an OBJECT IDENTIFIER longer than MAX_OID_BYTES, an INTEGER longer than
    MAX_BIG_INTEGER_BYTES, an item past its parent's end.

    One linear pass without recursion, for DER that no reader of cmpkit's walks field by field
    (bodies cmpkit does not use) and that a generic decoder might see later: such decoders
    (pyasn1's, say) decode OIDs in quadratic time and recurse once per level."""
    try:
        _tag, _start, end = read_tlv(data)
        stack = [(0, end)]
        while stack:
            pos, end = stack[-1]
            if pos >= end:
                stack.pop()
                continue
            tag, start, stop = read_tlv(data, pos)
            if stop > end:
                raise DecodeError(f"item claims {stop - pos} bytes, {end - pos} present")
            stack[-1] = (stop, end)
            if tag & 0x20:
                if len(stack) >= MAX_DEPTH:
                    raise DecodeError(f"nested deeper than {MAX_DEPTH} levels")
                stack.append((start, stop))
            elif tag == 0x06 and stop - start > MAX_OID_BYTES:
                raise DecodeError(f"an OBJECT IDENTIFIER of {stop - start} octets (at most {MAX_OID_BYTES})")
            elif tag == 0x02 and stop - start > MAX_BIG_INTEGER_BYTES:
                raise DecodeError(f"an INTEGER of {stop - start} octets (at most {MAX_BIG_INTEGER_BYTES})")
    except DecodeError as exc:
        raise DecodeError(f"malformed {what}: {exc}") from None


def bit_string(bits) -> bytes:
    """DER BIT STRING with the given bit numbers set (bit 0 first; named-bit form: no trailing zeros)."""
    bits = sorted(set(bits))
    if not bits:
        return b"\x03\x01\x00"
    size = bits[-1] + 1
    body = bytearray((size + 7) // 8)
    for i in bits:
        body[i // 8] |= 0x80 >> (i % 8)
    return tlv(0x03, bytes([len(body) * 8 - size]) + bytes(body))


def read_bits(item: bytes) -> list[int]:
    """The numbers of the bits set in the single DER BIT STRING ``item`` (bit 0 is the first)."""
    tag, start, end = read_tlv(item)
    body = item[start:end]
    if tag != 0x03 or not body or body[0] > 7 or (len(body) == 1 and body[0]):
        raise DecodeError("malformed BIT STRING")
    size = 8 * (len(body) - 1) - body[0]
    return [i for i in range(size) if body[1 + i // 8] & (0x80 >> (i % 8))]


def read_octets(item: bytes) -> bytes:
    """The content of the single DER OCTET STRING ``item``."""
    tag, start, end = read_tlv(item)
    if tag != 0x04:
        raise DecodeError("malformed OCTET STRING")
    return item[start:end]


def parts(item: bytes, tag: int, what: str) -> list[bytes]:
    """The children of the constructed ``item``, which must carry ``tag``; DecodeError naming ``what``."""
    if not item or item[0] != tag:
        raise DecodeError(f"malformed {what}")
    return children(item)
