"""Builders and readers for CMP bodies and CRMF requests (ir/cr/kur/p10cr/rr/genm and their answers).

Builders write DER directly (small, exact, fast) and return bytes; ``new_message`` decodes them
into the body, which also checks them against the schema. Readers take the pyasn1 values of a
decoded :class:`~cmpkit.core.message.PKIMessage` and return plain Python data.
"""
from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from typing import Iterable, Optional, Sequence

from pyasn1.type import char, univ, useful

from ..errors import DecodeError
from . import asn1, der
from .message import StatusInfo, decode, encode

OID_OLD_CERT_ID = "1.3.6.1.5.5.7.5.1.5"      # id-regCtrl-oldCertID
OID_REASON_CODE = "2.5.29.21"                # id-ce-cRLReasons
OID_SUBJECT_ALT_NAME = "2.5.29.17"


def _int(n: int) -> bytes:
    return encode(univ.Integer(n))


def _oid(oid: str) -> bytes:
    return encode(univ.ObjectIdentifier(oid))


def _octets(b: bytes) -> bytes:
    return der.tlv(0x04, b)


def _utf8(text: str) -> bytes:
    return encode(char.UTF8String(text))


def _gentime(dt: datetime.datetime) -> bytes:
    return encode(useful.GeneralizedTime(dt.astimezone(datetime.timezone.utc).strftime("%Y%m%d%H%M%SZ")))


def _time(dt: datetime.datetime) -> bytes:
    """RFC 5280 Time: UTCTime through 2049, GeneralizedTime after."""
    dt = dt.astimezone(datetime.timezone.utc)
    if dt.year < 2050:
        return encode(useful.UTCTime(dt.strftime("%y%m%d%H%M%SZ")))
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
        parts.append(encode(univ.BitString(binValue="".join(
            "1" if i in si.failure_bits else "0" for i in range(max(si.failure_bits) + 1)))))
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
    for req_id, si, cert in responses:
        r = [_int(req_id), status_info_der(si)]
        if cert is not None:
            r.append(der.sequence(der.tlv(0xA0, cert)))
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

def _tagged_inner(value) -> bytes:
    """DER of the value inside an explicitly tagged component."""
    return der.content(encode(value))


def read_template(tpl) -> Template:
    """A Template from a decoded CertTemplate value."""
    t = Template()
    if tpl["subject"].isValue:
        t.subject = _tagged_inner(tpl["subject"])
    if tpl["issuer"].isValue:
        t.issuer = _tagged_inner(tpl["issuer"])
    if tpl["publicKey"].isValue:
        t.public_key = b"\x30" + encode(tpl["publicKey"])[1:]  # implicit [6] -> SEQUENCE
    if tpl["serialNumber"].isValue:
        t.serial = int(tpl["serialNumber"])
    if tpl["validity"].isValue:
        v = tpl["validity"]
        for name, attr in (("notBefore", "not_before"), ("notAfter", "not_after")):
            if v[name].isValue:
                setattr(t, attr, v[name].getComponent().asDateTime)
    if tpl["extensions"].isValue:
        t.extensions = [(str(e["extnID"]), bool(e["critical"]), bytes(e["extnValue"]))
                        for e in tpl["extensions"]]
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


def read_cert_requests(body) -> list[CertRequestInfo]:
    out = []
    for msg in body:
        req = msg["certReq"]
        old = None
        if req["controls"].isValue:
            for atv in req["controls"]:
                if str(atv["type"]) == OID_OLD_CERT_ID:
                    cid = decode(bytes(atv["value"]), asn1.CertId())
                    old = (bytes(cid["issuer"]), int(cid["serialNumber"]))
        popo = alg = sig = None
        has_input = False
        if msg["popo"].isValue:
            popo = msg["popo"].getName()
            if popo == "signature":
                s = msg["popo"]["signature"]
                alg = encode(s["algorithmIdentifier"])
                sig = s["signature"].asOctets()
                has_input = s["poposkInput"].isValue
        out.append(CertRequestInfo(int(req["certReqId"]), read_template(req["certTemplate"]), old,
                                   popo, alg, sig, has_input, encode(req)))
    return out


@dataclass
class CertResponseInfo:
    cert_req_id: int
    status: StatusInfo
    cert: Optional[bytes]       # DER certificate, if a plain certificate was returned
    encrypted: bool             # an encryptedCert was returned


def read_cert_rep(body) -> tuple[list[bytes], list[CertResponseInfo]]:
    """(caPubs, responses) of an ip/cp/kup body."""
    ca_pubs = [bytes(c) for c in body["caPubs"]] if body["caPubs"].isValue else []
    out = []
    for r in body["response"]:
        cert, enc = None, False
        if r["certifiedKeyPair"].isValue:
            choice = bytes(r["certifiedKeyPair"]["certOrEncCert"])
            if choice[:1] == b"\xa0":
                cert = der.content(choice)
            elif choice[:1] == b"\xa1":
                enc = True
            else:
                raise DecodeError("malformed CertOrEncCert")
        out.append(CertResponseInfo(int(r["certReqId"]), StatusInfo.from_asn1(r["status"]), cert, enc))
    return ca_pubs, out


def read_rev_rep(body) -> list[StatusInfo]:
    return [StatusInfo.from_asn1(s) for s in body["status"]]


def read_error(body) -> tuple[StatusInfo, Optional[int], list[str]]:
    code = int(body["errorCode"]) if body["errorCode"].isValue else None
    details = [str(t) for t in body["errorDetails"]] if body["errorDetails"].isValue else []
    return StatusInfo.from_asn1(body["pKIStatusInfo"]), code, details


def read_itavs(body) -> list[tuple[str, Optional[bytes]]]:
    return [(str(i["infoType"]), bytes(i["infoValue"]) if i["infoValue"].isValue else None) for i in body]


def read_cert_conf(body) -> list[tuple[bytes, int, Optional[StatusInfo], Optional[bytes]]]:
    out = []
    for cs in body:
        si = StatusInfo.from_asn1(cs["statusInfo"]) if cs["statusInfo"].isValue else None
        alg = _tagged_inner(cs["hashAlg"]) if cs["hashAlg"].isValue else None
        out.append((bytes(cs["certHash"]), int(cs["certReqId"]), si, alg))
    return out


def read_poll_rep(body) -> list[tuple[int, int, list[str]]]:
    return [(int(p["certReqId"]), int(p["checkAfter"]),
             [str(t) for t in p["reason"]] if p["reason"].isValue else []) for p in body]


def read_poll_req(body) -> list[int]:
    return [int(p["certReqId"]) for p in body]


def read_rev_details(body) -> list[tuple[Template, Optional[int]]]:
    out = []
    for rd in body:
        reason = None
        if rd["crlEntryDetails"].isValue:
            for e in rd["crlEntryDetails"]:
                if str(e["extnID"]) == OID_REASON_CODE:
                    v = bytes(e["extnValue"])
                    reason = v[-1] if len(v) == 3 and v[0] == 0x0A else None
        out.append((read_template(rd["certDetails"]), reason))
    return out
