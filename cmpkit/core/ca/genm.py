"""The CA mode's answers to the genm info types of RFC 9480 section 2.3 / RFC 9483 section 4.3
(what ``openssl cmp -infotype`` 3.2-3.4 asks), registered in
:data:`cmpkit.core.ca.machine.GENM_HANDLERS`; each handler is ``handler(server, value, now)`` and
returns the infoValue DER (None: absent) of the answer type :data:`cmpkit.core.genm_types.ANSWER_TYPE`
names, or raises :class:`cmpkit.core.ca.checks.Reject` (answered with an error message).

- caCerts: the CA certificate and its chain (-srv_ca_cert's file).
- rootCaCert: the CA has no root CA key update to offer, so rootCaKeyUpdate is absent (RFC 9480
  2.3.2: absent when no update is available), whatever old root the request names; OpenSSL's mock
  answers the same without -rsp_newwithnew.
- certReqTemplate: what the CA grants (RFC 9483 4.3.3): the template's issuer is the CA, its
  validity the longest the CA issues from ``now`` (-srv_max_days, within the CA certificate's);
  keySpec lists the key types the CA certifies: id-ecPublicKey (the curves of the issue policy),
  Ed25519, Ed448, ML-DSA-44/65/87 (id-regCtrl-algId each) and the minimum RSA modulus
  (id-regCtrl-rsaKeyLen). The subject is left to the requester (any non-empty Name).
- crlStatusList: the CA's current CRL (:meth:`CAServer.crl`, listing every revocation) if each
  CRLSource names this CA (its distribution point -srv_crl_url as a fullName URI, or a
  directoryName equal to the CA's subject; anything else: badRequest) and a source's thisUpdate
  is absent or older than the CRL's; else the answer's infoValue is absent.
"""
from __future__ import annotations

import datetime

from cmpkit.core import der, genm_types
from cmpkit.core.ca.checks import BAD_DATA_FORMAT, BAD_REQUEST, Reject
from cmpkit.errors import DecodeError

OID_RSA = "1.2.840.113549.1.1.1"
OID_ED25519, OID_ED448 = "1.3.101.112", "1.3.101.113"


def ca_certs(server, value, now) -> bytes:
    s = server.s
    return genm_types.certs_der(list(dict.fromkeys([s.ca_cert, *s.ca_chain])))


def root_ca_key_update(server, value, now):
    if value is not None:
        try:
            genm_types.read_certs(der.sequence(value), "rootCaCert")
        except DecodeError as exc:
            raise Reject(BAD_DATA_FORMAT, f"malformed rootCaCert: {exc}") from None
    return None


def key_spec(server) -> bytes:
    """Controls listing the key types the CA certifies (id-regCtrl-algId, id-regCtrl-rsaKeyLen)."""
    from cmpkit.core.algs import ML_DSA_OIDS
    policy = server.s.issue
    algs = [der.sequence(der.oid(genm_types.OID_EC_PUBLIC_KEY))]
    algs += [der.sequence(der.oid(o)) for o in (OID_ED25519, OID_ED448, *ML_DSA_OIDS.values())]
    atavs = [(genm_types.OID_REG_CTRL_ALG_ID, a) for a in algs]
    atavs.append((genm_types.OID_REG_CTRL_RSA_KEY_LEN, der.integer(policy.min_rsa_bits)))
    return genm_types.controls_der(atavs)


def cert_req_template(server, value, now) -> bytes:
    from cmpkit.core import bodies
    start = datetime.datetime.fromtimestamp(int(now), datetime.timezone.utc)
    end = min(start + datetime.timedelta(days=server.s.issue.max_days), server.ca_not_after)
    tpl = bodies.Template(issuer=server.ca_subject, not_before=start, not_after=end)
    return genm_types.cert_req_template_der(tpl.to_der(), key_spec(server))


def _names_this_ca(server, st) -> bool:
    from cmpkit.core.ca.crl import distribution_point_name
    from cmpkit.core.message import name_from_general_name, same_name
    if st.dpn is not None:
        url = server.s.crl_url
        return url is not None and st.dpn == distribution_point_name(url)
    return any(same_name(name_from_general_name(gn), server.ca_subject) for gn in der.children(st.issuer))


def crls(server, value, now):
    if value is None:
        raise Reject(BAD_REQUEST, "crlStatusList without a CRLStatus")
    try:
        statuses = genm_types.read_crl_status_list(value)
    except DecodeError as exc:
        raise Reject(BAD_DATA_FORMAT, f"malformed crlStatusList: {exc}") from None
    for st in statuses:
        if not _names_this_ca(server, st):
            raise Reject(BAD_REQUEST, "CRLSource names neither this CA's CRL distribution point nor its name")
    this_update = datetime.datetime.fromtimestamp(int(now), datetime.timezone.utc)
    if all(st.this_update is not None and st.this_update >= this_update for st in statuses):
        return None
    return genm_types.crls_der([server.crl(now)])


#: genm infoType -> handler (the answer's infoType: genm_types.ANSWER_TYPE)
HANDLERS = {genm_types.OID_CA_CERTS: ca_certs, genm_types.OID_ROOT_CA_CERT: root_ca_key_update,
            genm_types.OID_CERT_REQ_TEMPLATE: cert_req_template, genm_types.OID_CRL_STATUS_LIST: crls}
