"""Hostile input (issue 18): DER reads are bounded and linear, and what breaks a bound is one clear
decode error (client) or a badDataFormat answer (server), never an internal error."""
import logging
import time

import pytest

from cmpkit.core import bodies, der, protection
from cmpkit.core.message import PKIMessage
from cmpkit.errors import DecodeError, ProtectionError

from .test_mock_server import REF, SECRET, cert_req_body, kit, request  # noqa: F401 (kit is a fixture)

HUGE_ARC = b"\x2a\x81" + b"\xff" * 90000 + b"\x7f"     # the reproducer: one 90 kB arc


def huge_oid() -> bytes:
    return der.tlv(0x06, HUGE_ARC)


def replace_header_field(message: bytes, tag: int, value: bytes) -> bytes:
    """``message`` with header field [tag - 0xA0] set to the explicitly tagged ``value``."""
    items = der.children(message)
    fields = [f for f in der.children(items[0]) if f[0] != tag]
    fields.append(der.tlv(tag, value))
    fields[3:] = sorted(fields[3:], key=lambda f: f[0])
    return der.sequence(der.sequence(*fields), *items[1:])


def replace_pbm_iterations(message: bytes, count_item: bytes) -> bytes:
    """``message`` with the iterationCount of its PBM parameters replaced (protection unchanged)."""
    alg = PKIMessage.from_der(message).protection_alg
    oid, params = der.children(alg)
    salt, owf, _count, mac = der.children(params)
    return replace_header_field(message, 0xA1, der.sequence(oid, der.sequence(salt, owf, count_item, mac)))


# ---------------------------------------------------------------- the DER readers

def test_oid_decoding_is_bounded():
    start = time.process_time()
    with pytest.raises(DecodeError, match=r"OBJECT IDENTIFIER: 90003 octets \(at most"):
        der.oid_text(HUGE_ARC)
    long_arc = b"\x2a" + b"\x81" * 25 + b"\x01"                 # 26 octets: short enough, one arc too long
    with pytest.raises(DecodeError, match="an arc longer than 20 octets"):
        der.oid_text(long_arc)
    assert time.process_time() - start < 0.5                  # was about 0.7 s; now microseconds


def test_uuid_oid_arcs_are_read():
    uuid = 0xF81D4FAE7DEC11D0A76500A0C91E6BF6                # the example of ITU-T X.667 / RFC 4122
    oid = f"2.25.{uuid}"
    assert der.read_oid(der.oid(oid)) == oid


def test_integers_are_bounded_and_named():
    with pytest.raises(DecodeError, match=r"malformed PBM iterationCount: an INTEGER of 5000 octets"):
        der.read_integer(der.tlv(0x02, b"\x01" * 5000), "PBM iterationCount")
    assert der.read_integer(der.integer(2 ** 500)) == 2 ** 500   # 63 octets: still a number


def test_check_bounds_refuses_what_pyasn1_must_not_see():
    nested = b"\x05\x00"
    for _ in range(200):
        nested = der.sequence(nested)
    with pytest.raises(DecodeError, match="nested deeper than"):
        der.check_bounds(nested, "test")
    with pytest.raises(DecodeError, match="OBJECT IDENTIFIER of 90003 octets"):
        der.check_bounds(der.sequence(der.sequence(huge_oid())), "test")
    with pytest.raises(DecodeError, match="INTEGER of 5000 octets"):
        der.check_bounds(der.sequence(der.tlv(0x02, b"\x01" * 5000)), "test")
    der.check_bounds(der.sequence(der.sequence(der.oid("1.2.3"), der.integer(7)), b"\x04\x01x"), "test")


def test_deep_nesting_in_a_body_is_a_decode_error():
    nested = b"\x05\x00"
    for _ in range(5000):     # deeper than Python's recursion limit
        nested = der.sequence(nested)
    msg = PKIMessage.from_der(request("genm", nested, protect=False))
    with pytest.raises(DecodeError, match="malformed OBJECT IDENTIFIER"):  # no RecursionError
        bodies.read_body(msg)
    with pytest.raises(DecodeError, match="nested deeper than"):           # what pyasn1 may see
        der.check_bounds(nested, "test")


# ---------------------------------------------------------------- the mock server, before authentication

@pytest.fixture
def quiet_server(kit, caplog):
    caplog.set_level(logging.DEBUG, logger="cmpkit")
    server, _client, _issued = kit
    yield server()
    assert "cannot send proper CMP response" not in caplog.text     # no internal failure


def bad_data_format(rsp_der: bytes) -> str:
    rsp = PKIMessage.from_der(rsp_der)
    assert rsp.body_type == "error"
    si, _code, details = bodies.read_error(rsp.body_content)
    assert si.failure_bits == [5], si.describe()                    # badDataFormat
    return " ".join(details)


def test_server_huge_oid_in_protection_alg(quiet_server, pki):
    ir = replace_header_field(request("ir", cert_req_body(pki)), 0xA1, der.sequence(huge_oid()))
    start = time.process_time()
    assert "OBJECT IDENTIFIER" in bad_data_format(quiet_server.handle(ir))
    assert time.process_time() - start < 0.5


def test_server_huge_oid_in_general_info(quiet_server, pki):
    ir = replace_header_field(request("ir", cert_req_body(pki)), 0xA8, der.sequence(der.sequence(huge_oid())))
    assert "OBJECT IDENTIFIER" in bad_data_format(quiet_server.handle(ir))


def test_server_huge_oid_in_a_genm_body(quiet_server):
    genm = request("genm", der.sequence(der.sequence(huge_oid())))
    assert "OBJECT IDENTIFIER" in bad_data_format(quiet_server.handle(genm))


def test_server_huge_pbm_iteration_count(quiet_server, pki):
    ir = replace_pbm_iterations(request("ir", cert_req_body(pki)), der.tlv(0x02, b"\x01" * 5000))
    rsp = PKIMessage.from_der(quiet_server.handle(ir))
    assert rsp.body_type == "error"
    si, _code, details = bodies.read_error(rsp.body_content)
    assert "bad pbm iterationcount" in si.texts                   # OpenSSL's reason


def test_server_malformed_certificate_in_extra_certs(quiet_server, pki):
    good = PKIMessage.from_der(request("ir", cert_req_body(pki)))
    cert = bytearray(pki.objs["client"].public_bytes(__import__("cryptography").hazmat.primitives
                                                    .serialization.Encoding.DER))
    cert[4:6] = b"\x02\x01"                                   # the TBSCertificate becomes an INTEGER
    ir = PKIMessage(good.header, good.body_der, good.protection, [bytes(cert)]).to_der()
    assert "extraCerts" in bad_data_format(quiet_server.handle(ir))


# ---------------------------------------------------------------- the client reading responses

def test_client_pbm_iteration_count_is_a_protection_error(pki):
    ir = replace_pbm_iterations(request("ir", cert_req_body(pki)), der.tlv(0x02, b"\x01" * 5000))
    msg = PKIMessage.from_der(ir)
    with pytest.raises(ProtectionError, match="PBM iterationCount: an INTEGER of 5000 octets"):
        protection.mac_protect(msg.protection_alg, SECRET, msg.protected_part())


def test_client_malformed_certificate_in_extra_certs():
    with pytest.raises(DecodeError, match=r"malformed extraCerts: certificate 1 of 1"):
        PKIMessage.from_der(der.sequence(der.sequence(der.integer(2), b"\xa4\x00", b"\xa4\x00"),
                                         der.tlv(0xB3, b"\x05\x00"),
                                         der.tlv(0xA1, der.sequence(der.sequence(b"\x05\x00")))))


# ---------------------------------------------------------------- mutation fuzzing of requests

def mutate(data: bytes, rnd) -> bytes:
    return mutation(data, rnd)[1]


def mutation(data: bytes, rnd) -> tuple:
    """(position, mutated bytes): a bit flipped, a byte replaced, bytes cut out or put in."""
    m = bytearray(data)
    pos = rnd.randrange(len(m))
    kind = rnd.randrange(4)
    if kind == 0:
        m[pos] ^= 1 << rnd.randrange(8)
    elif kind == 1:
        m[pos] = rnd.choice((0x00, 0x7F, 0x80, 0x81, 0x84, 0xFF, rnd.randrange(256)))
    elif kind == 2:
        del m[pos:pos + rnd.randrange(1, 8)]
    else:
        m[pos:pos] = bytes(rnd.randrange(256) for _ in range(rnd.randrange(1, 8)))
    return pos, bytes(m)


def requests_to_mutate(pki):
    """Bodies of every request type the mock answers, before protection."""
    from .test_mock_server import name
    tid = b"T" * 16
    yield "ir", cert_req_body(pki)
    yield "cr", cert_req_body(pki, n=2)
    yield "genm", der.sequence(der.sequence(der.oid("1.3.6.1.5.5.7.4.17")))
    yield "rr", der.sequence(der.sequence(der.sequence(
        der.tlv(0xA3, der.content(der.sequence(der.tlv(0xA4, name("Issuing CA").public_bytes())))))))
    yield "certConf", der.sequence(der.sequence(der.tlv(0x04, b"h" * 32), der.integer(0)))
    yield "pollReq", der.sequence(der.sequence(der.integer(0)))
    del tid


def test_mutated_requests_get_cmp_answers(kit, pki, caplog):
    """Mutated bodies, MAC-protected after the mutation (so they pass authentication), and
    mutated protected messages: every answer is a CMP message, no internal failure."""
    import random
    caplog.set_level(logging.ERROR, logger="cmpkit")
    server_factory, _client, _issued = kit
    server = server_factory()
    rnd = random.Random(18)
    count = 0
    for body_type, body in requests_to_mutate(pki):
        for _ in range(60):
            fuzzed = mutate(body, rnd)
            for data in (request(body_type, fuzzed), mutate(request(body_type, body), rnd)):
                rsp = PKIMessage.from_der(server.handle(data))
                assert rsp.body_type in ("error", "ip", "cp", "kup", "rp", "genp", "pkiconf", "pollRep")
                count += 1
    assert count == 720
    assert "cannot send proper CMP response" not in caplog.text


def test_p10cr_with_a_key_type_the_server_cannot_verify(quiet_server):
    """An SLH-DSA-SHA2-128s CSR (RFC 9909 identifiers; the key and signature are filler): a protected
    rejection with badAlg, not an internal error."""
    from .test_mock_server import name
    slh_dsa = der.sequence(der.oid("2.16.840.1.101.3.4.3.20"))
    spki = der.sequence(slh_dsa, der.tlv(0x03, b"\x00" + b"k" * 32))
    info = der.sequence(der.integer(0), name("leaf").public_bytes(), spki, der.tlv(0xA0, b""))
    csr = der.sequence(info, slh_dsa, der.tlv(0x03, b"\x00" + b"s" * 7856))
    rsp = PKIMessage.from_der(quiet_server.handle(request("p10cr", csr)))
    assert rsp.body_type == "cp" and rsp.is_mac_protected()
    _ca_pubs, responses = bodies.read_cert_rep(rsp.body_content)
    assert responses[0].status.status == 2 and responses[0].status.failure_bits == [0]   # rejection, badAlg


# ---------------------------------------------------------------- what the server keeps per request

def with_pbm_salt(message: bytes, salt: bytes) -> bytes:
    alg = PKIMessage.from_der(message).protection_alg
    oid, params = der.children(alg)
    _salt, owf, count, mac = der.children(params)
    return replace_header_field(message, 0xA1, der.sequence(oid, der.sequence(der.tlv(0x04, salt), owf, count, mac)))


def test_a_long_pbm_salt_is_refused_before_any_work(pki):
    ir = with_pbm_salt(request("ir", cert_req_body(pki)), b"s" * 5000)
    msg = PKIMessage.from_der(ir)
    with pytest.raises(ProtectionError, match=r"PBM salt of 5000 octets \(at most 1024\)"):
        protection.mac_protect(msg.protection_alg, SECRET, msg.protected_part())


def test_memory_stays_flat_under_a_salt_flood(kit, pki):
    """Every request carries a fresh 95 kB salt: nothing of it may stay behind (it grew the
    server by 50 MB before). Logging is off while measuring: pytest keeps every log record, and
    a record's arguments (an exception) would keep the request alive."""
    import gc
    import os
    import tracemalloc
    quiet_server = kit[0]()
    logging.disable(logging.CRITICAL)
    base = request("ir", cert_req_body(pki))
    for _ in range(5):                                     # warm up every cache with small entries
        quiet_server.handle(with_pbm_salt(base, os.urandom(16)))
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for _ in range(60):
            quiet_server.handle(with_pbm_salt(base, os.urandom(95000)))
        gc.collect()  # what only reference cycles keep is freed by the collector in time anyway
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
        logging.disable(logging.NOTSET)
    assert grown < 1_000_000, f"{grown} bytes kept after 60 hostile requests"


def _pq_csr(key_or_none, sig_oid: str, spki: bytes, tamper: bool = False) -> bytes:
    from .test_mock_server import name
    info = der.sequence(der.integer(0), name("leaf").public_bytes(), spki, der.tlv(0xA0, b""))
    signature = key_or_none.sign(info) if key_or_none is not None else b"\x01" * 7856
    if tamper:
        signature = bytes([signature[0] ^ 1]) + signature[1:]
    return der.sequence(info, der.sequence(der.oid(sig_oid)), der.tlv(0x03, b"\x00" + signature))


@pytest.mark.parametrize("tamper,status,bits", [(False, 0, []), (True, 2, [9])])
def test_p10cr_with_an_ml_dsa_key(quiet_server, tamper, status, bits):
    """A well-formed ML-DSA-65 CSR (key and signature made with cryptography at test time): the
    server verifies ML-DSA (FIPS 204, RFC 9881): accepted, and with a changed signature badPOP."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import mldsa

    key = mldsa.MLDSA65PrivateKey.generate()
    spki = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    csr = _pq_csr(key, "2.16.840.1.101.3.4.3.18", spki, tamper)
    rsp = PKIMessage.from_der(quiet_server.handle(request("p10cr", csr)))
    assert rsp.body_type == "cp" and rsp.is_mac_protected()
    _ca_pubs, responses = bodies.read_cert_rep(rsp.body_content)
    assert responses[0].status.status == status and responses[0].status.failure_bits == bits


def test_p10cr_with_an_slh_dsa_key(quiet_server):
    """An SLH-DSA-SHA2-128s CSR (RFC 9909 identifiers; cryptography lacks SLH-DSA, so the key and
    signature are placeholders of the right sizes): a protected rejection with badAlg."""
    oid = "2.16.840.1.101.3.4.3.20"
    spki = der.sequence(der.sequence(der.oid(oid)), der.tlv(0x03, b"\x00" + b"\x02" * 32))
    rsp = PKIMessage.from_der(quiet_server.handle(request("p10cr", _pq_csr(None, oid, spki))))
    assert rsp.body_type == "cp" and rsp.is_mac_protected()
    _ca_pubs, responses = bodies.read_cert_rep(rsp.body_content)
    assert responses[0].status.status == 2 and responses[0].status.failure_bits == [0]   # rejection, badAlg
