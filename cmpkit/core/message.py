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
    """One CMP message: its pyasn1 value plus, when decoded, the exact bytes it came from.

    ``PKIMessage.from_der(data)`` raises :class:`cmpkit.DecodeError` for anything that is not
    a well-formed message; ``to_der()`` gives back the same bytes for DER input.
    """

    __slots__ = ("_m", "_der")

    def __init__(self, value, der_bytes: Optional[bytes] = None):
        self._m = value
        self._der = der_bytes

    # -- codec
    @classmethod
    def from_der(cls, data: bytes) -> "PKIMessage":
        value = decode(data, asn1.PKIMessage())
        if int(value["header"]["pvno"]) not in (1, 2, 3):
            raise DecodeError(f"unsupported pvno {int(value['header']['pvno'])}")
        return cls(value, bytes(data))

    def to_der(self) -> bytes:
        if self._der is None:
            self._der = encode(self._m)
        return self._der

    def _changed(self):
        self._der = None

    @property
    def asn1(self):
        """The underlying pyasn1 value (for builders and the mock server)."""
        return self._m

    # -- header
    @property
    def header(self):
        return self._m["header"]

    def _opt_bytes(self, field) -> Optional[bytes]:
        v = self._m["header"][field]
        return bytes(v) if v.isValue else None

    @property
    def pvno(self) -> int:
        return int(self.header["pvno"])

    @property
    def sender(self) -> bytes:
        """The sender GeneralName, DER."""
        return bytes(self.header["sender"])

    @property
    def recipient(self) -> bytes:
        return bytes(self.header["recipient"])

    @property
    def sender_name_der(self) -> Optional[bytes]:
        """The DER Name of a directoryName sender, else None."""
        return name_from_general_name(self.sender)

    @property
    def message_time(self) -> Optional[datetime.datetime]:
        t = self.header["messageTime"]
        return t.asDateTime if t.isValue else None

    @property
    def protection_alg(self) -> Optional[bytes]:
        a = self.header["protectionAlg"]
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
        ft = self.header["freeText"]
        return [str(t) for t in ft] if ft.isValue else []

    @property
    def general_info(self) -> list[tuple[str, Optional[bytes]]]:
        gi = self.header["generalInfo"]
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
        return self._m["body"].getName()

    @property
    def body(self):
        """The pyasn1 value of the body (its type depends on body_type)."""
        return self._m["body"].getComponent()

    # -- protection and extraCerts
    @property
    def protection(self) -> Optional[bytes]:
        p = self._m["protection"]
        return p.asOctets() if p.isValue else None

    @property
    def extra_certs(self) -> list[bytes]:
        ec = self._m["extraCerts"]
        return [bytes(c) for c in ec] if ec.isValue else []

    def protected_part(self) -> bytes:
        """DER of ProtectedPart ::= SEQUENCE { header, body }: the bytes the protection covers."""
        data = self.to_der()
        items = der.children(data)
        return der.sequence(items[0], items[1])

    # -- mutation (for builders and replay re-protection)
    def set_header_field(self, name: str, value) -> None:
        h = self._m["header"]
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
        self._changed()

    def set_extra_certs(self, certs: Iterable[bytes]) -> None:
        certs = list(certs)
        if certs:
            ec = self._m["extraCerts"]
            ec.clear()
            for i, c in enumerate(certs):
                ec[i] = univ.Any(c)
        else:
            self._m.setComponentByName("extraCerts", univ.noValue)
        self._changed()

    def set_protection(self, value: Optional[bytes]) -> None:
        if value is None:
            self._m.setComponentByName("protection", univ.noValue)
        else:
            self._m["protection"] = self._m["protection"].clone(univ.BitString.fromOctetString(value))
        self._changed()

    # -- protection
    def protect_with_mac(self, secret: bytes, alg_der: bytes, sender_kid: Optional[bytes] = None) -> None:
        """Set protectionAlg (PBM or PBMAC1 parameters given as AlgorithmIdentifier DER) and the MAC."""
        from . import protection
        self.set_header_field("protectionAlg", alg_der)
        if sender_kid is not None:
            self.set_header_field("senderKID", sender_kid)
        self.set_protection(None)
        self.set_protection(protection.mac_protect(alg_der, secret, self.protected_part()))

    def protect_with_signature(self, signer, alg_der: bytes, sender_kid: Optional[bytes] = None) -> None:
        """Set protectionAlg and the signature made by ``signer`` (a cmpkit Signer)."""
        from . import protection
        self.set_header_field("protectionAlg", alg_der)
        if sender_kid is not None:
            self.set_header_field("senderKID", sender_kid)
        self.set_protection(None)
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
    """Build an unprotected message. ``body`` is a pyasn1 value of the body's schema (or None
    for pkiconf); fresh random transactionID and senderNonce (16 bytes) unless given."""
    if body_type not in asn1.BODY_TAG:
        raise ValueError(f"unknown body type {body_type!r}")
    m = asn1.PKIMessage()
    h = m["header"]
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
    m["body"] = body_choice(body_type, body)
    msg = PKIMessage(m)
    if extra_certs:
        msg.set_extra_certs(extra_certs)
    return msg


def body_choice(body_type: str, body=None):
    """A PKIBody holding ``body`` (an untagged value of the body's schema, its DER, or None for
    pkiconf): the explicit tag [n] is put around the untagged encoding."""
    if body is None:
        inner = b"\x05\x00"  # NULL
    elif isinstance(body, (bytes, bytearray)):
        inner = bytes(body)
    else:
        inner = encode(body)
    return decode(der.tlv(0xA0 | asn1.BODY_TAG[body_type], inner), asn1.PKIBody())


def utf8(text: str):
    return char.UTF8String(text)


def generalized_time(dt: datetime.datetime):
    return useful.GeneralizedTime(dt.astimezone(datetime.timezone.utc).strftime("%Y%m%d%H%M%SZ"))
