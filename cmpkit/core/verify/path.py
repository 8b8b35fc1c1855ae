"""Path building and the order of checks of one verification run (X509_STORE_CTX, X509_verify_cert)."""
from __future__ import annotations

from typing import Optional

from .certs import CertStore, _Cert, _likely_issued
from .checks import (_check_id, _key_security_bits, _ku_reject, _level_bits, check_auth_level,
                     check_extensions, check_suiteb)
from .name_constraints import check_name_constraints
from .options import VerifyOptions
from .policy_tree import check_policy
from .reasons import Reason, _Fail
from .revocation import check_revocation

# Check order (as OpenSSL 3.0's X509_verify_cert()): leaf key strength, chain building (trusted
# first), extensions/CA/purpose/path length, authentication level, host/email/IP, revocation
# (CRLs), Suite B, signatures and validity times (from the anchor down), name constraints,
# certificate policies.


class _Ctx:
    """State of one verification (X509_STORE_CTX)."""

    def __init__(self, opts: VerifyOptions, purpose: Optional[str], untrusted: list, trusted: list,
                 store: CertStore, now: Optional[float]):
        self.opts = opts
        self.purpose = purpose
        self.untrusted = untrusted
        self.trusted = trusted
        self.store = store
        self.now = now
        if opts.no_check_time:
            self.vtime = None
        elif opts.attime is not None:
            self.vtime = int(opts.attime)
        elif now is not None:
            self.vtime = int(now)
        else:
            raise TypeError("the current time (now=, POSIX seconds) is needed to check validity periods "
                            "unless -attime or -no_check_time is given")
        depth = opts.verify_depth if opts.verify_depth is not None and opts.verify_depth >= 0 else 100
        self.max_depth = depth + 1
        self.chain: list = []
        self.num_untrusted = 0

    # ---- times
    def time_error(self, c: _Cert) -> int:
        if self.vtime is None:
            return 0
        if self.vtime < c.not_before:
            return Reason.CERT_NOT_YET_VALID
        if self.vtime >= c.not_after:
            return Reason.CERT_HAS_EXPIRED
        return 0

    # ---- chain building (build_chain with trusted-first)
    def _best_issuer(self, pool, x: _Cert, no_dup: bool) -> Optional[_Cert]:
        best = None
        for cand in pool:
            if no_dup and not (x.si and len(self.chain) == 1) and any(cand.der == c.der for c in self.chain):
                continue
            if _likely_issued(cand, x):
                if not self.time_error(cand):
                    return cand
                if best is None or cand.not_after > best.not_after:
                    best = cand
        return best

    def _check_trust(self, num_untrusted: int) -> bool:
        chain = self.chain
        if any(c.ss for c in chain[num_untrusted:]):
            return True
        if num_untrusted < len(chain):
            return self.opts.partial_chain
        if self.opts.partial_chain:  # a leaf that is itself in the trust store
            match = next((t for t in self.trusted if t.der == chain[0].der), None)
            if match is not None:
                chain[0] = match
                self.num_untrusted = 0
                return True
        return False

    def build_chain(self, leaf: _Cert) -> None:
        self.chain = [leaf]
        self.num_untrusted = 1
        pool = list(self.untrusted)
        search_untrusted, trusted_ok = bool(pool), False
        while True:
            num = len(self.chain)
            curr = self.chain[-1]
            issuer = None
            if num <= self.max_depth:
                exact = [t for t in self.trusted if t.der == curr.der] if curr.ss else []
                issuer = exact[0] if exact else self._best_issuer(self.trusted, curr, False)
            if issuer is not None:
                extended = True
                if not curr.ss:
                    self.chain.append(issuer)
                elif curr.der == issuer.der:
                    self.chain[-1] = issuer
                    num -= 1
                    self.num_untrusted = num
                else:  # self-signed untrusted mimic of a trust anchor
                    extended = False
                if extended:
                    search_untrusted = False
                    if self._check_trust(num):
                        trusted_ok = True
                        break
                    if not self.chain[-1].ss:
                        continue
            if not search_untrusted:
                break
            issuer = None if curr.ss or num > self.max_depth else self._best_issuer(pool, curr, True)
            if issuer is None:
                search_untrusted = False
                continue
            pool.remove(issuer)
            self.chain.append(issuer)
            self.num_untrusted += 1
        num = len(self.chain)
        if not trusted_ok and num <= self.max_depth and num == self.num_untrusted:
            trusted_ok = self._check_trust(num)
        if trusted_ok:
            return
        top = self.chain[-1]
        if num > self.max_depth:
            raise _Fail(Reason.CERT_CHAIN_TOO_LONG, top, num - 1)
        if top.ss:
            raise _Fail(Reason.DEPTH_ZERO_SELF_SIGNED_CERT if num == 1 else Reason.SELF_SIGNED_CERT_IN_CHAIN,
                        top, num - 1)
        raise _Fail(Reason.UNABLE_TO_GET_ISSUER_CERT if self.num_untrusted < num
                    else Reason.UNABLE_TO_GET_ISSUER_CERT_LOCALLY, top, num - 1)

    # ---- signatures and validity (internal_verify)
    def internal_verify(self) -> None:
        chain = self.chain
        n = len(chain) - 1
        xi = xs = chain[n]
        if not _likely_issued(xi, xi) and not self.opts.partial_chain:
            if n > 0:
                n -= 1
                xs = chain[n]
            else:
                raise _Fail(Reason.UNABLE_TO_VERIFY_LEAF_SIGNATURE, xi, 0)
        while n >= 0:
            if xs is not xi or (self.opts.check_ss_sig and xi.ss):
                issuer_depth = n + (0 if xs is xi else 1)
                if not (xs is xi and not xi.ca):
                    if xs.proxy and _ku_reject(xi, "digital_signature"):
                        raise _Fail(Reason.KEYUSAGE_NO_DIGITAL_SIGNATURE, xi, issuer_depth)
                    if not xs.proxy and _ku_reject(xi, "key_cert_sign"):
                        raise _Fail(Reason.KEYUSAGE_NO_CERTSIGN, xi, issuer_depth)
                if xi.key is None:
                    raise _Fail(Reason.UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY, xi, issuer_depth)
                if not self.store.signature_ok(xs, xi):
                    raise _Fail(Reason.CERT_SIGNATURE_FAILURE, xs, n)
            err = self.time_error(xs)
            if err:
                raise _Fail(err, xs, n)
            n -= 1
            if n >= 0:
                xi, xs = xs, chain[n]

    # ---- the whole run
    def spawn(self, opts: VerifyOptions, purpose: Optional[str]) -> "_Ctx":
        """Another verification with other options over the same certificates, store and time."""
        return _Ctx(opts, purpose, self.untrusted, self.trusted, self.store, self.now)

    def run(self, leaf: _Cert) -> list:
        """Verify ``leaf``; the chain (leaf first, anchor last) or _Fail with the first error."""
        level = self.opts.auth_level
        if level is not None and level > 0 and _key_security_bits(leaf.key) < _level_bits(level):
            raise _Fail(Reason.EE_KEY_TOO_SMALL, leaf, 0)
        self.build_chain(leaf)
        check_extensions(self.chain, self.opts, self.purpose)
        check_auth_level(self.chain, self.opts)
        _check_id(leaf, self.opts)
        check_revocation(self)
        check_suiteb(self.chain, self.opts)
        self.internal_verify()
        check_name_constraints(self.chain)
        if self.opts.policy_checking:
            check_policy(self.chain, self.opts)
        return self.chain
