"""The CA mode's CRL (RFC 5280 section 5), assembled in DER and signed with the CA key of any
type cmpkit signs with (RSA, EC, Ed25519, Ed448, ML-DSA: ``cryptography``'s CRL builder cannot
sign with ML-DSA, so the CertificateList is assembled here and only signed by ``cryptography``).

v2 CRL: the CA's subject as issuer, thisUpdate ``now``, nextUpdate a day later, one entry per
revoked certificate (with its CRLReason when one was given), a CRLNumber and, when the CA has a
CRL distribution point URL, an IssuingDistributionPoint (critical, RFC 5280 5.2.5) naming it, so
that a client asking by the CRL (openssl's -oldcrl) names the same point as one asking by a
certificate (-crlcert). Sans-IO: the caller gives the time and the revoked records.
"""
from __future__ import annotations

import datetime
from typing import Iterable, Optional

from cmpkit.core import der

OID_CRL_NUMBER, OID_CRL_REASON, OID_IDP, OID_CRL_DP = "2.5.29.20", "2.5.29.21", "2.5.29.28", "2.5.29.31"
OID_AKI = "2.5.29.35"
NEXT_UPDATE = datetime.timedelta(days=1)


def _time(seconds: float) -> bytes:
    t = datetime.datetime.fromtimestamp(int(seconds), datetime.timezone.utc)
    if t.year < 2050:
        return der.tlv(0x17, t.strftime("%y%m%d%H%M%SZ").encode())
    return der.tlv(0x18, t.strftime("%Y%m%d%H%M%SZ").encode())


def _extension(oid: str, critical: bool, value: bytes) -> bytes:
    return der.sequence(der.oid(oid), b"\x01\x01\xff" if critical else b"", der.tlv(0x04, value))


def distribution_point_name(url: str) -> bytes:
    """DistributionPointName ``fullName [0] GeneralNames`` with one URI: the item a certificate's
    CRLDistributionPoints and a CRLSource dpn carry."""
    return der.tlv(0xA0, der.tlv(0x86, url.encode("ascii")))


def crl_distribution_points(url: str) -> bytes:
    """The CRLDistributionPoints extension value: one point, ``distributionPoint [0]`` with ``url``."""
    return der.sequence(der.sequence(der.tlv(0xA0, distribution_point_name(url))))


def build_crl(signer, issuer_der: bytes, now: float, revoked: Iterable, crl_number: int,
              crl_url: Optional[str] = None, authority_key_id: Optional[bytes] = None,
              digest: str = "sha256") -> bytes:
    """A DER CRL signed by ``signer`` (a :class:`cmpkit.core.keys.Signer`) over the revoked
    :class:`cmpkit.core.ca.store.CertRecord` ``revoked``."""
    from cmpkit.core.protection import sign, signature_algorithm
    sig_alg = signature_algorithm(signer.public_key(), digest)
    entries = []
    for rec in sorted(revoked, key=lambda r: r.serial):
        exts = b""
        if rec.reason is not None and 0 <= rec.reason <= 10 and rec.reason != 7:
            exts = der.sequence(_extension(OID_CRL_REASON, False, der.tlv(0x0A, bytes([rec.reason]))))
        entries.append(der.sequence(der.integer(rec.serial), _time(rec.revoked_at or now), exts))
    crl_exts = []
    if authority_key_id is not None:
        crl_exts.append(_extension(OID_AKI, False, der.sequence(der.tlv(0x80, authority_key_id))))
    crl_exts.append(_extension(OID_CRL_NUMBER, False, der.integer(crl_number)))
    if crl_url is not None:
        crl_exts.append(_extension(OID_IDP, True, der.sequence(der.tlv(0xA0, distribution_point_name(crl_url)))))
    tbs = der.sequence(der.integer(1), sig_alg, issuer_der, _time(now), _time(now + NEXT_UPDATE.total_seconds()),
                       der.sequence(*entries) if entries else b"", der.tlv(0xA0, der.sequence(*crl_exts)))
    return der.sequence(tbs, sig_alg, der.tlv(0x03, b"\x00" + sign(signer, sig_alg, tbs)))
