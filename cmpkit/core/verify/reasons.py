"""OpenSSL's verification error codes and reason texts as typed values, and the error verification raises."""
from __future__ import annotations

import enum
from typing import Optional

from ...errors import VerifyError


class Reason(enum.IntEnum):
    """OpenSSL 3.0 X509_V_ERR_* numbers with their X509_verify_cert_error_string() texts (3.0.22).

    Only the codes this engine can report are listed. A member is an int (``Reason(20) == 20``);
    ``text`` is OpenSSL's wording.
    """

    text: str

    def __new__(cls, code: int, text: str):
        member = int.__new__(cls, code)
        member._value_ = code
        member.text = text
        return member

    def __str__(self) -> str:  # the number, as str(int) (IntEnum's str differs between Pythons)
        return str(self.value)

    UNSPECIFIED = 1, "unspecified certificate verification error"
    UNABLE_TO_GET_ISSUER_CERT = 2, "unable to get issuer certificate"
    UNABLE_TO_GET_CRL = 3, "unable to get certificate CRL"
    UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY = 6, "unable to decode issuer public key"
    CERT_SIGNATURE_FAILURE = 7, "certificate signature failure"
    CRL_SIGNATURE_FAILURE = 8, "CRL signature failure"
    CERT_NOT_YET_VALID = 9, "certificate is not yet valid"
    CERT_HAS_EXPIRED = 10, "certificate has expired"
    CRL_NOT_YET_VALID = 11, "CRL is not yet valid"
    CRL_HAS_EXPIRED = 12, "CRL has expired"
    DEPTH_ZERO_SELF_SIGNED_CERT = 18, "self-signed certificate"
    SELF_SIGNED_CERT_IN_CHAIN = 19, "self-signed certificate in certificate chain"
    UNABLE_TO_GET_ISSUER_CERT_LOCALLY = 20, "unable to get local issuer certificate"
    UNABLE_TO_VERIFY_LEAF_SIGNATURE = 21, "unable to verify the first certificate"
    CERT_CHAIN_TOO_LONG = 22, "certificate chain too long"
    CERT_REVOKED = 23, "certificate revoked"
    PATH_LENGTH_EXCEEDED = 25, "path length constraint exceeded"
    INVALID_PURPOSE = 26, "unsuitable certificate purpose"
    KEYUSAGE_NO_CERTSIGN = 32, "key usage does not include certificate signing"
    UNABLE_TO_GET_CRL_ISSUER = 33, "unable to get CRL issuer certificate"
    UNHANDLED_CRITICAL_EXTENSION = 34, "unhandled critical extension"
    KEYUSAGE_NO_CRL_SIGN = 35, "key usage does not include CRL signing"
    UNHANDLED_CRITICAL_CRL_EXTENSION = 36, "unhandled critical CRL extension"
    INVALID_NON_CA = 37, "invalid non-CA certificate (has CA markings)"
    PROXY_PATH_LENGTH_EXCEEDED = 38, "proxy path length constraint exceeded"
    KEYUSAGE_NO_DIGITAL_SIGNATURE = 39, "key usage does not include digital signature"
    PROXY_CERTIFICATES_NOT_ALLOWED = 40, "proxy certificates not allowed, please set the appropriate flag"
    INVALID_EXTENSION = 41, "invalid or inconsistent certificate extension"
    INVALID_POLICY_EXTENSION = 42, "invalid or inconsistent certificate policy extension"
    NO_EXPLICIT_POLICY = 43, "no explicit policy"
    DIFFERENT_CRL_SCOPE = 44, "different CRL scope"
    PERMITTED_VIOLATION = 47, "permitted subtree violation"
    EXCLUDED_VIOLATION = 48, "excluded subtree violation"
    UNSUPPORTED_CONSTRAINT_TYPE = 51, "unsupported name constraint type"
    UNSUPPORTED_NAME_SYNTAX = 53, "unsupported or invalid name syntax"
    CRL_PATH_VALIDATION_ERROR = 54, "CRL path validation error"
    SUITE_B_INVALID_VERSION = 56, "Suite B: certificate version invalid"
    SUITE_B_INVALID_ALGORITHM = 57, "Suite B: invalid public key algorithm"
    SUITE_B_INVALID_CURVE = 58, "Suite B: invalid ECC curve"
    SUITE_B_INVALID_SIGNATURE_ALGORITHM = 59, "Suite B: invalid signature algorithm"
    SUITE_B_LOS_NOT_ALLOWED = 60, "Suite B: curve not allowed for this LOS"
    SUITE_B_CANNOT_SIGN_P_384_WITH_P_256 = 61, "Suite B: cannot sign P-384 with P-256"
    HOSTNAME_MISMATCH = 62, "hostname mismatch"
    EMAIL_MISMATCH = 63, "email address mismatch"
    IP_ADDRESS_MISMATCH = 64, "IP address mismatch"
    EE_KEY_TOO_SMALL = 66, "EE certificate key too weak"
    CA_KEY_TOO_SMALL = 67, "CA certificate key too weak"
    CA_MD_TOO_WEAK = 68, "CA signature digest algorithm too weak"
    SIGNATURE_ALGORITHM_INCONSISTENCY = 78, "cert info signature and signature algorithm mismatch"
    INVALID_CA = 79, "invalid CA certificate"
    PATHLEN_INVALID_FOR_NON_CA = 80, "Path length invalid for non-CA cert"
    PATHLEN_WITHOUT_KU_KEY_CERT_SIGN = 81, "Path length given without key usage keyCertSign"
    KU_KEY_CERT_SIGN_INVALID_FOR_NON_CA = 82, "Key usage keyCertSign invalid for non-CA cert"
    ISSUER_NAME_EMPTY = 83, "Issuer name empty"
    SUBJECT_NAME_EMPTY = 84, "Subject name empty"
    MISSING_AUTHORITY_KEY_IDENTIFIER = 85, "Missing Authority Key Identifier"
    MISSING_SUBJECT_KEY_IDENTIFIER = 86, "Missing Subject Key Identifier"
    EMPTY_SUBJECT_ALT_NAME = 87, "Empty Subject Alternative Name extension"
    EMPTY_SUBJECT_SAN_NOT_CRITICAL = 88, "Subject empty and Subject Alt Name extension not critical"
    CA_BCONS_NOT_CRITICAL = 89, "Basic Constraints of CA cert not marked critical"
    AUTHORITY_KEY_IDENTIFIER_CRITICAL = 90, "Authority Key Identifier marked critical"
    SUBJECT_KEY_IDENTIFIER_CRITICAL = 91, "Subject Key Identifier marked critical"
    CA_CERT_MISSING_KEY_USAGE = 92, "CA cert does not include key usage extension"
    EXTENSIONS_REQUIRE_VERSION_3 = 93, "Using cert extension requires at least X509v3"
    EC_KEY_EXPLICIT_PARAMS = 94, "Certificate public key has explicit ECC parameters"


class CertificateVerifyError(VerifyError):
    """A failed chain verification: one line naming the certificate, its depth and OpenSSL's reason.

    ``code`` is OpenSSL's X509_V_ERR number (a :class:`Reason`), ``reason`` its text, ``depth``
    the certificate's position in the chain (None when the failure concerns the whole chain)
    and ``subject`` the certificate's name in OpenSSL's one-line form.
    """

    code: Reason
    reason: str
    depth: Optional[int]
    subject: str

    def __init__(self, code: Reason, depth: Optional[int], subject: str):
        self.code, self.reason, self.depth, self.subject = code, code.text, depth, subject
        where = f" at depth {depth}" if depth is not None else ""
        super().__init__(f"certificate verification failed for {subject}{where}: {self.reason}")

    def __reduce__(self):
        return type(self), (self.code, self.depth, self.subject)


class _Fail(Exception):
    """Internal: the first verification error (code, certificate, depth)."""

    def __init__(self, code: Reason, cert, depth: Optional[int]):
        super().__init__(code)
        self.code, self.cert, self.depth = code, cert, depth

    def error(self, leaf) -> CertificateVerifyError:
        """The error to raise: about the failing certificate, else about the leaf."""
        cert = self.cert or leaf
        return CertificateVerifyError(self.code, self.depth, cert.name)
