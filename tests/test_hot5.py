"""The per-transaction fast paths of issue 17 (second round) change cost, never answers: the one-pass
message reader gives what the full reader gives (or leaves the input to it), der.children's inline
length forms and der.sole agree with the plain definition, and the remembered verdicts (certificate
checks, certHash, plain SPKI, signature parameters, PEM text of saved certificates) equal what an
independent computation gives."""
import hashlib
import logging
import pathlib
import random

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding

from cmpkit import DecodeError, PKIMessage
from cmpkit.core import der, memo, message, protection
from cmpkit.core.certshape import plain_certificate_spki
from cmpkit.core.keys import SoftwareKey
from cmpkit.core.message import directory_name, new_message

from .pki import ec_key, rsa_key

VECTORS = pathlib.Path(__file__).resolve().parent / "data" / "vectors" / "lightweightcmpra"


# ---------------------------------------------------------------- der: the plain definitions to compare with

def _reference_children(data: bytes) -> list:
    """X.690 definite-length items inside one constructed item, read byte by byte (no fast path)."""
    def item(pos, limit):
        if pos + 2 > limit or data[pos] & 0x1F == 0x1F:
            raise ValueError
        first, pos2 = data[pos + 1], pos + 2
        if first & 0x80:
            count = first & 0x7F
            if count == 0 or count > 4 or pos2 + count > limit:
                raise ValueError
            length, pos2 = int.from_bytes(data[pos2:pos2 + count], "big"), pos2 + count
        else:
            length = first
        if pos2 + length > limit:
            raise ValueError
        return pos2, pos2 + length
    start, end = item(0, len(data))
    out, pos = [], start
    while pos < end:
        _s, e = item(pos, end)
        out.append(data[pos:e])
        pos = e
    return out


def _random_items(rng, depth=0):
    parts = []
    for _ in range(rng.randrange(0, 5)):
        if depth < 2 and rng.random() < 0.3:
            parts.append(der.sequence(*_random_items(rng, depth + 1)))
        else:
            size = rng.choice((0, 1, 5, 0x7F, 0x80, 0xFF, 0x100, 300, 0x10000 + 3))
            parts.append(der.tlv(rng.choice((0x02, 0x04, 0x0C, 0xA0, 0xA3)), rng.randbytes(size)))
    return parts


def test_children_agrees_with_the_plain_definition_on_valid_and_broken_input():
    rng = random.Random(17)
    for _ in range(300):
        data = der.sequence(*_random_items(rng))
        assert der.children(data) == _reference_children(data)
        for _ in range(3):  # corrupt one byte or cut the item: both readers fail, or agree
            broken = bytearray(data)
            if rng.random() < 0.5 and len(broken) > 2:
                broken[rng.randrange(len(broken))] = rng.randrange(256)
            else:
                broken = broken[:rng.randrange(len(broken))] if len(broken) > 1 else broken
            broken = bytes(broken)
            try:
                expected = _reference_children(broken)
            except (ValueError, IndexError):
                expected = None
            try:
                got = der.children(broken)
            except DecodeError:
                got = None
            assert got == expected, broken.hex()


@pytest.mark.parametrize("size", [0, 1, 0x7D, 0x7E, 0x7F, 0x80, 0xFF, 0x100, 0xFFFB, 0xFFFC, 0x10000])
def test_sole_is_the_single_child(size):
    inner = der.tlv(0x04, b"x" * size)
    outer = der.tlv(0xA2, inner)
    expected = inner if len(inner) <= 0xFFFF else None  # sole reads short, 0x81 and 0x82 lengths only
    assert der.sole(outer) == expected
    assert der.children(outer) == [inner]
    assert der.sole(der.tlv(0xA2, inner + b"\x05\x00")) is None            # two children
    assert der.sole(der.tlv(0xA2, b"")) is None                             # none
    assert der.sole(b"\xa2\x03\x04\x05\x00") is None                        # child claims more than there is
    assert message._explicit(0xA2, 0x04, b"y" * size) == der.tlv(0xA2, der.tlv(0x04, b"y" * size))


# ---------------------------------------------------------------- the one-pass message reader

def _same_message(a: PKIMessage, b: PKIMessage) -> bool:
    fields = [n for n in message.Header.__slots__]
    return (all(getattr(a.header, n) == getattr(b.header, n) for n in fields)
            and a.to_der() == b.to_der() and a.body_der == b.body_der and a.protection == b.protection
            and a.extra_certs == b.extra_certs and a.protected_part() == b.protected_part())


def _client_cert(pki) -> bytes:
    return x509.load_pem_x509_certificate(pathlib.Path(pki.path("client")).read_bytes()).public_bytes(
        serialization.Encoding.DER)


def _built_messages(pki):
    """Messages of our builders with every header field, short and long, protected or not."""
    cert = _client_cert(pki)
    name = x509.load_der_x509_certificate(cert).subject.public_bytes()
    out = []
    for n, (kid, text, gi) in enumerate([(None, (), ()), (b"k" * 20, ("hello",), [(message.OID_IMPLICIT_CONFIRM, b"\x05\x00")]),
                                         (b"K" * 200, ("a" * 300, "b"), [("1.3.6.1.5.5.7.4.21", der.sequence(der.tlv(0x0C, b"p")))])]):
        msg = new_message("certConf", sender=directory_name(name), sender_kid=kid, free_text=text, general_info=gi,
                          recip_nonce=b"n" * (16 + 200 * (n == 2)), message_time=1_800_000_000.0 + n,
                          body=der.sequence(), extra_certs=[cert] * n)
        out.append(msg.to_der())
        key = SoftwareKey(ec_key())
        msg.protect_with_signature(key, protection.signature_algorithm(key.public_key()))
        out.append(msg.to_der())
        mac = new_message("pkiconf", transaction_id=b"t" * 16)
        mac.protect_with_mac(b"secret", protection.pbm_algorithm(salt=bytes(16)), b"ref")
        out.append(mac.to_der())
    return out


def _corpus(pki):
    return [p.read_bytes() for p in sorted(VECTORS.glob("*/*.PKI"))] + _built_messages(pki)


def _full(data):
    try:
        return PKIMessage._from_der_checked(data)
    except DecodeError as exc:
        return str(exc)


def test_one_pass_reader_reads_the_corpus_as_the_full_reader(pki):
    corpus = _corpus(pki)
    assert len(corpus) == 36 + 9
    for data in corpus:
        fast = message._fast_message(data)
        assert fast is not None, "the common form is read in one pass"
        assert _same_message(fast, _full(data))
        assert fast.to_der() == data


@pytest.mark.filterwarnings("ignore::cryptography.utils.CryptographyDeprecationWarning")  # mutated serials
def test_one_pass_reader_never_takes_what_the_full_reader_refuses(pki):
    """Mutated messages: the one pass returns the full reader's message or leaves the input to it,
    and from_der's answer (message or error text) is the full reader's."""
    rng = random.Random(1717)
    for data in _corpus(pki):
        for _ in range(120):
            broken = bytearray(data)
            what = rng.random()
            if what < 0.6:
                for _ in range(rng.randrange(1, 3)):
                    broken[rng.randrange(len(broken))] = rng.randrange(256)
            elif what < 0.8:
                del broken[rng.randrange(len(broken)):]
            else:
                pos = rng.randrange(len(broken))
                broken[pos:pos] = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 4)))
            broken = bytes(broken)
            full = _full(broken)
            try:
                fast = message._fast_message(broken)
            except (DecodeError, IndexError):
                fast = None
            if fast is not None:
                assert not isinstance(full, str), f"one pass took what the full reader refuses: {full}"
                assert _same_message(fast, full)
            try:
                got = PKIMessage.from_der(broken)
            except DecodeError as exc:
                got = str(exc)
            assert got == full if isinstance(full, str) else _same_message(got, full)


def test_time_and_pvno_outside_the_common_form_go_to_the_full_reader():
    msg = new_message("pkiconf", pvno=3, message_time=1_800_000_000.0)
    data = msg.to_der()
    assert message._fast_message(data).pvno == 3
    bad_time = data.replace(msg.header.messageTime, b"20271340000000Z")  # month 13
    assert message._fast_message(bad_time) is None
    with pytest.raises(DecodeError, match="messageTime"):
        PKIMessage.from_der(bad_time)


# ---------------------------------------------------------------- remembered verdicts

def test_memo_one_bytes_argument_respects_the_size_bound():
    calls = []

    @memo.memo(maxsize=4, max_bytes=10)
    def f(data):
        calls.append(data)
        return len(data)
    assert f(b"small") == f(b"small") == 5 and len(calls) == 1
    assert f(b"x" * 11) == f(b"x" * 11) == 11 and len(calls) == 3     # too large: computed each time
    assert f(bytearray(b"x" * 11)) == 11 and len(calls) == 4           # other types: the general path


def test_certificate_checks_and_hashes_are_cryptographys(pki):
    der_cert = _client_cert(pki)
    assert message.certificate_parses(der_cert) and message.certificate_parses(bytearray(der_cert))
    assert not message.certificate_parses(der_cert[:-1]) and not message.certificate_parses(b"\x30\x00")
    with pytest.raises(DecodeError, match="certificate 2 of 2"):
        message._check_certificates([der_cert, der_cert[:-1]], "extraCerts")
    assert protection.cert_hash(der_cert) == hashlib.sha256(der_cert).digest()  # its signature's digest
    assert protection.cert_hash(der_cert) == protection.cert_hash(bytearray(der_cert))
    assert protection.cert_hash(der_cert, "sha512") == hashlib.sha512(der_cert).digest()
    spki = x509.load_der_x509_certificate(der_cert).public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    assert plain_certificate_spki(der_cert) == plain_certificate_spki(bytearray(der_cert)) == spki


def test_software_key_signatures_are_what_cryptography_gives():
    data = b"protected part"
    rsa = rsa_key()
    alg = protection.signature_algorithm(rsa.public_key(), "sha384")
    sig = protection.sign(SoftwareKey(rsa), alg, data)
    assert sig == rsa.sign(data, padding.PKCS1v15(), hashes.SHA384())  # PKCS#1 v1.5 is deterministic
    assert sig == SoftwareKey(rsa).sign(data, "sha384")
    eck = ec_key()
    alg = protection.signature_algorithm(eck.public_key(), "sha256")
    sig = protection.sign(SoftwareKey(eck), alg, data)
    eck.public_key().verify(sig, data, ec.ECDSA(hashes.SHA256()))
    protection.verify_signature(eck.public_key(), alg, data, sig)
    pss = protection.signature_algorithm(rsa.public_key(), "sha256", pss=True)
    protection.verify_signature(rsa.public_key(), pss, data, protection.sign(SoftwareKey(rsa), pss, data))


def test_saved_pem_is_reused_only_for_pem(caplog):
    from cmpkit.app import run
    certs = [b"\x30\x03\x02\x01\x01", b"\x30\x03\x02\x01\x02"]
    assert run._certs_bytes_again(certs, None) == run.certs_bytes(certs, None)
    assert run._certs_bytes_again(list(certs), "pem") is run._certs_bytes_again(certs, None)
    with caplog.at_level(logging.WARNING, logger="cmpkit.client"):
        for _ in range(2):
            assert run._certs_bytes_again(certs, "DER") == b"".join(certs)
    assert [r.getMessage() for r in caplog.records].count("saving more than one certificate in non-PEM format") == 2
