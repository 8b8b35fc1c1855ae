"""The genm/genp info types of RFC 9480 section 2.3 (openssl cmp 3.2-3.4): encoders and bounded readers.

- id-it-caCerts (2.3.1): SEQUENCE OF CMPCertificate in genp (absent: none available).
- id-it-rootCaCert / id-it-rootCaKeyUpdate (2.3.2): the old root in genm; RootCaKeyUpdateContent
  ``SEQUENCE { newWithNew, [0] newWithOld OPTIONAL, [1] oldWithNew OPTIONAL }`` in genp.
- id-it-certReqTemplate (2.3.3): CertReqTemplateContent ``SEQUENCE { certTemplate, keySpec
  Controls OPTIONAL }`` in genp.
- id-it-crlStatusList / id-it-crls (2.3.4): ``SEQUENCE OF CRLStatus { source CRLSource, thisUpdate
  Time OPTIONAL }`` with ``CRLSource ::= CHOICE { dpn [0] DistributionPointName, issuer [1]
  GeneralNames }`` in genm; ``SEQUENCE OF CertificateList`` in genp.

The CMP module of RFC 9480 has explicit tags, so the [0]/[1] tags above wrap their item. The
mock server's answers to these types (:func:`mock_answer`) are those of OpenSSL's mock CA.
Sans-IO: no files, no clock.
"""
from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Optional

from . import der
from ..errors import DecodeError

OID_CA_CERTS = "1.3.6.1.5.5.7.4.17"
OID_ROOT_CA_KEY_UPDATE = "1.3.6.1.5.5.7.4.18"
OID_CERT_REQ_TEMPLATE = "1.3.6.1.5.5.7.4.19"
OID_ROOT_CA_CERT = "1.3.6.1.5.5.7.4.20"
OID_CRL_STATUS_LIST = "1.3.6.1.5.5.7.4.22"
OID_CRLS = "1.3.6.1.5.5.7.4.23"
OID_REG_CTRL_ALG_ID = "1.3.6.1.5.5.7.5.1.11"      # id-regCtrl-algId (RFC 9480 2.3.3)
OID_REG_CTRL_RSA_KEY_LEN = "1.3.6.1.5.5.7.5.1.12"  # id-regCtrl-rsaKeyLen
OID_EC_PUBLIC_KEY = "1.2.840.10045.2.1"
OID_CRL_DISTRIBUTION_POINTS = "2.5.29.31"
OID_ISSUING_DISTRIBUTION_POINT = "2.5.29.28"

#: the -infotype names with specific support in openssl cmp 3.2-3.4
INFOTYPE_OIDS = {"caCerts": OID_CA_CERTS, "rootCaCert": OID_ROOT_CA_CERT, "certReqTemplate": OID_CERT_REQ_TEMPLATE,
                 "crlStatusList": OID_CRL_STATUS_LIST}

#: the info type of the genp answer to each genm info type with specific support
ANSWER_TYPE = {OID_CA_CERTS: OID_CA_CERTS, OID_ROOT_CA_CERT: OID_ROOT_CA_KEY_UPDATE,
               OID_CERT_REQ_TEMPLATE: OID_CERT_REQ_TEMPLATE, OID_CRL_STATUS_LIST: OID_CRLS}


# ---------------------------------------------------------------- certificates and CRLs

def _signed(item: bytes, what: str) -> bytes:
    """A certificate or CRL item (``what`` ends in "CRL" for a CRL): a SEQUENCE of three (tbs,
    algorithm, signature), bounded, that cryptography's parser takes."""
    from cryptography import x509
    if len(der.parts(item, 0x30, what)) != 3:
        raise DecodeError(f"malformed {what}")
    der.check_bounds(item, what)
    try:
        (x509.load_der_x509_crl if what.endswith("CRL") else x509.load_der_x509_certificate)(item)
    except ValueError:
        raise DecodeError(f"malformed {what}") from None
    return item


def certs_der(certs) -> bytes:
    """SEQUENCE OF CMPCertificate (caCerts)."""
    return der.sequence(*certs)


def read_certs(value: bytes, what: str = "caCerts") -> list:
    """The certificates (DER) of a SEQUENCE SIZE (1..MAX) OF CMPCertificate."""
    items = der.parts(value, 0x30, what)
    if not items:
        raise DecodeError(f"malformed {what}: empty SEQUENCE")
    return [_signed(c, f"{what} certificate") for c in items]


def crl_from_bytes(data: bytes) -> bytes:
    """The DER of the first CRL of PEM ("X509 CRL" blocks) or DER ``data``; DecodeError otherwise."""
    import base64
    import binascii
    begin, end = b"-----BEGIN X509 CRL-----", b"-----END X509 CRL-----"
    if begin in data:
        start = data.index(begin) + len(begin)
        stop = data.find(end, start)
        if stop < 0:
            raise DecodeError("malformed PEM CRL")
        try:
            data = base64.b64decode(b"".join(data[start:stop].split()), validate=True)
        except (binascii.Error, ValueError):
            raise DecodeError("malformed PEM CRL") from None
    else:
        data = data[:der.read_tlv(data)[2]] if data else data
    if not data:
        raise DecodeError("empty CRL")
    return _signed(data, "CRL")


def crls_der(crls) -> bytes:
    """SEQUENCE OF CertificateList (id-it-crls)."""
    return der.sequence(*crls)


def read_crls(value: bytes) -> list:
    items = der.parts(value, 0x30, "crls")
    if not items:
        raise DecodeError("malformed crls: empty SEQUENCE")
    return [_signed(c, "crls CRL") for c in items]


# ---------------------------------------------------------------- rootCaKeyUpdate

@dataclass
class RootCaKeyUpdate:
    """RootCaKeyUpdateContent, certificates as DER."""

    new_with_new: bytes
    new_with_old: Optional[bytes] = None
    old_with_new: Optional[bytes] = None

    def to_der(self) -> bytes:
        parts = [self.new_with_new]
        if self.new_with_old is not None:
            parts.append(der.tlv(0xA0, self.new_with_old))
        if self.old_with_new is not None:
            parts.append(der.tlv(0xA1, self.old_with_new))
        return der.sequence(*parts)


def read_root_ca_key_update(value: bytes) -> RootCaKeyUpdate:
    items = der.parts(value, 0x30, "RootCaKeyUpdateContent")
    if not items or items[0][0] != 0x30:
        raise DecodeError("malformed RootCaKeyUpdateContent: newWithNew missing")
    out = RootCaKeyUpdate(_signed(items[0], "newWithNew certificate"))
    last = -1
    for item in items[1:]:
        tag = item[0]
        if tag not in (0xA0, 0xA1) or tag <= last:
            raise DecodeError(f"malformed RootCaKeyUpdateContent: unexpected tag 0x{tag:02x}")
        last = tag
        inner = der.children(item)
        if len(inner) != 1:
            raise DecodeError("malformed RootCaKeyUpdateContent")
        if tag == 0xA0:
            out.new_with_old = _signed(inner[0], "newWithOld certificate")
        else:
            out.old_with_new = _signed(inner[0], "oldWithNew certificate")
    return out


# ---------------------------------------------------------------- certReqTemplate

def controls_der(atavs) -> bytes:
    """Controls: SEQUENCE OF AttributeTypeAndValue from (OID, value DER) pairs."""
    return der.sequence(*(der.sequence(der.oid(o), v) for o, v in atavs))


def read_controls(value: bytes) -> list:
    """(OID, value DER) of Controls (keySpec)."""
    out = []
    items = der.parts(value, 0x30, "keySpec")
    if not items:
        raise DecodeError("malformed keySpec: empty SEQUENCE")
    for atav in items:
        parts = der.parts(atav, 0x30, "keySpec AttributeTypeAndValue")
        if len(parts) != 2:
            raise DecodeError("malformed keySpec AttributeTypeAndValue")
        der.check_bounds(parts[1], "keySpec value")
        out.append((der.read_oid(parts[0]), parts[1]))
    return out


def mock_key_spec() -> bytes:
    """The keySpec OpenSSL's mock CA sends: an EC key (algId ecPublicKey) or a 4096-bit RSA key."""
    return controls_der([(OID_REG_CTRL_ALG_ID, der.sequence(der.oid(OID_EC_PUBLIC_KEY))),
                         (OID_REG_CTRL_RSA_KEY_LEN, der.integer(4096))])


def cert_req_template_der(template: bytes, key_spec: Optional[bytes] = None) -> bytes:
    """CertReqTemplateContent of a CertTemplate DER and optional Controls DER."""
    return der.sequence(template, key_spec or b"")


def read_cert_req_template(value: bytes) -> tuple:
    """(CertTemplate DER, keySpec Controls DER or None) of CertReqTemplateContent, both checked."""
    from .bodies import read_template
    items = der.parts(value, 0x30, "CertReqTemplateContent")
    if len(items) not in (1, 2):
        raise DecodeError("malformed CertReqTemplateContent")
    read_template(items[0])
    der.check_bounds(items[0], "certTemplate")
    key_spec = items[1] if len(items) == 2 else None
    if key_spec is not None:
        read_controls(key_spec)
    return items[0], key_spec


def describe_key_spec(key_spec: bytes) -> list:
    """The lines openssl 3.4 prints for the entries of a keySpec ("Key algorithm: ...")."""
    lines = []
    for oid, value in read_controls(key_spec):
        if oid == OID_REG_CTRL_ALG_ID:
            alg = der.read_oid(der.parts(value, 0x30, "algId")[0])
            lines.append(f"Key algorithm: {_ALG_NAMES.get(alg, alg)}")
        elif oid == OID_REG_CTRL_RSA_KEY_LEN:
            lines.append(f"Key algorithm: RSA {der.read_integer(value, 'rsaKeyLen')}")
        else:
            lines.append(f"Invalid key spec: {oid}")
    return lines


_ALG_NAMES = {OID_EC_PUBLIC_KEY: "id-ecPublicKey", "1.2.840.113549.1.1.1": "rsaEncryption",
              "1.3.101.112": "ED25519", "1.3.101.113": "ED448"}


# ---------------------------------------------------------------- crlStatusList

@dataclass
class CrlStatus:
    """CRLStatus: exactly one of ``dpn`` (DistributionPointName DER) and ``issuer`` (GeneralNames DER)."""

    dpn: Optional[bytes] = None
    issuer: Optional[bytes] = None
    this_update: Optional[datetime.datetime] = None

    def to_der(self) -> bytes:
        if (self.dpn is None) == (self.issuer is None):
            raise ValueError("CRLSource needs exactly one of dpn and issuer")
        source = der.tlv(0xA0, self.dpn) if self.dpn is not None else der.tlv(0xA1, self.issuer)
        return der.sequence(source, b"" if self.this_update is None else _time(self.this_update))


def crl_status_list_der(statuses) -> bytes:
    return der.sequence(*(s.to_der() for s in statuses))


def read_crl_status_list(value: bytes) -> list:
    out = []
    for item in der.parts(value, 0x30, "CRLStatusList"):
        parts = der.parts(item, 0x30, "CRLStatus")
        if len(parts) not in (1, 2) or parts[0][0] not in (0xA0, 0xA1):
            raise DecodeError("malformed CRLStatus")
        inner = der.children(parts[0])
        if len(inner) != 1:
            raise DecodeError("malformed CRLSource")
        der.check_bounds(inner[0], "CRLSource")
        st = CrlStatus()
        if parts[0][0] == 0xA0:
            if inner[0][0] not in (0xA0, 0xA1):
                raise DecodeError("malformed CRLSource dpn")
            st.dpn = inner[0]
        else:
            if inner[0][0] != 0x30 or not der.children(inner[0]):
                raise DecodeError("malformed CRLSource issuer")
            st.issuer = inner[0]
        if len(parts) == 2:
            st.this_update = _read_time(parts[1])
        out.append(st)
    if not out:
        raise DecodeError("malformed CRLStatusList: empty SEQUENCE")
    return out


def _first_dpn(ext_value_der: bytes) -> Optional[bytes]:
    """The DistributionPointName of the first distribution point that has one, from the DER
    of a CRLDistributionPoints value (or of an IssuingDistributionPoint: wrap it in a list)."""
    for dp in ext_value_der:
        for f in der.children(dp):
            if f[0] == 0xA0:   # distributionPoint [0] (explicit: DistributionPointName is a CHOICE)
                inner = der.children(f)
                if len(inner) == 1:
                    return inner[0]
    return None


def crl_status_for(cert=None, crl=None) -> CrlStatus:
    """The CRLStatus openssl builds for -crlcert / -oldcrl (cryptography objects): the first
    distribution point name of the certificate, else of the CRL's issuingDistributionPoint,
    else the certificate's issuer, else the CRL's issuer; thisUpdate from the CRL."""
    from cryptography import x509
    from .message import directory_name
    st = CrlStatus(this_update=None if crl is None else crl.last_update_utc)
    if cert is not None:
        try:
            ext = cert.extensions.get_extension_for_oid(x509.ObjectIdentifier(OID_CRL_DISTRIBUTION_POINTS))
            st.dpn = _first_dpn(der.children(ext.value.public_bytes()))
        except x509.ExtensionNotFound:
            pass
        if st.dpn is None:
            st.issuer = der.sequence(directory_name(cert.issuer.public_bytes()))
        return st
    try:
        ext = crl.extensions.get_extension_for_oid(x509.ObjectIdentifier(OID_ISSUING_DISTRIBUTION_POINT))
        st.dpn = _first_dpn([ext.value.public_bytes()])
    except x509.ExtensionNotFound:
        pass
    if st.dpn is None:
        st.issuer = der.sequence(directory_name(crl.issuer.public_bytes()))
    return st


def _time(dt: datetime.datetime) -> bytes:
    """RFC 5280 Time: UTCTime through 2049, GeneralizedTime after."""
    dt = dt.astimezone(datetime.timezone.utc)
    if dt.year < 2050:
        return der.tlv(0x17, dt.strftime("%y%m%d%H%M%SZ").encode())
    return der.tlv(0x18, dt.strftime("%Y%m%d%H%M%SZ").encode())


def _read_time(item: bytes) -> datetime.datetime:
    tag, start, end = der.read_tlv(item)
    text = item[start:end].decode("ascii", "replace")
    try:
        if tag == 0x17 and len(text) == 13:
            return datetime.datetime.strptime(text, "%y%m%d%H%M%SZ").replace(tzinfo=datetime.timezone.utc)
        if tag == 0x18 and len(text) == 15:
            return datetime.datetime.strptime(text, "%Y%m%d%H%M%SZ").replace(tzinfo=datetime.timezone.utc)
    except ValueError:
        pass
    raise DecodeError("malformed Time in CRLStatus")


# ---------------------------------------------------------------- the mock server's answers

def mock_answer(s, oid: str, value: Optional[bytes]) -> Optional[tuple]:
    """(infoType, infoValue DER or None) the mock CA answers a genm ITAV with, None for types
    without specific support (answered by echoing). ValueError(reason) for a request it rejects
    (answered with an error message).

    ``s`` is the server's settings (:class:`cmpkit.core.server.ServerSettings`): caCerts come from
    ``rsp_capubs``, rootCaKeyUpdate from ``rsp_newwithnew``/``rsp_newwithold``/``rsp_oldwithnew``
    (none if the requested old root's subject differs from newWithNew's), crls from ``rsp_crl``
    (if newer than the request's thisUpdate), the certReqTemplate's issuer from the issuer of
    ``ref_cert`` (else ``rsp_cert``), its keySpec is :func:`mock_key_spec`."""
    from cryptography import x509

    class data:  # noqa: N801 - the settings under the names used below
        ca_certs = s.rsp_capubs
        new_with_new, new_with_old, old_with_new = s.rsp_newwithnew, s.rsp_newwithold, s.rsp_oldwithnew
        crl = s.rsp_crl
        ref_cert = s.ref_cert if s.ref_cert is not None else s.rsp_cert
    if oid == OID_CA_CERTS:
        return OID_CA_CERTS, certs_der(data.ca_certs) if data.ca_certs else None
    if oid == OID_ROOT_CA_CERT:
        if data.new_with_new is None:
            return OID_ROOT_CA_KEY_UPDATE, None
        if value is not None:
            _signed(value, "rootCaCert certificate")
            old = x509.load_der_x509_certificate(value)
            new = x509.load_der_x509_certificate(data.new_with_new)
            if old.subject != new.subject:
                return OID_ROOT_CA_KEY_UPDATE, None
        update = RootCaKeyUpdate(data.new_with_new, data.new_with_old, data.old_with_new)
        return OID_ROOT_CA_KEY_UPDATE, update.to_der()
    if oid == OID_CRL_STATUS_LIST:
        statuses = read_crl_status_list(value) if value is not None else []
        if len(statuses) != 1:
            raise ValueError("unexpected crlstatuslist")
        if data.crl is None:
            return OID_CRLS, None
        crl = x509.load_der_x509_crl(data.crl)
        st = statuses[0]
        if st.issuer is not None:
            first = der.children(st.issuer)[0]
            if first[0] != 0xA4:
                raise ValueError("sender generalname type not supported")
            if not _same_name(der.content(first), crl):
                raise ValueError("unknown crl issuer")
        newer = st.this_update is None or st.this_update < crl.last_update_utc
        return OID_CRLS, crls_der([data.crl]) if newer else None
    if oid == OID_CERT_REQ_TEMPLATE:
        if data.ref_cert is None:
            raise ValueError("no reference certificate for the certificate request template")
        issuer = x509.load_der_x509_certificate(data.ref_cert).issuer.public_bytes()
        template = der.sequence(der.tlv(0xA3, issuer))
        return OID_CERT_REQ_TEMPLATE, cert_req_template_der(template, mock_key_spec())
    return None


def _same_name(name_der: bytes, crl) -> bool:
    from .server_checks import same_name
    return same_name(name_der, crl.issuer.public_bytes())
