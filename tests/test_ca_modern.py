"""The CA mode meets modern CMP (RFC 9480/9483, issue 14's features): the genm info types caCerts,
rootCaCert, certReqTemplate and crlStatusList answered from the CA's state (the CRL reflects
revocations, also of certificates not confirmed in time), a CRL distribution point in issued
certificates, central key generation (RFC 9483 4.1.6), ML-DSA subjects, CA keys and protection,
PBMAC1 answered with PBMAC1. cmpkit's client in process (core Client and the CLI with -use_mock_srv);
structures read back with pyasn1-alt-modules' RFC 9480 / RFC 5280 schemas and checked with
cryptography (signatures over the TBS by the CA key)."""
import datetime
import logging
import time

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from cmpkit import TransactionError
from cmpkit.app.transaction import Client
from cmpkit.core import algs, bodies, der, protection
from cmpkit.core import genm_types as gt
from cmpkit.core.ca import crl as ca_crl
from cmpkit.core.ca import keygen
from cmpkit.core.ca.machine import CASettings
from cmpkit.core.client import ClientSettings
from cmpkit.core.keys import SoftwareKey
from cmpkit.core.message import FAILURE_NAMES, PKIMessage
from cmpkit.core.verify import DefaultVerificationPolicy
from cmpkit_mock.ca import CAMockServer
from cmpkit_mock.ca_store import SQLiteStore

from .pki import ec_key, make_cert, make_pq_cert, mldsa_key, name, pem_cert, pem_key, rsa_key

SECRET, REF = b"test", b"1234"
URL = "http://ca.example/issuing.crl"
DER = serialization.Encoding.DER
BIT = {n: i for i, n in enumerate(FAILURE_NAMES)}
CA_DAYS = datetime.timedelta(days=3650)


def der_of(cert):
    return cert.public_bytes(DER)


@pytest.fixture(scope="module")
def ca():
    """A root and an issuing CA below it (the CA of the mock), RSA."""
    now = datetime.datetime.now(datetime.timezone.utc)
    root_key, key = rsa_key(), rsa_key()
    root = make_cert(root_key, "Root CA", ca=True, not_after=now + CA_DAYS)
    cert = make_cert(key, "Issuing CA", root_key, root, ca=True, path_len=0, not_after=now + CA_DAYS)
    return dict(root=root, root_key=root_key, cert=cert, key=key)


def make_server(ca_cert, ca_key, chain=(), store=None, clock=time.time, **kw):
    s = CASettings(ca_cert=der_of(ca_cert), ca_key=ca_key, ca_chain=[der_of(c) for c in chain],
                   srv_secret=SECRET, srv_ref=REF, crl_url=URL, policy=DefaultVerificationPolicy(clock=time.time))
    for k, v in kw.items():
        setattr(s, k, v)
    return CAMockServer(s, store if store is not None else SQLiteStore(), clock)


@pytest.fixture
def server(ca):
    def make(**kw):
        return make_server(ca["cert"], ca["key"], [ca["root"]], **kw)
    return make


def mac_client(srv, **kw):
    kw.setdefault("template", bodies.Template(subject=name("leaf").public_bytes()))
    return Client(ClientSettings(secret=SECRET, ref=REF, **kw), srv)


def enroll(srv, key=None, **kw):
    key = key or ec_key()
    res = mac_client(srv, cmd="ir", newkey_signer=SoftwareKey(key), newkey_public=key.public_key(),
                     template=bodies.Template(subject=name(kw.pop("cn", "leaf")).public_bytes(),
                                              public_key=key.public_key().public_bytes(
                                                  DER, serialization.PublicFormat.SubjectPublicKeyInfo)),
                     **kw).run()
    return x509.load_der_x509_certificate(res.cert), key


def genm(srv, oid, value=None):
    res = mac_client(srv, cmd="genm", infotypes=[(oid, value)]).run()
    return res.itavs


def crl_status(cert=None, crl=None):
    return gt.crl_status_list_der([gt.crl_status_for(cert, crl)])


# ---------------------------------------------------------------- genm info types (core client)

def test_ca_certs_is_the_ca_chain(server, ca):
    itavs = genm(server(), gt.OID_CA_CERTS)
    assert [o for o, _ in itavs] == [gt.OID_CA_CERTS]
    assert gt.read_certs(itavs[0][1]) == [der_of(ca["cert"]), der_of(ca["root"])]


def test_root_ca_cert_without_update_is_absent(server, ca):
    # RFC 9480 2.3.2: the genp carries id-it-rootCaKeyUpdate, its value absent when there is no update
    assert genm(server(), gt.OID_ROOT_CA_CERT, der_of(ca["root"])) == [(gt.OID_ROOT_CA_KEY_UPDATE, None)]
    assert genm(server(), gt.OID_ROOT_CA_CERT) == [(gt.OID_ROOT_CA_KEY_UPDATE, None)]


def test_cert_req_template_says_what_the_ca_grants(server, ca):
    from pyasn1.codec.der import decoder
    from pyasn1_alt_modules import rfc9480
    now = time.time()
    srv = server(clock=lambda: now)
    srv.s.issue.max_days = 30
    [(oid, value)] = genm(srv, gt.OID_CERT_REQ_TEMPLATE)
    assert oid == gt.OID_CERT_REQ_TEMPLATE
    content, rest = decoder.decode(value, asn1Spec=rfc9480.CertReqTemplateContent())   # independent decoder
    assert not rest
    tpl, key_spec = gt.read_cert_req_template(value)
    t = bodies.read_template(tpl)
    assert t.issuer == ca["cert"].subject.public_bytes() and t.subject is None and t.public_key is None
    assert t.not_before.timestamp() == int(now) and t.not_after - t.not_before == datetime.timedelta(days=30)
    controls = gt.read_controls(key_spec)
    algs_ = [der.read_oid(der.children(v)[0]) for o, v in controls if o == gt.OID_REG_CTRL_ALG_ID]
    assert algs_ == [gt.OID_EC_PUBLIC_KEY, "1.3.101.112", "1.3.101.113", *algs.ML_DSA_OIDS.values()]
    assert (gt.OID_REG_CTRL_RSA_KEY_LEN, der.integer(2048)) in controls
    assert gt.describe_key_spec(key_spec)[:3] == ["Key algorithm: id-ecPublicKey", "Key algorithm: ED25519",
                                                  "Key algorithm: ED448"]
    assert len(content["keySpec"]) == 7


def test_template_validity_ends_with_the_ca_certificate(ca):
    now = datetime.datetime.now(datetime.timezone.utc)
    short = make_cert(ca["key"], "Issuing CA", ca["root_key"], ca["root"], ca=True,
                      not_after=(now + datetime.timedelta(days=10)).replace(microsecond=0))
    [(_, value)] = genm(make_server(short, ca["key"], [ca["root"]]), gt.OID_CERT_REQ_TEMPLATE)
    assert bodies.read_template(gt.read_cert_req_template(value)[0]).not_after == short.not_valid_after_utc


def test_issued_certificate_names_the_crl_distribution_point(server, ca):
    from pyasn1.codec.der import decoder
    from pyasn1_alt_modules import rfc5280
    cert, _ = enroll(server())
    dp = cert.extensions.get_extension_for_class(x509.CRLDistributionPoints)
    assert not dp.critical
    assert dp.value == x509.CRLDistributionPoints([x509.DistributionPoint(
        [x509.UniformResourceIdentifier(URL)], None, None, None)])
    decoded, _ = decoder.decode(dp.value.public_bytes(), asn1Spec=rfc5280.CRLDistributionPoints())
    assert str(decoded[0]["distributionPoint"]["fullName"][0]["uniformResourceIdentifier"]) == URL
    assert gt.crl_status_for(cert).dpn == ca_crl.distribution_point_name(URL)


def test_no_distribution_point_without_a_url(server):
    cert, _ = enroll(server(crl_url=None))
    with pytest.raises(x509.ExtensionNotFound):
        cert.extensions.get_extension_for_class(x509.CRLDistributionPoints)


def _crl_of(itavs, ca):
    [(oid, value)] = itavs
    assert oid == gt.OID_CRLS
    [crl_der] = gt.read_crls(value)
    crl = x509.load_der_x509_crl(crl_der)
    assert crl.is_signature_valid(ca["cert"].public_key())
    from pyasn1.codec.der import decoder, encoder
    from pyasn1_alt_modules import rfc5280
    decoded, rest = decoder.decode(crl_der, asn1Spec=rfc5280.CertificateList())   # an independent DER reader
    assert not rest and encoder.encode(decoded) == crl_der
    assert crl.issuer == ca["cert"].subject
    return crl


@pytest.mark.parametrize("source", ["dpn", "issuer"])
def test_crl_status_list_gets_the_current_crl_with_the_revocations(server, ca, source):
    srv = server() if source == "dpn" else server(crl_url=None)
    cert, _ = enroll(srv)
    kept, _ = enroll(srv, cn="kept")
    status = crl_status(cert)
    assert (gt.read_crl_status_list(status)[0].dpn is not None) == (source == "dpn")
    assert len(_crl_of(genm(srv, gt.OID_CRL_STATUS_LIST, status), ca)) == 0
    Client(ClientSettings(cmd="rr", old_cert=der_of(cert), secret=SECRET, ref=REF, revreason=1), srv).run()
    crl = _crl_of(genm(srv, gt.OID_CRL_STATUS_LIST, status), ca)
    entry = crl.get_revoked_certificate_by_serial_number(cert.serial_number)
    assert entry is not None and crl.get_revoked_certificate_by_serial_number(kept.serial_number) is None
    assert entry.extensions.get_extension_for_class(x509.CRLReason).value.reason == x509.ReasonFlags.key_compromise
    numbers = crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
    assert numbers == 2   # the CRL number counts
    aki = crl.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value.key_identifier
    assert aki == ca["cert"].extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    if source == "dpn":   # the CRL names its distribution point: asking by the CRL (-oldcrl) finds it
        idp = crl.extensions.get_extension_for_class(x509.IssuingDistributionPoint)
        assert idp.critical and idp.value.full_name == [x509.UniformResourceIdentifier(URL)]
        assert gt.crl_status_for(crl=crl).dpn == ca_crl.distribution_point_name(URL)


def test_crl_status_list_with_a_recent_this_update_is_absent(server, ca):
    now = [time.time()]
    srv = server(clock=lambda: now[0])
    cert, _ = enroll(srv)
    crl = _crl_of(genm(srv, gt.OID_CRL_STATUS_LIST, crl_status(cert)), ca)
    assert genm(srv, gt.OID_CRL_STATUS_LIST, crl_status(cert, crl)) == [(gt.OID_CRLS, None)]   # same second
    now[0] += 2
    assert _crl_of(genm(srv, gt.OID_CRL_STATUS_LIST, crl_status(None, crl)), ca).last_update_utc > crl.last_update_utc


@pytest.mark.parametrize("status, what", [
    (gt.CrlStatus(dpn=ca_crl.distribution_point_name("http://other.example/x.crl")), "CRLSource names neither"),
    (gt.CrlStatus(issuer=der.sequence(der.tlv(0xA4, name("Other CA").public_bytes()))), "CRLSource names neither"),
    (gt.CrlStatus(issuer=der.sequence(der.tlv(0x86, URL.encode()))), "CRLSource names neither"),
])
def test_crl_status_list_for_another_source_is_bad_request(server, status, what):
    with pytest.raises(TransactionError, match=f"badRequest.*{what}|{what}.*badRequest"):
        genm(server(), gt.OID_CRL_STATUS_LIST, gt.crl_status_list_der([status]))


def test_crl_status_list_without_value_or_malformed_is_rejected(server):
    with pytest.raises(TransactionError, match="badRequest"):
        genm(server(), gt.OID_CRL_STATUS_LIST, None)
    with pytest.raises(TransactionError, match="badDataFormat"):
        genm(server(), gt.OID_CRL_STATUS_LIST, der.sequence(der.sequence(der.integer(1))))


def test_unconfirmed_certificate_revoked_after_confirm_wait_is_on_the_crl(server, ca):
    now = [time.time()]
    srv = server(clock=lambda: now[0], confirm_wait=30)
    key = ec_key()
    # the client stops after the ip (-disable_confirm is not what this is: drop the certConf instead)
    from cmpkit.core.client import ClientMachine, Send
    machine = ClientMachine(ClientSettings(cmd="ir", secret=SECRET, ref=REF, newkey_signer=SoftwareKey(key),
                                           newkey_public=key.public_key(), template=bodies.Template(
                                               subject=name("leaf").public_bytes(), public_key=key.public_key()
                                               .public_bytes(DER, serialization.PublicFormat.SubjectPublicKeyInfo))))
    step = machine.start(now[0])
    rsp = PKIMessage.from_der(srv.handle(step.der))
    cert = x509.load_der_x509_certificate(bodies.read_cert_rep(rsp.body_content)[1][0].cert)
    assert isinstance(machine.receive(rsp, now[0]), Send)       # the certConf, never sent
    assert srv.store.get_cert(cert.serial_number).status == "issued"
    now[0] += 29
    assert _crl_of(genm(srv, gt.OID_CRL_STATUS_LIST, crl_status(cert)), ca).get_revoked_certificate_by_serial_number(
        cert.serial_number) is None
    now[0] += 2
    crl = _crl_of(genm(srv, gt.OID_CRL_STATUS_LIST, crl_status(cert)), ca)
    assert crl.get_revoked_certificate_by_serial_number(cert.serial_number) is not None
    assert srv.store.get_cert(cert.serial_number).status == "revoked"


# ---------------------------------------------------------------- central key generation

def _ckg(srv, ca, newkey_public=None, **kw):
    kw.setdefault("trusted", [der_of(ca["root"])])
    kw.setdefault("policy", DefaultVerificationPolicy(clock=time.time))
    s = ClientSettings(cmd="ir", centralkeygen=True, popo=-1, newkey_public=newkey_public,
                       template=bodies.Template(subject=name("leaf").public_bytes()), **kw)
    res = Client(s, srv).run()
    cert = x509.load_der_x509_certificate(res.cert)
    cert.verify_directly_issued_by(ca["cert"])
    assert cert.public_key() == res.new_key.public_key()
    return cert, res.new_key


def test_central_keygen_mac_default_key_type(server, ca):
    from cryptography.hazmat.primitives.asymmetric import ec
    srv = server()
    cert, key = _ckg(srv, ca, secret=SECRET, ref=REF)
    assert isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name == "secp256r1"
    assert srv.store.get_cert(cert.serial_number).status == "confirmed"


@pytest.mark.parametrize("template_key, expected", [
    (lambda: rsa_key(), "rsa"), (lambda: ec_key(), "ec"),
    (lambda: __import__("cryptography.hazmat.primitives.asymmetric.ed25519", fromlist=["x"])
     .Ed25519PrivateKey.generate(), "ed25519"),
    (lambda: mldsa_key(44), "ml-dsa-44"),
])
def test_central_keygen_key_type_from_the_template(server, ca, template_key, expected):
    _cert, key = _ckg(server(), ca, template_key().public_key(), secret=SECRET, ref=REF)
    assert protection.key_type(key.public_key()) == expected


@pytest.mark.parametrize("default, expected", [("RSA:3072", "rsa"), ("ML-DSA-65", "ml-dsa-65"), ("Ed448", "ed448")])
def test_central_keygen_configured_default(server, ca, default, expected):
    _cert, key = _ckg(server(keygen_type=keygen.check_key_type(default)), ca, secret=SECRET, ref=REF)
    assert protection.key_type(key.public_key()) == expected
    if expected == "rsa":
        assert key.key_size == 3072


@pytest.mark.parametrize("kind", ["rsa", "ec"])   # key transport, key agreement (RFC 9483 4.1.6.1/4.1.6.2)
def test_central_keygen_for_a_signing_requester(server, ca, kind):
    srv = server(srv_trusted=[der_of(ca["root"])])
    requester_key = rsa_key() if kind == "rsa" else ec_key()
    ku = dict(digital_signature=True, key_encipherment=True) if kind == "rsa" else \
        dict(digital_signature=True, key_agreement=True)
    requester = make_cert(requester_key, "device", ca["key"], ca["cert"], key_usage=ku)
    srv.store.add_cert(__import__("cmpkit.core.ca.store", fromlist=["x"]).CertRecord(
        requester.serial_number, der_of(requester)))
    _ckg(srv, ca, signer=SoftwareKey(requester_key), cert=der_of(requester),
         cert_chain=[der_of(ca["cert"])], sender=requester.subject.public_bytes())


def test_central_keygen_rejections(server, ca):
    from .test_ca_mode import request, send
    srv = server()
    # the key's algorithm only (an empty subjectPublicKey) but a POPO: badPOP
    spki = der.sequence(der.children(ec_key().public_key().public_bytes(
        DER, serialization.PublicFormat.SubjectPublicKeyInfo))[0], b"\x03\x01\x00")
    tpl = bodies.Template(subject=name("leaf").public_bytes(), public_key=spki)
    body = bodies.cert_req_messages_der([bodies.cert_req_msg_der(bodies.cert_request_der(0, tpl),
                                                                 bodies.POPO_RAVERIFIED)])
    si = bodies.read_cert_rep(send(srv, request("ir", body)).body_content)[1][0].status
    assert (si.status, si.failure_bits) == (2, [BIT["badPOP"]])
    # an algorithm the CA does not generate keys for: badAlg
    spki = der.sequence(der.sequence(der.oid("1.2.3.4")), b"\x03\x01\x00")
    tpl = bodies.Template(subject=name("leaf").public_bytes(), public_key=spki)
    body = bodies.cert_req_messages_der([bodies.cert_req_msg_der(bodies.cert_request_der(0, tpl), bodies.POPO_NONE)])
    si = bodies.read_cert_rep(send(srv, request("ir", body)).body_content)[1][0].status
    assert (si.status, si.failure_bits) == (2, [BIT["badAlg"]])


@pytest.mark.parametrize("text, normal", [("EC", "EC:secp256r1"), ("ec:P-384", "EC:secp384r1"), ("rsa", "RSA:2048"),
                                          ("RSA:4096", "RSA:4096"), ("ed25519", "Ed25519"), ("ml-dsa-87", "ML-DSA-87")])
def test_keygen_type_names(text, normal):
    assert keygen.check_key_type(text) == normal


@pytest.mark.parametrize("text", ["RSA:1024", "RSA:x", "EC:foo", "DSA", "Ed25519:1", ""])
def test_keygen_type_errors(text):
    with pytest.raises(ValueError):
        keygen.check_key_type(text)


# ---------------------------------------------------------------- ML-DSA

def _check_issued(cert, ca_cert, key):
    """The signature by the CA key over the TBS, the key, the extensions (RFC 5280 profile)."""
    ca_cert.public_key().verify(cert.signature, cert.tbs_certificate_bytes) if protection.key_type(
        ca_cert.public_key()).startswith("ml-dsa") else cert.verify_directly_issued_by(ca_cert)
    assert cert.public_key() == key.public_key() and cert.issuer == ca_cert.subject
    ext = cert.extensions
    assert ext.get_extension_for_class(x509.BasicConstraints).value.ca is False
    assert ext.get_extension_for_class(x509.KeyUsage).value.digital_signature
    assert ext.get_extension_for_class(x509.SubjectKeyIdentifier).value == \
        x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    assert ext.get_extension_for_class(x509.AuthorityKeyIdentifier).value.key_identifier == \
        ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    assert ext.get_extension_for_class(x509.CRLDistributionPoints) is not None


@pytest.mark.parametrize("size", [44, 65, 87])
def test_ml_dsa_certificate_issued_by_an_rsa_ca(server, ca, size):
    key = mldsa_key(size)
    cert, _ = enroll(server(), key)
    _check_issued(cert, ca["cert"], key)
    assert cert.signature_algorithm_oid.dotted_string == "1.2.840.113549.1.1.11"


@pytest.fixture(scope="module")
def pq_ca():
    root_key, key = mldsa_key(87), mldsa_key(65)
    root = make_pq_cert(root_key, "PQ Root", ca=True)
    cert = make_pq_cert(key, "PQ Issuing CA", root_key, root, ca=True)
    return dict(root=root, root_key=root_key, cert=cert, key=key)


def test_ml_dsa_ca_issues_signs_crls_and_accepts_ml_dsa_protection(pq_ca):
    srv = make_server(pq_ca["cert"], pq_ca["key"], [pq_ca["root"]], srv_trusted=[der_of(pq_ca["root"])])
    key = mldsa_key(44)
    cert, _ = enroll(srv, key)
    _check_issued(cert, pq_ca["cert"], key)
    assert cert.signature_algorithm_oid.dotted_string == algs.ML_DSA_OIDS["ml-dsa-65"]
    ec_leaf, ec_leaf_key = enroll(srv, cn="ec leaf")
    _check_issued(ec_leaf, pq_ca["cert"], ec_leaf_key)
    # a cr protected with the ML-DSA certificate just issued (signature protection by ML-DSA)
    key2 = mldsa_key(65)
    policy = DefaultVerificationPolicy(clock=time.time)
    res = Client(ClientSettings(cmd="cr", signer=SoftwareKey(key), cert=der_of(cert),
                                sender=cert.subject.public_bytes(),
                                trusted=[der_of(pq_ca["root"])], policy=policy, newkey_signer=SoftwareKey(key2),
                                newkey_public=key2.public_key(), template=bodies.Template(
                                    subject=name("second").public_bytes(), public_key=key2.public_key()
                                    .public_bytes(DER, serialization.PublicFormat.SubjectPublicKeyInfo))), srv).run()
    _check_issued(x509.load_der_x509_certificate(res.cert), pq_ca["cert"], key2)
    # revoke by ML-DSA signature; the CRL (ML-DSA signed) lists it
    Client(ClientSettings(cmd="rr", old_cert=der_of(cert), signer=SoftwareKey(key), cert=der_of(cert),
                          sender=cert.subject.public_bytes(), trusted=[der_of(pq_ca["root"])], policy=policy),
           srv).run()
    [(_, value)] = genm(srv, gt.OID_CRL_STATUS_LIST, crl_status(cert))
    crl = x509.load_der_x509_crl(gt.read_crls(value)[0])
    pq_ca["cert"].public_key().verify(crl.signature, crl.tbs_certlist_bytes)
    assert crl.signature_algorithm_oid.dotted_string == algs.ML_DSA_OIDS["ml-dsa-65"]
    assert crl.get_revoked_certificate_by_serial_number(cert.serial_number) is not None
    with pytest.raises(Exception):   # a changed TBS does not verify: the check above can fail
        pq_ca["cert"].public_key().verify(crl.signature, crl.tbs_certlist_bytes + b"\x00")


def test_ml_dsa_ca_central_keygen(pq_ca):
    srv = make_server(pq_ca["cert"], pq_ca["key"], [pq_ca["root"]])
    s = ClientSettings(cmd="ir", centralkeygen=True, popo=-1, secret=SECRET, ref=REF, trusted=[der_of(pq_ca["root"])],
                       policy=DefaultVerificationPolicy(clock=time.time),
                       template=bodies.Template(subject=name("leaf").public_bytes()))
    res = Client(s, srv).run()
    _check_issued(x509.load_der_x509_certificate(res.cert), pq_ca["cert"], res.new_key)


# ---------------------------------------------------------------- PBMAC1

def test_pbmac1_request_answered_with_pbmac1_fresh_salt(server):
    srv = server()
    seen = []

    class Spy:
        def handle(self, der_):
            rsp = srv.handle(der_)
            seen.append((PKIMessage.from_der(der_), PKIMessage.from_der(rsp)))
            return rsp
        __call__ = handle
    key = ec_key()
    Client(ClientSettings(cmd="ir", secret=SECRET, ref=REF, pbmac1=True, mac="hmac-sha256",
                          newkey_signer=SoftwareKey(key), newkey_public=key.public_key(),
                          template=bodies.Template(
                              subject=name("leaf").public_bytes(),
                              public_key=key.public_key().public_bytes(
                                  DER, serialization.PublicFormat.SubjectPublicKeyInfo))),
           Spy()).run()
    assert [r.body_type for _, r in seen] == ["ip", "pkiconf"]
    for req, rsp in seen:
        q_oid, q_params = algs.decode_algorithm_identifier(req.protection_alg)
        r_oid, r_params = algs.decode_algorithm_identifier(rsp.protection_alg)
        assert q_oid == r_oid == algs.PBMAC1_OID
        q_kdf, r_kdf = (der.parts(algs.decode_algorithm_identifier(der.parts(p, 0x30, "x")[0])[1], 0x30, "kdf")
                        for p in (q_params, r_params))
        assert q_kdf[0] != r_kdf[0] and q_kdf[1:] == r_kdf[1:]       # fresh salt, same iterations, PRF
        assert der.parts(q_params, 0x30, "x")[1] == der.parts(r_params, 0x30, "x")[1]   # same MAC
        rsp.verify_mac(SECRET)


# ---------------------------------------------------------------- the CLI (-use_mock_srv in CA mode)

@pytest.fixture(scope="module")
def files(ca, tmp_path_factory):
    d = tmp_path_factory.mktemp("ca_modern")
    out = {}
    for n, data in (("ca.crt", pem_cert(ca["cert"]) + pem_cert(ca["root"])), ("ca.key", pem_key(ca["key"])),
                    ("root.crt", pem_cert(ca["root"])), ("new.key", pem_key(ec_key()))):
        (d / n).write_bytes(data)
        out[n.split(".")[0] + ("_key" if n.endswith(".key") else "")] = str(d / n)
    return out


def cli(files, tmp_path, args, monkeypatch, capsys):
    from cmpkit import cli as cli_mod
    logger = logging.getLogger("cmpkit")
    monkeypatch.setattr(logger, "handlers", [])
    monkeypatch.setattr(logger, "propagate", logger.propagate)
    argv = ["-config", "", "-use_mock_srv", "-srv_ref", "1234", "-srv_secret", "pass:test", "-ref", "1234",
            "-secret", "pass:test", "-recipient", "/CN=x", "-srv_ca_cert", files["ca"], "-srv_ca_key",
            files["ca_key"], "-srv_db", str(tmp_path / "ca.sqlite"), "-srv_crl_url", URL] + args
    rc = cli_mod.main(argv)
    out, err = capsys.readouterr()
    return rc, out, err


def test_cli_enroll_revoke_and_fetch_the_crl(files, tmp_path, monkeypatch, capsys, ca):
    leaf = tmp_path / "leaf.pem"
    rc, _, err = cli(files, tmp_path, ["-cmd", "ir", "-newkey", files["new_key"], "-subject", "/CN=leaf",
                                       "-certout", str(leaf)], monkeypatch, capsys)
    assert rc == 0, err
    cert = x509.load_pem_x509_certificate(leaf.read_bytes())
    rc, _, err = cli(files, tmp_path, ["-cmd", "rr", "-oldcert", str(leaf)], monkeypatch, capsys)
    assert rc == 0, err
    crl_file = tmp_path / "ca.crl"
    rc, out, err = cli(files, tmp_path, ["-cmd", "genm", "-infotype", "crlStatusList", "-crlcert", str(leaf),
                                         "-crlout", str(crl_file)], monkeypatch, capsys)
    assert rc == 0, err
    assert "received CRL from genp of type 'crls', saving to file" in err
    crl = x509.load_der_x509_crl(crl_file.read_bytes())
    assert crl.is_signature_valid(ca["cert"].public_key())
    assert crl.get_revoked_certificate_by_serial_number(cert.serial_number) is not None
    # a certificate of another CA: rejected, nothing saved
    other = tmp_path / "other.pem"
    other.write_bytes(pem_cert(make_cert(ec_key(), "x", ca["root_key"], make_cert(ca["root_key"], "Other CA",
                                                                                   ca=True))))
    crl_file.unlink()
    rc, _, err = cli(files, tmp_path, ["-cmd", "genm", "-infotype", "crlStatusList", "-crlcert", str(other),
                                       "-crlout", str(crl_file)], monkeypatch, capsys)
    assert rc != 0 and "badRequest" in err and "Traceback" not in err and not crl_file.exists()


def test_cli_ca_certs_root_ca_cert_and_template(files, tmp_path, monkeypatch, capsys, ca):
    out = tmp_path / "cacerts.pem"
    rc, _, err = cli(files, tmp_path, ["-cmd", "genm", "-infotype", "caCerts", "-cacertsout", str(out)],
                     monkeypatch, capsys)
    assert rc == 0, err
    assert "received 2 CA certificate(s), saving to file" in err
    assert x509.load_pem_x509_certificates(out.read_bytes()) == [ca["cert"], ca["root"]]
    nwn = tmp_path / "nwn.pem"
    nwn.write_text("stale")
    rc, _, err = cli(files, tmp_path, ["-cmd", "genm", "-infotype", "rootCaCert", "-oldwithold", files["root"],
                                       "-newwithnew", str(nwn)], monkeypatch, capsys)
    assert rc == 0 and "no root CA certificate update available" in err and not nwn.exists()
    t, k = tmp_path / "t.der", tmp_path / "k.der"
    rc, _, err = cli(files, tmp_path, ["-cmd", "genm", "-infotype", "certReqTemplate", "-template", str(t),
                                       "-keyspec", str(k)], monkeypatch, capsys)
    assert rc == 0, err
    assert "stored certTemplate from genp to file" in err and "stored keySpec from genp to file" in err
    assert bodies.read_template(t.read_bytes()).issuer == ca["cert"].subject.public_bytes()
    assert gt.read_controls(k.read_bytes())[-1] == (gt.OID_REG_CTRL_RSA_KEY_LEN, der.integer(2048))
    assert "Key algorithm: id-ecPublicKey" in err


def test_cli_central_keygen(files, tmp_path, monkeypatch, capsys, ca):
    key_out, cert_out = tmp_path / "ckg.key", tmp_path / "ckg.pem"
    rc, _, err = cli(files, tmp_path, ["-cmd", "ir", "-centralkeygen", "-newkeyout", str(key_out), "-subject",
                                       "/CN=ckg", "-trusted", files["root"], "-certout", str(cert_out),
                                       "-srv_keygen_type", "EC:P-384"], monkeypatch, capsys)
    assert rc == 0, err
    key = serialization.load_pem_private_key(key_out.read_bytes(), None)
    cert = x509.load_pem_x509_certificate(cert_out.read_bytes())
    assert cert.public_key() == key.public_key() and key.curve.name == "secp384r1"
    cert.verify_directly_issued_by(ca["cert"])


@pytest.mark.parametrize("args, message", [
    (["-srv_keygen_type", "DSA"], "-srv_keygen_type: unknown key type 'DSA'"),
    (["-srv_keygen_type", "RSA:1024"], "-srv_keygen_type: RSA key size '1024'"),
    (["-srv_crl_url", "not a url"], "-srv_crl_url must be a URI"),
])
def test_cli_option_errors(files, tmp_path, monkeypatch, capsys, args, message):
    rc, _, err = cli(files, tmp_path, ["-cmd", "genm"] + args, monkeypatch, capsys)
    assert rc != 0 and message in err and "Traceback" not in err


def test_cli_ml_dsa_ca_key_and_ml_dsa_enrollment(pq_ca, tmp_path, monkeypatch, capsys):
    d = {"ca": tmp_path / "pq_ca.crt", "ca_key": tmp_path / "pq_ca.key", "new_key": tmp_path / "ml.key"}
    d["ca"].write_bytes(pem_cert(pq_ca["cert"]) + pem_cert(pq_ca["root"]))
    d["ca_key"].write_bytes(pem_key(pq_ca["key"]))
    new = mldsa_key(44)
    d["new_key"].write_bytes(pem_key(new))
    out = tmp_path / "ml.pem"
    rc, _, err = cli({k: str(v) for k, v in d.items()}, tmp_path,
                     ["-cmd", "ir", "-newkey", str(d["new_key"]), "-subject", "/CN=pq leaf", "-certout", str(out)],
                     monkeypatch, capsys)
    assert rc == 0, err
    _check_issued(x509.load_pem_x509_certificate(out.read_bytes()), pq_ca["cert"], new)


def test_cli_openssl_mock_answers_have_no_effect_in_ca_mode(files, tmp_path, monkeypatch, capsys, ca):
    rc, _, err = cli(files, tmp_path, ["-cmd", "genm", "-infotype", "rootCaCert", "-oldwithold", files["root"],
                                       "-newwithnew", str(tmp_path / "nwn.pem"), "-rsp_newwithnew", files["root"],
                                       "-rsp_crl", files["root"]], monkeypatch, capsys)
    assert rc == 0, err
    assert "-rsp_newwithnew has no effect in the mock server's CA mode" in err
    assert "-rsp_crl has no effect in the mock server's CA mode" in err
    assert "no root CA certificate update available" in err


def test_ml_dsa_issuance_copies_the_ca_certificates_subject_key_id():
    """RFC 5280 4.2.1.1: the AKI repeats the issuer certificate's SKI, which need not be the SHA-1
    of its key (here an arbitrary one)."""
    import datetime

    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, mldsa
    from cryptography.x509.oid import NameOID

    from cmpkit.core.ca import issue
    ca_key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "odd SKI CA")])
    now = datetime.datetime.now(datetime.timezone.utc)
    ca = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(ca_key.public_key())
          .serial_number(7).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.SubjectKeyIdentifier(b"\x01" * 20), critical=False)
          .sign(ca_key, hashes.SHA256()))
    key = mldsa.MLDSA44PrivateKey.generate()
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "leaf")]).public_bytes()
    cert = x509.load_der_x509_certificate(issue._build_with_certbuild(
        ca, ca_key, subject, key.public_key(), [], now, now + datetime.timedelta(hours=1), 99))
    assert cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value.key_identifier == b"\x01" * 20
    cert.verify_directly_issued_by(ca)
