"""Name constraints (RFC 5280 4.2.1.10) as OpenSSL's NAME_CONSTRAINTS_check applies them down the chain."""
from __future__ import annotations

import ipaddress
import re
from typing import Optional

from cryptography import x509
from cryptography.x509.oid import NameOID

from .certs import _Cert, _name_key, _san_values, _subject_values
from .reasons import Reason, _Fail


def check_name_constraints(chain: list) -> None:
    """check_name_constraints(): every certificate against the name constraints of the CAs above it."""
    for i in range(len(chain) - 1, -1, -1):
        x = chain[i]
        if i != 0 and x.si:
            continue
        for j in range(len(chain) - 1, i, -1):
            nc = chain[j].nc
            if nc is None:
                continue
            err = _nc_check(x, nc)
            if not err and i == 0 and _san_values(x, x509.DNSName) is None:
                err = _nc_check_cn(x, nc)
            if err:
                raise _Fail(err, x, i)


def _nc_dns(name: str, base: str) -> bool:
    if not base:
        return True
    if len(name) < len(base):
        return False
    if len(name) > len(base) and not base.startswith(".") and name[len(name) - len(base) - 1] != ".":
        return False
    return name[len(name) - len(base):].lower() == base.lower()


def _nc_email(email: str, base: str) -> Optional[bool]:
    if "@" not in email:
        return None
    local, _, domain = email.rpartition("@")
    if "@" not in base and base.startswith("."):
        return len(email) > len(base) and email[-len(base):].lower() == base.lower()
    if "@" in base:
        blocal, _, bdomain = base.rpartition("@")
        if blocal and blocal != local:
            return False
        base = bdomain
    return domain.lower() == base.lower()


def _nc_uri(uri: str, base: str) -> Optional[bool]:
    m = re.match(r"[^:]*://([^:/]*)", uri)
    if m is None or not m.group(1):
        return None
    host = m.group(1)
    if base.startswith("."):
        return len(host) > len(base) and host[-len(base):].lower() == base.lower()
    return host.lower() == base.lower()


def _nc_single(gn, base) -> Optional[bool]:
    """True if ``gn`` is within ``base``, False if not, None for bad syntax."""
    if isinstance(base, x509.DirectoryName):
        b, n = _name_key(base.value), _name_key(gn.value)
        return n[:len(b)] == b
    if isinstance(base, x509.DNSName):
        return _nc_dns(gn.value, base.value)
    if isinstance(base, x509.RFC822Name):
        return _nc_email(gn.value, base.value)
    if isinstance(base, x509.UniformResourceIdentifier):
        return _nc_uri(gn.value, base.value)
    if isinstance(base, x509.IPAddress):
        net, ip = base.value, gn.value
        return isinstance(net, (ipaddress.IPv4Network, ipaddress.IPv6Network)) \
            and ip.version == net.version and ip in net
    raise _NcUnsupported()


class _NcUnsupported(Exception):
    pass


def _nc_match(gn, nc) -> int:
    def same_type(base):
        if type(base) is not type(gn):
            return False
        return not isinstance(gn, x509.OtherName) or base.type_id == gn.type_id
    try:
        permitted = [b for b in nc.permitted_subtrees or () if same_type(b)]
        if permitted:
            results = [_nc_single(gn, b) for b in permitted]
            if None in results and True not in results:
                return Reason.UNSUPPORTED_NAME_SYNTAX
            if True not in results:
                return Reason.PERMITTED_VIOLATION
        for b in nc.excluded_subtrees or ():
            if same_type(b):
                r = _nc_single(gn, b)
                if r is None:
                    return Reason.UNSUPPORTED_NAME_SYNTAX
                if r:
                    return Reason.EXCLUDED_VIOLATION
    except _NcUnsupported:
        return Reason.UNSUPPORTED_CONSTRAINT_TYPE
    return 0


def _nc_check(x: _Cert, nc) -> int:
    names = []
    if x.cert.subject.rdns:
        names.append(x509.DirectoryName(x.cert.subject))
    names += [x509.RFC822Name(v) for v in _subject_values(x, NameOID.EMAIL_ADDRESS)]
    names += list(x.san or ())
    for gn in names:
        err = _nc_match(gn, nc)
        if err:
            return err
    return 0


_DNS_ID = re.compile(r"(?=.{1,253}\Z)([A-Za-z0-9_]([A-Za-z0-9_-]*[A-Za-z0-9_])?\.)+"
                     r"[A-Za-z0-9_]([A-Za-z0-9_-]*[A-Za-z0-9_])?\.?\Z")


def _nc_check_cn(x: _Cert, nc) -> int:
    """DNS constraints also apply to a leaf CN that looks like a host name (no DNS SAN)."""
    for cn in _subject_values(x, NameOID.COMMON_NAME):
        if _DNS_ID.match(cn):
            err = _nc_match(x509.DNSName(cn.rstrip(".")), nc)
            if err:
                return err
    return 0
