"""The certificate checks: purpose, key usage, CA flags, extensions, key strength, Suite B, host/email/IP."""
from __future__ import annotations

import ipaddress
import math
import re
from typing import Optional

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.x509.oid import ExtensionOID, NameOID, SignatureAlgorithmOID

from ..protection import _pq_key_type_of_class
from .certs import (NS_ANY_CA, NS_SMIME, NS_SMIME_CA, NS_SSL_CA, NS_SSL_CLIENT, NS_SSL_SERVER, _Cert,
                    _san_values, _subject_values, _tbs_fields)
from .options import VerifyOptions
from .reasons import Reason, _Fail

LOS_128, LOS_192 = 0x10000, 0x20000  # X509_V_FLAG_SUITEB_128_LOS_ONLY, _192_LOS


# --------------------------------------------------------------------------- purposes
def _ku_reject(c: _Cert, *usages: str) -> bool:
    return c.ku is not None and not (c.ku & set(usages))


def _xku_reject(c: _Cert, *usages: str) -> bool:
    return c.eku is not None and not (c.eku & set(usages))


def _ns_reject(c: _Cert, bits: int) -> bool:
    return c.nscert is not None and not (c.nscert & bits)


def _check_ca(c: _Cert) -> int:
    """OpenSSL's check_ca(): 0 not a CA, 1 CA, 3 v1 self-signed root, 4 keyCertSign w/o BC, 5 NS CA."""
    if _ku_reject(c, "key_cert_sign"):
        return 0
    if c.bcons:
        return 1 if c.ca else 0
    if c.v1 and c.ss:
        return 3
    if c.ku is not None:
        return 4
    if c.nscert is not None and c.nscert & NS_ANY_CA:
        return 5
    return 0


def _check_purpose(c: _Cert, purpose: str, require_ca: bool) -> int:
    """X509_check_purpose() for the OpenSSL 3.0 purposes: 1 (or 2..5) ok, 0 rejected."""
    if purpose == "any":
        return 1
    if purpose in ("sslclient", "sslserver", "nssslserver"):
        client = purpose == "sslclient"
        if _xku_reject(c, "client") if client else _xku_reject(c, "server", "sgc"):
            return 0
        if require_ca:
            ret = _check_ca(c)
            return ret if ret and (ret != 5 or c.nscert & NS_SSL_CA) else 0
        if client:
            return 0 if (_ku_reject(c, "digital_signature", "key_agreement")
                         or _ns_reject(c, NS_SSL_CLIENT)) else 1
        if _ns_reject(c, NS_SSL_SERVER) or _ku_reject(c, "digital_signature", "key_encipherment",
                                                      "key_agreement"):
            return 0
        return 0 if purpose == "nssslserver" and _ku_reject(c, "key_encipherment") else 1
    if purpose in ("smimesign", "smimeencrypt"):
        if _xku_reject(c, "smime"):
            return 0
        if require_ca:
            ret = _check_ca(c)
            return ret if ret and (ret != 5 or c.nscert & NS_SMIME_CA) else 0
        ret = 1
        if c.nscert is not None:
            ret = 1 if c.nscert & NS_SMIME else 2 if c.nscert & NS_SSL_CLIENT else 0
        if not ret:
            return 0
        if purpose == "smimesign":
            return 0 if _ku_reject(c, "digital_signature", "content_commitment") else ret
        return 0 if _ku_reject(c, "key_encipherment") else ret
    if purpose == "crlsign":
        if require_ca:
            ret = _check_ca(c)
            return 0 if ret == 2 else ret
        return 0 if _ku_reject(c, "crl_sign") else 1
    if purpose == "ocsphelper":
        return _check_ca(c) if require_ca else 1
    if purpose == "timestampsign":
        if require_ca:
            return _check_ca(c)
        if c.ku is not None and (c.ku - {"digital_signature", "content_commitment"}
                                 or not c.ku & {"digital_signature", "content_commitment"}):
            return 0
        if c.eku_known != {"timestamp"}:
            return 0
        return 1 if c.ext[ExtensionOID.EXTENDED_KEY_USAGE.dotted_string].critical else 0
    return 0


# --------------------------------------------------------------------------- key strength
_MINBITS = (80, 112, 128, 192, 256)
# ML-DSA security strength (FIPS 204 categories 2, 3, 5 -> 128, 192, 256 bits, as OpenSSL counts them)
_ML_DSA_BITS = {"ml-dsa-44": 128, "ml-dsa-65": 192, "ml-dsa-87": 256}


def _ifc_security_bits(n: int) -> int:
    """ossl_ifc_ffc_compute_security_bits: NIST SP 800-56B strength of an RSA/DH modulus."""
    table = {2048: 112, 3072: 128, 4096: 152, 6144: 176, 7680: 192, 8192: 200, 15360: 256}
    if n in table:
        return table[n]
    if n < 8:
        return 0
    cap = 192 if n <= 7680 else 256 if n <= 15360 else 1200
    x = n * math.log(2)
    y = (1.923 * (x * math.log(x) ** 2) ** (1 / 3) - 4.69) / math.log(2)
    return min((int(y) + 4) & ~7, cap)


def _key_security_bits(key) -> int:
    if isinstance(key, rsa.RSAPublicKey):
        return _ifc_security_bits(key.key_size)
    if isinstance(key, dsa.DSAPublicKey):
        L, N = key.key_size, key.parameters().parameter_numbers().q.bit_length()
        sec = next((b for lim, b in ((15360, 256), (7680, 192), (3072, 128), (2048, 112), (1024, 80))
                    if L >= lim), 0)
        return 0 if not sec or N // 2 < 80 else min(sec, N // 2)
    if isinstance(key, ec.EllipticCurvePublicKey):
        bits = key.curve.key_size
        return next((b for lim, b in ((512, 256), (384, 192), (256, 128), (224, 112), (160, 80))
                     if bits >= lim), bits // 2)
    if isinstance(key, ed25519.Ed25519PublicKey):
        return 128
    if isinstance(key, ed448.Ed448PublicKey):
        return 224
    return _ML_DSA_BITS.get(_pq_key_type_of_class(type(key)), 0)


def _sig_security_bits(c: _Cert) -> int:
    if c.sig_family == "ed25519":
        return 128
    if c.sig_family == "ed448":
        return 224
    if c.sig_family in _ML_DSA_BITS:
        return _ML_DSA_BITS[c.sig_family]
    try:
        h = c.cert.signature_hash_algorithm
    except Exception:  # noqa: BLE001 - unsupported algorithm
        return 0
    if h is None:
        return 0
    return {"md5": 39, "sha1": 63}.get(h.name, h.digest_size * 4)  # OpenSSL's x509_sig_info_init


def _level_bits(level: int) -> int:
    return _MINBITS[min(level, len(_MINBITS)) - 1]


# --------------------------------------------------------------------------- host/email/IP
_LABEL_CHARS = re.compile(r"[A-Za-z0-9-]*\Z")


def _valid_star(pattern: str) -> Optional[int]:
    """Index of the one wildcard OpenSSL accepts in ``pattern`` (left-most label), else None."""
    star, dots, at_label_start, hyphen, idna = None, 0, True, False, False
    for i, ch in enumerate(pattern):
        if ch == "*":
            atend = i == len(pattern) - 1 or pattern[i + 1] == "."
            if star is not None or idna or dots or (not at_label_start and not atend):
                return None
            star, at_label_start = i, False
        elif ch.isascii() and ch.isalnum():
            if at_label_start and pattern[i:i + 4].lower() == "xn--":
                idna = True
            at_label_start, hyphen = False, False
        elif ch == ".":
            if hyphen or at_label_start:
                return None
            at_label_start, hyphen, idna = True, False, idna
            dots += 1
        elif ch == "-":
            if at_label_start:
                return None
            hyphen = True
        else:
            return None
    if at_label_start or hyphen or dots < 2:
        return None
    return star


def _host_match(pattern: str, host: str) -> bool:
    if host.startswith(".") and len(host) > 1:  # any sub-domain of host
        return len(pattern) > len(host) and pattern.lower().endswith(host.lower())
    star = _valid_star(pattern)
    if star is None:
        return pattern.lower() == host.lower()
    prefix, suffix = pattern[:star], pattern[star + 1:]
    if len(host) < len(prefix) + len(suffix):
        return False
    if host[:len(prefix)].lower() != prefix.lower() or not host.lower().endswith(suffix.lower()):
        return False
    middle = host[len(prefix):len(host) - len(suffix)]
    allow_idna = False
    if not prefix and suffix.startswith("."):
        if not middle:
            return False
        allow_idna = True
    if not allow_idna and host[:4].lower() == "xn--":
        return False
    return middle == "*" or bool(_LABEL_CHARS.match(middle))


def _email_match(a: str, b: str) -> bool:
    if len(a) != len(b):
        return False
    at = max(a.rfind("@"), b.rfind("@"))
    if at < 0:
        return a == b
    return a[:at] == b[:at] and a[at:].lower() == b[at:].lower()


def _check_id(c: _Cert, opts: VerifyOptions) -> None:
    if opts.verify_hostname:
        names = _san_values(c, x509.DNSName)
        if names is None:
            names = _subject_values(c, NameOID.COMMON_NAME)
        if not any(_host_match(n, opts.verify_hostname) for n in names):
            raise _Fail(Reason.HOSTNAME_MISMATCH, c, 0)
    if opts.verify_email:
        names = _san_values(c, x509.RFC822Name)
        if names is None:
            names = _subject_values(c, NameOID.EMAIL_ADDRESS)
        if not any(_email_match(n, opts.verify_email) for n in names):
            raise _Fail(Reason.EMAIL_MISMATCH, c, 0)
    if opts.verify_ip:
        want = ipaddress.ip_address(opts.verify_ip)
        if not any(ip == want for ip in (_san_values(c, x509.IPAddress) or ())):
            raise _Fail(Reason.IP_ADDRESS_MISMATCH, c, 0)


# --------------------------------------------------------------------------- extensions (check_extensions)
def check_extensions(chain: list, opts: VerifyOptions, purpose: Optional[str]) -> None:
    """check_extensions(): extension sanity, CA flags, purpose and path lengths down the chain."""
    num, plen, proxy_plen, must_be_ca = len(chain), 0, 0, -1
    strict = opts.x509_strict
    for i, x in enumerate(chain):
        if x.invalid:
            raise _Fail(Reason.INVALID_EXTENSION, x, i)
        if not opts.ignore_critical and x.critical_unhandled:
            raise _Fail(Reason.UNHANDLED_CRITICAL_EXTENSION, x, i)
        if not opts.allow_proxy_certs and x.proxy:
            raise _Fail(Reason.PROXY_CERTIFICATES_NOT_ALLOWED, x, i)
        ret = _check_ca(x)
        if must_be_ca == -1:
            if strict and ret not in (0, 1):
                raise _Fail(Reason.INVALID_CA, x, i)
        elif must_be_ca == 0:
            if ret != 0:
                raise _Fail(Reason.INVALID_NON_CA, x, i)
        elif ret == 0 or ((i + 1 < num or strict) and ret != 1):
            raise _Fail(Reason.INVALID_CA, x, i)
        if num > 1 and x.key is None and _explicit_ec_params(x):
            raise _Fail(Reason.EC_KEY_EXPLICIT_PARAMS, x, i)
        if strict and num > 1:
            _strict_checks(x, i, num)
        if purpose is not None and _check_purpose(x, purpose, must_be_ca > 0) == 0:
            raise _Fail(Reason.INVALID_PURPOSE, x, i)
        if i > 1 and x.pathlen != -1 and plen > x.pathlen + proxy_plen:
            raise _Fail(Reason.PATH_LENGTH_EXCEEDED, x, i)
        if i > 0 and not x.si:
            plen += 1
        if x.proxy:
            if x.pcpathlen != -1:
                if proxy_plen > x.pcpathlen:
                    raise _Fail(Reason.PROXY_PATH_LENGTH_EXCEEDED, x, i)
                proxy_plen = x.pcpathlen
            proxy_plen += 1
            must_be_ca = 0
        else:
            must_be_ca = 1


def _strict_checks(x: _Cert, i: int, num: int) -> None:
    """The -x509_strict checks of one certificate (check_extensions, OpenSSL 3.0)."""
    ext = x.ext
    def fail_if(cond, code):
        if cond:
            raise _Fail(code, x, i)
    if x.pathlen != -1:
        fail_if(not x.ca, Reason.PATHLEN_INVALID_FOR_NON_CA)
        fail_if(x.ku is None or "key_cert_sign" not in x.ku, Reason.PATHLEN_WITHOUT_KU_KEY_CERT_SIGN)
    bc = ext.get(ExtensionOID.BASIC_CONSTRAINTS.dotted_string)
    fail_if(x.ca and bc is not None and not bc.critical, Reason.CA_BCONS_NOT_CRITICAL)
    if x.ca:
        fail_if(x.ku is None, Reason.CA_CERT_MISSING_KEY_USAGE)
    else:
        fail_if(x.ku is not None and "key_cert_sign" in x.ku, Reason.KU_KEY_CERT_SIGN_INVALID_FOR_NON_CA)
    fail_if(not x.cert.issuer.rdns, Reason.ISSUER_NAME_EMPTY)
    fail_if((x.ca or (x.ku and "crl_sign" in x.ku) or x.san is None) and not x.cert.subject.rdns,
            Reason.SUBJECT_NAME_EMPTY)
    san = ext.get(ExtensionOID.SUBJECT_ALTERNATIVE_NAME.dotted_string)
    fail_if(not x.cert.subject.rdns and san is not None and not san.critical,
            Reason.EMPTY_SUBJECT_SAN_NOT_CRITICAL)
    fail_if(x.san is not None and len(x.san) == 0, Reason.EMPTY_SUBJECT_ALT_NAME)
    try:
        inner, outer, _spki = _tbs_fields(x.der)
    except Exception:  # noqa: BLE001 - malformed DER was already rejected by cryptography
        inner = outer = None
    fail_if(inner != outer, Reason.SIGNATURE_ALGORITHM_INCONSISTENCY)
    akid = ext.get(ExtensionOID.AUTHORITY_KEY_IDENTIFIER.dotted_string)
    skid = ext.get(ExtensionOID.SUBJECT_KEY_IDENTIFIER.dotted_string)
    fail_if(akid is not None and akid.critical, Reason.AUTHORITY_KEY_IDENTIFIER_CRITICAL)
    fail_if(skid is not None and skid.critical, Reason.SUBJECT_KEY_IDENTIFIER_CRITICAL)
    if not x.v1:
        fail_if(i + 1 < num and (x.akid is None or x.akid.key_identifier is None),
                Reason.MISSING_AUTHORITY_KEY_IDENTIFIER)
        fail_if(x.ca and x.skid is None, Reason.MISSING_SUBJECT_KEY_IDENTIFIER)
    else:
        fail_if(bool(ext), Reason.EXTENSIONS_REQUIRE_VERSION_3)


# --------------------------------------------------------------------------- authentication level
def check_auth_level(chain: list, opts: VerifyOptions) -> None:
    """-auth_level: key strength of the CAs and signature strength below the anchor."""
    level = opts.auth_level
    if level is None or level <= 0:
        return
    need = _level_bits(level)
    num = len(chain)
    for i, c in enumerate(chain):
        if i > 0 and _key_security_bits(c.key) < need:
            raise _Fail(Reason.CA_KEY_TOO_SMALL, c, i)
        if i < num - 1 and _sig_security_bits(c) < need:
            raise _Fail(Reason.CA_MD_TOO_WEAK, c, i)


# --------------------------------------------------------------------------- Suite B
def check_suiteb(chain: list, opts: VerifyOptions) -> None:
    """X509_chain_check_suiteb: the -suiteB_* restrictions on keys, curves and signatures."""
    o = opts
    flags = (LOS_128 if o.suiteB_128_only else 0) | (LOS_128 | LOS_192 if o.suiteB_128 else 0) \
        | (LOS_192 if o.suiteB_192 else 0)
    if not flags:
        return
    tflags = [flags]

    def check(key, sign_oid) -> int:  # 0 or a Reason
        if not isinstance(key, ec.EllipticCurvePublicKey):
            return Reason.SUITE_B_INVALID_ALGORITHM
        if isinstance(key.curve, ec.SECP384R1):
            if sign_oid is not None and sign_oid != SignatureAlgorithmOID.ECDSA_WITH_SHA384:
                return Reason.SUITE_B_INVALID_SIGNATURE_ALGORITHM
            if not tflags[0] & LOS_192:
                return Reason.SUITE_B_LOS_NOT_ALLOWED
            tflags[0] &= ~LOS_128  # after a P-384 key, P-256 may not follow
        elif isinstance(key.curve, ec.SECP256R1):
            if sign_oid is not None and sign_oid != SignatureAlgorithmOID.ECDSA_WITH_SHA256:
                return Reason.SUITE_B_INVALID_SIGNATURE_ALGORITHM
            if not tflags[0] & LOS_128:
                return Reason.SUITE_B_LOS_NOT_ALLOWED
        else:
            return Reason.SUITE_B_INVALID_CURVE
        return 0

    x, i = chain[0], 0
    rv = Reason.SUITE_B_INVALID_VERSION if x.cert.version != x509.Version.v3 else check(x.key, None)
    if not rv:
        for i in range(1, len(chain) + 1):
            if i == len(chain):  # finally the anchor's own signature
                rv = check(x.key, x.cert.signature_algorithm_oid)
                break
            sign_oid = x.cert.signature_algorithm_oid
            x = chain[i]
            rv = Reason.SUITE_B_INVALID_VERSION if x.cert.version != x509.Version.v3 \
                else check(x.key, sign_oid)
            if rv:
                break
    if rv:
        if i and rv in (Reason.SUITE_B_INVALID_SIGNATURE_ALGORITHM, Reason.SUITE_B_LOS_NOT_ALLOWED):
            i -= 1  # signature and level errors belong to the subject certificate
        if rv == Reason.SUITE_B_LOS_NOT_ALLOWED and tflags[0] != flags:
            rv = Reason.SUITE_B_CANNOT_SIGN_P_384_WITH_P_256
        i = min(i, len(chain) - 1)
        raise _Fail(rv, chain[i], i)


def _explicit_ec_params(c: _Cert) -> bool:
    """Whether the SPKI is id-ecPublicKey with explicit (SEQUENCE) curve parameters."""
    from ..der import children
    try:
        _inner, _outer, spki = _tbs_fields(c.der)
        alg = children(children(spki)[0])
        return alg[0] == b"\x06\x07\x2a\x86\x48\xce\x3d\x02\x01" and len(alg) > 1 and alg[1][0] == 0x30
    except Exception:  # noqa: BLE001
        return False
