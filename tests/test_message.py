"""The message model: recorded vectors round-trip, builders produce what readers read, bad input fails cleanly."""
import pathlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cmpkit import DecodeError, PKIMessage
from cmpkit.core import bodies, der
from cmpkit.core.message import StatusInfo, directory_name, new_message

VECTORS = pathlib.Path(__file__).resolve().parent / "data" / "vectors" / "lightweightcmpra"
FILE_BODY = {"INIT_REQ": "ir", "INIT_REP": "ip", "CERT_REQ": "cr", "CERT_REP": "cp",
             "KEY_UPDATE_REQ": "kur", "KEY_UPDATE_REP": "kup", "REVOCATION_REQ": "rr",
             "REVOCATION_REP": "rp", "CERT_CONFIRM": "certConf", "CONFIRM": "pkiconf",
             "POLL_REQ": "pollReq", "POLL_REP": "pollRep"}


def vector_files():
    files = sorted(VECTORS.glob("*/*.PKI"))
    assert len(files) == 36, f"tests/data/vectors holds {len(files)} recordings, not 36"
    return files




def test_all_36_vectors_present():
    assert len(vector_files()) == 36


@pytest.mark.parametrize("path", vector_files(), ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_vector_round_trip_and_body_type(path):
    data = path.read_bytes()
    msg = PKIMessage.from_der(data)
    assert msg.to_der() == data
    expected = FILE_BODY[path.stem.split("_", 1)[1]]
    assert msg.body_type == expected
    assert msg.transaction_id and msg.sender_nonce
    # the protected part is exactly SEQUENCE { header, body } taken from the input
    from cmpkit.core import der
    pp = msg.protected_part()
    inner, outer = der.content(pp), der.content(data)
    assert pp[0] == 0x30 and outer.startswith(inner) and outer[len(inner)] == 0xA0
    assert msg.protection is not None


def _pyasn1_header(header_der: bytes) -> dict:
    """The header's fields read with a pyasn1 schema: a second reader to compare ours with."""
    from pyasn1.codec.der import decoder, encoder

    from . import asn1_schema as asn1
    h, rest = decoder.decode(header_der, asn1Spec=asn1.PKIHeader())
    assert not rest

    def opt(name):
        return bytes(h[name]) if h[name].isValue else None
    alg = h["protectionAlg"]
    return {
        "pvno": int(h["pvno"]), "sender": bytes(h["sender"]), "recipient": bytes(h["recipient"]),
        "message_time": h["messageTime"].asDateTime if h["messageTime"].isValue else None,
        "protection_alg": der.content(encoder.encode(alg)) if alg.isValue else None,
        "sender_kid": opt("senderKID"), "recip_kid": opt("recipKID"), "transaction_id": opt("transactionID"),
        "sender_nonce": opt("senderNonce"), "recip_nonce": opt("recipNonce"),
        "free_text": [str(t) for t in h["freeText"]] if h["freeText"].isValue else [],
        "general_info": [(str(i["infoType"]), bytes(i["infoValue"]) if i["infoValue"].isValue else None)
                         for i in h["generalInfo"]] if h["generalInfo"].isValue else [],
    }


@pytest.mark.parametrize("path", vector_files(), ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_vector_headers_read_as_a_schema_reads_them(path):
    msg = PKIMessage.from_der(path.read_bytes())
    expected = _pyasn1_header(der.children(path.read_bytes())[0])
    assert {k: getattr(msg, k) for k in expected} == expected


def test_built_header_reads_back_with_a_schema():
    import datetime
    when = datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc)
    msg = new_message("pkiconf", sender=directory_name(b"\x30\x00"), pvno=3, sender_kid=b"k", recip_kid=b"r",
                      recip_nonce=b"n" * 16, free_text=["héllo", "x"], message_time=when,
                      general_info=[("1.3.6.1.5.5.7.4.13", b"\x05\x00"), ("1.2.3.4", None)])
    got = _pyasn1_header(der.children(msg.to_der())[0])
    assert got["message_time"] == when and got["free_text"] == ["héllo", "x"]
    assert got["general_info"] == [("1.3.6.1.5.5.7.4.13", b"\x05\x00"), ("1.2.3.4", None)]
    assert {k: getattr(msg, k) for k in got} == got


def test_vector_readers():
    cp = PKIMessage.from_der((VECTORS / "CrWithSignatureProtection/downstream_CERT_REP.PKI").read_bytes())
    ca_pubs, responses = bodies.read_cert_rep(cp.body_content)
    assert responses[0].status.status == 0
    from cryptography import x509
    cert = x509.load_der_x509_certificate(responses[0].cert)
    assert cert.subject.rfc4514_string()
    ir = PKIMessage.from_der((VECTORS / "IrWithMacProtection/downstream_INIT_REQ.PKI").read_bytes())
    req = bodies.read_cert_requests(ir.body_content)[0]
    assert req.popo == "signature" and req.template.public_key[0] == 0x30
    rr = PKIMessage.from_der((VECTORS / "Rr/downstream_REVOCATION_REQ.PKI").read_bytes())
    (tpl, reason), = bodies.read_rev_details(rr.body_content)
    assert tpl.serial and tpl.issuer


def _ec_spki():
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    key = ec.generate_private_key(ec.SECP256R1())
    return key, key.public_key().public_bytes(serialization.Encoding.DER,
                                              serialization.PublicFormat.SubjectPublicKeyInfo)


def test_build_ir_and_read_back():
    import datetime

    from cryptography import x509
    key, spki = _ec_spki()
    name = x509.Name.from_rfc4514_string("CN=leaf,O=cmpkit").public_bytes()
    ext = x509.Extension(x509.BasicConstraints.oid, True, x509.BasicConstraints(False, None))
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    tpl = bodies.Template(subject=name, public_key=spki, not_before=now, extensions=[ext])
    req = bodies.cert_request_der(0, tpl, old_cert_id=(bytes.fromhex("a4023000"), 77))
    msg = new_message("ir", body=bodies.cert_req_messages_der([bodies.cert_req_msg_der(req, popo=0)]),
                      free_text=["hello"], general_info=[("1.3.6.1.5.5.7.4.13", None)])
    back = PKIMessage.from_der(msg.to_der())
    assert back.body_type == "ir" and back.implicit_confirm and back.free_text == ["hello"]
    info = bodies.read_cert_requests(back.body_content)[0]
    assert info.template.subject == name and info.template.public_key == spki
    assert info.template.not_before == now
    assert info.old_cert_id == (bytes.fromhex("a4023000"), 77)
    assert info.popo == "raVerified"
    assert info.template.extensions == [("2.5.29.19", True, b"\x30\x00")]


@pytest.mark.parametrize("body_type,body,reader,expected", [
    ("ip", bodies.cert_rep_der([(0, StatusInfo(2, ["no"], [9]), None)]), bodies.read_cert_rep,
     lambda r: r[1][0].status.failure_bits == [9] and r[1][0].status.texts == ["no"]),
    ("rp", bodies.rev_rep_der([StatusInfo(0)]), bodies.read_rev_rep, lambda r: r[0].status == 0),
    ("error", bodies.error_der(StatusInfo(2, [], [26]), 7, ["detail"]), bodies.read_error,
     lambda r: r[0].failure_bits == [26] and r[1] == 7 and r[2] == ["detail"]),
    ("genm", bodies.genm_der([("1.3.6.1.5.5.7.4.4", None)]), bodies.read_itavs,
     lambda r: r == [("1.3.6.1.5.5.7.4.4", None)]),
    ("certConf", bodies.cert_conf_der([(b"h" * 32, 0, None, None)]), bodies.read_cert_conf,
     lambda r: r == [(b"h" * 32, 0, None, None)]),
    ("pollReq", bodies.poll_req_der([0]), bodies.read_poll_req, lambda r: r == [0]),
    ("pollRep", bodies.poll_rep_der([(0, 3, ["wait"])]), bodies.read_poll_rep, lambda r: r == [(0, 3, ["wait"])]),
    ("rr", bodies.rev_req_der(bodies.Template(serial=5), 1), bodies.read_rev_details,
     lambda r: r[0][0].serial == 5 and r[0][1] == 1),
])
def test_bodies_round_trip(body_type, body, reader, expected):
    msg = PKIMessage.from_der(new_message(body_type, body=body).to_der())
    assert msg.body_type == body_type
    assert expected(reader(msg.body_content))
    assert expected(bodies.read_body(msg))


def test_pkiconf_and_header_fields():
    msg = new_message("pkiconf", transaction_id=b"t" * 16, sender_nonce=b"n" * 16, recip_nonce=b"r" * 16,
                      sender_kid=b"kid", pvno=3, message_time=1_800_000_000)
    back = PKIMessage.from_der(msg.to_der())
    assert (back.body_type, back.pvno, back.transaction_id, back.sender_nonce, back.recip_nonce,
            back.sender_kid) == ("pkiconf", 3, b"t" * 16, b"n" * 16, b"r" * 16, b"kid")
    assert back.message_time.timestamp() == 1_800_000_000 and back.protection is None and back.extra_certs == []
    assert new_message("pkiconf").message_time is None      # the core reads no clock


# ---------------------------------------------------------------- malformed input

def _sample():
    files = vector_files()
    if files:
        return files[0].read_bytes()
    return new_message("genm", body=bodies.genm_der([])).to_der()


@pytest.mark.parametrize("data", [
    b"", b"\x30", b"\x30\x00", b"\x30\x84\xff\xff\xff\xff", b"\x31\x03\x02\x01\x02",
    b"\x30\x03\x02\x01\x02", b"garbage" * 10, b"\x30\x80\x00\x00",
])
def test_malformed_inputs_raise_decode_error(data):
    with pytest.raises(DecodeError):
        PKIMessage.from_der(data)


def test_truncated_and_trailing():
    data = _sample()
    for cut in (1, 2, 10, len(data) // 2, len(data) - 1):
        with pytest.raises(DecodeError):
            PKIMessage.from_der(data[:cut])
    with pytest.raises(DecodeError):
        PKIMessage.from_der(data + b"\x00")


def test_wrong_type_input():
    with pytest.raises(DecodeError):
        PKIMessage.from_der("not bytes")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_random_mutations_raise_only_decode_error(data):
    original = bytearray(_sample())
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(original) - 1))
        original[i] = data.draw(st.integers(0, 255))
    try:
        msg = PKIMessage.from_der(bytes(original))
    except DecodeError:
        return
    # whatever decodes must behave: accessors work and re-encoding is stable
    msg.body_type, msg.transaction_id, msg.extra_certs, msg.protection_alg
    try:
        bodies.read_body(msg)  # the body is read when someone needs it
    except DecodeError:
        pass
    again = PKIMessage.from_der(msg.to_der())
    assert again.to_der() == msg.to_der()


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_random_bytes_raise_only_decode_error(blob):
    try:
        PKIMessage.from_der(blob)
    except DecodeError:
        pass


def test_malformed_body_fails_cleanly_when_read():
    # framing is checked at once; the body's structure when the body is read
    data = new_message("ir", body=b"\x30\x03\x01\x01\xff").to_der()
    msg = PKIMessage.from_der(data)
    assert msg.body_type == "ir" and msg.to_der() == data
    with pytest.raises(DecodeError, match="malformed"):
        bodies.read_body(msg)


def test_unknown_body_tag_and_bad_parts():
    good = der.children(new_message("genm", body=bodies.genm_der([])).to_der())
    for bad in (der.sequence(good[0], der.tlv(0xBF, b"")),            # tag out of the CHOICE
                der.sequence(good[0], der.tlv(0x80, b"")),            # primitive body
                der.sequence(good[0], good[1], der.tlv(0xA1, der.sequence()), der.tlv(0xA0, b"")),
                der.sequence(good[0], good[1], der.tlv(0xA0, der.tlv(0x04, b"x"))),
                der.sequence(good[0], good[1], der.tlv(0xA1, der.sequence()))):
        with pytest.raises(DecodeError):
            PKIMessage.from_der(bad)


def test_message_time_must_be_a_der_generalized_time():
    good = der.children(new_message("pkiconf").to_der())
    header_items = der.children(good[0])
    for text in (b"20261301000000Z", b"202612010000Z", b"20261201000000", b"20261201000000.50Z"):
        items = [header_items[0], header_items[1], header_items[2], der.tlv(0xA0, der.tlv(0x18, text)),
                 *header_items[4:]]
        with pytest.raises(DecodeError, match="GeneralizedTime"):
            PKIMessage.from_der(der.sequence(der.sequence(*items), good[1]))
    items = [*header_items[:3], der.tlv(0xA0, der.tlv(0x18, b"20261201000000.25Z")), *header_items[4:]]
    msg = PKIMessage.from_der(der.sequence(der.sequence(*items), good[1]))
    assert msg.message_time.microsecond == 250000
