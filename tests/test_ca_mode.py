"""The mock server's CA mode (cmpkit.core.ca, cmpkit_mock.ca): every check answers with the response
type, status and failInfo bit RFC 9483 / RFC 9810 name; issued certificates are checked with
cryptography (signature by the CA key, public key, extensions, validity); state in SQLite."""
import datetime
import threading
import time

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, padding
from cryptography.x509.oid import ExtendedKeyUsageOID

from cmpkit import TransactionError
from cmpkit.app.transaction import Client
from cmpkit.core import algs, bodies, der, protection
from cmpkit.core.ca.machine import CASettings
from cmpkit.core.client import ClientSettings
from cmpkit.core.keys import SoftwareKey
from cmpkit.core.message import (FAILURE_NAMES, OID_CONFIRM_WAIT_TIME, OID_IMPLICIT_CONFIRM, PKIMessage,
                                 StatusInfo, directory_name, new_message)
from cmpkit.core.verify import DefaultVerificationPolicy
from cmpkit_mock.ca import CAMockServer
from cmpkit_mock.ca_store import SQLiteStore

from .pki import ec_key, make_cert, name, rsa_key

SECRET, REF = b"test", b"1234"
DER = serialization.Encoding.DER
SPKI = serialization.PublicFormat.SubjectPublicKeyInfo
BIT = {n: i for i, n in enumerate(FAILURE_NAMES)}   # failInfo bit numbers of RFC 9810 5.2.3


def der_of(cert):
    return cert.public_bytes(DER)


def spki(key):
    return key.public_key().public_bytes(DER, SPKI)


@pytest.fixture(scope="module")
def ca():
    """A self-signed RSA CA, a second CA (not ours) and a trusted third-party client (an RA)."""
    key = rsa_key()
    cert = make_cert(key, "Test CA", ca=True, path_len=1,
                     not_after=datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=3650))
    other_key = ec_key()
    other = make_cert(other_key, "Other CA", ca=True)
    ra_key = ec_key()
    ra = make_cert(ra_key, "RA", other_key, other)
    return dict(key=key, cert=cert, other=other, other_key=other_key, ra=ra, ra_key=ra_key)


@pytest.fixture
def server(ca):
    def make(store=None, clock=time.time, **kw):
        s = CASettings(ca_cert=der_of(ca["cert"]), ca_key=ca["key"], srv_secret=SECRET, srv_ref=REF,
                       srv_trusted=[der_of(ca["other"])], rsp_capubs=[der_of(ca["cert"])],
                       policy=DefaultVerificationPolicy(clock=time.time))
        for k, v in kw.items():
            setattr(s, k, v)
        return CAMockServer(s, store if store is not None else SQLiteStore(), clock)
    return make


# ---------------------------------------------------------------- raw requests

def template(key=None, subject="leaf", **kw):
    return bodies.Template(subject=name(subject).public_bytes() if subject is not None else None,
                           public_key=spki(key) if key is not None else None, **kw)


def cert_req(key, tpl=None, popo=bodies.POPO_SIGNATURE, cert_req_id=0, old_cert_id=None, n=1):
    tpl = tpl or template(key)
    msgs = [bodies.cert_req_msg_der(bodies.cert_request_der(cert_req_id + i, tpl, old_cert_id), popo,
                                    SoftwareKey(key)) for i in range(n)]
    return bodies.cert_req_messages_der(msgs)


def request(body_type, body, *, secret=SECRET, mac_alg=None, signer=None, certs=(), protect=True,
            sender="leaf", now=None, **kw):
    kw.setdefault("sender_kid", REF if signer is None else None)
    msg = new_message(body_type, sender=directory_name(name(sender).public_bytes()), body=body,
                      message_time=time.time() if now is None else now, **kw)
    if signer is not None:
        msg.set_extra_certs([der_of(c) for c in certs])
        msg.protect_with_signature(SoftwareKey(signer), protection.signature_algorithm(signer.public_key()),
                                   kw.get("sender_kid"))
    elif protect:
        msg.protect_with_mac(secret, mac_alg or protection.pbm_algorithm())
    return msg


def send(srv, msg) -> PKIMessage:
    return PKIMessage.from_der(srv.handle(msg.to_der() if isinstance(msg, PKIMessage) else msg))


def error_bits(rsp):
    assert rsp.body_type == "error", rsp.body_type
    si, _code, _details = bodies.read_error(rsp.body_content)
    assert si.status == 2
    return si.failure_bits


def cert_response(rsp, rsp_type="ip"):
    assert rsp.body_type == rsp_type, (rsp.body_type, rsp.body_type == "error" and bodies.read_error(rsp.body_content))
    return bodies.read_cert_rep(rsp.body_content)[1][0]


def rejected_with(rsp, rsp_type, bit):
    if rsp_type == "rp":
        si = bodies.read_rev_rep(rsp.body_content)[0]
    else:
        si = cert_response(rsp, rsp_type).status
    assert rsp.body_type == rsp_type
    assert (si.status, si.failure_bits) == (2, [BIT[bit]]), si


def enroll(srv, key=None, body_type="ir", confirm=True, **kw):
    """ir (or cr ...) and certConf; the certificate DER."""
    key = key or ec_key()
    ir = request(body_type, cert_req(key, **kw))
    rsp = send(srv, ir)
    r = cert_response(rsp, {"ir": "ip", "cr": "cp", "kur": "kup"}[body_type])
    assert r.status.status == 0, r.status
    if confirm:
        conf = request("certConf", bodies.cert_conf_der([(protection.cert_hash(r.cert), 0, None, None)]),
                       transaction_id=ir.transaction_id, recip_nonce=rsp.sender_nonce)
        assert send(srv, conf).body_type == "pkiconf"
    return r.cert


# ---------------------------------------------------------------- header checks

def test_ir_issues_and_certconf_confirms(server, ca):
    srv = server()
    key = ec_key()
    ir = request("ir", cert_req(key))
    rsp = send(srv, ir)
    r = cert_response(rsp)
    cert = x509.load_der_x509_certificate(r.cert)
    cert.verify_directly_issued_by(ca["cert"])
    assert cert.public_key() == key.public_key() and cert.subject == name("leaf")
    assert rsp.transaction_id == ir.transaction_id and rsp.recip_nonce == ir.sender_nonce
    assert [oid for oid, _ in rsp.general_info] == [OID_CONFIRM_WAIT_TIME]
    assert bodies.read_cert_rep(rsp.body_content)[0] == [der_of(ca["cert"])]   # caPubs
    assert rsp.extra_certs == [der_of(ca["cert"])]                               # the chain, also with a MAC
    assert srv.store.get_cert(cert.serial_number).status == "issued"
    conf = request("certConf", bodies.cert_conf_der([(protection.cert_hash(r.cert), 0, None, None)]),
                   transaction_id=ir.transaction_id, recip_nonce=rsp.sender_nonce)
    assert send(srv, conf).body_type == "pkiconf"
    assert srv.store.get_cert(cert.serial_number).status == "confirmed"


def test_cmpkit_client_ir_cr_kur_rr_genm_in_process(server, ca):
    srv = server()
    key = ec_key()
    base = dict(secret=SECRET, ref=REF)
    res = Client(ClientSettings(cmd="ir", newkey_signer=SoftwareKey(key), newkey_public=key.public_key(),
                                template=template(key), **base), srv).run()
    issued = x509.load_der_x509_certificate(res.cert)
    assert res.ca_pubs == [der_of(ca["cert"])]
    key2 = ec_key()
    signed = dict(signer=SoftwareKey(key), cert=res.cert, sender=issued.subject.public_bytes(),
                  trusted=[der_of(ca["cert"])], policy=DefaultVerificationPolicy(clock=time.time))
    kur = Client(ClientSettings(cmd="kur", old_cert=res.cert, newkey_signer=SoftwareKey(key2),
                                newkey_public=key2.public_key(), template=template(key2), **signed), srv).run()
    assert x509.load_der_x509_certificate(kur.cert).public_key() == key2.public_key()
    cr = Client(ClientSettings(cmd="cr", newkey_signer=SoftwareKey(key2), newkey_public=key2.public_key(),
                               template=template(key2, "other"), **base), srv).run()
    assert x509.load_der_x509_certificate(cr.cert).subject == name("other")
    Client(ClientSettings(cmd="rr", old_cert=res.cert, **base), srv).run()
    assert srv.store.get_cert(issued.serial_number).status == "revoked"
    with pytest.raises(TransactionError, match="certRevoked"):
        Client(ClientSettings(cmd="rr", old_cert=res.cert, **base), srv).run()


@pytest.mark.parametrize("kw, bit", [
    (dict(pvno=1), "unsupportedVersion"),
    (dict(sender_nonce=b"n" * 8), "badSenderNonce"),
    (dict(recip_nonce=b"r" * 16), "badRecipientNonce"),
    (dict(now=time.time() - 3600), "badTime"),
    (dict(transaction_id=b"short"), "badRequest"),
    (dict(general_info=[(OID_IMPLICIT_CONFIRM, b"\x02\x01\x00")]), "badDataFormat"),
    (dict(general_info=[(OID_CONFIRM_WAIT_TIME, b"\x02\x01\x05")]), "badDataFormat"),
    (dict(general_info=[("1.2.3.4", b"\x05\x00")]), "badRequest"),
])
def test_header_checks(server, kw, bit):
    assert error_bits(send(server(), request("ir", cert_req(ec_key()), **kw))) == [BIT[bit]]


def test_header_rejection_of_a_mac_request_is_mac_protected(server):
    rsp = send(server(), request("ir", cert_req(ec_key()), now=time.time() - 3600))
    assert error_bits(rsp) == [BIT["badTime"]]
    rsp.verify_mac(SECRET)
    rsp = send(server(), request("ir", cert_req(ec_key()), now=time.time() - 3600, secret=b"wrong"))
    assert error_bits(rsp) == [BIT["badTime"]] and not rsp.is_mac_protected()


def test_transaction_id_in_use(server):
    srv = server()
    first = request("ir", cert_req(ec_key()))
    assert send(srv, first).body_type == "ip"
    again = request("cr", cert_req(ec_key()), transaction_id=first.transaction_id)
    assert error_bits(send(srv, again)) == [BIT["transactionIdInUse"]]


def test_message_time_window_is_configurable(server):
    srv = server(time_window=7200)
    assert send(srv, request("ir", cert_req(ec_key()), now=time.time() - 3600)).body_type == "ip"


def test_malformed_der_is_bad_data_format(server):
    rsp = PKIMessage.from_der(server().handle(b"\x30\x03\x02\x01\x02"))
    assert error_bits(rsp) == [BIT["badDataFormat"]]


# ---------------------------------------------------------------- protection

def test_mac_protection_failures(server):
    srv = server()
    assert error_bits(send(srv, request("ir", cert_req(ec_key()), secret=b"wrong"))) == [BIT["badMessageCheck"]]
    assert error_bits(send(srv, request("ir", cert_req(ec_key()), sender_kid=b"unknown"))) == [BIT["badMessageCheck"]]
    assert error_bits(send(srv, request("ir", cert_req(ec_key()), protect=False))) == [BIT["badMessageCheck"]]
    assert send(server(accept_unprotected=True), request("ir", cert_req(ec_key()), protect=False)).body_type == "ip"


@pytest.mark.parametrize("mac_alg", [protection.pbm_algorithm(iterations=1000, mac="hmac-sha256"),
                                     protection.pbmac1_algorithm(iterations=2000)])
def test_mac_response_uses_the_request_algorithm_with_a_fresh_salt(server, mac_alg):
    rsp = send(server(), request("ir", cert_req(ec_key()), mac_alg=mac_alg))
    assert rsp.body_type == "ip"
    rsp.verify_mac(SECRET)
    got, sent = rsp.protection_alg, mac_alg
    assert got != sent
    oid_got, params_got = algs.decode_algorithm_identifier(got)
    oid_sent, params_sent = algs.decode_algorithm_identifier(sent)
    assert oid_got == oid_sent
    if oid_sent == algs.PBM_OID:
        assert der.children(params_got)[1:] == der.children(params_sent)[1:]
    else:
        kdf_got, kdf_sent = (der.children(algs.decode_algorithm_identifier(der.children(p)[0])[1])
                             for p in (params_got, params_sent))
        assert kdf_got[1:] == kdf_sent[1:] and kdf_got[0] != kdf_sent[0]
        assert der.children(params_got)[1] == der.children(params_sent)[1]


def test_signature_protection_by_a_trusted_ra(server, ca):
    srv = server()
    rsp = send(srv, request("cr", cert_req(ec_key()), signer=ca["ra_key"], certs=[ca["ra"]], sender="RA",
                            sender_kid=protection.subject_key_id(der_of(ca["ra"]))))
    assert rsp.body_type == "cp"
    assert not rsp.is_mac_protected()
    rsp.verify_signature(der_of(ca["cert"]))     # answered with the CA key
    assert rsp.extra_certs == [der_of(ca["cert"])]      # the signer, which is also the issued cert's chain


def test_signature_protection_failures(server, ca):
    srv = server()
    ra, ra_key = ca["ra"], ca["ra_key"]
    kid = protection.subject_key_id(der_of(ra))
    cases = [
        dict(signer=ra_key, certs=[ca["other"], ra], sender="RA"),              # not first in extraCerts
        dict(signer=ra_key, certs=[], sender="RA"),                             # no extraCerts
        dict(signer=ra_key, certs=[ra], sender="someone else"),                 # sender is not its subject
        dict(signer=ra_key, certs=[ra], sender="RA", sender_kid=b"\x01" * 20),  # senderKID does not match
        dict(signer=ec_key(), certs=[ra], sender="RA", sender_kid=kid),         # signature does not verify
    ]
    for case in cases:
        assert error_bits(send(srv, request("cr", cert_req(ec_key()), **case))) == [BIT["badMessageCheck"]], case
    untrusted_key = ec_key()
    untrusted = make_cert(untrusted_key, "RA")                                 # self-signed, not an anchor
    assert error_bits(send(srv, request("cr", cert_req(ec_key()), signer=untrusted_key, certs=[untrusted],
                                        sender="RA"))) == [BIT["badMessageCheck"]]
    enc_key = ec_key()
    enc_only = make_cert(enc_key, "RA", ca["other_key"], ca["other"], key_usage=dict(key_agreement=True))
    assert error_bits(send(srv, request("cr", cert_req(ec_key()), signer=enc_key, certs=[enc_only],
                                        sender="RA"))) == [BIT["badMessageCheck"]]


def test_unsupported_mac_one_way_function_is_bad_alg(server):
    alg = protection.pbm_algorithm()
    oid, params = algs.decode_algorithm_identifier(alg)
    salt, _owf, count, mac = der.children(params)
    md4 = algs.encode_algorithm_identifier("1.2.840.113549.2.4")            # MD4: not a PBM OWF here
    alg = algs.encode_algorithm_identifier(oid, der.sequence(salt, md4, count, mac))
    msg = request("ir", cert_req(ec_key()), protect=False)
    msg.set_header_field("protectionAlg", alg)
    msg.set_header_field("senderKID", REF)
    msg.set_protection(b"\x00" * 20)
    assert error_bits(send(server(), msg)) == [BIT["badAlg"]]


def test_unknown_protection_algorithm_is_bad_alg(server):
    msg = request("ir", cert_req(ec_key()), protect=False)
    msg.set_header_field("protectionAlg", algs.encode_algorithm_identifier("1.2.3.4.5"))
    msg.set_protection(b"\x00" * 32)
    assert error_bits(send(server(), msg)) == [BIT["badAlg"]]


# ---------------------------------------------------------------- request content

def _ext(ext, critical=False):
    return (ext.oid.dotted_string, critical, ext.public_bytes())


@pytest.mark.parametrize("what, bit", [
    ("empty subject", "badCertTemplate"), ("raVerified", "notAuthorized"), ("bad popo", "badPOP"),
    ("rsa 1024", "badCertTemplate"), ("curve", "badAlg"), ("ca flag", "badCertTemplate"),
    ("pathlen", "badCertTemplate"), ("cert req id", "badRequest"), ("key usage", "badCertTemplate"),
    ("eku", "badCertTemplate"), ("critical extension", "unacceptedExtension"), ("two requests", "badRequest"),
    ("validity", "badCertTemplate"),
])
def test_content_checks(server, what, bit):
    key, kw, srv_kw = ec_key(), {}, {}
    if what == "empty subject":
        kw["tpl"] = bodies.Template(subject=b"\x30\x00", public_key=spki(key))
    elif what == "raVerified":
        kw["popo"] = bodies.POPO_RAVERIFIED
    elif what == "bad popo":
        body = cert_req(key)
        body = body[:-3] + bytes([body[-3] ^ 1]) + body[-2:]
    elif what == "rsa 1024":
        key = rsa_key(1024)
    elif what == "curve":
        key = ec.generate_private_key(ec.SECP224R1())
    elif what == "ca flag":
        kw["tpl"] = template(key, extensions=[_ext(x509.BasicConstraints(ca=True, path_length=None), True)])
    elif what == "cert req id":
        kw["cert_req_id"] = 1
    elif what == "key usage":
        ku = x509.KeyUsage(True, False, False, False, False, True, True, False, False)
        kw["tpl"] = template(key, extensions=[_ext(ku, True)])
    elif what == "eku":
        kw["tpl"] = template(key, extensions=[_ext(x509.ExtendedKeyUsage([x509.ObjectIdentifier("1.2.3.4")]))])
    elif what == "critical extension":
        kw["tpl"] = template(key, extensions=[("1.2.3.4", True, b"\x05\x00")])
    elif what == "two requests":
        kw["n"] = 2
    elif what == "validity":
        past = datetime.datetime(2001, 1, 1, tzinfo=datetime.timezone.utc)
        kw["tpl"] = template(key, not_before=past, not_after=past + datetime.timedelta(days=1))
    if what == "pathlen":  # CA:TRUE allowed here, but pathLen 5 is not below the CA's own pathLen 1
        from cmpkit.core.ca.issue import IssuePolicy
        srv_kw["issue"] = IssuePolicy(allow_ca=True)
        kw["tpl"] = template(key, extensions=[_ext(x509.BasicConstraints(ca=True, path_length=5), True)])
    if what != "bad popo":
        body = cert_req(key, **kw)
    rejected_with(send(server(**srv_kw), request("ir", body)), "ip", bit)


def test_missing_subject_with_ra_verified_popo(server):
    key = ec_key()
    body = cert_req(key, tpl=template(key, subject=None), popo=bodies.POPO_RAVERIFIED)
    rejected_with(send(server(accept_raverified=True), request("ir", body)), "ip", "badCertTemplate")
    body = cert_req(key, popo=bodies.POPO_RAVERIFIED)
    assert cert_response(send(server(accept_raverified=True), request("ir", body))).status.status == 0


def test_ra_verified_from_an_ra(server, ca):
    cmc_ra = make_cert(ca["ra_key"], "RA", ca["other_key"], ca["other"],
                       eku=[x509.ObjectIdentifier("1.3.6.1.5.5.7.3.28")])
    body = cert_req(ec_key(), popo=bodies.POPO_RAVERIFIED)
    rsp = send(server(), request("cr", body, signer=ca["ra_key"], certs=[cmc_ra], sender="RA"))
    assert cert_response(rsp, "cp").status.status == 0
    rsp = send(server(), request("cr", body, signer=ca["ra_key"], certs=[ca["ra"]], sender="RA"))  # no cmcRA
    rejected_with(rsp, "cp", "notAuthorized")


def test_missing_transaction_id_and_pvno_3(server):
    msg = request("ir", cert_req(ec_key()), protect=False)
    msg.set_header_field("transactionID", None)
    msg.protect_with_mac(SECRET, protection.pbm_algorithm())
    assert error_bits(send(server(), msg)) == [BIT["badRequest"]]
    rsp = send(server(), request("ir", cert_req(ec_key()), pvno=3))
    assert rsp.body_type == "ip" and rsp.pvno == 3


def test_pathlen_without_ca_flag(server):
    key = ec_key()
    bc = ("2.5.29.19", True, der.sequence(der.integer(0)))   # CA:FALSE with a pathLenConstraint
    rejected_with(send(server(), request("ir", cert_req(key, tpl=template(key, extensions=[bc])))), "ip",
                  "badCertTemplate")


# ---------------------------------------------------------------- issuance

@pytest.mark.parametrize("kind", ["rsa", "ec", "ed25519", "ed448"])
def test_issuance_per_key_type(server, ca, kind):
    key = {"rsa": rsa_key, "ec": ec_key, "ed25519": ed25519.Ed25519PrivateKey.generate,
           "ed448": ed448.Ed448PrivateKey.generate}[kind]()
    san = x509.SubjectAlternativeName([x509.DNSName("leaf.example")])
    eku = x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH])
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    tpl = template(key, extensions=[_ext(san), _ext(eku)], not_after=now + datetime.timedelta(days=1000))
    srv = server()
    cert = x509.load_der_x509_certificate(enroll(srv, key, tpl=tpl))
    ca_cert = ca["cert"]
    ca_cert.public_key().verify(cert.signature, cert.tbs_certificate_bytes, padding.PKCS1v15(),
                                cert.signature_hash_algorithm)
    assert cert.issuer == ca_cert.subject and cert.public_key() == key.public_key()
    e = cert.extensions
    assert e.get_extension_for_class(x509.SubjectAlternativeName).value == san
    assert e.get_extension_for_class(x509.ExtendedKeyUsage).value == eku
    assert e.get_extension_for_class(x509.BasicConstraints).value.ca is False
    assert e.get_extension_for_class(x509.SubjectKeyIdentifier).value == \
        x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    assert e.get_extension_for_class(x509.AuthorityKeyIdentifier).value.key_identifier == \
        ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    ku = e.get_extension_for_class(x509.KeyUsage).value
    assert ku.digital_signature and not ku.key_cert_sign
    # validity: from now, capped at the configured maximum (365 days) instead of the 1000 asked for
    assert abs((cert.not_valid_before_utc - now).total_seconds()) < 5
    assert cert.not_valid_after_utc - cert.not_valid_before_utc == datetime.timedelta(days=365)
    assert 0 < cert.serial_number < 2 ** 159


@pytest.mark.parametrize("ca_kind", ["ec", "ed25519"])
def test_ca_with_ec_and_eddsa_keys(server, ca_kind):
    ca_key = ec_key() if ca_kind == "ec" else ed25519.Ed25519PrivateKey.generate()
    b = (x509.CertificateBuilder().subject_name(name("Small CA")).issuer_name(name("Small CA"))
         .public_key(ca_key.public_key()).serial_number(1)
         .not_valid_before(datetime.datetime(2020, 1, 1)).not_valid_after(datetime.datetime(2040, 1, 1))
         .add_extension(x509.BasicConstraints(ca=True, path_length=None), True))
    ca_cert = b.sign(ca_key, None if ca_kind == "ed25519" else hashes.SHA256())
    srv = server(ca_cert=der_of(ca_cert), ca_key=ca_key, rsp_capubs=[])
    key = ec_key()
    tpl = template(key, not_before=datetime.datetime(2030, 1, 1, tzinfo=datetime.timezone.utc),
                   not_after=datetime.datetime(2030, 2, 1, tzinfo=datetime.timezone.utc))
    cert = x509.load_der_x509_certificate(enroll(srv, key, tpl=tpl))
    cert.verify_directly_issued_by(ca_cert)
    assert cert.not_valid_before_utc.year == 2030 and cert.not_valid_after_utc.month == 2   # template's validity
    assert cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value.key_identifier == \
        x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()).digest


def test_serials_are_unique(server):
    srv = server()
    serials = {x509.load_der_x509_certificate(enroll(srv, confirm=False)).serial_number for _ in range(20)}
    assert len(serials) == 20


def test_p10cr(server, ca):
    key = ec_key()
    csr = x509.CertificateSigningRequestBuilder().subject_name(name("p10")).sign(key, hashes.SHA256())
    rsp = send(server(), request("p10cr", csr.public_bytes(DER)))
    r = cert_response(rsp, "cp")
    assert r.cert_req_id == -1
    x509.load_der_x509_certificate(r.cert).verify_directly_issued_by(ca["cert"])
    broken = csr.public_bytes(DER)
    broken = broken[:-3] + bytes([broken[-3] ^ 1]) + broken[-2:]
    rejected_with(send(server(), request("p10cr", broken)), "cp", "badPOP")


def test_implicit_confirm_granted(server):
    srv = server(grant_implicitconf=True)
    rsp = send(srv, request("ir", cert_req(ec_key()), general_info=[(OID_IMPLICIT_CONFIRM, b"\x05\x00")]))
    r = cert_response(rsp)
    assert (OID_IMPLICIT_CONFIRM, b"\x05\x00") in rsp.general_info
    assert srv.store.get_cert(x509.load_der_x509_certificate(r.cert).serial_number).status == "confirmed"
    conf = request("certConf", bodies.cert_conf_der([(protection.cert_hash(r.cert), 0, None, None)]),
                   transaction_id=rsp.transaction_id, recip_nonce=rsp.sender_nonce)
    assert error_bits(send(srv, conf)) == [BIT["certConfirmed"]]


# ---------------------------------------------------------------- certConf

def _ir(srv):
    ir = request("ir", cert_req(ec_key()))
    rsp = send(srv, ir)
    return ir, rsp, cert_response(rsp).cert


def _conf(ir, rsp, cert, **kw):
    status = kw.pop("status", None)
    cert_hash = kw.pop("cert_hash", protection.cert_hash(cert))
    kw.setdefault("recip_nonce", rsp.sender_nonce)
    return request("certConf", bodies.cert_conf_der([(cert_hash, kw.pop("cert_req_id", 0), status, None)]),
                   transaction_id=ir.transaction_id, **kw)


@pytest.mark.parametrize("kw, bit", [
    (dict(recip_nonce=b"x" * 16), "badRecipientNonce"),
    (dict(cert_hash=b"\x00" * 32), "badCertId"),
    (dict(cert_req_id=3), "badRequest"),
    (dict(status=StatusInfo(0, [], [2])), "badRequest"),
    (dict(sender_nonce=b"n" * 4), "badSenderNonce"),
])
def test_cert_conf_checks(server, kw, bit):
    srv = server()
    ir, rsp, cert = _ir(srv)
    assert error_bits(send(srv, _conf(ir, rsp, cert, **kw))) == [BIT[bit]]


def test_cert_conf_reusing_the_request_nonce(server):
    srv = server()
    ir, rsp, cert = _ir(srv)
    assert error_bits(send(srv, _conf(ir, rsp, cert, sender_nonce=ir.sender_nonce))) == [BIT["badSenderNonce"]]


def test_cert_conf_twice_is_cert_confirmed(server):
    srv = server()
    ir, rsp, cert = _ir(srv)
    assert send(srv, _conf(ir, rsp, cert)).body_type == "pkiconf"
    assert error_bits(send(srv, _conf(ir, rsp, cert))) == [BIT["certConfirmed"]]


def test_cert_conf_rejection_revokes(server):
    srv = server()
    ir, rsp, cert = _ir(srv)
    no = StatusInfo(2, ["no"], [BIT["badCertTemplate"]])
    assert send(srv, _conf(ir, rsp, cert, status=no)).body_type == "pkiconf"
    assert srv.store.get_cert(x509.load_der_x509_certificate(cert).serial_number).status == "revoked"


def test_unconfirmed_certificate_revoked_after_confirm_wait(server):
    now = [time.time()]
    srv = server(clock=lambda: now[0], confirm_wait=30)
    ir, rsp, cert = _ir(srv)
    serial = x509.load_der_x509_certificate(cert).serial_number
    now[0] += 31
    send(srv, request("genm", bodies.genm_der([]), now=now[0]))   # any request lets the CA notice
    assert srv.store.get_cert(serial).status == "revoked"
    assert error_bits(send(srv, _conf(ir, rsp, cert, now=now[0]))) == [BIT["badRequest"]]


def test_cert_conf_for_unknown_transaction(server):
    srv = server()
    ir, rsp, cert = _ir(srv)
    stranger = request("certConf", bodies.cert_conf_der([(protection.cert_hash(cert), 0, None, None)]),
                       recip_nonce=rsp.sender_nonce)
    assert error_bits(send(srv, stranger)) == [BIT["badRequest"]]


# ---------------------------------------------------------------- rr and kur

def _rr(issuer_der, serial, **kw):
    return request("rr", bodies.rev_req_der(bodies.Template(issuer=issuer_der, serial=serial), 1), **kw)


def test_rr_checks(server, ca):
    srv = server()
    cert = x509.load_der_x509_certificate(enroll(srv))
    ca_name = ca["cert"].subject.public_bytes()
    rejected_with(send(srv, _rr(ca_name, cert.serial_number + 1)), "rp", "badCertId")        # unknown
    rejected_with(send(srv, _rr(name("Other CA").public_bytes(), cert.serial_number)), "rp", "badCertId")
    rsp = send(srv, _rr(ca_name, cert.serial_number))
    assert rsp.body_type == "rp" and bodies.read_rev_rep(rsp.body_content)[0].status == 0
    rec = srv.store.get_cert(cert.serial_number)
    assert (rec.status, rec.reason) == ("revoked", 1)
    rejected_with(send(srv, _rr(ca_name, cert.serial_number)), "rp", "certRevoked")


def test_rr_by_another_end_entity_not_authorized(server, ca):
    srv = server()
    k1, k2 = ec_key(), ec_key()
    c1 = x509.load_der_x509_certificate(enroll(srv, k1))
    c2 = x509.load_der_x509_certificate(enroll(srv, k2, tpl=template(k2, "second")))
    msg = _rr(ca["cert"].subject.public_bytes(), c1.serial_number, signer=k2, certs=[c2], sender="second")
    rejected_with(send(srv, msg), "rp", "notAuthorized")
    msg = _rr(ca["cert"].subject.public_bytes(), c1.serial_number, signer=k1, certs=[c1])
    assert bodies.read_rev_rep(send(srv, msg).body_content)[0].status == 0


def _kur(old_key, old_cert, new_key, old_cert_id="auto", ca_name=None):
    if old_cert_id == "auto":
        old_cert_id = (directory_name(old_cert.issuer.public_bytes()), old_cert.serial_number)
    return request("kur", cert_req(new_key, old_cert_id=old_cert_id), signer=old_key, certs=[old_cert],
                   sender_kid=protection.subject_key_id(der_of(old_cert)))


def test_kur_checks(server, ca):
    srv = server()
    key = ec_key()
    old = x509.load_der_x509_certificate(enroll(srv, key))
    rsp = send(srv, _kur(key, old, ec_key()))
    assert cert_response(rsp, "kup").status.status == 0
    rejected_with(send(srv, _kur(key, old, key)), "kup", "badCertTemplate")                   # no new key
    rejected_with(send(srv, _kur(key, old, ec_key(), (directory_name(old.issuer.public_bytes()),
                                                      old.serial_number + 1))), "kup", "badCertId")
    srv.store.revoke_cert(old.serial_number, time.time(), None)
    rejected_with(send(srv, _kur(key, old, ec_key())), "kup", "badCertId")                    # revoked
    # a certificate of another CA (trusted for protection, but not issued here)
    foreign = request("kur", cert_req(ec_key(), old_cert_id=(directory_name(ca["other"].subject.public_bytes()), 5)),
                      signer=ca["ra_key"], certs=[ca["ra"]], sender="RA")
    rejected_with(send(srv, foreign), "kup", "badCertId")


# ---------------------------------------------------------------- genm, CRL, state

def test_genm_ca_certs_and_crl(server, ca):
    srv = server()
    cert = x509.load_der_x509_certificate(enroll(srv))
    send(srv, _rr(ca["cert"].subject.public_bytes(), cert.serial_number))
    rsp = send(srv, request("genm", bodies.genm_der([("1.3.6.1.5.5.7.4.17", None), ("1.3.6.1.5.5.7.4.6", None),
                                                     ("1.3.6.1.5.5.7.4.16", None)])))
    assert rsp.body_type == "genp"
    itavs = dict(bodies.read_itavs(rsp.body_content))
    assert der.children(itavs["1.3.6.1.5.5.7.4.17"]) == [der_of(ca["cert"])]
    crl = x509.load_der_x509_crl(itavs["1.3.6.1.5.5.7.4.6"])
    assert crl.is_signature_valid(ca["cert"].public_key())
    assert crl.get_revoked_certificate_by_serial_number(cert.serial_number) is not None
    assert itavs["1.3.6.1.5.5.7.4.16"] is None


def test_restart_keeps_state(server, ca, tmp_path):
    db = str(tmp_path / "ca.sqlite")
    first = server(store=SQLiteStore(db))
    cert = x509.load_der_x509_certificate(enroll(first))
    first.store.close()
    second = server(store=SQLiteStore(db))
    rsp = send(second, _rr(ca["cert"].subject.public_bytes(), cert.serial_number))
    assert bodies.read_rev_rep(rsp.body_content)[0].status == 0
    assert SQLiteStore(db).get_cert(cert.serial_number).status == "revoked"


def test_concurrent_clients_and_cert_conf_on_a_new_connection(server, tmp_path):
    db = str(tmp_path / "ca.sqlite")
    srv = server(store=SQLiteStore(db))
    results, errors = [], []

    def one():
        try:
            ir, rsp, cert = _ir(srv)
            fresh = server(store=SQLiteStore(db))        # certConf reaches another server object
            assert send(fresh, _conf(ir, rsp, cert)).body_type == "pkiconf"
            results.append(x509.load_der_x509_certificate(cert).serial_number)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=one) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and len(set(results)) == 12
    assert all(srv.store.get_cert(s).status == "confirmed" for s in results)


def test_client_error_message_ends_the_transaction_and_revokes(server):
    srv = server()
    ir, rsp, cert = _ir(srv)
    err = request("error", bodies.error_der(StatusInfo(2, ["giving up"], [BIT["badRequest"]])),
                  transaction_id=ir.transaction_id, recip_nonce=rsp.sender_nonce)
    assert send(srv, err).body_type == "pkiconf"
    assert srv.store.get_cert(x509.load_der_x509_certificate(cert).serial_number).status == "revoked"


def test_poll_req_and_unsupported_bodies_are_bad_request(server):
    srv = server()
    ir, rsp, _cert = _ir(srv)
    poll = request("pollReq", bodies.poll_req_der([0]), transaction_id=ir.transaction_id, recip_nonce=rsp.sender_nonce)
    assert error_bits(send(srv, poll)) == [BIT["badRequest"]]
    assert error_bits(send(srv, request("krr", cert_req(ec_key())))) == [BIT["badRequest"]]


def test_signature_protection_needs_a_directory_name_sender(server, ca):
    msg = request("cr", cert_req(ec_key()), signer=ca["ra_key"], certs=[ca["ra"]], sender="RA")
    msg.set_header_field("sender", der.tlv(0x81, b"ra@example.com"))       # rfc822Name
    msg.protect_with_signature(SoftwareKey(ca["ra_key"]), protection.signature_algorithm(ca["ra_key"].public_key()))
    assert error_bits(send(server(), msg)) == [BIT["badMessageCheck"]]


def test_sqlite_store_steps_are_atomic_across_connections(tmp_path):
    from cmpkit.core.ca.store import CertRecord, Transaction
    db = str(tmp_path / "s.sqlite")
    a, b = SQLiteStore(db), SQLiteStore(db)
    assert a.add_cert(CertRecord(7, b"c", not_after=1.0)) and not b.add_cert(CertRecord(7, b"d", not_after=1.0))
    assert [a.confirm_cert(7), b.confirm_cert(7)] == [True, False]
    assert [b.revoke_cert(7, 5.0, 1), a.revoke_cert(7, 6.0, 1)] == [True, False]
    assert a.get_cert(7).revoked_at == 5.0
    assert a.open_transaction(Transaction(b"t" * 16, b"s")) and not b.open_transaction(Transaction(b"t" * 16, b"s"))
    assert [a.next_crl_number(), b.next_crl_number(), a.next_crl_number()] == [1, 2, 3]


def test_sqlite_store_in_a_missing_directory_is_a_config_error(tmp_path):
    from cmpkit import ConfigError
    with pytest.raises(ConfigError, match="cannot open CA database"):
        SQLiteStore(str(tmp_path / "no" / "such" / "dir.sqlite"))
