"""PKIMessage: decode, inspect, build and protect CMP messages (RFC 9810 section 5.1)."""
from __future__ import annotations

import datetime
import functools
import os
import re
from typing import Iterable, Optional

from ..errors import CmpError, DecodeError, ProtectionError
from .memo import MAX_CACHED_CERT, memo
from . import algs, der, protection

PVNO_CMP2000 = 2
PVNO_CMP2021 = 3

# id-it OIDs used in generalInfo / genm (RFC 9810 5.3.19)
OID_IMPLICIT_CONFIRM = "1.3.6.1.5.5.7.4.13"
OID_CONFIRM_WAIT_TIME = "1.3.6.1.5.5.7.4.14"

FAILURE_NAMES = (
    "badAlg", "badMessageCheck", "badRequest", "badTime", "badCertId", "badDataFormat",
    "wrongAuthority", "incorrectData", "missingTimeStamp", "badPOP", "certRevoked",
    "certConfirmed", "wrongIntegrity", "badRecipientNonce", "timeNotAvailable",
    "unacceptedPolicy", "unacceptedExtension", "addInfoNotAvailable", "badSenderNonce",
    "badCertTemplate", "signerNotTrusted", "transactionIdInUse", "unsupportedVersion",
    "notAuthorized", "systemUnavail", "systemFailure", "duplicateCertReq",
)
# The PKIBody CHOICE (RFC 9810 5.1.2): tag number -> body name.
BODY_NAMES = {
    0: "ir", 1: "ip", 2: "cr", 3: "cp", 4: "p10cr", 5: "popdecc", 6: "popdecr", 7: "kur", 8: "kup",
    9: "krr", 10: "krp", 11: "rr", 12: "rp", 13: "ccr", 14: "ccp", 15: "ckuann", 16: "cann", 17: "rann",
    18: "crlann", 19: "pkiconf", 20: "nested", 21: "genm", 22: "genp", 23: "error", 24: "certConf",
    25: "pollReq", 26: "pollRep",
}
BODY_TAG = {name: n for n, name in BODY_NAMES.items()}
STATUS_NAMES = ("accepted", "grantedWithMods", "rejection", "waiting", "revocationWarning",
                "revocationNotification", "keyUpdateWarning")


def _check_certificates(certs: list, what: str) -> None:
    """DecodeError unless every item of ``certs`` is a well-formed X.509 certificate (as openssl's
    d2i of the message requires); cryptography parses one in about 10 us, and every message of a
    run carries the same few: the verdict is remembered per DER (issue 17)."""
    for n, cert in enumerate(certs, 1):
        reason = _certificate_error(bytes(cert))  # (bytes of bytes is the object itself)
        if reason is not None:
            raise DecodeError(f"malformed {what}: certificate {n} of {len(certs)}: {reason}")


def certificate_parses(cert_der: bytes) -> bool:
    """Does cryptography parse ``cert_der`` as a certificate (the verdict remembered per DER)?"""
    return _certificate_error(bytes(cert_der)) is None


@memo(maxsize=64, max_bytes=MAX_CACHED_CERT)
def _certificate_error(cert: bytes) -> Optional[str]:
    """Why cryptography does not parse ``cert`` as a certificate (its first line), None if it does."""
    from cryptography import x509
    try:
        x509.load_der_x509_certificate(cert)
    except (ValueError, x509.InvalidVersion) as exc:
        return (str(exc).splitlines() or ["not a certificate"])[0][:120]
    return None


# ---------------------------------------------------------------- status info

class StatusInfo:
    """A decoded PKIStatusInfo: status number, status strings, failure bit numbers."""

    __slots__ = ("status", "texts", "failure_bits")

    def __init__(self, status: int, texts=(), failure_bits=()):
        self.status = int(status)
        self.texts = list(texts)
        self.failure_bits = sorted(set(failure_bits))

    @classmethod
    def from_der(cls, item: bytes) -> "StatusInfo":
        """PKIStatusInfo ::= SEQUENCE { status, statusString PKIFreeText OPTIONAL, failInfo BIT STRING OPTIONAL }."""
        parts = der.children(item) if item[:1] == b"\x30" else []
        if not parts:
            raise DecodeError("malformed PKIStatusInfo")
        status, rest, texts, bits = der.read_integer(parts[0], "PKIStatus"), parts[1:], [], []
        if rest and rest[0][0] == 0x30:
            texts = read_free_text(rest.pop(0), "malformed PKIStatusInfo statusString")
        if rest and rest[0][0] == 0x03:
            bits = der.read_bits(rest.pop(0))
        if rest:
            raise DecodeError("malformed PKIStatusInfo: unexpected component")
        return cls(status, texts, bits)

    @property
    def status_name(self) -> str:
        return STATUS_NAMES[self.status] if 0 <= self.status < len(STATUS_NAMES) else str(self.status)

    def describe(self) -> str:
        """openssl-like one-line text: status, failure names, status strings."""
        parts = [f"PKIStatus: {self.status_name}"]
        if self.failure_bits:
            names = [FAILURE_NAMES[b] if b < len(FAILURE_NAMES) else str(b) for b in self.failure_bits]
            parts.append("PKIFailureInfo: " + ", ".join(names))
        if self.texts:
            parts.append("StatusString: " + "; ".join(f'"{t}"' for t in self.texts))
        return "; ".join(parts)

    def __eq__(self, other) -> bool:
        if not isinstance(other, StatusInfo):
            return NotImplemented
        return (self.status, self.texts, self.failure_bits) == (other.status, other.texts, other.failure_bits)

    __hash__ = None  # mutable lists inside

    def __repr__(self) -> str:
        return f"StatusInfo({self.describe()})"


# ---------------------------------------------------------------- general names

def directory_name(name_der: bytes) -> bytes:
    """GeneralName directoryName [4] (explicit, Name is a CHOICE) around a DER Name."""
    return der.tlv(0xA4, name_der)


NULL_DN_GENERAL_NAME = directory_name(der.sequence())


def name_from_general_name(gn: bytes) -> Optional[bytes]:
    """The DER Name inside a directoryName GeneralName, else None."""
    if gn and gn[0] == 0xA4:
        return der.content(gn)
    return None


def same_name(a: Optional[bytes], b: Optional[bytes]) -> bool:
    """Do two DER Names denote the same entity? Equal bytes, else compared as openssl's
    canonical form does: attribute by attribute, case- and space-insensitive."""
    if a is None or b is None:
        return a is b
    if a == b:
        return True
    from .names import name_from_der

    def canon(n):
        return [[(attr.oid.dotted_string, " ".join(str(attr.value).lower().split())) for attr in rdn]
                for rdn in name_from_der(n).rdns]
    try:
        return canon(a) == canon(b)
    except CmpError:
        return False


# ---------------------------------------------------------------- the header

_OCTET_FIELDS = {"senderKID": 2, "recipKID": 3, "transactionID": 4, "senderNonce": 5, "recipNonce": 6}
_HEADER_TAGS = {"messageTime": 0, "protectionAlg": 1, **_OCTET_FIELDS, "freeText": 7, "generalInfo": 8}
_HEADER_NAMES = {n: name for name, n in _HEADER_TAGS.items()}
_GENERALIZED_TIME = re.compile(rb"(\d{14})(\.\d*[1-9])?Z")


class Header:
    """PKIHeader (RFC 9810 5.1.1) as plain fields, read and written as DER without a schema walk.

    ``sender``/``recipient`` are GeneralName TLVs, ``protection_alg`` an AlgorithmIdentifier
    TLV, ``message_time`` the GeneralizedTime text, the five OCTET STRING fields their
    contents, ``general_info`` (infoType OID, infoValue TLV or None) pairs; None for absent.
    """

    __slots__ = ("pvno", "sender", "recipient", "messageTime", "protectionAlg", *_OCTET_FIELDS,
                 "freeText", "generalInfo")

    def __init__(self, pvno: int = PVNO_CMP2000, sender: bytes = b"", recipient: bytes = b""):
        self.pvno, self.sender, self.recipient = pvno, sender, recipient
        self.messageTime: Optional[bytes] = None
        self.protectionAlg: Optional[bytes] = None
        for name in _OCTET_FIELDS:
            setattr(self, name, None)
        self.freeText: list[str] = []
        self.generalInfo: list[tuple[str, Optional[bytes]]] = []

    @classmethod
    def from_der(cls, data: bytes) -> "Header":
        tag, _start, _end = der.read_tlv(data)
        if tag != 0x30:
            raise DecodeError(f"malformed PKIHeader: tag 0x{tag:02x} where a SEQUENCE belongs")
        items = der.children(data)
        if len(items) < 3:
            raise DecodeError("malformed PKIHeader: pvno, sender and recipient are required")
        h = cls(der.read_integer(items[0], "PKIHeader pvno"), items[1], items[2])
        by_tag = _HEADER_NAMES
        last = -1
        for item in items[3:]:
            n = item[0] - 0xA0
            if n not in by_tag or n <= last:
                raise DecodeError(f"malformed PKIHeader: unexpected component tag 0x{item[0]:02x}")
            last = n
            inner = der.children(item)
            if len(inner) != 1:
                raise DecodeError(f"malformed PKIHeader: [{n}] must hold exactly one value")
            h._read_field(by_tag[n], inner[0])
        return h

    def _read_field(self, name: str, value: bytes) -> None:
        what = f"malformed PKIHeader {name}"
        if name == "messageTime":
            text = der.content(value)
            if value[0] != 0x18 or _parse_time(text) is None:
                raise DecodeError(f"{what}: a GeneralizedTime YYYYMMDDHHMMSS[.f]Z expected")
            self.messageTime = text
        elif name == "protectionAlg":
            algs.decode_algorithm_identifier(value)  # checks it
            self.protectionAlg = value
        elif name in _OCTET_FIELDS:
            if value[0] != 0x04:
                raise DecodeError(f"{what}: an OCTET STRING expected")
            setattr(self, name, der.content(value))
        elif name == "freeText":
            self.freeText = read_free_text(value, what)
        else:
            if value[0] != 0x30:
                raise DecodeError(f"{what}: a SEQUENCE OF InfoTypeAndValue expected")
            for itav in der.children(value):
                parts = der.children(itav) if itav[0] == 0x30 else []
                if not 1 <= len(parts) <= 2:
                    raise DecodeError(f"{what}: an InfoTypeAndValue is SEQUENCE {{ OID, value }}")
                self.generalInfo.append((der.read_oid(parts[0]), parts[1] if len(parts) == 2 else None))

    def to_der(self) -> bytes:
        parts = [_PVNO_DER.get(self.pvno) or der.integer(self.pvno), self.sender, self.recipient]
        if self.messageTime is not None:
            parts.append(_explicit(0xA0, 0x18, self.messageTime))
        if self.protectionAlg is not None:
            parts.append(der.tlv(0xA1, self.protectionAlg))
        for name, n in _OCTET_FIELDS.items():
            value = getattr(self, name)
            if value is not None:
                parts.append(_explicit(0xA0 | n, 0x04, value))
        if self.freeText:
            parts.append(der.tlv(0xA7, free_text_der(self.freeText)))
        if self.generalInfo:
            parts.append(der.tlv(0xA8, der.sequence(*(der.sequence(der.oid(o), v or b"")
                                                      for o, v in self.generalInfo))))
        return der.sequence(*parts)


_PVNO_DER = {1: b"\x02\x01\x01", 2: b"\x02\x01\x02", 3: b"\x02\x01\x03"}


def _explicit(outer: int, inner: int, value: bytes) -> bytes:
    """der.tlv(outer, der.tlv(inner, value)), both headers at once for a short value (issue 17)."""
    n = len(value)
    if n < 0x7E:
        return bytes((outer, n + 2, inner, n)) + value
    return der.tlv(outer, der.tlv(inner, value))


def free_text_der(texts: Iterable[str]) -> bytes:
    """PKIFreeText ::= SEQUENCE SIZE (1..MAX) OF UTF8String."""
    return der.sequence(*(der.tlv(0x0C, t.encode("utf-8")) for t in texts))


def read_free_text(value: bytes, what: str) -> list[str]:
    strings = der.children(value) if value[0] == 0x30 else []
    if not strings or any(t[0] != 0x0C for t in strings):
        raise DecodeError(f"{what}: a non-empty SEQUENCE OF UTF8String expected")
    try:
        return [der.content(t).decode("utf-8") for t in strings]
    except UnicodeDecodeError:
        raise DecodeError(f"{what}: invalid UTF-8") from None


# ---------------------------------------------------------------- the message

class PKIMessage:
    """One CMP message: its header (read into plain fields) and its other parts as DER.

    The body, the protection bits and the extraCerts stay bytes; the body's content is read by
    the reader of its type in :mod:`cmpkit.core.bodies` when someone needs it, so a message
    that is relayed, protected or checked never pays for reading it. Decoded messages keep the
    exact bytes they came from.

    ``PKIMessage.from_der(data)`` raises :class:`cmpkit.DecodeError` for anything that is not
    a well-formed message (a malformed body when its reader reads it); ``to_der()`` gives back
    the same bytes for DER input.
    """

    __slots__ = ("_hdr", "_hdr_der", "_body_tlv", "_prot", "_extra", "_der")

    def __init__(self, header, body_tlv: bytes, protection: Optional[bytes] = None,
                 extra_certs: Iterable[bytes] = (), header_der: Optional[bytes] = None,
                 der_bytes: Optional[bytes] = None):
        self._hdr = header
        self._hdr_der = header_der
        self._body_tlv = body_tlv
        self._prot = protection
        self._extra = list(extra_certs)
        self._der = der_bytes

    # -- codec
    @classmethod
    def from_der(cls, data: bytes) -> "PKIMessage":
        if type(data) is bytes:  # issue 17: one pass over the common form; anything else as below
            try:
                msg = _fast_message(data)
            except (DecodeError, IndexError):
                msg = None
            if msg is not None:
                return msg
        return cls._from_der_checked(data)

    @classmethod
    def _from_der_checked(cls, data: bytes) -> "PKIMessage":
        """from_der in full: every check in order, each with its own error."""
        if not isinstance(data, (bytes, bytearray)):
            raise DecodeError(f"expected bytes, got {type(data).__name__}")
        data = bytes(data)
        if not data:
            raise DecodeError("malformed PKIMessage: no data")
        tag, _start, end = der.read_tlv(data)
        if tag != 0x30:
            raise DecodeError(f"malformed PKIMessage: tag 0x{tag:02x} where a SEQUENCE belongs")
        if end != len(data):
            raise DecodeError(f"malformed PKIMessage: {len(data) - end} trailing bytes")
        items = der.children(data)
        if not 2 <= len(items) <= 4:
            raise DecodeError(f"malformed PKIMessage: {len(items)} components (2 to 4 expected)")
        header = Header.from_der(items[0])
        if header.pvno not in (1, 2, 3):
            raise DecodeError(f"unsupported pvno {header.pvno}")
        body_tlv = items[1]
        if body_tlv[0] & 0xE0 != 0xA0 or body_tlv[0] & 0x1F not in BODY_NAMES:
            raise DecodeError(f"malformed PKIBody: unknown body tag 0x{body_tlv[0]:02x}")
        if len(der.children(body_tlv)) != 1:
            raise DecodeError("malformed PKIBody: the tagged body must hold exactly one value")
        protection, extra, last = None, [], -1
        for item in items[2:]:
            tag = item[0]
            if tag not in (0xA0, 0xA1) or tag <= last:
                raise DecodeError(f"malformed PKIMessage: unexpected component tag 0x{tag:02x}")
            last = tag
            inner = der.children(item)
            if len(inner) != 1:
                raise DecodeError("malformed PKIMessage: a tagged component must hold exactly one value")
            if tag == 0xA0:
                bits = der.content(inner[0])
                if inner[0][0] != 0x03 or not bits or bits[0] != 0:
                    raise DecodeError("malformed protection: a BIT STRING of whole octets expected")
                protection = bits[1:]
            else:
                if inner[0][0] != 0x30:
                    raise DecodeError("malformed extraCerts: a SEQUENCE OF certificates expected")
                extra = der.children(inner[0])
                if not extra:
                    raise DecodeError("malformed extraCerts: an empty SEQUENCE (SIZE (1..MAX))")
                _check_certificates(extra, "extraCerts")
        return cls(header, body_tlv, protection, extra, header_der=items[0], der_bytes=data)

    def to_der(self) -> bytes:
        if self._der is None:
            parts = [self._header_der(), self._body_tlv]
            if self._prot is not None:
                parts.append(der.tlv(0xA0, der.tlv(0x03, b"\x00" + self._prot)))
            if self._extra:
                parts.append(der.tlv(0xA1, der.sequence(*self._extra)))
            self._der = der.sequence(*parts)
        return self._der

    def _header_der(self) -> bytes:
        if self._hdr_der is None:
            self._hdr_der = self._hdr.to_der()
        return self._hdr_der

    # -- header
    @property
    def header(self) -> Header:
        return self._hdr

    @property
    def pvno(self) -> int:
        return self._hdr.pvno

    @property
    def sender(self) -> bytes:
        """The sender GeneralName, DER."""
        return self._hdr.sender

    @property
    def recipient(self) -> bytes:
        return self._hdr.recipient

    @property
    def sender_name_der(self) -> Optional[bytes]:
        """The DER Name of a directoryName sender, else None."""
        return name_from_general_name(self.sender)

    @property
    def message_time(self) -> Optional[datetime.datetime]:
        t = self._hdr.messageTime
        return None if t is None else _parse_time(t)

    @property
    def protection_alg(self) -> Optional[bytes]:
        return self._hdr.protectionAlg

    @property
    def sender_kid(self) -> Optional[bytes]:
        return self._hdr.senderKID

    @property
    def recip_kid(self) -> Optional[bytes]:
        return self._hdr.recipKID

    @property
    def transaction_id(self) -> Optional[bytes]:
        return self._hdr.transactionID

    @property
    def sender_nonce(self) -> Optional[bytes]:
        return self._hdr.senderNonce

    @property
    def recip_nonce(self) -> Optional[bytes]:
        return self._hdr.recipNonce

    @property
    def free_text(self) -> list[str]:
        return list(self._hdr.freeText)

    @property
    def general_info(self) -> list[tuple[str, Optional[bytes]]]:
        return list(self._hdr.generalInfo)

    @property
    def implicit_confirm(self) -> bool:
        return any(oid == OID_IMPLICIT_CONFIRM for oid, _ in self._hdr.generalInfo)

    # -- body
    @property
    def body_type(self) -> str:
        return BODY_NAMES[self._body_tlv[0] & 0x1F]

    @property
    def body_content(self) -> bytes:
        """The body's value without its [n] tag: e.g. the CertReqMessages DER of an ir."""
        return der.content(self._body_tlv)

    @property
    def body_der(self) -> bytes:
        """The body as it appears in the message: its explicit [n] tag around the content's DER."""
        return self._body_tlv

    # -- protection and extraCerts
    @property
    def protection(self) -> Optional[bytes]:
        return self._prot

    @property
    def extra_certs(self) -> list[bytes]:
        return list(self._extra)

    def protected_part(self) -> bytes:
        """DER of ProtectedPart ::= SEQUENCE { header, body }: the bytes the protection covers."""
        return protection.protected_part(self._header_der(), self._body_tlv)

    # -- mutation (for builders and replay re-protection)
    def set_header_field(self, name: str, value) -> None:
        """Set (or with None reset) a header field by its ASN.1 name: bytes for the GeneralNames,
        the AlgorithmIdentifier and the OCTET STRINGs, a datetime for messageTime, strings
        for freeText, (OID, value DER or None) pairs for generalInfo."""
        h = self._hdr
        if name in ("sender", "recipient"):
            if value is None:
                raise ValueError(f"{name} is not optional")
            setattr(h, name, bytes(value))
        elif name in ("freeText", "generalInfo"):
            setattr(h, name, list(value or ()))
        elif value is None:
            setattr(h, name, None)
        elif name == "messageTime":
            h.messageTime = _time_text(value)
        elif name == "protectionAlg":
            algs.decode_algorithm_identifier(value)
            h.protectionAlg = bytes(value)
        elif name in _OCTET_FIELDS:
            setattr(h, name, bytes(value))
        else:
            raise ValueError(f"unknown header field {name!r}")
        self._hdr_der = None
        self._der = None

    def set_extra_certs(self, certs: Iterable[bytes]) -> None:
        self._extra = [bytes(c) for c in certs]
        self._der = None

    def set_protection(self, value: Optional[bytes]) -> None:
        self._prot = None if value is None else bytes(value)
        self._der = None

    # -- protection
    def protect_with_mac(self, secret: bytes, alg_der: bytes, sender_kid: Optional[bytes] = None) -> None:
        """Set protectionAlg (PBM or PBMAC1 parameters given as AlgorithmIdentifier DER) and the MAC."""
        self.set_header_field("protectionAlg", alg_der)
        if sender_kid is not None:
            self.set_header_field("senderKID", sender_kid)
        self.set_protection(protection.mac_protect(alg_der, secret, self.protected_part()))

    def protect_with_signature(self, signer, alg_der: bytes, sender_kid: Optional[bytes] = None) -> None:
        """Set protectionAlg and the signature made by ``signer`` (a cmpkit Signer)."""
        self.set_header_field("protectionAlg", alg_der)
        if sender_kid is not None:
            self.set_header_field("senderKID", sender_kid)
        self.set_protection(protection.sign(signer, alg_der, self.protected_part()))

    def is_mac_protected(self) -> bool:
        alg = self.protection_alg
        return alg is not None and protection.is_mac_algorithm(alg)

    def verify_mac(self, secret: bytes) -> None:
        """Check MAC-based protection with ``secret``; ProtectionError if missing or wrong."""
        alg, prot = self.protection_alg, self.protection
        if alg is None or prot is None:
            raise ProtectionError("message is not protected")
        protection.verify_mac(alg, secret, self.protected_part(), prot)

    def verify_signature(self, cert_der: Optional[bytes] = None) -> bytes:
        """Check signature protection with ``cert_der`` or, if None, the first extraCert.

        Returns the certificate that verified. ProtectionError if missing or wrong.
        """
        alg, prot = self.protection_alg, self.protection
        if alg is None or prot is None:
            raise ProtectionError("message is not protected")
        if cert_der is None:
            certs = self.extra_certs
            if not certs:
                raise ProtectionError("no signer certificate: none given and extraCerts is empty")
            cert_der = certs[0]
        try:
            public_key = _certificate_public_key(bytes(cert_der))
        except ValueError as exc:
            raise ProtectionError(f"cannot parse signer certificate: {exc}") from None
        protection.verify_signature(public_key, alg, self.protected_part(), prot)
        return cert_der

    def __repr__(self) -> str:
        tid = self.transaction_id.hex() if self.transaction_id else "-"
        return f"<PKIMessage {self.body_type} pvno={self.pvno} tid={tid}>"


def new_message(body_type: str, *, sender: bytes = NULL_DN_GENERAL_NAME,
                recipient: bytes = NULL_DN_GENERAL_NAME, pvno: int = PVNO_CMP2000,
                transaction_id: Optional[bytes] = None, sender_nonce: Optional[bytes] = None,
                recip_nonce: Optional[bytes] = None, sender_kid: Optional[bytes] = None,
                recip_kid: Optional[bytes] = None, free_text: Iterable[str] = (),
                general_info: Iterable[tuple[str, Optional[bytes]]] = (),
                message_time: "Optional[datetime.datetime | float]" = None,
                body=None, extra_certs: Iterable[bytes] = ()) -> PKIMessage:
    """Build an unprotected message. ``body`` is the body's content as DER (built with
    :mod:`cmpkit.core.bodies`; None for pkiconf); fresh random transactionID and senderNonce
    (16 bytes) unless given. ``message_time`` (a datetime or POSIX seconds; the caller's
    clock, the core reads none) becomes messageTime; None leaves it out."""
    if body_type not in BODY_TAG:
        raise ValueError(f"unknown body type {body_type!r}")
    h = Header(pvno, bytes(sender), bytes(recipient))
    if message_time is not None:
        h.messageTime = (_time_text(message_time) if isinstance(message_time, datetime.datetime)
                         else _now_text(int(message_time)))
    h.senderKID, h.recipKID, h.recipNonce = sender_kid, recip_kid, recip_nonce
    h.transactionID = transaction_id if transaction_id is not None else os.urandom(16)
    h.senderNonce = sender_nonce if sender_nonce is not None else os.urandom(16)
    h.freeText = list(free_text)
    h.generalInfo = [(oid, v) for oid, v in general_info]
    return PKIMessage(h, body_tlv(body_type, body), extra_certs=extra_certs)


def body_tlv(body_type: str, body: Optional[bytes] = None) -> bytes:
    """The PKIBody item for ``body`` (DER of the body's content, or None for pkiconf): the
    explicit tag [n] around the content."""
    return der.tlv(0xA0 | BODY_TAG[body_type], b"\x05\x00" if body is None else bytes(body))


# ---------------------------------------------------------------- the one-pass reader (issue 17)

_PVNOS = {encoded: pvno for pvno, encoded in _PVNO_DER.items()}
_HEADER_FIELD_TAGS = {0xA0 | n: (n, name) for n, name in _HEADER_NAMES.items()}


def _content_start(item: bytes) -> int:
    """Where the content of the single item ``item`` (short, 0x81 or 0x82 length, as der.sole gives) starts."""
    first = item[1]
    return 2 if first < 0x80 else 3 if first == 0x81 else 4


def _fast_header(data: bytes) -> Optional[Header]:
    """Header.from_der for the common form, None for anything it does not take in one pass (the caller
    then reads with the full checks, which give the error). Never more lenient: what it returns is
    what Header.from_der returns."""
    if data[0] != 0x30:
        return None
    items = der.children(data)
    if len(items) < 3:
        return None
    pvno = _PVNOS.get(items[0])
    if pvno is None:
        return None
    h = Header(pvno, items[1], items[2])
    last = -1
    fields = _HEADER_FIELD_TAGS
    for item in items[3:]:
        field = fields.get(item[0])
        if field is None or field[0] <= last:
            return None
        last = field[0]
        if item[1] < 0x80 and len(item) >= 4 and item[3] < 0x80 and item[3] + 4 == len(item) \
                and item[2] & 0x1F != 0x1F:  # short [n] around a short value: what der.sole gives, inline
            value, start = item[2:], 2
        else:
            value = der.sole(item)
            if value is None:
                return None
            start = _content_start(value)
        name = field[1]
        if name in _OCTET_FIELDS:
            if value[0] != 0x04:
                return None
            setattr(h, name, value[start:])
        elif name == "messageTime":
            text = value[start:]
            if value[0] != 0x18 or _parse_time(text) is None:
                return None
            h.messageTime = text
        elif name == "protectionAlg":
            algs.decode_algorithm_identifier(value)  # checks it (DecodeError: the full reader's error)
            h.protectionAlg = value
        else:
            h._read_field(name, value)
    return h


def _fast_message(data: bytes) -> Optional["PKIMessage"]:
    """PKIMessage.from_der for the common form in one pass, else None (see _fast_header)."""
    if len(data) < 2 or data[0] != 0x30:
        return None
    _tag, _start, end = der.read_tlv(data)
    if end != len(data):
        return None
    items = der.children(data)
    if not 2 <= len(items) <= 4:
        return None
    header = _fast_header(items[0])
    if header is None:
        return None
    body = items[1]
    if body[0] & 0xE0 != 0xA0 or body[0] & 0x1F not in BODY_NAMES or der.sole(body) is None:
        return None
    protection, extra, last = None, [], -1
    for item in items[2:]:
        tag = item[0]
        if tag not in (0xA0, 0xA1) or tag <= last:
            return None
        last = tag
        inner = der.sole(item)
        if inner is None:
            return None
        if tag == 0xA0:
            start = _content_start(inner)
            if inner[0] != 0x03 or len(inner) <= start or inner[start] != 0:
                return None
            protection = inner[start + 1:]
        else:
            if inner[0] != 0x30:
                return None
            extra = der.children(inner)
            if not extra:
                return None
            _check_certificates(extra, "extraCerts")
    return PKIMessage(header, body, protection, extra, header_der=items[0], der_bytes=data)


@memo(maxsize=64, max_bytes=MAX_CACHED_CERT)
def _certificate_public_key(cert_der: bytes):
    """The public key of a certificate (parsed once: a run checks the same signers again and again)."""
    from cryptography import x509
    return x509.load_der_x509_certificate(cert_der).public_key()


@functools.lru_cache(maxsize=16)
def _parse_time(text: bytes) -> Optional[datetime.datetime]:
    """A DER GeneralizedTime's text as an aware datetime; None if it is not a valid one."""
    m = _GENERALIZED_TIME.fullmatch(text)
    if m is None:
        return None
    base, fraction = m.groups()
    fields = (int(base[0:4]), int(base[4:6]), int(base[6:8]), int(base[8:10]), int(base[10:12]),
              int(base[12:14]), int((fraction or b".0")[1:7].ljust(6, b"0")))
    try:
        return datetime.datetime(*fields, tzinfo=datetime.timezone.utc)
    except ValueError:  # e.g. month 13
        return None


@functools.lru_cache(maxsize=2)
def _now_text(second: int) -> bytes:
    """GeneralizedTime text of a POSIX second (messageTime of a new message: one strftime a second)."""
    return _time_text(datetime.datetime.fromtimestamp(second, datetime.timezone.utc))


@functools.lru_cache(maxsize=2)
def _time_text(dt: datetime.datetime) -> bytes:
    """GeneralizedTime text (whole seconds, UTC); remembered, as a server stamps the same second many times."""
    if dt.tzinfo is not None:
        dt = dt.astimezone(datetime.timezone.utc)
    return dt.strftime("%Y%m%d%H%M%SZ").encode()
