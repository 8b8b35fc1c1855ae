"""PBMAC1 on the command line (-pbmac1, RFC 9481 6.1.2), the mock server's PBMAC1 answers, and the
iteration-count bound of PBM and PBMAC1 (admits the 262144 other implementations send).

References: pyasn1_alt_modules' RFC 8018 schema for the parameters, hashlib's PBKDF2 and hmac for
the MAC values, the LightweightCmpRa recordings for parameters another implementation wrote."""
import hashlib
import hmac as std_hmac
import pathlib
import time

import pytest
from pyasn1.codec.der.decoder import decode
from pyasn1.codec.der.encoder import encode
from pyasn1.type import univ
from cryptography.hazmat.primitives import serialization
from pyasn1_alt_modules import rfc5280, rfc8018, rfc9480

from cmpkit import cli
from cmpkit.core import algs, bodies, der, protection
from cmpkit.core.message import PKIMessage
from cmpkit.errors import ProtectionError

from .test_mock_server import cert_req_body, kit, request  # noqa: F401  (kit: a fixture)

VECTORS = pathlib.Path(__file__).resolve().parent / "data" / "vectors" / "lightweightcmpra"
DATA = b"a ProtectedPart stands in here"
HMAC_SHA256, HMAC_SHA512 = "1.2.840.113549.2.9", "1.2.840.113549.2.11"     # RFC 8018 B.1.2


def pbmac1_parts(alg_der: bytes):
    """(PBMAC1-params, PBKDF2-params) of a PBMAC1 AlgorithmIdentifier, decoded by pyasn1 (RFC 8018)."""
    alg, rest = decode(alg_der, asn1Spec=rfc5280.AlgorithmIdentifier())
    assert not rest and alg["algorithm"] == rfc8018.id_PBMAC1
    params, rest = decode(alg["parameters"], asn1Spec=rfc8018.PBMAC1_params())
    assert not rest and params["keyDerivationFunc"]["algorithm"] == rfc8018.id_PBKDF2
    kdf, rest = decode(params["keyDerivationFunc"]["parameters"], asn1Spec=rfc8018.PBKDF2_params())
    assert not rest
    return params, kdf


def reference_pbmac1(secret: bytes, alg_der: bytes, data: bytes) -> bytes:
    """RFC 8018 PBMAC1 with hashlib: PBKDF2 with the PRF's hash, then HMAC with the MAC's."""
    names = {HMAC_SHA256: "sha256", HMAC_SHA512: "sha512", "1.2.840.113549.2.10": "sha384"}
    params, kdf = pbmac1_parts(alg_der)
    key = hashlib.pbkdf2_hmac(names[str(kdf["prf"]["algorithm"])], secret, kdf["salt"]["specified"].asOctets(),
                              int(kdf["iterationCount"]), int(kdf["keyLength"]))
    return std_hmac.new(key, data, names[str(params["messageAuthScheme"]["algorithm"])]).digest()


def pyasn1_pbmac1(salt: bytes, iterations: int, key_length: int, prf: str, mac: str) -> bytes:
    """The PBMAC1 AlgorithmIdentifier DER written by pyasn1 (hmacWith* with NULL parameters)."""
    def hmac_alg(oid):
        a = rfc5280.AlgorithmIdentifier()
        a["algorithm"], a["parameters"] = univ.ObjectIdentifier(oid), univ.Null("")
        return a
    kdf = rfc8018.PBKDF2_params()
    kdf["salt"]["specified"] = salt
    kdf["iterationCount"], kdf["keyLength"] = iterations, key_length
    kdf["prf"]["algorithm"], kdf["prf"]["parameters"] = univ.ObjectIdentifier(prf), univ.Null("")
    params = rfc8018.PBMAC1_params()
    params["keyDerivationFunc"]["algorithm"] = rfc8018.id_PBKDF2
    params["keyDerivationFunc"]["parameters"] = kdf
    params["messageAuthScheme"] = hmac_alg(mac)
    alg = rfc5280.AlgorithmIdentifier()
    alg["algorithm"], alg["parameters"] = rfc8018.id_PBMAC1, params
    return encode(alg)


from .test_pq import cli_err  # noqa: F401  (an autouse fixture: stderr of cli.main)


# ---------------------------------------------------------------- parameters vs RFC 8018 schema

@pytest.mark.parametrize("prf,mac,iterations,length", [
    ("hmacWithSHA256", "hmacWithSHA256", 10_000, 32), ("hmacWithSHA512", "hmacWithSHA384", 1, 48),
    ("hmacWithSHA256", "hmacWithSHA512", 262_144, 64)])
def test_pbmac1_parameters_round_trip_with_pyasn1(prf, mac, iterations, length):
    salt = bytes(range(16))
    ours = protection.pbmac1_algorithm(prf=prf, mac=mac, iterations=iterations, salt=salt, key_length=length)
    assert ours == pyasn1_pbmac1(salt, iterations, length, algs.HMAC_ALGS[prf][0], algs.HMAC_ALGS[mac][0])
    params, kdf = pbmac1_parts(ours)
    assert encode(params) == der.children(ours)[1]              # pyasn1 re-encodes it byte for byte
    assert int(kdf["iterationCount"]) == iterations and int(kdf["keyLength"]) == length


def test_vector_pbmac1_parameters_decode_and_get_a_fresh_salt():
    """LightweightCmpRa's PBMAC1 parameters: the RFC 8018 schema reads them; answering them keeps
    every parameter but the salt, which is fresh and as long."""
    msg = PKIMessage.from_der((VECTORS / "IrWithMacProtection" / "downstream_INIT_REQ.PKI").read_bytes())
    params, kdf = pbmac1_parts(msg.protection_alg)
    assert encode(params) == der.children(msg.protection_alg)[1]
    again = protection.pbmac1_with_fresh_salt(msg.protection_alg)
    params2, kdf2 = pbmac1_parts(again)
    assert encode(params2["messageAuthScheme"]) == encode(params["messageAuthScheme"])
    for field in ("iterationCount", "keyLength", "prf"):
        assert kdf2[field].isValue == kdf[field].isValue
        assert not kdf[field].isValue or encode(kdf2[field]) == encode(kdf[field])
    old, new = kdf["salt"]["specified"].asOctets(), kdf2["salt"]["specified"].asOctets()
    assert len(new) == max(16, len(old)) and new != old
    assert protection.pbmac1_with_fresh_salt(protection.pbm_algorithm()) is None     # PBM stays PBM


# ---------------------------------------------------------------- iteration bound

def test_262144_iterations_are_accepted_for_pbmac1_and_pbm():
    alg = protection.pbmac1_algorithm(iterations=262_144, salt=b"s" * 16)
    assert protection.mac_protect(alg, b"secret", DATA) == reference_pbmac1(b"secret", alg, DATA)
    pbm = protection.pbm_algorithm(iterations=262_144, salt=b"s" * 16)
    protection.verify_mac(pbm, b"secret", DATA, protection.mac_protect(pbm, b"secret", DATA))


@pytest.mark.parametrize("kind", ["pbmac1", "pbm"])
def test_counts_over_the_bound_are_refused_before_hashing(kind):
    too_many = protection.MAX_ITERATIONS + 1
    if kind == "pbmac1":
        alg = pyasn1_pbmac1(b"s" * 16, too_many, 32, HMAC_SHA256, HMAC_SHA256)
    else:
        salt, owf, _n, mac = der.children(der.children(protection.pbm_algorithm())[1])
        alg = algs.encode_algorithm_identifier(algs.PBM_OID, der.sequence(salt, owf, der.integer(too_many), mac))
    start = time.process_time()
    with pytest.raises(ProtectionError, match=f"iteration count {too_many} outside the accepted range"):
        protection.verify_mac(alg, b"secret", DATA, b"x" * 32)
    assert time.process_time() - start < 0.05        # hashing 2**19 times takes far longer


def test_server_refuses_too_many_pbmac1_iterations_fast(kit, pki):
    server, _client, _issued = kit
    srv = server()
    alg = pyasn1_pbmac1(b"s" * 16, 10**9, 32, HMAC_SHA256, HMAC_SHA256)
    from .test_protection import reprotect
    # a huge count: the MAC value does not matter, the count is refused before any work
    raw = reprotect(request("ir", cert_req_body(pki)), alg, lambda pp: b"x" * 32)
    start = time.process_time()
    rsp = PKIMessage.from_der(srv.handle(raw, time.time()) if _takes_time(srv) else srv.handle(raw))
    assert time.process_time() - start < 0.5
    assert rsp.body_type == "error"
    si, _code, _details = bodies.read_error(rsp.body_content)
    assert "bad pbm iterationcount" in si.texts and si.failure_bits == [1]        # badMessageCheck


def _takes_time(srv) -> bool:
    import inspect
    return len(inspect.signature(srv.handle).parameters) > 1


def test_server_answers_pbmac1_with_the_requests_parameters(kit, pki):
    server, _client, _issued = kit
    srv = server()
    alg = protection.pbmac1_algorithm(prf="hmacWithSHA512", mac="hmacWithSHA256", iterations=2000,
                                      key_length=40)
    msg = PKIMessage.from_der(request("ir", cert_req_body(pki), protect=False))
    msg.protect_with_mac(b"test", alg)
    raw = msg.to_der()
    rsp = PKIMessage.from_der(srv.handle(raw, time.time()) if _takes_time(srv) else srv.handle(raw))
    assert rsp.body_type == "ip"
    req_params, req_kdf = pbmac1_parts(alg)
    rsp_params, rsp_kdf = pbmac1_parts(rsp.protection_alg)
    assert rsp_params["messageAuthScheme"]["algorithm"] == req_params["messageAuthScheme"]["algorithm"]
    for field in ("iterationCount", "keyLength", "prf"):
        assert rsp_kdf[field] == req_kdf[field]
    assert rsp_kdf["salt"]["specified"] != req_kdf["salt"]["specified"]
    # and the MAC is right by an independent computation
    pp = protection.protected_part(der.children(rsp.to_der())[0], der.children(rsp.to_der())[1])
    assert rsp.protection == reference_pbmac1(b"test", rsp.protection_alg, pp)


# ---------------------------------------------------------------- the command line, mock in process

def _mock_args(pki, tmp_path, *extra):
    return ["-config", "", "-cmd", "ir", "-use_mock_srv", "-secret", "pass:test", "-ref", "1",
            "-srv_secret", "pass:test", "-srv_ref", "1", "-newkey", pki.path("new_key"), "-subject", "/CN=leaf",
            "-rsp_cert", pki.path("issued"), "-certout", str(tmp_path / "out.pem"),
            "-reqout", str(tmp_path / "req.der"), "-rspout", str(tmp_path / "rsp.der"), *extra]


def _alg_of(path):
    msg, _ = decode(path.read_bytes(), asn1Spec=rfc9480.PKIMessage())
    return der.content(encode(msg["header"]["protectionAlg"]))   # without its [1] tag


@pytest.mark.parametrize("mac,oid", [(None, HMAC_SHA256), ("hmacWithSHA512", HMAC_SHA512)])
def test_cli_pbmac1_both_sides(pki, tmp_path, fresh_plugins, mac, oid):
    extra = ["-pbmac1"] + (["-mac", mac] if mac else [])
    assert cli.main(_mock_args(pki, tmp_path, *extra)) == 0
    assert (tmp_path / "out.pem").exists()
    for f in ("req.der", "rsp.der"):
        params, kdf = pbmac1_parts(_alg_of(tmp_path / f))
        assert params["messageAuthScheme"]["algorithm"] == univ.ObjectIdentifier(oid)
        assert kdf["prf"]["algorithm"] == univ.ObjectIdentifier(oid)
        assert int(kdf["iterationCount"]) == protection.DEFAULT_PBMAC1_ITERATIONS
        assert len(kdf["salt"]["specified"]) == 16


def test_cli_without_pbmac1_stays_pbm(pki, tmp_path, fresh_plugins):
    assert cli.main(_mock_args(pki, tmp_path)) == 0
    for f in ("req.der", "rsp.der"):
        alg, _ = decode(_alg_of(tmp_path / f), asn1Spec=rfc5280.AlgorithmIdentifier())
        assert str(alg["algorithm"]) == algs.PBM_OID


def test_cli_pbmac1_with_a_wrong_secret_fails_in_one_line(pki, tmp_path, fresh_plugins, cli_err):
    args = _mock_args(pki, tmp_path, "-pbmac1")
    args[args.index("-srv_secret") + 1] = "pass:other"
    assert cli.main(args) == 1
    err = cli_err()
    assert "Traceback" not in err and not (tmp_path / "out.pem").exists()
    # the mock refuses the request, its error answer has a MAC the client cannot verify either
    assert "CMP error: wrong pbm value" in err
    assert err.splitlines()[-1] == "CMP error: MAC check failed: wrong shared secret or modified message"


def test_cli_pbmac1_without_secret_warns(pki, tmp_path, fresh_plugins, cli_err):
    args = ["-config", "", "-cmd", "ir", "-use_mock_srv", "-pbmac1", "-srv_secret", "pass:test", "-srv_ref", "1",
            "-key", pki.path("client_key"), "-cert", pki.path("client"), "-newkey", pki.path("new_key"),
            "-subject", "/CN=leaf", "-rsp_cert", pki.path("issued"), "-unprotected_errors"]
    cli.main(args)
    assert "CMP warning: -pbmac1 has no effect without -secret" in cli_err()


# ---------------------------------------------------------------- the client verifying responses

@pytest.mark.parametrize("iterations,accepted", [(262_144, True), ((1 << 19) + 1, False), (10**9, False)])
def test_client_bounds_the_iterations_of_a_pbmac1_response(pki, iterations, accepted):
    from cmpkit.core.client import ClientMachine
    from cmpkit.core.message import new_message

    from .test_client_machine import NOW, SECRET, cert_rep
    from .test_protection import reprotect
    issued = pki.objs["issued"].public_bytes(serialization.Encoding.DER)
    s = _machine_settings(pki, SECRET)
    m = ClientMachine(s)
    step = m.start(NOW)
    assert str(pbmac1_parts(step.message.protection_alg)[0]["messageAuthScheme"]["algorithm"]) == HMAC_SHA256
    msg = new_message("ip", transaction_id=step.message.transaction_id, recip_nonce=step.message.sender_nonce,
                      body=cert_rep(issued), message_time=NOW)
    msg.protect_with_mac(SECRET, protection.pbmac1_algorithm(iterations=1))   # replaced below
    rsp = msg.to_der()
    alg = pyasn1_pbmac1(b"r" * 16, iterations, 32, HMAC_SHA256, HMAC_SHA256)
    good = reprotect(rsp, alg, lambda pp: reference_pbmac1(SECRET, alg, pp)) if accepted else \
        reprotect(rsp, alg, lambda pp: b"x" * 32)
    start = time.process_time()
    if accepted:
        m.receive(PKIMessage.from_der(good), NOW)          # the certConf step follows
    else:
        with pytest.raises(ProtectionError, match=f"iteration count {iterations} outside the accepted range"):
            m.receive(PKIMessage.from_der(good), NOW)
        assert time.process_time() - start < 0.05


def _machine_settings(pki, secret):
    from cmpkit.core.client import ClientSettings
    from cmpkit.core.keys import SoftwareKey
    key = pki.objs["new_key"]
    spki = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return ClientSettings(cmd="ir", secret=secret, ref=b"r", newkey_signer=SoftwareKey(key), pbmac1=True,
                          mac="hmacWithSHA256", newkey_public=key.public_key(),
                          template=bodies.Template(public_key=spki))
