"""The readers of CRMF/CMP bodies as they were written on the pyasn1 schema: a second,
independent implementation that the DER readers of cmpkit.core.bodies are checked against."""
from typing import Optional

from cmpkit.core import der
from cmpkit.core.bodies import (OID_OLD_CERT_ID, OID_REASON_CODE, CertRequestInfo, CertResponseInfo,
                                Template)
from cmpkit.core.message import PKIMessage, StatusInfo

from . import asn1_schema as asn1
from .asn1_schema import decode, encode
from cmpkit.errors import DecodeError


def _time(choice):
    """A Time CHOICE as a datetime; UTCTime years 50-99 are 19xx (RFC 5280 4.1.2.5.1), which
    pyasn1's asDateTime does not apply (it reads "50" as 2050)."""
    when = choice.getComponent().asDateTime
    if choice.getName() == "utcTime" and when.year >= 2050:
        when = when.replace(year=when.year - 100)
    return when


def schema_body(msg: PKIMessage):
    """The body of ``msg`` decoded with the pyasn1 schema."""
    return decode(msg.body_der, asn1.PKIBody()).getComponent()


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
                setattr(t, attr, _time(v[name]))
    if tpl["extensions"].isValue:
        t.extensions = [(str(e["extnID"]), bool(e["critical"]), bytes(e["extnValue"]))
                        for e in tpl["extensions"]]
    return t


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
        out.append(CertResponseInfo(int(r["certReqId"]), asn1.status_info(r["status"]), cert, enc))
    return ca_pubs, out


def read_cert_conf(body) -> list[tuple[bytes, int, Optional[StatusInfo], Optional[bytes]]]:
    out = []
    for cs in body:
        si = asn1.status_info(cs["statusInfo"]) if cs["statusInfo"].isValue else None
        alg = _tagged_inner(cs["hashAlg"]) if cs["hashAlg"].isValue else None
        out.append((bytes(cs["certHash"]), int(cs["certReqId"]), si, alg))
    return out


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
