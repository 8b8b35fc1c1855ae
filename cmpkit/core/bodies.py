"""Builders and readers for CMP bodies and CRMF requests (ir/cr/kur/p10cr/rr/genm and their answers).

Builders write DER directly (small, exact, fast) and return bytes. Readers take the DER of a
body's content (``msg.body_content``), check its structure strictly (DecodeError naming the
part) and return plain Python data: together with :class:`cmpkit.core.message.PKIMessage` they
are the one message model (a p10cr's content is the PKCS#10 request itself).
"""
from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from typing import Iterable, Optional, Sequence

from ..errors import DecodeError
from . import der
from .message import StatusInfo, read_free_text

OID_OLD_CERT_ID = "1.3.6.1.5.5.7.5.1.5"      # id-regCtrl-oldCertID
OID_REASON_CODE = "2.5.29.21"                # id-ce-cRLReasons
OID_SUBJECT_ALT_NAME = "2.5.29.17"


def _int(n: int) -> bytes:
    return der.integer(n)


def _oid(oid: str) -> bytes:
    return der.oid(oid)


def _octets(b: bytes) -> bytes:
    return der.tlv(0x04, b)


def _utf8(text: str) -> bytes:
    return der.tlv(0x0C, text.encode("utf-8"))


def _gentime(dt: datetime.datetime) -> bytes:
    return der.tlv(0x18, dt.astimezone(datetime.timezone.utc).strftime("%Y%m%d%H%M%SZ").encode())


def _time(dt: datetime.datetime) -> bytes:
    """RFC 5280 Time: UTCTime through 2049, GeneralizedTime after."""
    dt = dt.astimezone(datetime.timezone.utc)
    if dt.year < 2050:
        return der.tlv(0x17, dt.strftime("%y%m%d%H%M%SZ").encode())
    return _gentime(dt)


def extensions_der(extensions: Iterable) -> bytes:
    """DER Extensions from ``cryptography.x509.Extension`` objects or (oid, critical, value_der)."""
    items = []
    for ext in extensions:
        if isinstance(ext, tuple):
            oid, critical, value = ext
        else:
            oid, critical, value = ext.oid.dotted_string, ext.critical, ext.value.public_bytes()
        items.append(der.sequence(_oid(oid), b"\x01\x01\xff" if critical else b"", _octets(value)))
    return der.sequence(*items)


def free_text_der(texts: Sequence[str]) -> bytes:
    return der.sequence(*(_utf8(t) for t in texts))


def status_info_der(si: StatusInfo) -> bytes:
    parts = [_int(si.status)]
    if si.texts:
        parts.append(free_text_der(si.texts))
    if si.failure_bits:
        parts.append(der.bit_string(si.failure_bits))
    return der.sequence(*parts)


# ---------------------------------------------------------------- CRMF requests

@dataclass
class Template:
    """What a CertTemplate can carry; names and keys as DER, extensions as cryptography objects
    or (oid, critical, value_der) tuples."""

    subject: Optional[bytes] = None      # DER Name
    issuer: Optional[bytes] = None       # DER Name
    public_key: Optional[bytes] = None   # DER SubjectPublicKeyInfo
    not_before: Optional[datetime.datetime] = None
    not_after: Optional[datetime.datetime] = None
    serial: Optional[int] = None
    extensions: list = field(default_factory=list)

    def to_der(self) -> bytes:
        parts = []
        if self.serial is not None:
            parts.append(der.tlv(0x81, der.content(_int(self.serial))))
        if self.issuer is not None:
            parts.append(der.tlv(0xA3, self.issuer))
        if self.not_before is not None or self.not_after is not None:
            v = b""
            if self.not_before is not None:
                v += der.tlv(0xA0, _time(self.not_before))
            if self.not_after is not None:
                v += der.tlv(0xA1, _time(self.not_after))
            parts.append(der.tlv(0xA4, v))
        if self.subject is not None:
            parts.append(der.tlv(0xA5, self.subject))
        if self.public_key is not None:
            parts.append(der.tlv(0xA6, der.content(self.public_key)))
        if self.extensions:
            parts.append(der.tlv(0xA9, der.content(extensions_der(self.extensions))))
        return der.sequence(*parts)


def cert_id_der(issuer_general_name: bytes, serial: int) -> bytes:
    return der.sequence(issuer_general_name, _int(serial))


def cert_request_der(cert_req_id: int, template: Template,
                     old_cert_id: Optional[tuple[bytes, int]] = None) -> bytes:
    """CertRequest; ``old_cert_id`` = (issuer GeneralName DER, serial) adds the oldCertID control."""
    parts = [_int(cert_req_id), template.to_der()]
    if old_cert_id is not None:
        parts.append(der.sequence(der.sequence(_oid(OID_OLD_CERT_ID), cert_id_der(*old_cert_id))))
    return der.sequence(*parts)


POPO_NONE, POPO_RAVERIFIED, POPO_SIGNATURE, POPO_KEYENC = -1, 0, 1, 2


def cert_req_msg_der(cert_request: bytes, popo: int = POPO_SIGNATURE, signer=None,
                     digest: str = "sha256") -> bytes:
    """CertReqMsg with the POPO method of ``-popo``: -1 none, 0 raVerified, 1 signature over
    the CertRequest DER made by ``signer``, 2 keyEncipherment (subsequentMessage encrCert)."""
    parts = [cert_request]
    if popo == POPO_RAVERIFIED:
        parts.append(b"\x80\x00")
    elif popo == POPO_SIGNATURE:
        from . import protection
        alg = protection.signature_algorithm(signer.public_key(), digest)
        sig = protection.sign(signer, alg, cert_request)
        bits = der.tlv(0x03, b"\x00" + sig)
        parts.append(der.tlv(0xA1, alg + bits))
    elif popo == POPO_KEYENC:
        parts.append(der.tlv(0xA2, b"\x81\x01\x00"))
    return der.sequence(*parts)


def cert_req_messages_der(msgs: Iterable[bytes]) -> bytes:
    return der.sequence(*msgs)


def rev_req_der(template: Template, reason: Optional[int] = None) -> bytes:
    """RevReqContent with one RevDetails; a CRL reason code extension unless ``reason`` is None/-1."""
    parts = [template.to_der()]
    if reason is not None and reason >= 0:
        parts.append(extensions_der([(OID_REASON_CODE, False, der.tlv(0x0A, bytes([reason])))]))
    return der.sequence(der.sequence(*parts))


def genm_der(itavs: Iterable[tuple[str, Optional[bytes]]]) -> bytes:
    return der.sequence(*(der.sequence(_oid(o), v or b"") for o, v in itavs))


def cert_conf_der(entries: Iterable[tuple[bytes, int, Optional[StatusInfo], Optional[bytes]]]) -> bytes:
    """CertConfirmContent from (certHash, certReqId, statusInfo or None, hashAlg DER or None)."""
    items = []
    for cert_hash, req_id, si, hash_alg in entries:
        parts = [_octets(cert_hash), _int(req_id)]
        if si is not None:
            parts.append(status_info_der(si))
        if hash_alg is not None:
            parts.append(der.tlv(0xA0, hash_alg))
        items.append(der.sequence(*parts))
    return der.sequence(*items)


def poll_req_der(cert_req_ids: Iterable[int]) -> bytes:
    return der.sequence(*(der.sequence(_int(i)) for i in cert_req_ids))


def poll_rep_der(entries: Iterable[tuple[int, int, Sequence[str]]]) -> bytes:
    items = []
    for req_id, check_after, reason in entries:
        parts = [_int(req_id), _int(check_after)]
        if reason:
            parts.append(free_text_der(reason))
        items.append(der.sequence(*parts))
    return der.sequence(*items)


def cert_rep_der(responses: Iterable[tuple[int, StatusInfo, Optional[bytes]]],
                 ca_pubs: Sequence[bytes] = ()) -> bytes:
    """CertRepMessage from (certReqId, status, certificate DER or None) and caPubs."""
    parts = []
    if ca_pubs:
        parts.append(der.tlv(0xA1, der.sequence(*ca_pubs)))
    items = []
    for req_id, si, cert, *private_key in responses:   # a 4th item: privateKey (EncryptedKey DER)
        r = [_int(req_id), status_info_der(si)]
        if cert is not None:
            ckp = der.tlv(0xA0, cert)
            if private_key and private_key[0] is not None:   # central key generation (RFC 9483 4.1.6)
                ckp += der.tlv(0xA0, private_key[0])
            r.append(der.sequence(ckp))
        items.append(der.sequence(*r))
    parts.append(der.sequence(*items))
    return der.sequence(*parts)


def rev_rep_der(statuses: Iterable[StatusInfo], rev_certs: Sequence[bytes] = ()) -> bytes:
    parts = [der.sequence(*(status_info_der(s) for s in statuses))]
    if rev_certs:
        parts.append(der.tlv(0xA0, der.sequence(*rev_certs)))
    return der.sequence(*parts)


def error_der(si: StatusInfo, error_code: Optional[int] = None, details: Sequence[str] = ()) -> bytes:
    parts = [status_info_der(si)]
    if error_code is not None:
        parts.append(_int(error_code))
    if details:
        parts.append(free_text_der(details))
    return der.sequence(*parts)


# ---------------------------------------------------------------- readers
#
# The bodies of every enrollment (ir/cr/kur, ip/cp/kup, certConf) and of rr are read straight
# from their DER, without a schema walk: they are on every transaction's path. Each reader is
# as strict as the pyasn1 schema it replaces (tests/schema_readers.py keeps that schema reading
# as a second implementation, and the tests hold the two to the same results).

_TEMPLATE_TAGS = {0x80: "version", 0x81: "serialNumber", 0xA2: "signingAlg", 0xA3: "issuer",
                  0xA4: "validity", 0xA5: "subject", 0xA6: "publicKey", 0x87: "issuerUID",
                  0x88: "subjectUID", 0xA9: "extensions"}


def _read_time(item: bytes) -> datetime.datetime:
    """UTCTime or GeneralizedTime (DER forms, Z) as an aware datetime."""
    tag, text = item[0], der.content(item)
    try:
        if tag == 0x17 and len(text) == 13 and text.endswith(b"Z") and text[:12].isdigit():
            year = int(text[:2])
            return datetime.datetime(year + (1900 if year >= 50 else 2000), *(int(text[i:i + 2]) for i in range(2, 12, 2)),
                                     tzinfo=datetime.timezone.utc)
        if tag == 0x18 and len(text) == 15 and text.endswith(b"Z") and text[:14].isdigit():
            return datetime.datetime(int(text[:4]), *(int(text[i:i + 2]) for i in range(4, 14, 2)),
                                     tzinfo=datetime.timezone.utc)
    except ValueError:
        pass
    raise DecodeError("malformed Time in CertTemplate validity")


def _name(item: bytes, what: str) -> bytes:
    """A Name TLV, its RDNs framed as DER (their contents are cryptography's to read)."""
    if item[0] != 0x30 or any(rdn[0] != 0x31 for rdn in der.children(item)):
        raise DecodeError(f"malformed {what}: a Name expected")
    return item


def _algorithm_identifier(item: bytes, what: str) -> bytes:
    """An AlgorithmIdentifier ::= SEQUENCE { OID, parameters ANY OPTIONAL } TLV."""
    fields = der.parts(item, 0x30, what)
    if not 1 <= len(fields) <= 2:
        raise DecodeError(f"malformed {what}")
    der.read_oid(fields[0])
    return item


def _spki(item: bytes, what: str) -> bytes:
    """A SubjectPublicKeyInfo ::= SEQUENCE { AlgorithmIdentifier, BIT STRING of whole octets }."""
    fields = der.parts(item, 0x30, what)
    if len(fields) != 2 or fields[1][0] != 0x03 or der.content(fields[1])[:1] != b"\x00":
        raise DecodeError(f"malformed {what}")
    _algorithm_identifier(fields[0], what)
    return item


def _single(item: bytes, what: str) -> bytes:
    """The one TLV inside the explicitly tagged ``item``."""
    inner = der.children(item)
    if len(inner) != 1:
        raise DecodeError(f"malformed {what}: one value expected inside [{item[0] & 0x1F}]")
    return inner[0]


def extensions_from_der(items: list) -> list:
    """(OID, critical, extnValue) of each Extension ::= SEQUENCE { extnID, critical DEFAULT FALSE, extnValue }."""
    out = []
    for ext in items:
        fields = der.parts(ext, 0x30, "Extension")
        critical = False
        if len(fields) == 3:
            if fields[1] not in (b"\x01\x01\xff", b"\x01\x01\x00"):
                raise DecodeError("malformed Extension: critical must be a DER BOOLEAN")
            critical = fields[1] == b"\x01\x01\xff"
        elif len(fields) != 2:
            raise DecodeError("malformed Extension")
        out.append((der.read_oid(fields[0]), critical, der.read_octets(fields[-1])))
    return out


def read_template(item: bytes) -> Template:
    """A Template from CertTemplate DER (CRMF, implicit tags; Name and Time are explicit CHOICEs)."""
    t, last = Template(), -1
    for field_item in der.parts(item, 0x30, "CertTemplate"):
        tag = field_item[0]
        if tag not in _TEMPLATE_TAGS or (tag & 0x1F) <= last:
            raise DecodeError(f"malformed CertTemplate: unexpected component tag 0x{tag:02x}")
        last = tag & 0x1F
        name = _TEMPLATE_TAGS[tag]
        if name == "serialNumber":
            t.serial = der.read_integer(b"\x02" + field_item[1:], "CertTemplate serialNumber")
        elif name in ("issuer", "subject"):
            setattr(t, name, _name(_single(field_item, f"CertTemplate {name}"), f"CertTemplate {name}"))
        elif name == "validity":
            times = der.children(field_item)
            if [p[0] for p in times] not in ([], [0xA0], [0xA1], [0xA0, 0xA1]):
                raise DecodeError("malformed CertTemplate validity")
            for part in times:
                when = _read_time(_single(part, "CertTemplate validity"))
                if part[0] == 0xA0:
                    t.not_before = when
                else:
                    t.not_after = when
        elif name == "publicKey":
            t.public_key = _spki(b"\x30" + field_item[1:], "CertTemplate publicKey")  # implicit [6]
        elif name == "signingAlg":
            _algorithm_identifier(b"\x30" + field_item[1:], "CertTemplate signingAlg")
        elif name == "extensions":
            t.extensions = extensions_from_der(der.children(field_item))
        elif name in ("issuerUID", "subjectUID"):
            bits = der.content(field_item)
            if not bits or bits[0] > 7:
                raise DecodeError(f"malformed CertTemplate {name}")
        elif name == "version":
            der.read_integer(b"\x02" + field_item[1:], "CertTemplate version")
    return t


@dataclass
class CertRequestInfo:
    """One decoded CertReqMsg: id, template, oldCertID, POPO kind and the CertRequest DER."""

    cert_req_id: int
    template: Template
    old_cert_id: Optional[tuple[bytes, int]]
    popo: Optional[str]           # None, "raVerified", "signature", "keyEncipherment", "keyAgreement"
    popo_alg: Optional[bytes]     # signature AlgorithmIdentifier DER
    popo_signature: Optional[bytes]
    popo_has_input: bool
    cert_request_der: bytes
    popo_input: Optional[bytes] = None              # POPOSigningKeyInput as a SEQUENCE (what is signed)
    popo_input_public_key: Optional[bytes] = None   # its SubjectPublicKeyInfo


_POPO_NAMES = {0x80: "raVerified", 0xA1: "signature", 0xA2: "keyEncipherment", 0xA3: "keyAgreement"}


def read_cert_requests(body: bytes) -> list[CertRequestInfo]:
    """The requests of CertReqMessages DER (an ir/cr/kur body's content)."""
    out = []
    for msg in der.parts(body, 0x30, "CertReqMessages"):
        fields = der.parts(msg, 0x30, "CertReqMsg")
        if not 1 <= len(fields) <= 3:
            raise DecodeError("malformed CertReqMsg")
        req = fields[0]
        req_fields = der.parts(req, 0x30, "CertRequest")
        if len(req_fields) not in (2, 3):
            raise DecodeError("malformed CertRequest")
        old = None
        if len(req_fields) == 3:
            for atv in der.parts(req_fields[2], 0x30, "Controls"):
                type_value = der.parts(atv, 0x30, "AttributeTypeAndValue")
                if len(type_value) != 2:
                    raise DecodeError("malformed AttributeTypeAndValue in Controls")
                if der.read_oid(type_value[0]) == OID_OLD_CERT_ID:
                    cid = der.parts(type_value[1], 0x30, "CertId")
                    if len(cid) != 2:
                        raise DecodeError("malformed CertId")
                    old = (cid[0], der.read_integer(cid[1], "CertId serialNumber"))
        popo = alg = sig = pin = pin_key = None
        rest = fields[1:]
        if rest and rest[0][0] in _POPO_NAMES:
            item = rest.pop(0)
            popo = _POPO_NAMES[item[0]]
            if popo == "raVerified" and item != b"\x80\x00":
                raise DecodeError("malformed ProofOfPossession: raVerified is NULL")
            if popo == "signature":
                sk = der.children(item)
                if sk and sk[0][0] == 0xA0:
                    pin = b"\x30" + sk.pop(0)[1:]  # implicit [0] -> SEQUENCE
                    pin_fields = der.children(pin)
                    if len(pin_fields) != 2 or pin_fields[0][0] not in (0xA0, 0x30):
                        raise DecodeError("malformed POPOSigningKeyInput")
                    pin_key = _spki(pin_fields[1], "POPOSigningKeyInput publicKey")
                if len(sk) != 2 or sk[1][0] != 0x03:
                    raise DecodeError("malformed POPOSigningKey")
                alg, sig = _algorithm_identifier(sk[0], "POPOSigningKey algorithm"), der.content(sk[1])
                if not sig or sig[0] != 0:
                    raise DecodeError("malformed POPOSigningKey signature")
                sig = sig[1:]
        if rest and (len(rest) > 1 or rest[0][0] != 0x30):
            raise DecodeError("malformed CertReqMsg: unexpected component")
        out.append(CertRequestInfo(der.read_integer(req_fields[0], "CertRequest certReqId"), read_template(req_fields[1]), old,
                                   popo, alg, sig, pin is not None, req, pin, pin_key))
    return out


@dataclass
class CertResponseInfo:
    cert_req_id: int
    status: StatusInfo
    cert: Optional[bytes]       # DER certificate, if a plain certificate was returned
    encrypted: bool             # an encryptedCert was returned
    private_key: Optional[bytes] = None   # CertifiedKeyPair.privateKey: the EncryptedKey item (central key generation)


def read_cert_rep(body: bytes) -> tuple[list[bytes], list[CertResponseInfo]]:
    """(caPubs, responses) of CertRepMessage DER (an ip/cp/kup body's content)."""
    fields = der.parts(body, 0x30, "CertRepMessage")
    ca_pubs = []
    if fields and fields[0][0] == 0xA1:
        ca_pubs = der.parts(_single(fields.pop(0), "caPubs"), 0x30, "caPubs")
        if not ca_pubs or any(c[0] != 0x30 for c in ca_pubs):
            raise DecodeError("malformed caPubs")
    if len(fields) != 1:
        raise DecodeError("malformed CertRepMessage")
    out = []
    for r in der.parts(fields[0], 0x30, "CertRepMessage response"):
        rf = der.parts(r, 0x30, "CertResponse")
        if len(rf) < 2:
            raise DecodeError("malformed CertResponse")
        cert, enc, rest, private_key = None, False, rf[2:], None
        if rest and rest[0][0] == 0x30:
            pair = der.children(rest.pop(0))
            if not pair or pair[0][0] not in (0xA0, 0xA1):
                raise DecodeError("malformed CertOrEncCert")
            if pair[0][0] == 0xA0:
                cert = _single(pair[0], "CertOrEncCert")
                if cert[0] != 0x30:
                    raise DecodeError("malformed CertOrEncCert certificate")
            else:
                enc = True
            if any(p[0] not in (0xA0, 0xA1) for p in pair[1:]) or len(pair) > 3:
                raise DecodeError("malformed CertifiedKeyPair")
            if len(pair) > 1 and pair[1][0] == 0xA0:
                private_key = _single(pair[1], "CertifiedKeyPair privateKey")
        if rest and (len(rest) > 1 or rest[0][0] != 0x04):
            raise DecodeError("malformed CertResponse: unexpected component")
        out.append(CertResponseInfo(der.read_integer(rf[0], "CertResponse certReqId"), StatusInfo.from_der(rf[1]), cert, enc,
                                    private_key))
    return ca_pubs, out


def read_rev_rep(body: bytes) -> list[StatusInfo]:
    """The statuses of RevRepContent DER: SEQUENCE { status SEQUENCE OF PKIStatusInfo,
    revCerts [0] SEQUENCE OF CertId OPTIONAL, crls [1] SEQUENCE OF CertificateList OPTIONAL }."""
    fields = der.parts(body, 0x30, "RevRepContent")
    tags = [f[0] for f in fields[1:]]
    if not fields or tags not in ([], [0xA0], [0xA1], [0xA0, 0xA1]):
        raise DecodeError("malformed RevRepContent")
    for f in fields[1:]:
        der.parts(_single(f, "RevRepContent revCerts or crls"), 0x30, "RevRepContent revCerts or crls")
    return [StatusInfo.from_der(si) for si in der.parts(fields[0], 0x30, "RevRepContent status")]


def read_error(body: bytes) -> tuple[StatusInfo, Optional[int], list[str]]:
    """(status, errorCode or None, errorDetails) of ErrorMsgContent DER: SEQUENCE { pKIStatusInfo,
    errorCode INTEGER OPTIONAL, errorDetails PKIFreeText OPTIONAL }."""
    fields = der.parts(body, 0x30, "ErrorMsgContent")
    if not fields:
        raise DecodeError("malformed ErrorMsgContent: no pKIStatusInfo")
    si, rest, code, details = StatusInfo.from_der(fields[0]), fields[1:], None, []
    if rest and rest[0][0] == 0x02:
        code = der.read_integer(rest.pop(0), "ErrorMsgContent errorCode")
    if rest and rest[0][0] == 0x30:
        details = read_free_text(rest.pop(0), "malformed ErrorMsgContent errorDetails")
    if rest:
        raise DecodeError("malformed ErrorMsgContent: unexpected component")
    return si, code, details


def read_itavs(body: bytes) -> list[tuple[str, Optional[bytes]]]:
    """(infoType OID, infoValue DER or None) of GenMsgContent/GenRepContent DER (SEQUENCE OF InfoTypeAndValue)."""
    out = []
    for itav in der.parts(body, 0x30, "InfoTypeAndValues"):
        fields = der.parts(itav, 0x30, "InfoTypeAndValue")
        if len(fields) not in (1, 2):
            raise DecodeError("malformed InfoTypeAndValue")
        out.append((der.read_oid(fields[0]), fields[1] if len(fields) == 2 else None))
    return out


def read_cert_conf(body: bytes) -> list[tuple[bytes, int, Optional[StatusInfo], Optional[bytes]]]:
    """(certHash, certReqId, statusInfo or None, hashAlg DER or None) of CertConfirmContent DER."""
    out = []
    for cs in der.parts(body, 0x30, "CertConfirmContent"):
        fields = der.parts(cs, 0x30, "CertStatus")
        if len(fields) < 2:
            raise DecodeError("malformed CertStatus")
        si = alg = None
        rest = fields[2:]
        if rest and rest[0][0] == 0x30:
            si = StatusInfo.from_der(rest.pop(0))
        if rest and rest[0][0] == 0xA0:
            alg = _algorithm_identifier(_single(rest.pop(0), "CertStatus hashAlg"), "CertStatus hashAlg")
        if rest:
            raise DecodeError("malformed CertStatus: unexpected component")
        out.append((der.read_octets(fields[0]), der.read_integer(fields[1], "CertStatus certReqId"), si, alg))
    return out


def read_poll_rep(body: bytes) -> list[tuple[int, int, list[str]]]:
    """(certReqId, checkAfter, reason texts) of PollRepContent DER:
    SEQUENCE OF SEQUENCE { certReqId INTEGER, checkAfter INTEGER, reason PKIFreeText OPTIONAL }."""
    out = []
    for rep in der.parts(body, 0x30, "PollRepContent"):
        fields = der.parts(rep, 0x30, "PollRep")
        if len(fields) not in (2, 3) or (len(fields) == 3 and fields[2][0] != 0x30):
            raise DecodeError("malformed PollRep")
        reasons = read_free_text(fields[2], "malformed PollRep reason") if len(fields) == 3 else []
        out.append((der.read_integer(fields[0], "PollRep certReqId"),
                    der.read_integer(fields[1], "PollRep checkAfter"), reasons))
    return out


def read_poll_req(body: bytes) -> list[int]:
    """The certReqIds of PollReqContent DER: SEQUENCE OF SEQUENCE { certReqId INTEGER }."""
    out = []
    for req in der.parts(body, 0x30, "PollReqContent"):
        fields = der.parts(req, 0x30, "PollReq")
        if len(fields) != 1:
            raise DecodeError("malformed PollReq")
        out.append(der.read_integer(fields[0], "PollReq certReqId"))
    return out


def read_rev_details(body: bytes) -> list[tuple[Template, Optional[int]]]:
    """(certDetails, CRL reason code or None) of each RevDetails of RevReqContent DER."""
    out = []
    for rd in der.parts(body, 0x30, "RevReqContent"):
        fields = der.parts(rd, 0x30, "RevDetails")
        if len(fields) not in (1, 2):
            raise DecodeError("malformed RevDetails")
        reason = None
        if len(fields) == 2:
            for oid, _critical, v in extensions_from_der(der.parts(fields[1], 0x30, "crlEntryDetails")):
                if oid == OID_REASON_CODE:
                    reason = v[-1] if len(v) == 3 and v[0] == 0x0A else None
        out.append((read_template(fields[0]), reason))
    return out


def _read_csr(body: bytes) -> bytes:
    """A p10cr's content: the PKCS#10 request itself (checked to parse, signature not verified)."""
    from cryptography import x509
    try:
        x509.load_der_x509_csr(body)
    except ValueError as exc:
        raise DecodeError(f"malformed PKCS#10 request in p10cr: {str(exc).splitlines()[0] if str(exc) else ''}") from None
    return body


def _read_null(body: bytes) -> None:
    if body != b"\x05\x00":
        raise DecodeError("malformed PKIConfirmContent: NULL expected")
    return None


#: body type -> the reader of its content
READERS = {
    "ir": read_cert_requests, "cr": read_cert_requests, "kur": read_cert_requests, "p10cr": _read_csr,
    "ip": read_cert_rep, "cp": read_cert_rep, "kup": read_cert_rep, "rr": read_rev_details, "rp": read_rev_rep,
    "genm": read_itavs, "genp": read_itavs, "error": read_error, "certConf": read_cert_conf,
    "pollReq": read_poll_req, "pollRep": read_poll_rep, "pkiconf": _read_null,
}


def read_body(msg) -> object:
    """The content of ``msg``'s body, read by the reader of its type; the bodies cmpkit does not
    use (popdecc, ckuann, nested ...) come back as their DER, bounds-checked."""
    reader = READERS.get(msg.body_type)
    if reader is None:
        der.check_bounds(msg.body_content, f"{msg.body_type} body")
        return msg.body_content
    return reader(msg.body_content)
