"""Issue 14's structures in the recorded LightweightCmpRa messages (tests/data/vectors): of the RFC
9480/9483 structures only certProfile (-profile) occurs there, in a draft's form (a bare UTF8String,
not RFC 9483's SEQUENCE OF UTF8String); genm/genp (CertReqTemplateContent, RootCaKeyUpdateContent,
CRLStatusList) and centrally generated keys (EnvelopedData) do not, which is why those round-trip only
against pyasn1-alt-modules' encoder (test_genm_types, test_cms, test_central_keygen)."""
import pathlib

import pytest
from pyasn1.codec.der import decoder, encoder
from pyasn1.error import PyAsn1Error
from pyasn1.type import char
from pyasn1_alt_modules import rfc9480

from cmpkit.app.settings_32 import OID_CERT_PROFILE, profile_itav
from cmpkit.core.message import PKIMessage

VECTORS = sorted((pathlib.Path(__file__).resolve().parent / "data" / "vectors" / "lightweightcmpra").glob("*/*.PKI"))


def _theirs(path):
    msg, rest = decoder.decode(path.read_bytes(), asn1Spec=rfc9480.PKIMessage())
    assert rest == b""
    return msg


def test_no_recording_carries_genm_or_a_central_key():
    assert len(VECTORS) == 36
    for path in VECTORS:
        msg = _theirs(path)
        body = msg["body"].getName()
        assert body not in ("genm", "genp"), path
        if body in ("ip", "cp", "kup"):
            for rsp in msg["body"][body]["response"]:
                ckp = rsp["certifiedKeyPair"]
                assert not (ckp.isValue and ckp["privateKey"].isValue), path


PROFILED = [p for p in VECTORS if any(str(i["infoType"]) == OID_CERT_PROFILE
                                      for i in _theirs(p)["header"]["generalInfo"])]


def test_most_recordings_name_a_profile():
    assert len(PROFILED) >= 20


@pytest.mark.parametrize("path", PROFILED, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_recorded_cert_profile_read_as_recorded_and_ours_is_rfc_9483(path):
    recorded = [bytes(i["infoValue"]) for i in _theirs(path)["header"]["generalInfo"]
                if str(i["infoType"]) == OID_CERT_PROFILE]
    ours = [v for o, v in PKIMessage.from_der(path.read_bytes()).general_info if o == OID_CERT_PROFILE]
    assert ours == recorded                                   # cmpkit keeps the value byte for byte
    name, rest = decoder.decode(recorded[0], asn1Spec=char.UTF8String())   # the draft's form
    assert rest == b"" and str(name)
    with pytest.raises(PyAsn1Error):
        decoder.decode(recorded[0], asn1Spec=rfc9480.CertProfileValue())
    # -profile with the same name: RFC 9483's SEQUENCE OF UTF8String, which pyasn1 decodes and re-encodes
    oid, value = profile_itav(str(name))
    assert oid == str(rfc9480.id_it_certProfile)
    theirs, rest = decoder.decode(value, asn1Spec=rfc9480.CertProfileValue())
    assert rest == b"" and [str(n) for n in theirs] == [str(name)] and encoder.encode(theirs) == value
