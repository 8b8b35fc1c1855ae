"""Minimal DER framing: split and build tag-length-value items (no schema, no values)."""
from __future__ import annotations

from ..errors import DecodeError


def read_tlv(data: bytes, pos: int = 0) -> tuple[int, int, int]:
    """The item at ``pos``: (first tag byte, content start, end). Definite lengths only."""
    n = len(data)
    if pos + 2 > n:
        raise DecodeError("truncated DER: no room for tag and length")
    tag = data[pos]
    if tag & 0x1F == 0x1F:
        raise DecodeError("unsupported DER: multi-byte tag")
    first = data[pos + 1]
    pos += 2
    if first < 0x80:
        length = first
    else:
        count = first & 0x7F
        if count == 0 or count > 4:
            raise DecodeError("unsupported DER length encoding")
        if pos + count > n:
            raise DecodeError("truncated DER length")
        length = int.from_bytes(data[pos:pos + count], "big")
        pos += count
    end = pos + length
    if end > n:
        raise DecodeError(f"truncated DER: item claims {length} bytes, {n - pos} present")
    return tag, pos, end


def children(data: bytes) -> list[bytes]:
    """The complete TLVs inside the single constructed item ``data``."""
    _tag, start, end = read_tlv(data)
    out, pos = [], start
    while pos < end:
        _t, _s, e = read_tlv(data, pos)
        out.append(data[pos:e])
        pos = e
    return out


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
    return bytes([tag]) + encode_length(len(body)) + body


def sequence(*items: bytes) -> bytes:
    return tlv(0x30, b"".join(items))
