"""The client and mock options of openssl cmp 3.2/3.3 (3.4 man page), cmpkit as client with
-use_mock_srv, in process: -serial with -issuer for rr, -srvcertout, mock -ref_cert, e-mail
addresses in -sans, -profile, -geninfo as a list, -no_cache_extracerts, -reqout_only.

Requests are checked with pyasn1_alt_modules' RFC 9480 schema (an independent decoder); the
error and warning texts are those openssl 3.4 prints (test_interop_32_33.py runs it)."""
import logging

import pytest
from cryptography import x509
from pyasn1.codec.der import decoder
from pyasn1_alt_modules import rfc9480

from cmpkit import cli

PBM = ["-ref", "1234", "-secret", "pass:test"]
SRV_PBM = ["-srv_ref", "1234", "-srv_secret", "pass:test"]
OID_CERT_PROFILE = "1.3.6.1.5.5.7.4.21"


def mock(pki, *args):
    return ["-config", "", "-use_mock_srv", *SRV_PBM, "-rsp_cert", pki.path("issued"), *PBM, *args]


@pytest.fixture
def cmd(caplog):
    """cli.main(argv) -> (exit status, the log text)."""
    logger = logging.getLogger("cmpkit")

    def run(argv):
        caplog.clear()
        logger.addHandler(caplog.handler)
        try:
            rc = cli.main(argv)
        finally:
            logger.removeHandler(caplog.handler)
        return rc, "\n".join(r.getMessage() for r in caplog.records)
    return run


def pkimessage(path):
    msg, rest = decoder.decode(open(path, "rb").read(), asn1Spec=rfc9480.PKIMessage())
    assert rest == b""
    return msg


def general_info(msg) -> list:
    return [(str(itav["infoType"]), bytes(itav["infoValue"])) for itav in msg["header"]["generalInfo"]]


def issued(pki):
    return pki.objs["issued"]


# ---------------------------------------------------------------- -serial and -issuer for rr (3.2)

@pytest.mark.parametrize("form", ["hex", "HEX", "decimal"])
def test_rr_by_serial_and_issuer(pki, cmd, tmp_path, form):
    cert = issued(pki)
    serial = {"hex": f"0x{cert.serial_number:x}", "HEX": f"0X{cert.serial_number:X}",
              "decimal": str(cert.serial_number)}[form]
    issuer = "/CN=Issuing CA"
    rc, log = cmd(mock(pki, "-cmd", "rr", "-serial", serial, "-issuer", issuer, "-ref_cert", pki.path("issued")))
    assert rc == 0, log
    assert "revocation accepted" in log
    out = tmp_path / "rr.der"
    assert cmd(mock(pki, "-cmd", "rr", "-serial", serial, "-issuer", issuer, "-reqout_only", str(out)))[0] == 0
    details = pkimessage(out)["body"]["rr"]
    assert len(details) == 1
    tpl = details[0]["certDetails"]
    assert int(tpl["serialNumber"]) == cert.serial_number
    from pyasn1.codec.der import encoder
    assert encoder.encode(tpl["issuer"]["rdnSequence"]) == cert.issuer.public_bytes()
    assert not tpl["subject"].isValue and not tpl["publicKey"].isValue


def test_rr_serial_wins_over_oldcert_and_csr(pki, cmd, tmp_path):
    out = tmp_path / "rr.der"
    rc, log = cmd(mock(pki, "-cmd", "rr", "-serial", "12", "-issuer", "/CN=x", "-oldcert", pki.path("issued"),
                       "-reqout_only", str(out)))
    assert rc == 0 and "Ignoring -oldcert since -issuer and -serial is given for command 'rr'" in log
    assert int(pkimessage(out)["body"]["rr"][0]["certDetails"]["serialNumber"]) == 12


def test_rr_by_serial_of_another_certificate_is_refused_by_ref_cert(pki, cmd):
    rc, log = cmd(mock(pki, "-cmd", "rr", "-serial", "12", "-issuer", "/CN=Issuing CA",
                       "-ref_cert", pki.path("issued")))
    assert rc == 1 and "wrong certificate to revoke" in log


def test_serial_ignored_for_other_commands(pki, cmd, tmp_path):
    rc, log = cmd(mock(pki, "-cmd", "cr", "-serial", "12", "-newkey", pki.path("new_key"), "-subject", "/CN=leaf",
                       "-certout", str(tmp_path / "c.pem")))
    assert rc == 0 and "Ignoring -serial for command other than 'rr'" in log


@pytest.mark.parametrize("args,message", [
    (["-serial", "12"], "Must give both -issuer and -serial options or neither"),
    (["-issuer", "/CN=x"], "Must give both -issuer and -serial options or neither"),
    (["-issuer", "/CN=x", "-oldcert", "{issued}"], "Must give both -issuer and -serial options or neither"),
    (["-serial", "12x", "-issuer", "/CN=x"], "cannot read serial number: '12x'"),
    (["-serial", "0x", "-issuer", "/CN=x"], "cannot read serial number: '0x'"),
    (["-serial", "0xZZ", "-issuer", "/CN=x"], "cannot read serial number: '0xZZ'"),
    (["-serial", "1.5", "-issuer", "/CN=x"], "cannot read serial number: '1.5'"),
    ([], "missing -oldcert or -issuer and -serial for certificate to be revoked and no -csr given"),
    (["-serial", "12", "-issuer", "/CN=x", "-ref_cert", "{missing}"], "reference cert"),
])
def test_rr_serial_errors(pki, cmd, tmp_path, args, message):
    args = [a.format(issued=pki.path("issued"), missing=str(tmp_path / "none.pem")) for a in args]
    rc, log = cmd(mock(pki, "-cmd", "rr", *args))
    assert rc == 1 and message in log, log


# ---------------------------------------------------------------- -srvcertout (3.2)

def _sig_mock(pki):
    return ["-config", "", "-use_mock_srv", "-srv_cert", pki.path("server"), "-srv_key", pki.path("server_key"),
            "-srv_trusted", pki.path("root"), "-srv_untrusted", pki.path("issuing"), "-rsp_cert", pki.path("issued"),
            "-cert", pki.path("client"), "-key", pki.path("client_key"), "-untrusted", pki.path("issuing"),
            "-trusted", pki.path("root")]


def test_srvcertout_saves_the_validated_server_cert(pki, cmd, tmp_path):
    out = tmp_path / "srv.pem"
    rc, log = cmd(_sig_mock(pki) + ["-cmd", "genm", "-srvcertout", str(out)])
    assert rc == 0, log
    assert x509.load_pem_x509_certificates(out.read_bytes()) == [pki.objs["server"]]
    assert f"received 1 validated server certificate(s), saving to file '{out}'" in log
    der = tmp_path / "srv.der"
    assert cmd(_sig_mock(pki) + ["-cmd", "genm", "-srvcertout", str(der), "-certform", "DER"])[0] == 0
    assert x509.load_der_x509_certificate(der.read_bytes()) == pki.objs["server"]


def test_srvcertout_deleted_after_mac_protection(pki, cmd, tmp_path):
    out = tmp_path / "srv.pem"
    out.write_text("old")
    rc, log = cmd(mock(pki, "-cmd", "genm", "-srvcertout", str(out)))
    assert rc == 0 and not out.exists(), log
    assert cmd(mock(pki, "-cmd", "genm", "-srvcertout", str(out)))[0] == 0 and not out.exists()


def test_srvcertout_not_written_on_failure(pki, cmd, tmp_path):
    out = tmp_path / "srv.pem"
    rc, _ = cmd(_sig_mock(pki) + ["-cmd", "genm", "-send_error", "-srvcertout", str(out)])
    assert rc == 1 and not out.exists()
    rc, log = cmd(_sig_mock(pki) + ["-cmd", "genm", "-srvcertout", str(tmp_path / "no" / "srv.pem")])
    assert rc == 1 and "-srvcertout" in log


# ---------------------------------------------------------------- -sans with e-mail addresses (3.2)

def test_sans_email_is_rfc822name(pki, cmd, tmp_path):
    out = tmp_path / "ir.der"
    rc, log = cmd(mock(pki, "-cmd", "ir", "-newkey", pki.path("new_key"), "-subject", "/CN=leaf",
                       "-sans", "user@example.com a.example 192.0.2.1", "-reqout_only", str(out)))
    assert rc == 0, log
    import ipaddress
    tpl = pkimessage(out)["body"]["ir"][0]["certReq"]["certTemplate"]
    san = next(e for e in tpl["extensions"] if str(e["extnID"]) == "2.5.29.17")
    assert _general_names(bytes(san["extnValue"])) == [
        x509.RFC822Name("user@example.com"), x509.DNSName("a.example"), x509.IPAddress(ipaddress.ip_address("192.0.2.1"))]


def _general_names(san_der: bytes) -> list:
    """The GeneralNames of a SubjectAlternativeName extension value, through cryptography."""
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    key = ec.generate_private_key(ec.SECP256R1())
    ext = x509.UnrecognizedExtension(x509.ObjectIdentifier("2.5.29.17"), san_der)
    csr = x509.CertificateSigningRequestBuilder().subject_name(x509.Name([])).add_extension(ext, False) \
        .sign(key, hashes.SHA256())
    csr = x509.load_der_x509_csr(csr.public_bytes(serialization.Encoding.DER))
    return list(csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value)


# ---------------------------------------------------------------- -profile and -geninfo (3.3)

def test_profile_and_geninfo_in_general_info(pki, cmd, tmp_path):
    out = tmp_path / "cr.der"
    rc, log = cmd(mock(pki, "-cmd", "cr", "-newkey", pki.path("new_key"), "-subject", "/CN=leaf",
                       "-geninfo", "1.2.3.4:int:56789, id-kp:str:name,1.2.3.5:int:-5", "-profile", "profile1",
                       "-implicit_confirm", "-reqout_only", str(out)))
    assert rc == 0, log
    gi = pkimessage(out)["header"]["generalInfo"]
    oids = [str(i["infoType"]) for i in gi]
    # openssl's order: -geninfo, then the profile, then implicitConfirm
    assert oids == ["1.2.3.4", "1.3.6.1.5.5.7.3", "1.2.3.5", OID_CERT_PROFILE, "1.3.6.1.5.5.7.4.13"]
    from pyasn1.type import char, univ
    values = [bytes(i["infoValue"]) for i in gi]
    assert int(decoder.decode(values[0], asn1Spec=univ.Integer())[0]) == 56789
    assert str(decoder.decode(values[1], asn1Spec=char.UTF8String())[0]) == "name"
    assert int(decoder.decode(values[2], asn1Spec=univ.Integer())[0]) == -5
    profile, _ = decoder.decode(values[3], asn1Spec=rfc9480.CertProfileValue())
    assert [str(p) for p in profile] == ["profile1"]
    assert "Unknown OID in -geninfo arg: 1.2.3.4" in log


@pytest.mark.parametrize("command", ["ir", "genm", "rr"])
def test_profile_reaches_the_mock(pki, cmd, tmp_path, command):
    args = {"ir": ["-newkey", pki.path("new_key"), "-subject", "/CN=leaf", "-certout", str(tmp_path / "c.pem")],
            "genm": [], "rr": ["-oldcert", pki.path("issued")]}[command]
    rc, log = cmd(mock(pki, "-cmd", command, "-profile", "profile1", *args))
    assert rc == 0, log


@pytest.mark.parametrize("value,message", [
    ("1.2.3.4", "Missing ':' in -geninfo arg 1.2.3.4"),
    ("foo:int:1", "Invalid OID in -geninfo arg foo"),
    ("1.2.3.4:xyz:1", "Missing 'int:' or 'str:' in -geninfo arg xyz:1"),
    ("1.2.3.4:int:", "Cannot parse int in -geninfo arg"),
    ("1.2.3.4:int:5x", "Missing ',' or end of -geninfo arg after int at x"),
    ("1.2.3.4:int:0x10", "Missing ',' or end of -geninfo arg after int at x10"),
    ("1.2.3.4:int:1 , 1.2.3.5:int:2", "Missing ',' or end of -geninfo arg after int at  , 1.2.3.5:int:2"),
    ("id-kp:str:a,b", "Missing ':' in -geninfo arg b"),
])
def test_geninfo_errors(pki, cmd, value, message):
    rc, log = cmd(mock(pki, "-cmd", "genm", "-geninfo", value))
    assert rc == 1 and message in log, log


def test_geninfo_int_clamped_as_strtol(pki, cmd, tmp_path):
    out = tmp_path / "g.der"
    assert cmd(mock(pki, "-cmd", "genm", "-geninfo", "1.2.3.4:int:99999999999999999999,1.2.3.5:str:",
                    "-reqout_only", str(out)))[0] == 0
    from pyasn1.type import univ
    values = [v for _, v in general_info(pkimessage(out))]
    assert int(decoder.decode(values[0], asn1Spec=univ.Integer())[0]) == 2 ** 63 - 1
    assert values[1] == b"\x0c\x00"


# ---------------------------------------------------------------- -no_cache_extracerts (3.3)

def test_no_cache_extracerts(pki, cmd, tmp_path):
    rc, log = cmd(_sig_mock(pki) + ["-cmd", "cr", "-newkey", pki.path("new_key"), "-subject", "/CN=leaf",
                                    "-certout", str(tmp_path / "c.pem"), "-no_cache_extracerts"])
    assert rc == 0, log


def test_no_cache_extracerts_in_the_mock(pki):
    """The mock keeps no extraCerts of earlier requests: a later request without them fails."""
    from cryptography.hazmat.primitives.serialization import Encoding

    from cmpkit.core.message import new_message
    from cmpkit.core.server import CmpServer, ServerSettings
    s = ServerSettings(srv_ref=b"1", srv_secret=b"x", accept_unprotected=True, no_cache_extracerts=True)
    server = CmpServer(s)
    req = new_message("genm", body=b"\x30\x00")
    req.set_extra_certs([pki.objs["client"].public_bytes(Encoding.DER)])
    server.handle(req.to_der(), 1_800_000_000)
    assert server.protection.cached_certs == []
    s.no_cache_extracerts = False
    server.handle(req.to_der(), 1_800_000_000)
    assert len(server.protection.cached_certs) == 1


# ---------------------------------------------------------------- -reqout_only (3.3)

def test_reqout_only_needs_no_server_and_no_certout(pki, cmd, tmp_path):
    out = tmp_path / "ir.der"
    rc, log = cmd(["-config", "", *PBM, "-cmd", "ir", "-newkey", pki.path("new_key"), "-subject", "/CN=leaf",
                   "-reqout_only", str(out)])
    assert rc == 0, log
    msg = pkimessage(out)
    assert msg["body"].getName() == "ir" and msg["protection"].isValue


def test_reqout_only_ignores_server_options(pki, cmd, tmp_path):
    out = tmp_path / "genm.der"
    rc, log = cmd(["-config", "", *PBM, "-cmd", "genm", "-server", "127.0.0.1:1", "-use_mock_srv", *SRV_PBM,
                   "-reqout", str(tmp_path / "q"), "-reqout_only", str(out)])
    assert rc == 0, log
    for name in ("server", "use_mock_srv", "reqout"):
        assert f"-{name} option is ignored since -reqout_only option is given" in log
    assert pkimessage(out)["body"].getName() == "genm"
    assert not (tmp_path / "q").exists()


def test_reqout_only_unwritable(pki, cmd, tmp_path):
    rc, log = cmd(["-config", "", *PBM, "-cmd", "genm", "-reqout_only", str(tmp_path / "no" / "g.der")])
    assert rc == 1 and "cannot write request PKIMessage to file" in log


def test_ref_cert_for_kur(pki, cmd, tmp_path):
    """-ref_cert (man page): any oldCertID of a kur must name it, whatever -rsp_cert is."""
    args = ["-cmd", "kur", "-newkey", pki.path("new_key"), "-certout", str(tmp_path / "c.pem")]
    rc, log = cmd(mock(pki, *args, "-oldcert", pki.path("attacker"), "-ref_cert", pki.path("attacker")))
    assert rc == 0, log
    rc, log = cmd(mock(pki, *args, "-oldcert", pki.path("issued"), "-ref_cert", pki.path("attacker")))
    assert rc == 1 and "wrong certid" in log.lower(), log


def test_mock_accepts_cr_only_with_profile1(pki, cmd, tmp_path):
    """As openssl 3.3+'s mock (test_interop_32_33 runs it): a cr naming a profile must name "profile1"."""
    args = ["-cmd", "cr", "-newkey", pki.path("new_key"), "-subject", "/CN=leaf", "-certout", str(tmp_path / "c.pem")]
    assert cmd(mock(pki, *args, "-profile", "profile1"))[0] == 0
    assert cmd(mock(pki, *args))[0] == 0
    rc, log = cmd(mock(pki, *args, "-profile", "profile2"))
    assert rc == 1 and "unexpected certprofile" in log
    rc, log = cmd(mock(pki, *args[:-2], "-profile", "profile2", "-cmd", "ir", "-certout", str(tmp_path / "i.pem")))
    assert rc == 0, log   # only a cr is checked
