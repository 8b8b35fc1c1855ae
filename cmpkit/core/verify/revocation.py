"""Revocation checking with CRLs (check_revocation): CRL selection, scope, delta CRLs, CRL signatures."""
from __future__ import annotations

import dataclasses
import logging
from typing import Optional

from cryptography import x509
from cryptography.x509.oid import ExtensionOID

from .certs import _Cert, _check_akid, _likely_issued, _name_key
from .checks import _ku_reject
from .reasons import Reason, _Fail

log = logging.getLogger("cmpkit.verify")

CRL_NOCRITICAL, CRL_SCOPE, CRL_TIME, CRL_ISSUER_NAME = 0x100, 0x080, 0x040, 0x020
CRL_ISSUER_CERT, CRL_SAME_PATH, CRL_AKID, CRL_TIME_DELTA = 0x018, 0x008, 0x004, 0x002
ALL_REASONS = frozenset(r for r in x509.ReasonFlags
                        if r not in (x509.ReasonFlags.unspecified, x509.ReasonFlags.remove_from_crl))
_CRL_HANDLED = {ExtensionOID.ISSUING_DISTRIBUTION_POINT.dotted_string,
                ExtensionOID.AUTHORITY_KEY_IDENTIFIER.dotted_string,
                ExtensionOID.DELTA_CRL_INDICATOR.dotted_string}
_ENTRY_HANDLED = {"2.5.29.21", "2.5.29.24", "2.5.29.29"}  # reason, invalidity date, cert issuer


class _Crl:
    """A parsed CRL with the facts the CRL checks use."""

    def __init__(self, der: bytes):
        self.crl = crl = x509.load_der_x509_crl(der)
        self.issuer_key = _name_key(crl.issuer)
        self.last_update = int(crl.last_update_utc.timestamp())
        nu = crl.next_update_utc
        self.next_update = int(nu.timestamp()) if nu is not None else None
        self.idp_invalid = False
        try:
            exts = {e.oid.dotted_string: e for e in crl.extensions}
        except Exception:  # noqa: BLE001
            exts, self.idp_invalid = {}, True
        self.critical = any(e.critical and oid not in _CRL_HANDLED for oid, e in exts.items())
        self.akid = exts[ExtensionOID.AUTHORITY_KEY_IDENTIFIER.dotted_string].value \
            if ExtensionOID.AUTHORITY_KEY_IDENTIFIER.dotted_string in exts else None
        idp = exts.get(ExtensionOID.ISSUING_DISTRIBUTION_POINT.dotted_string)
        self.idp = idp.value if idp is not None else None
        self.indirect = bool(self.idp and self.idp.indirect_crl)
        self.idp_reasons = None
        if self.idp is not None and self.idp.only_some_reasons:
            self.idp_reasons = set(self.idp.only_some_reasons)
        delta = exts.get(ExtensionOID.DELTA_CRL_INDICATOR.dotted_string)
        self.is_delta = delta is not None
        self.base_number = delta.value.crl_number if delta is not None else None
        number = exts.get(ExtensionOID.CRL_NUMBER.dotted_string)
        self.number = number.value.crl_number if number is not None else None
        self.freshest = ExtensionOID.FRESHEST_CRL.dotted_string in exts
        if not self.critical:
            try:
                for entry in crl:
                    if any(e.critical and e.oid.dotted_string not in _ENTRY_HANDLED
                           for e in entry.extensions):
                        self.critical = True
                        break
            except Exception:  # noqa: BLE001
                self.idp_invalid = True
        self._sig = {}

    def signature_ok(self, key) -> bool:
        kid = id(key)
        if kid not in self._sig:
            try:
                self._sig[kid] = self.crl.is_signature_valid(key)
            except Exception:  # noqa: BLE001 - unsupported key/algorithm
                self._sig[kid] = False
        return self._sig[kid]

    def revoked_reason(self, x: _Cert):
        """False if ``x`` is not listed, else its reason (None when the entry has none)."""
        entry = self.crl.get_revoked_certificate_by_serial_number(x.serial)
        if entry is None:
            return False
        if self.indirect:
            issuer = self.crl.issuer
            for e in self.crl:  # the certificateIssuer entry extension carries over to later entries
                try:
                    ci = e.extensions.get_extension_for_class(x509.CertificateIssuer).value
                    names = [g.value for g in ci if isinstance(g, x509.DirectoryName)]
                    if names:
                        issuer = names[0]
                except x509.ExtensionNotFound:
                    pass
                if e.serial_number == x.serial:
                    break
            if _name_key(issuer) != x.issuer_key:
                return False
        try:
            return entry.extensions.get_extension_for_class(x509.CRLReason).value.reason
        except x509.ExtensionNotFound:
            return None


def _delta_fits(delta: _Crl, base: _Crl) -> bool:
    return (delta.is_delta and base.number is not None and delta.issuer_key == base.issuer_key
            and delta.akid == base.akid
            and (delta.idp == base.idp)
            and delta.base_number <= base.number
            and delta.number is not None and delta.number > base.number)


def _dp_full_names(dp_full, dp_relative, issuer: x509.Name):
    """A distribution point name as ('dn', key) or ('gn', [GeneralName]) or None."""
    if dp_full:
        return ("gn", list(dp_full))
    if dp_relative is not None:
        return ("dn", _name_key(x509.Name(list(issuer.rdns) + [dp_relative])))
    return None


def _idp_check_dp(a, b) -> bool:
    if a is None or b is None:
        return True
    if a[0] == "dn" and b[0] == "dn":
        return a[1] == b[1]
    if a[0] == "dn" or b[0] == "dn":
        dn, gens = (a[1], b[1]) if a[0] == "dn" else (b[1], a[1])
        return any(isinstance(g, x509.DirectoryName) and _name_key(g.value) == dn for g in gens)
    return any(ga == gb for ga in a[1] for gb in b[1])


def _crl_crldp_check(x: _Cert, crl: _Crl, score: int):
    idp = crl.idp
    if idp is not None:
        if idp.only_contains_attribute_certs:
            return False, set()
        if x.ca and idp.only_contains_user_certs:
            return False, set()
        if not x.ca and idp.only_contains_ca_certs:
            return False, set()
    reasons = set(crl.idp_reasons) if crl.idp_reasons is not None else set(ALL_REASONS)
    idp_name = None if idp is None else _dp_full_names(idp.full_name, idp.relative_name, crl.crl.issuer)
    for dp in x.crldp or ():
        if dp.crl_issuer is None:
            issuer_ok = bool(score & CRL_ISSUER_NAME)
        else:
            issuer_ok = any(isinstance(g, x509.DirectoryName) and _name_key(g.value) == crl.issuer_key
                            for g in dp.crl_issuer)
        if not issuer_ok:
            continue
        dp_issuer = next((g.value for g in dp.crl_issuer or () if isinstance(g, x509.DirectoryName)),
                         x.cert.issuer)
        if idp is None or _idp_check_dp(_dp_full_names(dp.full_name, dp.relative_name, dp_issuer),
                                        idp_name):
            if dp.reasons:
                reasons &= set(dp.reasons)
            return True, reasons
    ok = (idp is None or (not idp.full_name and idp.relative_name is None)) \
        and bool(score & CRL_ISSUER_NAME)
    return ok, reasons


# --------------------------------------------------------------------------- the check of one run
def check_revocation(ctx) -> None:
    """-crl_check: the leaf, -crl_check_all: every certificate of ``ctx.chain`` against the CRLs."""
    if ctx.opts.crl_check or ctx.opts.crl_check_all:
        _Revocation(ctx).run()


class _Revocation:
    """check_revocation() over the chain of one run (``ctx``, a path._Ctx), with its CRLs."""

    def __init__(self, ctx):
        self.ctx = ctx
        self.opts, self.chain, self.vtime, self.untrusted = ctx.opts, ctx.chain, ctx.vtime, ctx.untrusted
        self._crls = None

    @property
    def crls(self) -> list:
        if self._crls is None:
            self._crls = []
            for der in self.opts.crls:
                try:
                    self._crls.append(_Crl(der))
                except ValueError as exc:
                    log.warning("ignoring unparsable CRL: %s", exc)
        return self._crls

    def run(self) -> None:
        o = self.opts
        last = len(self.chain) - 1 if o.crl_check_all else 0
        for depth in range(last + 1):
            x = self.chain[depth]
            if x.proxy:
                continue
            self._check_cert_crl(x, depth)

    def _check_cert_crl(self, x: _Cert, depth: int) -> None:
        reasons: set = set()
        while reasons != ALL_REASONS:
            found = self._get_crl(x, depth, reasons)
            if found is None:
                raise _Fail(Reason.UNABLE_TO_GET_CRL, x, depth)
            crl, issuer, score, new_reasons, delta = found
            before = set(reasons)
            reasons |= new_reasons
            self._check_crl(crl, x, depth, issuer, score, is_delta=False)
            result = 1
            if delta is not None:
                self._check_crl(delta, x, depth, issuer, score, is_delta=True)
                result = self._cert_crl(delta, x, depth)
            if result != 2:
                self._cert_crl(crl, x, depth)
            if reasons == before:
                raise _Fail(Reason.UNABLE_TO_GET_CRL, x, depth)

    def _crl_time_ok(self, crl: "_Crl", delta_ok: bool = False) -> int:
        if self.vtime is None:
            return 0
        if self.vtime < crl.last_update:
            return Reason.CRL_NOT_YET_VALID
        if crl.next_update is not None and self.vtime >= crl.next_update and not delta_ok:
            return Reason.CRL_HAS_EXPIRED
        return 0

    def _crl_score(self, crl: "_Crl", x: _Cert, depth: int, reasons: set):
        o = self.opts
        if crl.idp_invalid or crl.is_delta:
            return 0, None, set()
        if not o.extended_crl:
            if crl.indirect or crl.idp_reasons is not None:
                return 0, None, set()
        elif crl.idp_reasons is not None and not (crl.idp_reasons - reasons):
            return 0, None, set()
        score = 0
        if crl.issuer_key == x.issuer_key:
            score |= CRL_ISSUER_NAME
        elif not crl.indirect:
            return 0, None, set()
        if not crl.critical:
            score |= CRL_NOCRITICAL
        if not self._crl_time_ok(crl):
            score |= CRL_TIME
        issuer, extra = self._crl_akid_check(crl, depth, score)
        if issuer is None:
            return 0, None, set()
        score |= extra
        scope, crl_reasons = _crl_crldp_check(x, crl, score)
        if scope:
            if not (crl_reasons - reasons):
                return 0, None, set()
            reasons = reasons | crl_reasons
            score |= CRL_SCOPE
        return score, issuer, reasons

    def _crl_akid_check(self, crl: "_Crl", depth: int, score: int):
        chain = self.chain
        cidx = depth if depth == len(chain) - 1 else depth + 1
        cand = chain[cidx]
        if cand.subject_key == crl.issuer_key and _check_akid(cand, crl.akid) \
                and score & CRL_ISSUER_NAME:
            return cand, CRL_AKID | CRL_ISSUER_CERT
        for cand in chain[cidx + 1:]:
            if cand.subject_key == crl.issuer_key and _check_akid(cand, crl.akid):
                return cand, CRL_AKID | CRL_SAME_PATH
        if not self.opts.extended_crl:
            return None, 0
        for cand in self.untrusted:
            if cand.subject_key == crl.issuer_key and _check_akid(cand, crl.akid):
                return cand, CRL_AKID
        return None, 0

    def _get_crl(self, x: _Cert, depth: int, reasons: set):
        best = None
        for crl in self.crls:
            score, issuer, new_reasons = self._crl_score(crl, x, depth, reasons)
            if score == 0:
                continue
            if best is not None and (score < best[2] or (
                    score == best[2] and crl.last_update <= best[0].last_update)):
                continue
            best = (crl, issuer, score, new_reasons)
        if best is None:
            return None
        crl, issuer, score, new_reasons = best
        delta = None
        if self.opts.use_deltas and (x.freshest or crl.freshest):
            for d in self.crls:
                if _delta_fits(d, crl):
                    delta = d
                    if not self._crl_time_ok(d):
                        score |= CRL_TIME_DELTA
                    break
        return crl, issuer, score, new_reasons, delta

    def _check_crl(self, crl: "_Crl", x: _Cert, depth: int, issuer: Optional[_Cert], score: int,
                   is_delta: bool) -> None:
        chain = self.chain
        if issuer is None:
            if depth < len(chain) - 1:
                issuer = chain[depth + 1]
            else:
                issuer = chain[-1]
                if not _likely_issued(issuer, issuer):
                    raise _Fail(Reason.UNABLE_TO_GET_CRL_ISSUER, x, depth)
        if not is_delta:
            if _ku_reject(issuer, "crl_sign"):
                raise _Fail(Reason.KEYUSAGE_NO_CRL_SIGN, x, depth)
            if not score & CRL_SCOPE:
                raise _Fail(Reason.DIFFERENT_CRL_SCOPE, x, depth)
            if not score & CRL_SAME_PATH and not self._crl_path_ok(issuer):
                raise _Fail(Reason.CRL_PATH_VALIDATION_ERROR, x, depth)
        if is_delta or not score & CRL_TIME:
            err = self._crl_time_ok(crl, delta_ok=bool(score & CRL_TIME_DELTA) and not is_delta)
            if err:
                raise _Fail(err, x, depth)
        if issuer.key is None:
            raise _Fail(Reason.UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY, x, depth)
        if not crl.signature_ok(issuer.key):
            raise _Fail(Reason.CRL_SIGNATURE_FAILURE, x, depth)

    def _crl_path_ok(self, issuer: _Cert) -> bool:
        """An indirect CRL issuer outside the path must chain to the same trust anchor."""
        sub = self.ctx.spawn(dataclasses.replace(self.opts, crl_check=False, crl_check_all=False,
                                                 verify_hostname=None, verify_email=None, verify_ip=None),
                             "crlsign")
        try:
            sub_chain = sub.run(issuer)
        except _Fail:
            return False
        return sub_chain[-1].der == self.chain[-1].der

    def _cert_crl(self, crl: "_Crl", x: _Cert, depth: int) -> int:
        if not self.opts.ignore_critical and crl.critical:
            raise _Fail(Reason.UNHANDLED_CRITICAL_CRL_EXTENSION, x, depth)
        reason = crl.revoked_reason(x)
        if reason is False:
            return 1
        if reason == x509.ReasonFlags.remove_from_crl:
            return 2
        raise _Fail(Reason.CERT_REVOKED, x, depth)
