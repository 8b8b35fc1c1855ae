"""The genm info types of RFC 9480 2.3 (cmpkit.core.genm_types): round trips against the
pyasn1-alt-modules rfc9480 schemas in both directions, bounded reading, the CRLSource openssl
derives from -crlcert/-oldcrl, and the mock CA's answers (as apps/lib/cmp_mock_srv.c of openssl 3.4)."""
import datetime
from types import SimpleNamespace

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from pyasn1.codec.der import decoder, encoder
from pyasn1.type import univ
from pyasn1_alt_modules import rfc5280, rfc9480

from cmpkit.core import der
from cmpkit.core import genm_types as gt
from cmpkit.core.bodies import read_template
from cmpkit.errors import DecodeError

from . import pki as pkimod

DER = serialization.Encoding.DER
NOW = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)


def _der(obj):
    return obj.public_bytes(DER)


@pytest.fixture(scope="module")
def roots(pki):
    """Old root (the session PKI's), a new root key with newWithNew, newWithOld and oldWithNew,
    CRLs of the old root (older and newer), a certificate with a CRL distribution point."""
    o = pki.objs
    old, old_key = o["root"], o["root_key"]
    new_key = pkimod.rsa_key()
    nwn = pkimod.make_cert(new_key, "Root CA", ca=True)
    nwo = pkimod.make_cert(new_key, "Root CA", old_key, old, ca=True)
    own = pkimod.make_cert(old_key, "Root CA", new_key, nwn, ca=True)

    def crl(when):
        return (x509.CertificateRevocationListBuilder().issuer_name(old.subject).last_update(when)
                .next_update(when + datetime.timedelta(days=1)).sign(old_key, hashes.SHA256()))
    uri = "http://crl.example/root.crl"
    dp = x509.CRLDistributionPoints([x509.DistributionPoint([x509.UniformResourceIdentifier(uri)], None, None,
                                                            None)])
    with_dp = pkimod.make_cert(pkimod.ec_key(), "with dp", old_key, old, extra_extensions=[(dp, False)])
    return SimpleNamespace(old=old, nwn=nwn, nwo=nwo, own=own, crl_old=crl(NOW - datetime.timedelta(days=2)),
                           crl_new=crl(NOW - datetime.timedelta(minutes=1)), with_dp=with_dp, uri=uri,
                           issuing=o["issuing"])


# ---------------------------------------------------------------- round trips

def test_root_ca_key_update_both_directions(roots):
    ours = gt.RootCaKeyUpdate(_der(roots.nwn), _der(roots.nwo), _der(roots.own)).to_der()
    theirs, rest = decoder.decode(ours, asn1Spec=rfc9480.RootCaKeyUpdateContent())
    assert not rest and encoder.encode(theirs) == ours
    assert encoder.encode(theirs["newWithNew"]) == _der(roots.nwn)
    assert encoder.encode(theirs["newWithOld"]).endswith(_der(roots.nwo))
    assert encoder.encode(theirs["oldWithNew"]).endswith(_der(roots.own))
    # theirs -> ours, with only oldWithNew (newWithOld left out)
    value = rfc9480.RootCaKeyUpdateContent()
    value["newWithNew"] = theirs["newWithNew"]
    value["oldWithNew"] = theirs["oldWithNew"]
    got = gt.read_root_ca_key_update(encoder.encode(value))
    assert (got.new_with_new, got.new_with_old, got.old_with_new) == (_der(roots.nwn), None, _der(roots.own))


def test_ca_certs_and_crls_both_directions(roots):
    certs = [_der(roots.issuing), _der(roots.old)]
    theirs, _ = decoder.decode(gt.certs_der(certs), asn1Spec=rfc9480.CaCertsValue())
    assert [encoder.encode(c) for c in theirs] == certs
    assert gt.read_certs(encoder.encode(theirs)) == certs
    crls = [_der(roots.crl_new)]
    theirs, _ = decoder.decode(gt.crls_der(crls), asn1Spec=rfc9480.CRLsValue())
    assert [encoder.encode(c) for c in theirs] == crls
    assert gt.read_crls(encoder.encode(theirs)) == crls


def test_cert_req_template_both_directions(roots):
    issuer = roots.issuing.subject.public_bytes()
    template = der.sequence(der.tlv(0xA3, issuer))
    ours = gt.cert_req_template_der(template, gt.mock_key_spec())
    theirs, rest = decoder.decode(ours, asn1Spec=rfc9480.CertReqTemplateContent())
    assert not rest and encoder.encode(theirs) == ours
    assert encoder.encode(theirs["certTemplate"]["issuer"]) == der.tlv(0xA3, issuer)
    spec = theirs["keySpec"]
    assert [str(a["type"]) for a in spec] == [gt.OID_REG_CTRL_ALG_ID, gt.OID_REG_CTRL_RSA_KEY_LEN]
    alg, _ = decoder.decode(spec[0]["value"], asn1Spec=rfc5280.AlgorithmIdentifier())
    assert str(alg["algorithm"]) == gt.OID_EC_PUBLIC_KEY and not alg["parameters"].isValue
    assert int(decoder.decode(spec[1]["value"], asn1Spec=univ.Integer())[0]) == 4096
    # theirs -> ours: without keySpec
    value = rfc9480.CertReqTemplateContent()
    value["certTemplate"] = theirs["certTemplate"]
    tpl, key_spec = gt.read_cert_req_template(encoder.encode(value))
    assert key_spec is None and read_template(tpl).issuer == issuer
    assert gt.describe_key_spec(gt.mock_key_spec()) == ["Key algorithm: id-ecPublicKey",  # openssl 3.4's lines
                                                       "Key algorithm: RSA 4096"]


def test_crl_status_list_both_directions(roots):
    by_dp = gt.crl_status_for(roots.with_dp, None)
    by_issuer = gt.crl_status_for(None, roots.crl_old)
    ours = gt.crl_status_list_der([by_dp, by_issuer])
    theirs, rest = decoder.decode(ours, asn1Spec=rfc9480.CRLStatusListValue())
    assert not rest and encoder.encode(theirs) == ours
    full_name = theirs[0]["source"]["dpn"]["fullName"]
    assert str(full_name[0]["uniformResourceIdentifier"]) == roots.uri
    assert not theirs[0]["thisUpdate"].isValue
    names = theirs[1]["source"]["issuer"]
    assert encoder.encode(names[0]["directoryName"]).endswith(roots.old.subject.public_bytes())
    assert theirs[1]["thisUpdate"]["utcTime"].asDateTime == roots.crl_old.last_update_utc
    # theirs -> ours
    back = gt.read_crl_status_list(encoder.encode(theirs))
    assert back[0].dpn == by_dp.dpn and back[0].issuer is None
    assert back[1].issuer == by_issuer.issuer and back[1].this_update == roots.crl_old.last_update_utc


def test_crl_status_prefers_the_certificate(roots):
    st = gt.crl_status_for(roots.issuing, roots.crl_new)   # no distribution point: its issuer
    assert st.dpn is None and st.this_update == roots.crl_new.last_update_utc
    assert der.children(st.issuer) == [der.tlv(0xA4, roots.issuing.issuer.public_bytes())]


@pytest.mark.parametrize("reader, data", [
    (gt.read_root_ca_key_update, b"\x30\x00"),
    (gt.read_root_ca_key_update, b"\x30\x03\x02\x01\x00"),
    (gt.read_certs, b"\x30\x00"),
    (gt.read_crls, b"\x31\x00"),
    (gt.read_cert_req_template, b"\x30\x04\x30\x00\x30\x00"),
    (gt.read_crl_status_list, b"\x30\x00"),
    (gt.read_crl_status_list, b"\x30\x04\x30\x02\xa2\x00"),
    (gt.read_crl_status_list, b"\x30\x06\x30\x04\xa1\x02\x30\x00"),
    (gt.crl_from_bytes, b""),
    (gt.crl_from_bytes, b"-----BEGIN X509 CRL-----\n!!\n-----END X509 CRL-----\n"),
    (gt.crl_from_bytes, b"\x30\x03\x02\x01\x00"),
])
def test_malformed_input_is_refused(reader, data):
    with pytest.raises(DecodeError):
        reader(data)


def test_deep_nesting_is_refused(roots):
    nested = b"\x05\x00"
    for _ in range(60):
        nested = der.sequence(nested)
    with pytest.raises(DecodeError):
        gt.read_certs(der.sequence(der.sequence(nested, nested, nested)))


# ---------------------------------------------------------------- the mock CA's answers

def settings(**kw):
    base = dict(rsp_capubs=[], rsp_newwithnew=None, rsp_newwithold=None, rsp_oldwithnew=None, rsp_crl=None,
                ref_cert=None, rsp_cert=None)
    base.update(kw)
    return SimpleNamespace(**base)


def test_mock_answers(roots):
    s = settings(rsp_capubs=[_der(roots.old)], rsp_newwithnew=_der(roots.nwn), rsp_newwithold=_der(roots.nwo),
                 rsp_crl=_der(roots.crl_new), rsp_cert=_der(roots.with_dp))
    assert gt.mock_answer(s, gt.OID_CA_CERTS, None) == (gt.OID_CA_CERTS, gt.certs_der([_der(roots.old)]))
    assert gt.mock_answer(settings(), gt.OID_CA_CERTS, None) == (gt.OID_CA_CERTS, None)
    oid, value = gt.mock_answer(s, gt.OID_ROOT_CA_CERT, _der(roots.old))
    assert oid == gt.OID_ROOT_CA_KEY_UPDATE and gt.read_root_ca_key_update(value).new_with_old == _der(roots.nwo)
    # another subject than newWithNew's: no update
    assert gt.mock_answer(s, gt.OID_ROOT_CA_CERT, _der(roots.issuing)) == (gt.OID_ROOT_CA_KEY_UPDATE, None)
    # crls: newer than thisUpdate, else none
    older = gt.crl_status_list_der([gt.crl_status_for(None, roots.crl_old)])
    assert gt.mock_answer(s, gt.OID_CRL_STATUS_LIST, older) == (gt.OID_CRLS, gt.crls_der([_der(roots.crl_new)]))
    same = gt.crl_status_list_der([gt.crl_status_for(None, roots.crl_new)])
    assert gt.mock_answer(s, gt.OID_CRL_STATUS_LIST, same) == (gt.OID_CRLS, None)
    other_issuer = gt.crl_status_list_der([gt.crl_status_for(roots.issuing, None)])  # issued by the root
    assert gt.mock_answer(s, gt.OID_CRL_STATUS_LIST, other_issuer)[1] is not None
    wrong = gt.crl_status_list_der([gt.CrlStatus(issuer=der.sequence(der.tlv(0xA4, roots.issuing.subject
                                                                             .public_bytes())))])
    with pytest.raises(ValueError, match="unknown crl issuer"):
        gt.mock_answer(s, gt.OID_CRL_STATUS_LIST, wrong)
    with pytest.raises(ValueError, match="unexpected crlstatuslist"):
        gt.mock_answer(s, gt.OID_CRL_STATUS_LIST, gt.crl_status_list_der([gt.crl_status_for(None, roots.crl_old)] * 2))
    # certReqTemplate: the issuer of the reference certificate, openssl's keySpec
    oid, value = gt.mock_answer(s, gt.OID_CERT_REQ_TEMPLATE, None)
    tpl, key_spec = gt.read_cert_req_template(value)
    assert read_template(tpl).issuer == roots.with_dp.issuer.public_bytes() and key_spec == gt.mock_key_spec()
    with pytest.raises(ValueError):
        gt.mock_answer(settings(), gt.OID_CERT_REQ_TEMPLATE, None)
    assert gt.mock_answer(s, "1.3.6.1.5.5.7.4.2", None) is None   # no specific support: echoed
