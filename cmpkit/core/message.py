"""PKIMessage: decode, inspect, build and protect CMP messages (RFC 9810 section 5.1)."""
from __future__ import annotations

import datetime
import os
from typing import Iterable, Optional

from pyasn1.codec.der import decoder as _decoder
from pyasn1.codec.der import encoder as _encoder
from pyasn1.error import PyAsn1Error
from pyasn1.type import char, univ, useful

from ..errors import CmpError, DecodeError, ProtectionError
from . import asn1, der

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
STATUS_NAMES = ("accepted", "grantedWithMods", "rejection", "waiting", "revocationWarning",
                "revocationNotification", "keyUpdateWarning")


def _decode(data: bytes, spec):
    try:
        value, rest = _decoder.decode(data, asn1Spec=spec)
    except DecodeError:
        raise
    except (PyAsn1Error, ValueError, TypeError, IndexError, KeyError, AttributeError,
            OverflowError, UnicodeError, RecursionError) as exc:
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]
        raise DecodeError(f"malformed {type(spec).__name__}: {reason}") from None
    if rest:
        raise DecodeError(f"malformed {type(spec).__name__}: {len(rest)} trailing bytes")
    return value


def decode(data: bytes, spec):
    """Decode DER ``data`` with a schema from :mod:`cmpkit.core.asn1`; DecodeError on any problem."""
    if not isinstance(data, (bytes, bytearray)):
        raise DecodeError(f"expected bytes, got {type(data).__name__}")
    if not data:
        raise DecodeError(f"malformed {type(spec).__name__}: no data")
    return _decode(bytes(data), spec)


def encode(value) -> bytes:
    return _encoder.encode(value)


# ---------------------------------------------------------------- status info

class StatusInfo:
    """A decoded PKIStatusInfo: status number, status strings, failure bit numbers."""

    __slots__ = ("status", "texts", "failure_bits")

    def __init__(self, status: int, texts=(), failure_bits=()):
        self.status = int(status)
        self.texts = list(texts)
        self.failure_bits = sorted(set(failure_bits))

    @classmethod
    def from_asn1(cls, si) -> "StatusInfo":
        texts = [str(t) for t in si["statusString"]] if si["statusString"].isValue else []
        bits = []
        if si["failInfo"].isValue:
            bits = [i for i, b in enumerate(si["failInfo"]) if b]
        return cls(int(si["status"]), texts, bits)

    def to_asn1(self, spec=None):
        si = spec if spec is not None else asn1.PKIStatusInfo()
        si["status"] = self.status
        if self.texts:
            ft = si["statusString"]
            for i, t in enumerate(self.texts):
                ft[i] = t
        if self.failure_bits:
            nbits = max(self.failure_bits) + 1
            si["failInfo"] = univ.BitString(
                binValue="".join("1" if i in self.failure_bits else "0" for i in range(nbits)))
        return si

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


# ---------------------------------------------------------------- the message

class PKIMessage:
    """One CMP message: its header (a small pyasn1 value) and its other parts as DER.

    The body, the protection bits and the extraCerts stay bytes; the body is decoded with its
    schema only when :attr:`body` is read, so a message that is relayed, protected or checked
    never pays for a full schema walk. Decoded messages keep the exact bytes they came from.

    ``PKIMessage.from_der(data)`` raises :class:`cmpkit.DecodeError` for anything that is not
    a well-formed message (a malformed body when :attr:`body` is read); ``to_der()`` gives back
    the same bytes for DER input.
    """

    __slots__ = ("_hdr", "_hdr_der", "_body_tlv", "_body", "_prot", "_extra", "_der")

    def __init__(self, header, body_tlv: bytes, protection: Optional[bytes] = None,
                 extra_certs: Iterable[bytes] = (), header_der: Optional[bytes] = None,
                 der_bytes: Optional[bytes] = None):
        self._hdr = header
        self._hdr_der = header_der
        self._body_tlv = body_tlv
        self._body = None
        self._prot = protection
        self._extra = list(extra_certs)
        self._der = der_bytes

    # -- codec
    @classmethod
    def from_der(cls, data: bytes) -> "PKIMessage":
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
        header = decode(items[0], asn1.PKIHeader())
        if int(header["pvno"]) not in (1, 2, 3):
            raise DecodeError(f"unsupported pvno {int(header['pvno'])}")
        body_tlv = items[1]
        if body_tlv[0] & 0xE0 != 0xA0 or body_tlv[0] & 0x1F not in asn1.BODY_TYPES:
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
                if any(c[0] != 0x30 for c in extra):
                    raise DecodeError("malformed extraCerts: each certificate must be a SEQUENCE")
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
            self._hdr_der = encode(self._hdr)
        return self._hdr_der

    # -- header
    @property
    def header(self):
        """The pyasn1 value of the header."""
        return self._hdr

    def _opt_bytes(self, field) -> Optional[bytes]:
        v = self._hdr[field]
        return bytes(v) if v.isValue else None

    @property
    def pvno(self) -> int:
        return int(self._hdr["pvno"])

    @property
    def sender(self) -> bytes:
        """The sender GeneralName, DER."""
        return bytes(self._hdr["sender"])

    @property
    def recipient(self) -> bytes:
        return bytes(self._hdr["recipient"])

    @property
    def sender_name_der(self) -> Optional[bytes]:
        """The DER Name of a directoryName sender, else None."""
        return name_from_general_name(self.sender)

    @property
    def message_time(self) -> Optional[datetime.datetime]:
        t = self._hdr["messageTime"]
        return t.asDateTime if t.isValue else None

    @property
    def protection_alg(self) -> Optional[bytes]:
        a = self._hdr["protectionAlg"]
        return der.content(encode(a)) if a.isValue else None  # strip the explicit [1]

    @property
    def sender_kid(self) -> Optional[bytes]:
        return self._opt_bytes("senderKID")

    @property
    def recip_kid(self) -> Optional[bytes]:
        return self._opt_bytes("recipKID")

    @property
    def transaction_id(self) -> Optional[bytes]:
        return self._opt_bytes("transactionID")

    @property
    def sender_nonce(self) -> Optional[bytes]:
        return self._opt_bytes("senderNonce")

    @property
    def recip_nonce(self) -> Optional[bytes]:
        return self._opt_bytes("recipNonce")

    @property
    def free_text(self) -> list[str]:
        ft = self._hdr["freeText"]
        return [str(t) for t in ft] if ft.isValue else []

    @property
    def general_info(self) -> list[tuple[str, Optional[bytes]]]:
        gi = self._hdr["generalInfo"]
        if not gi.isValue:
            return []
        return [(str(i["infoType"]), bytes(i["infoValue"]) if i["infoValue"].isValue else None)
                for i in gi]

    @property
    def implicit_confirm(self) -> bool:
        return any(oid == OID_IMPLICIT_CONFIRM for oid, _ in self.general_info)

    # -- body
    @property
    def body_type(self) -> str:
        return asn1.BODY_TYPES[self._body_tlv[0] & 0x1F][0]

    @property
    def body(self):
        """The pyasn1 value of the body (its type depends on body_type), decoded on first use."""
        if self._body is None:
            self._body = decode(self._body_tlv, asn1.PKIBody()).getComponent()
        return self._body

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
        return der.sequence(self._header_der(), self._body_tlv)

    # -- mutation (for builders and replay re-protection)
    def set_header_field(self, name: str, value) -> None:
        h = self._hdr
        if value is None:
            h.setComponentByName(name, univ.noValue)  # reset an optional component
        elif name in ("sender", "recipient"):
            h[name] = univ.Any(value)
        elif name == "messageTime":
            h[name] = h[name].clone(value)
        elif name == "protectionAlg":
            alg = decode(value, asn1.AlgorithmIdentifier())
            target = h[name]
            target["algorithm"] = alg["algorithm"]
            if alg["parameters"].isValue:
                target["parameters"] = alg["parameters"]
            else:
                target.setComponentByName("parameters", univ.noValue)
        elif name in ("freeText",):
            ft = h[name]
            ft.clear()
            for i, t in enumerate(value):
                ft[i] = t
        elif name == "generalInfo":
            gi = h[name]
            gi.clear()
            for i, (oid, v) in enumerate(value):
                gi[i]["infoType"] = univ.ObjectIdentifier(oid)
                if v is not None:
                    gi[i]["infoValue"] = univ.Any(v)
        else:
            h[name] = h[name].clone(value)
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
        from . import protection
        self.set_header_field("protectionAlg", alg_der)
        if sender_kid is not None:
            self.set_header_field("senderKID", sender_kid)
        self.set_protection(protection.mac_protect(alg_der, secret, self.protected_part()))

    def protect_with_signature(self, signer, alg_der: bytes, sender_kid: Optional[bytes] = None) -> None:
        """Set protectionAlg and the signature made by ``signer`` (a cmpkit Signer)."""
        from . import protection
        self.set_header_field("protectionAlg", alg_der)
        if sender_kid is not None:
            self.set_header_field("senderKID", sender_kid)
        self.set_protection(protection.sign(signer, alg_der, self.protected_part()))

    def is_mac_protected(self) -> bool:
        from . import protection
        alg = self.protection_alg
        return alg is not None and protection.is_mac_algorithm(alg)

    def verify_mac(self, secret: bytes) -> None:
        """Check MAC-based protection with ``secret``; ProtectionError if missing or wrong."""
        from . import protection
        alg, prot = self.protection_alg, self.protection
        if alg is None or prot is None:
            raise ProtectionError("message is not protected")
        protection.verify_mac(alg, secret, self.protected_part(), prot)

    def verify_signature(self, cert_der: Optional[bytes] = None) -> bytes:
        """Check signature protection with ``cert_der`` or, if None, the first extraCert.

        Returns the certificate that verified. ProtectionError if missing or wrong.
        """
        from cryptography import x509

        from . import protection
        alg, prot = self.protection_alg, self.protection
        if alg is None or prot is None:
            raise ProtectionError("message is not protected")
        if cert_der is None:
            certs = self.extra_certs
            if not certs:
                raise ProtectionError("no signer certificate: none given and extraCerts is empty")
            cert_der = certs[0]
        try:
            cert = x509.load_der_x509_certificate(cert_der)
        except ValueError as exc:
            raise ProtectionError(f"cannot parse signer certificate: {exc}") from None
        protection.verify_signature(cert.public_key(), alg, self.protected_part(), prot)
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
                message_time: Optional[datetime.datetime] = None, with_time: bool = True,
                body=None, extra_certs: Iterable[bytes] = ()) -> PKIMessage:
    """Build an unprotected message. ``body`` is the body's content as DER or as a pyasn1 value
    of the body's schema (None for pkiconf); fresh random transactionID and senderNonce
    (16 bytes) unless given."""
    if body_type not in asn1.BODY_TAG:
        raise ValueError(f"unknown body type {body_type!r}")
    h = asn1.PKIHeader()
    h["pvno"] = pvno
    h["sender"] = univ.Any(sender)
    h["recipient"] = univ.Any(recipient)
    if with_time:
        t = message_time or datetime.datetime.now(datetime.timezone.utc)
        h["messageTime"] = h["messageTime"].clone(t.strftime("%Y%m%d%H%M%SZ"))
    for field, value in (("senderKID", sender_kid), ("recipKID", recip_kid),
                         ("transactionID", transaction_id if transaction_id is not None else os.urandom(16)),
                         ("senderNonce", sender_nonce if sender_nonce is not None else os.urandom(16)),
                         ("recipNonce", recip_nonce)):
        if value is not None:
            h[field] = h[field].clone(value)
    free_text = list(free_text)
    if free_text:
        for i, t in enumerate(free_text):
            h["freeText"][i] = t
    general_info = list(general_info)
    for i, (oid, v) in enumerate(general_info):
        h["generalInfo"][i]["infoType"] = univ.ObjectIdentifier(oid)
        if v is not None:
            h["generalInfo"][i]["infoValue"] = univ.Any(v)
    return PKIMessage(h, body_tlv(body_type, body), extra_certs=extra_certs)


def body_tlv(body_type: str, body=None) -> bytes:
    """The PKIBody item for ``body`` (DER of the body's content, a pyasn1 value of its schema,
    or None for pkiconf): the explicit tag [n] around the content's encoding."""
    if body is None:
        inner = b"\x05\x00"  # NULL
    elif isinstance(body, (bytes, bytearray)):
        inner = bytes(body)
    else:
        inner = encode(body)
    return der.tlv(0xA0 | asn1.BODY_TAG[body_type], inner)


def utf8(text: str):
    return char.UTF8String(text)


def generalized_time(dt: datetime.datetime):
    return useful.GeneralizedTime(dt.astimezone(datetime.timezone.utc).strftime("%Y%m%d%H%M%SZ"))
