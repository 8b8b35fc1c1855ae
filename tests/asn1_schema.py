"""A pyasn1 schema of CMP (RFC 9810) and CRMF (RFC 4211), the tests' second opinion on cmpkit's DER readers.

cmpkit itself reads and writes these structures with its own DER readers and builders
(cmpkit.core.bodies, cmpkit.core.message): this independent schema, with the readers of
tests/schema_readers.py, is the oracle they are checked against. It was cmpkit's own schema
before the one message model; certificates and names stay opaque DER.

Only what cmpkit reads or writes field by field is spelled out. Certificates, CRLs,
Names, GeneralNames, SubjectPublicKeyInfo contents, PKCS#10 requests and ITAV values are
``univ.Any``: their bytes are carried unchanged (so re-encoding is byte-identical) and parsed
with ``cryptography`` where needed, which is what keeps decoding fast.

Tagging: the CMP module is EXPLICIT TAGS, the CRMF module IMPLICIT TAGS; a tag on a CHOICE
(Name, Time, GeneralName, POPOPrivKey, EncryptedKey) is always explicit.
"""
from pyasn1.type import char, constraint, namedtype, tag, univ, useful

_CTX = tag.tagClassContext
_CONS = tag.tagFormatConstructed
_SIMPLE = tag.tagFormatSimple


def _explicit(n):
    return tag.Tag(_CTX, _CONS, n)


def _implicit(n, constructed=False):
    return tag.Tag(_CTX, _CONS if constructed else _SIMPLE, n)


def _exp(t, n):
    """``t`` explicitly tagged [n]."""
    return t.subtype(explicitTag=_explicit(n))


def _imp(t, n, constructed=False):
    """``t`` implicitly tagged [n]."""
    return t.subtype(implicitTag=_implicit(n, constructed))


MAX = float("inf")


class AlgorithmIdentifier(univ.Sequence):
    componentType = namedtype.NamedTypes(
        namedtype.NamedType("algorithm", univ.ObjectIdentifier()),
        namedtype.OptionalNamedType("parameters", univ.Any()),
    )


class PKIFreeText(univ.SequenceOf):
    componentType = char.UTF8String()
    sizeSpec = constraint.ValueSizeConstraint(1, MAX)


class PKIStatusInfo(univ.Sequence):
    componentType = namedtype.NamedTypes(
        namedtype.NamedType("status", univ.Integer()),
        namedtype.OptionalNamedType("statusString", PKIFreeText()),
        namedtype.OptionalNamedType("failInfo", univ.BitString()),
    )


class InfoTypeAndValue(univ.Sequence):
    componentType = namedtype.NamedTypes(
        namedtype.NamedType("infoType", univ.ObjectIdentifier()),
        namedtype.OptionalNamedType("infoValue", univ.Any()),
    )


class InfoTypeAndValues(univ.SequenceOf):
    componentType = InfoTypeAndValue()


class CMPCertificates(univ.SequenceOf):
    componentType = univ.Any()  # each a DER Certificate


class PKIHeader(univ.Sequence):
    componentType = namedtype.NamedTypes(
        namedtype.NamedType("pvno", univ.Integer()),
        namedtype.NamedType("sender", univ.Any()),     # GeneralName TLV
        namedtype.NamedType("recipient", univ.Any()),  # GeneralName TLV
        namedtype.OptionalNamedType("messageTime", _exp(useful.GeneralizedTime(), 0)),
        namedtype.OptionalNamedType("protectionAlg", _exp(AlgorithmIdentifier(), 1)),
        namedtype.OptionalNamedType("senderKID", _exp(univ.OctetString(), 2)),
        namedtype.OptionalNamedType("recipKID", _exp(univ.OctetString(), 3)),
        namedtype.OptionalNamedType("transactionID", _exp(univ.OctetString(), 4)),
        namedtype.OptionalNamedType("senderNonce", _exp(univ.OctetString(), 5)),
        namedtype.OptionalNamedType("recipNonce", _exp(univ.OctetString(), 6)),
        namedtype.OptionalNamedType("freeText", _exp(PKIFreeText(), 7)),
        namedtype.OptionalNamedType("generalInfo", _exp(InfoTypeAndValues(), 8)),
    )


# ---------------------------------------------------------------- CRMF (RFC 4211), implicit tags

class SubjectPublicKeyInfo(univ.Sequence):
    componentType = namedtype.NamedTypes(
        namedtype.NamedType("algorithm", univ.Any()),
        namedtype.NamedType("subjectPublicKey", univ.BitString()),
    )


class AnySequence(univ.SequenceOf):
    """SEQUENCE OF opaque elements: a Name (RDNs kept as TLVs) or any SEQUENCE kept byte for byte."""

    componentType = univ.Any()


class Time(univ.Choice):
    componentType = namedtype.NamedTypes(
        namedtype.NamedType("utcTime", useful.UTCTime()),
        namedtype.NamedType("generalTime", useful.GeneralizedTime()),
    )


class OptionalValidity(univ.Sequence):
    componentType = namedtype.NamedTypes(
        namedtype.OptionalNamedType("notBefore", _exp(Time(), 0)),
        namedtype.OptionalNamedType("notAfter", _exp(Time(), 1)),
    )


class Extension(univ.Sequence):
    componentType = namedtype.NamedTypes(
        namedtype.NamedType("extnID", univ.ObjectIdentifier()),
        namedtype.DefaultedNamedType("critical", univ.Boolean(False)),
        namedtype.NamedType("extnValue", univ.OctetString()),
    )


class Extensions(univ.SequenceOf):
    componentType = Extension()


class CertTemplate(univ.Sequence):
    componentType = namedtype.NamedTypes(
        namedtype.OptionalNamedType("version", _imp(univ.Integer(), 0)),
        namedtype.OptionalNamedType("serialNumber", _imp(univ.Integer(), 1)),
        namedtype.OptionalNamedType("signingAlg", _imp(AlgorithmIdentifier(), 2, True)),
        namedtype.OptionalNamedType("issuer", _exp(AnySequence(), 3)),    # Name
        namedtype.OptionalNamedType("validity", _imp(OptionalValidity(), 4, True)),
        namedtype.OptionalNamedType("subject", _exp(AnySequence(), 5)),   # Name
        namedtype.OptionalNamedType("publicKey", _imp(SubjectPublicKeyInfo(), 6, True)),
        namedtype.OptionalNamedType("issuerUID", _imp(univ.BitString(), 7)),
        namedtype.OptionalNamedType("subjectUID", _imp(univ.BitString(), 8)),
        namedtype.OptionalNamedType("extensions", _imp(Extensions(), 9, True)),
    )


class AttributeTypeAndValue(univ.Sequence):
    componentType = namedtype.NamedTypes(
        namedtype.NamedType("type", univ.ObjectIdentifier()),
        namedtype.NamedType("value", univ.Any()),
    )


class Controls(univ.SequenceOf):
    componentType = AttributeTypeAndValue()


class CertId(univ.Sequence):
    componentType = namedtype.NamedTypes(
        namedtype.NamedType("issuer", univ.Any()),  # GeneralName TLV
        namedtype.NamedType("serialNumber", univ.Integer()),
    )


class CertRequest(univ.Sequence):
    componentType = namedtype.NamedTypes(
        namedtype.NamedType("certReqId", univ.Integer()),
        namedtype.NamedType("certTemplate", CertTemplate()),
        namedtype.OptionalNamedType("controls", Controls()),
    )


class POPOSigningKeyInput(univ.Sequence):
    componentType = namedtype.NamedTypes(
        namedtype.NamedType("authInfo", univ.Any()),  # sender [0] GeneralName | publicKeyMAC
        namedtype.NamedType("publicKey", univ.Any()),
    )


class POPOSigningKey(univ.Sequence):
    componentType = namedtype.NamedTypes(
        namedtype.OptionalNamedType("poposkInput", _imp(POPOSigningKeyInput(), 0, True)),
        namedtype.NamedType("algorithmIdentifier", AlgorithmIdentifier()),
        namedtype.NamedType("signature", univ.BitString()),
    )


class POPOPrivKey(univ.Choice):
    componentType = namedtype.NamedTypes(
        namedtype.NamedType("thisMessage", _imp(univ.BitString(), 0)),
        namedtype.NamedType("subsequentMessage", _imp(univ.Integer(), 1)),
        namedtype.NamedType("dhMAC", _imp(univ.BitString(), 2)),
        namedtype.NamedType("agreeMAC", _imp(univ.Any(), 3, True)),
        namedtype.NamedType("encryptedKey", _imp(univ.Any(), 4, True)),
    )


class ProofOfPossession(univ.Choice):
    componentType = namedtype.NamedTypes(
        namedtype.NamedType("raVerified", _imp(univ.Null(), 0)),
        namedtype.NamedType("signature", _imp(POPOSigningKey(), 1, True)),
        namedtype.NamedType("keyEncipherment", _exp(POPOPrivKey(), 2)),
        namedtype.NamedType("keyAgreement", _exp(POPOPrivKey(), 3)),
    )


class CertReqMsg(univ.Sequence):
    componentType = namedtype.NamedTypes(
        namedtype.NamedType("certReq", CertRequest()),
        namedtype.OptionalNamedType("popo", ProofOfPossession()),
        namedtype.OptionalNamedType("regInfo", Controls()),
    )


class CertReqMessages(univ.SequenceOf):
    componentType = CertReqMsg()


# ---------------------------------------------------------------- CMP bodies (explicit tags)

class CertifiedKeyPair(univ.Sequence):
    componentType = namedtype.NamedTypes(
        # CHOICE { certificate [0] CMPCertificate, encryptedCert [1] EncryptedKey }, kept as its TLV
        namedtype.NamedType("certOrEncCert", univ.Any()),
        namedtype.OptionalNamedType("privateKey", _exp(univ.Any(), 0)),
        namedtype.OptionalNamedType("publicationInfo", _exp(univ.Any(), 1)),
    )


class CertResponse(univ.Sequence):
    componentType = namedtype.NamedTypes(
        namedtype.NamedType("certReqId", univ.Integer()),
        namedtype.NamedType("status", PKIStatusInfo()),
        namedtype.OptionalNamedType("certifiedKeyPair", CertifiedKeyPair()),
        namedtype.OptionalNamedType("rspInfo", univ.OctetString()),
    )


class CertResponses(univ.SequenceOf):
    componentType = CertResponse()


class CertRepMessage(univ.Sequence):
    componentType = namedtype.NamedTypes(
        namedtype.OptionalNamedType("caPubs", _exp(CMPCertificates(), 1)),
        namedtype.NamedType("response", CertResponses()),
    )


class RevDetails(univ.Sequence):
    componentType = namedtype.NamedTypes(
        namedtype.NamedType("certDetails", CertTemplate()),
        namedtype.OptionalNamedType("crlEntryDetails", Extensions()),
    )


class RevReqContent(univ.SequenceOf):
    componentType = RevDetails()


class PKIStatusInfos(univ.SequenceOf):
    componentType = PKIStatusInfo()


class CertIds(univ.SequenceOf):
    componentType = CertId()


class RevRepContent(univ.Sequence):
    componentType = namedtype.NamedTypes(
        namedtype.NamedType("status", PKIStatusInfos()),
        namedtype.OptionalNamedType("revCerts", _exp(CertIds(), 0)),
        namedtype.OptionalNamedType("crls", _exp(AnySequence(), 1)),
    )


class CertStatus(univ.Sequence):
    componentType = namedtype.NamedTypes(
        namedtype.NamedType("certHash", univ.OctetString()),
        namedtype.NamedType("certReqId", univ.Integer()),
        namedtype.OptionalNamedType("statusInfo", PKIStatusInfo()),
        namedtype.OptionalNamedType("hashAlg", _exp(AlgorithmIdentifier(), 0)),
    )


class CertConfirmContent(univ.SequenceOf):
    componentType = CertStatus()


class ErrorMsgContent(univ.Sequence):
    componentType = namedtype.NamedTypes(
        namedtype.NamedType("pKIStatusInfo", PKIStatusInfo()),
        namedtype.OptionalNamedType("errorCode", univ.Integer()),
        namedtype.OptionalNamedType("errorDetails", PKIFreeText()),
    )


class PollReq(univ.Sequence):
    componentType = namedtype.NamedTypes(
        namedtype.NamedType("certReqId", univ.Integer()),
    )


class PollReqContent(univ.SequenceOf):
    componentType = PollReq()


class PollRep(univ.Sequence):
    componentType = namedtype.NamedTypes(
        namedtype.NamedType("certReqId", univ.Integer()),
        namedtype.NamedType("checkAfter", univ.Integer()),
        namedtype.OptionalNamedType("reason", PKIFreeText()),
    )


class PollRepContent(univ.SequenceOf):
    componentType = PollRep()


# Body CHOICE: tag number -> (name, schema). Bodies cmpkit never builds are kept as opaque DER.
# All of them are SEQUENCEs, so AnySequence keeps their bytes (a CHOICE admits one untagged Any).
BODY_TYPES = {
    0: ("ir", CertReqMessages), 1: ("ip", CertRepMessage), 2: ("cr", CertReqMessages),
    3: ("cp", CertRepMessage), 4: ("p10cr", AnySequence), 5: ("popdecc", AnySequence),
    6: ("popdecr", AnySequence), 7: ("kur", CertReqMessages), 8: ("kup", CertRepMessage),
    9: ("krr", CertReqMessages), 10: ("krp", AnySequence), 11: ("rr", RevReqContent),
    12: ("rp", RevRepContent), 13: ("ccr", CertReqMessages), 14: ("ccp", CertRepMessage),
    15: ("ckuann", AnySequence), 16: ("cann", AnySequence), 17: ("rann", AnySequence),
    18: ("crlann", AnySequence), 19: ("pkiconf", univ.Null), 20: ("nested", AnySequence),
    21: ("genm", InfoTypeAndValues), 22: ("genp", InfoTypeAndValues), 23: ("error", ErrorMsgContent),
    24: ("certConf", CertConfirmContent), 25: ("pollReq", PollReqContent),
    26: ("pollRep", PollRepContent),
}
BODY_TAG = {name: n for n, (name, _) in BODY_TYPES.items()}


class PKIBody(univ.Choice):
    componentType = namedtype.NamedTypes(*(
        namedtype.NamedType(name, _exp(schema(), n)) for n, (name, schema) in sorted(BODY_TYPES.items())
    ))



# ---- the parameter structures of protection (RFC 4211 4.4, RFC 8018 A.2/A.5, RFC 4055 3.1)

class PBMParameter(univ.Sequence):
    componentType = namedtype.NamedTypes(
        namedtype.NamedType("salt", univ.OctetString()),
        namedtype.NamedType("owf", AlgorithmIdentifier()),
        namedtype.NamedType("iterationCount", univ.Integer()),
        namedtype.NamedType("mac", AlgorithmIdentifier()),
    )


class PBKDF2Salt(univ.Choice):
    componentType = namedtype.NamedTypes(
        namedtype.NamedType("specified", univ.OctetString()),
        namedtype.NamedType("otherSource", AlgorithmIdentifier()),
    )


class PBKDF2Params(univ.Sequence):  # prf DEFAULT hmacWithSHA1
    componentType = namedtype.NamedTypes(
        namedtype.NamedType("salt", PBKDF2Salt()),
        namedtype.NamedType("iterationCount", univ.Integer()),
        namedtype.OptionalNamedType("keyLength", univ.Integer()),
        namedtype.OptionalNamedType("prf", AlgorithmIdentifier()),
    )


class PBMAC1Params(univ.Sequence):
    componentType = namedtype.NamedTypes(
        namedtype.NamedType("keyDerivationFunc", AlgorithmIdentifier()),
        namedtype.NamedType("messageAuthScheme", AlgorithmIdentifier()),
    )


class RSASSAPSSParams(univ.Sequence):  # all DEFAULTs modelled as OPTIONAL
    componentType = namedtype.NamedTypes(
        namedtype.OptionalNamedType("hashAlgorithm", _exp(AlgorithmIdentifier(), 0)),
        namedtype.OptionalNamedType("maskGenAlgorithm", _exp(AlgorithmIdentifier(), 1)),
        namedtype.OptionalNamedType("saltLength", _exp(univ.Integer(), 2)),
        namedtype.OptionalNamedType("trailerField", _exp(univ.Integer(), 3)),
    )


def fill_algorithm_identifier(target, oid: str, params=None):
    """Set the components of an AlgorithmIdentifier value ``target`` (possibly tagged); returns it."""
    target["algorithm"] = univ.ObjectIdentifier(oid)
    if params is not None:
        target["parameters"] = univ.Any(params)
    return target


def split_algorithm_identifier(alg):
    """(dotted OID, parameters DER or None) of a decoded AlgorithmIdentifier."""
    params = alg["parameters"]
    return str(alg["algorithm"]), (bytes(params) if params.isValue else None)

def decode(data: bytes, spec):
    """Decode DER ``data`` as exactly one ``spec`` value; DecodeError on any problem."""
    from pyasn1.codec.der import decoder
    from pyasn1.error import PyAsn1Error

    from cmpkit.errors import DecodeError
    try:
        value, rest = decoder.decode(bytes(data), asn1Spec=spec)
    except (PyAsn1Error, ValueError, TypeError, IndexError, KeyError, AttributeError, OverflowError,
            UnicodeError, RecursionError) as exc:
        raise DecodeError(f"malformed {type(spec).__name__}: {exc}") from None
    if rest:
        raise DecodeError(f"malformed {type(spec).__name__}: {len(rest)} trailing bytes")
    return value


def encode(value) -> bytes:
    from pyasn1.codec.der import encoder
    return encoder.encode(value)


def status_info(si):
    """A StatusInfo of a decoded PKIStatusInfo."""
    from cmpkit.core.message import StatusInfo
    texts = [str(t) for t in si["statusString"]] if si["statusString"].isValue else []
    bits = [i for i, b in enumerate(si["failInfo"]) if b] if si["failInfo"].isValue else []
    return StatusInfo(int(si["status"]), texts, bits)
