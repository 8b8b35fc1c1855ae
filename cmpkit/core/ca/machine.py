"""The CA mode of the mock server as a sans-IO machine: one DER request and the time in, one DER
response out, with the state in a :class:`cmpkit.core.ca.store.CAStore`.

``CAServer(CASettings(...), store).handle(request_der, now) -> response_der`` never raises for
client input. Unlike :class:`cmpkit.core.server.CmpServer` (OpenSSL's mock, which hands out
one fixed certificate), the CA checks requests as RFC 9483 sections 3 and 4 and RFC 9810
section 5 ask and issues real certificates (:mod:`cmpkit.core.ca.issue`):

- header and protection failures get an ``error`` message with the failInfo bit
  (:mod:`cmpkit.core.ca.checks`); content failures of ir/cr/kur/p10cr/rr get the response type
  with status rejection and the bit;
- a transaction is keyed by its transactionID in the store (IDs are never used twice:
  transactionIdInUse); certConf may come over any connection and to any server object sharing
  the store; a certificate not confirmed within ``confirm_wait`` seconds is revoked;
- responses are protected as the request was: a MAC with the request's algorithm and a fresh
  salt, else a signature by ``srv_signer``/``srv_cert`` or, without them, by the CA key.

No state lives in the object between requests beyond caches, so that threads may call
``handle`` concurrently (the store serializes its steps).
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from typing import Callable, Optional

from cmpkit.core import bodies, genm_types, protection
from cmpkit.core.ca import checks
from cmpkit.core.ca.checks import (BAD_CERT_ID, BAD_CERT_TEMPLATE, BAD_DATA_FORMAT, BAD_MESSAGE_CHECK,
                                   BAD_RECIPIENT_NONCE, BAD_REQUEST, BAD_SENDER_NONCE, CERT_CONFIRMED,
                                   CERT_REVOKED, NOT_AUTHORIZED, SYSTEM_FAILURE, TRANSACTION_ID_IN_USE,
                                   UNSUPPORTED_VERSION, Reject)
from cmpkit.core.ca.issue import IssuePolicy, ca_path_len
from cmpkit.core.ca.store import CLOSED, REVOKED, WAITING_CERTCONF, CAStore, CertRecord, Transaction
from cmpkit.core.message import (NULL_DN_GENERAL_NAME, OID_CONFIRM_WAIT_TIME, OID_IMPLICIT_CONFIRM, PKIMessage,
                                 StatusInfo, directory_name, new_message)
from cmpkit.core.server_checks import PopoFailure, same_name, verify_popo
from cmpkit.errors import CmpError, DecodeError

log = logging.getLogger("cmpkit")

ACCEPTED, REJECTION = 0, 2
CERT_RESPONSES = {"ir": "ip", "cr": "cp", "kur": "kup", "p10cr": "cp"}
FIRST_REQUESTS = ("ir", "cr", "kur", "p10cr", "rr", "genm")
LATER_REQUESTS = ("certConf", "pollReq", "error")
CERTREQID_P10CR = -1
OID_CA_CERTS = "1.3.6.1.5.5.7.4.17"       # id-it-caCerts (RFC 9483 4.3.1)
OID_CURRENT_CRL = "1.3.6.1.5.5.7.4.6"     # id-it-currentCRL (RFC 9810 5.3.19.6)
OID_KP_CMC_RA = "1.3.6.1.5.5.7.3.28"      # id-kp-cmcRA: an RA may send raVerified POPOs


@dataclass
class CASettings:
    """The CA's configuration, loaded (certificates as DER, ``ca_key`` a cryptography private key)."""

    ca_cert: bytes
    ca_key: object
    ca_chain: list = field(default_factory=list)        # the CA certificate's issuers (extraCerts)
    srv_ref: Optional[bytes] = None
    srv_secret: Optional[bytes] = None
    srv_cert: Optional[bytes] = None                     # signer of responses instead of the CA key
    srv_signer: object = None
    srv_chain: list = field(default_factory=list)
    srv_trusted: list = field(default_factory=list)      # anchors for signature-protected requests
    srv_untrusted: list = field(default_factory=list)
    rsp_extracerts: list = field(default_factory=list)
    rsp_capubs: list = field(default_factory=list)
    grant_implicitconf: bool = False
    accept_unprotected: bool = False
    accept_raverified: bool = False
    policy: object = None
    issue: IssuePolicy = field(default_factory=IssuePolicy)
    time_window: Optional[int] = 600                     # seconds messageTime may be off (badTime)
    confirm_wait: int = 300                              # seconds to wait for certConf
    digest: str = "sha256"
    crl_url: Optional[str] = None                        # CRL distribution point of issued certificates
    keygen_type: str = "EC:secp256r1"                    # central key generation without a template algorithm


class _Request:
    """What one request's answer needs: its parse, the protection found, the response header."""

    def __init__(self, req: Optional[PKIMessage], now: float):
        self.req, self.now = req, now
        self.mac_alg: Optional[bytes] = None     # a verified MAC's algorithm: answer with a MAC
        self.cert: Optional[bytes] = None        # the verified protecting certificate
        self.tid = req.transaction_id if req is not None else None
        self.recipient = req.sender if req is not None else NULL_DN_GENERAL_NAME
        self.recip_nonce = req.sender_nonce if req is not None else None
        self.pvno = req.pvno if req is not None and req.pvno in (2, 3) else 2
        self.enc_key: Optional[bytes] = None     # central key generation: the EncryptedKey to return


#: genm infoType OID -> handler(server, value DER or None, now) -> infoValue DER or None.
#: The answer's infoType is genm_types.ANSWER_TYPE's for the request's (rootCaCert -> rootCaKeyUpdate,
#: crlStatusList -> crls); cmpkit.core.ca.genm registers the RFC 9480 2.3 types (end of this module).
GENM_HANDLERS: dict[str, Callable] = {}


class CAServer:
    """The CA mode's request handling (see the module docstring)."""

    def __init__(self, settings: CASettings, store: CAStore):
        from cryptography import x509
        self.s, self.store = settings, store
        ca = x509.load_der_x509_certificate(settings.ca_cert)
        self.ca_subject = ca.subject.public_bytes()
        self.ca_not_after = ca.not_valid_after_utc
        self.ca_path_len = ca_path_len(settings.ca_cert)
        self_signed = ca.issuer == ca.subject
        self.trusted = list(settings.srv_trusted) + ([settings.ca_cert] if self_signed else [])
        self.untrusted = list(settings.srv_untrusted) + [settings.ca_cert] + list(settings.ca_chain)
        if settings.srv_signer is not None and settings.srv_cert is not None:
            self.signer, self.signer_cert = settings.srv_signer, settings.srv_cert
            self.signer_chain = settings.srv_chain
        else:
            from cmpkit.core.keys import SoftwareKey
            self.signer, self.signer_cert = SoftwareKey(settings.ca_key), settings.ca_cert
            self.signer_chain = settings.ca_chain
        self.sender = directory_name(x509.load_der_x509_certificate(self.signer_cert).subject.public_bytes())

    # ------------------------------------------------------------------ entry
    def handle(self, request_der: bytes, now: float) -> bytes:
        try:
            req = PKIMessage.from_der(request_der)
        except DecodeError as exc:
            bit = UNSUPPORTED_VERSION if "unsupported pvno" in str(exc) else BAD_DATA_FORMAT
            return self._error(_Request(None, now), Reject(bit, str(exc)[:200])).to_der()
        ctx = _Request(req, now)
        try:
            for serial in self.store.expire(now):
                log.info("CA: certificate %x revoked: not confirmed in time", serial)
            return self._dispatch(ctx).to_der()
        except Reject as r:
            log.info("CA: %s rejected: %s", req.body_type, r.text)
            return self._error(ctx, r).to_der()
        except CmpError as exc:
            log.info("CA: %s rejected: %s", req.body_type, exc)
            return self._error(ctx, Reject(BAD_DATA_FORMAT, str(exc)[:200])).to_der()
        except Exception as exc:  # a bug must not take the server down; answered and logged
            log.error("CA: internal error on %s: %r", req.body_type, exc)
            return self._error(ctx, Reject(SYSTEM_FAILURE, "internal error")).to_der()

    def _dispatch(self, ctx: _Request) -> PKIMessage:
        req, s = ctx.req, self.s
        bt = req.body_type
        if bt in FIRST_REQUESTS:
            checks.check_first_header(req, ctx.now, s.time_window)
            if self.store.get_transaction(ctx.tid) is not None:
                raise Reject(TRANSACTION_ID_IN_USE, "transactionID in use")
            self._protection(ctx)
            txn = Transaction(ctx.tid, req.sender, CLOSED, req_nonces=req.sender_nonce, mac=ctx.mac_alg is not None)
            if not self.store.open_transaction(txn):
                raise Reject(TRANSACTION_ID_IN_USE, "transactionID in use")
            if bt == "rr":
                return self._rr(ctx)
            if bt == "genm":
                return self._genm(ctx)
            return self._enroll(ctx, txn)
        if bt not in LATER_REQUESTS:
            raise Reject(BAD_REQUEST, f"{bt} not supported")
        checks.check_pvno(req)
        checks.check_sender_nonce(req)
        txn = self.store.get_transaction(ctx.tid) if ctx.tid else None
        if txn is None:
            raise Reject(BAD_REQUEST, f"{bt} outside a known transaction")
        self._protection(ctx)
        if not same_name(req.sender, txn.sender):
            raise Reject(BAD_REQUEST, "sender differs from the transaction's")
        if bt == "certConf":
            return self._cert_conf(ctx, txn)
        if bt == "error":
            si, _code, details = bodies.read_error(req.body_content)
            log.info("CA: client sent error: %s %s", si.describe(), "; ".join(details))
            if txn.state == WAITING_CERTCONF:
                self._close(txn, revoke=True, now=ctx.now)
            return self._response(ctx, "pkiconf", None)
        raise Reject(BAD_REQUEST, "pollReq: no request is waiting")

    def _protection(self, ctx: _Request) -> None:
        ctx.cert = checks.check_protection(ctx.req, self.s, self.trusted, self.untrusted)
        if ctx.req.is_mac_protected():
            ctx.mac_alg = ctx.req.protection_alg

    # ------------------------------------------------------------------ enrollment
    def _enroll(self, ctx: _Request, txn: Transaction) -> PKIMessage:
        req, s = ctx.req, self.s
        rsp_type = CERT_RESPONSES[req.body_type]
        cert_req_id = CERTREQID_P10CR if req.body_type == "p10cr" else 0
        try:
            cert_req_id, cert = self._issue(ctx)
        except Reject as r:
            log.info("CA: %s rejected: %s", req.body_type, r.text)
            si = StatusInfo(REJECTION, [r.text], [r.bit])
            cert_req_id = getattr(r, "cert_req_id", cert_req_id)
            return self._response(ctx, rsp_type, bodies.cert_rep_der([(cert_req_id, si, None)]))
        implicit = req.implicit_confirm and s.grant_implicitconf
        txn.cert_serial, txn.cert_req_id, txn.cert_hash = _serial(cert), cert_req_id, protection.cert_hash(cert)
        if implicit:
            self.store.confirm_cert(txn.cert_serial)
            gi = [(OID_IMPLICIT_CONFIRM, b"\x05\x00")]
        else:
            txn.state, txn.deadline = WAITING_CERTCONF, ctx.now + s.confirm_wait
            gi = [(OID_CONFIRM_WAIT_TIME, checks.generalized_time(txn.deadline))]
        ca_pubs = s.rsp_capubs if rsp_type == "ip" else ()
        body = bodies.cert_rep_der([(cert_req_id, StatusInfo(ACCEPTED), cert, ctx.enc_key)], ca_pubs)
        extra = [s.ca_cert] + list(s.ca_chain) + list(s.rsp_extracerts)   # the new certificate's chain first
        msg = self._response(ctx, rsp_type, body, extra, gi)
        txn.last_nonce = msg.sender_nonce
        self.store.update_transaction(txn, CLOSED)
        return msg

    def _issue(self, ctx: _Request) -> tuple:
        """(certReqId, certificate DER) for an ir/cr/kur/p10cr; Reject for what the CA refuses."""
        from cmpkit.core.ca import issue
        req, s = ctx.req, self.s
        if req.body_type == "p10cr":
            from cryptography import x509
            from cryptography.hazmat.primitives import serialization
            try:
                verify_popo(req, None, False)
            except PopoFailure as exc:
                raise Reject(exc.bit, f"PKCS#10 signature: {exc.reason}") from None
            csr = x509.load_der_x509_csr(req.body_content)
            cert_req_id, subject = CERTREQID_P10CR, csr.subject.public_bytes()
            spki = csr.public_key().public_bytes(serialization.Encoding.DER,
                                                 serialization.PublicFormat.SubjectPublicKeyInfo)
            exts = [(e.oid.dotted_string, e.critical, e.value.public_bytes()) for e in csr.extensions]
            not_before = not_after = None
        else:
            requests = bodies.read_cert_requests(req.body_content)
            if len(requests) != 1:
                raise Reject(BAD_REQUEST, "exactly one CertReqMsg expected")
            crm = requests[0]
            cert_req_id = crm.cert_req_id
            if cert_req_id != 0:
                r = Reject(BAD_REQUEST, f"certReqId {cert_req_id} (0 expected)")
                r.cert_req_id = cert_req_id
                raise r
            tpl = crm.template
            central = self._central_keygen(ctx, crm)
            if central is None:
                if crm.popo == "raVerified" and not s.accept_raverified and not _is_ra(ctx.cert):
                    raise Reject(NOT_AUTHORIZED, "raVerified POPO not accepted from an end entity")
                try:
                    verify_popo(req, crm, True)
                except PopoFailure as exc:
                    raise Reject(exc.bit, f"POPO: {exc.reason}") from None
            subject, spki, exts = tpl.subject, central or tpl.public_key, list(tpl.extensions)
            not_before, not_after = tpl.not_before, tpl.not_after
            if req.body_type == "kur":
                old = self._old_cert(ctx, crm)
                subject, exts = self._kur_defaults(old, subject, spki, exts)
        if subject is None or subject == b"\x30\x00":
            raise Reject(BAD_CERT_TEMPLATE, "subject missing or empty")
        key = issue.check_public_key(spki, s.issue)
        extensions = issue.requested_extensions(exts, key, s.issue, self.ca_path_len)
        if s.crl_url is not None:
            from cryptography import x509

            from cmpkit.core.ca.crl import OID_CRL_DP, crl_distribution_points
            extensions.append((x509.UnrecognizedExtension(x509.ObjectIdentifier(OID_CRL_DP),
                                                          crl_distribution_points(s.crl_url)), False))
        nb, na = issue.validity(ctx.now, not_before, not_after, s.issue.max_days, self.ca_not_after)
        for _attempt in range(8):
            serial = issue.random_serial()
            cert = issue.build_certificate(s.ca_cert, s.ca_key, subject, key, extensions, nb, na, serial)
            if self.store.add_cert(CertRecord(serial, cert, not_after=na.timestamp())):
                log.info("CA: issued certificate serial %x", serial)
                return cert_req_id, cert
        raise Reject(SYSTEM_FAILURE, "no free serial number")

    def _central_keygen(self, ctx: _Request, crm) -> Optional[bytes]:
        """RFC 9483 4.1.6: for a request without POPO and without a public key (or with only its
        algorithm), a key generated here, enveloped for the requester in ``ctx.enc_key``; its
        SubjectPublicKeyInfo. None for an ordinary request."""
        from cmpkit.core.ca import keygen
        asked = keygen.requested(crm)
        if asked is None or (asked is False and crm.template.public_key is None):
            return None
        if asked is False:
            raise Reject(checks.BAD_POP, "POPO given with central key generation requested")
        from cryptography.hazmat.primitives import serialization
        key = keygen.generate(keygen.key_type_of_template(crm.template.public_key, self.s.keygen_type, self.s.issue))
        ctx.enc_key = keygen.enveloped_key(self, ctx.req, key)
        log.info("CA: key generated centrally for the request")
        return key.public_key().public_bytes(serialization.Encoding.DER,
                                             serialization.PublicFormat.SubjectPublicKeyInfo)

    def _old_cert(self, ctx: _Request, crm) -> CertRecord:
        """kur: the certificate to update (oldCertID, else the protecting certificate); valid,
        unrevoked, issued by this CA, and the one protecting the request if it is signed."""
        if crm.old_cert_id is not None:
            issuer_gn, serial = crm.old_cert_id
            from cmpkit.core.message import name_from_general_name
            if not same_name(name_from_general_name(issuer_gn), self.ca_subject):
                raise Reject(BAD_CERT_ID, "oldCertID names another issuer")
        elif ctx.cert is not None:
            serial = _serial(ctx.cert)
        else:
            raise Reject(BAD_CERT_ID, "kur without oldCertID nor signature protection")
        rec = self.store.get_cert(serial)
        if rec is None:
            raise Reject(BAD_CERT_ID, "certificate to update not issued by this CA")
        if rec.status == REVOKED:
            raise Reject(BAD_CERT_ID, "certificate to update is revoked")
        if rec.not_after < ctx.now:
            raise Reject(BAD_CERT_ID, "certificate to update has expired")
        if ctx.cert is not None and ctx.cert != rec.cert:
            raise Reject(BAD_CERT_ID, "kur not protected with the certificate to update")
        return rec

    @staticmethod
    def _kur_defaults(old: CertRecord, subject, spki, exts) -> tuple:
        """The old certificate's subject and extensions (SAN, keyUsage, extendedKeyUsage) where
        the template has none; the new key must differ from the old."""
        from cryptography import x509
        from cryptography.hazmat.primitives import serialization
        cert = x509.load_der_x509_certificate(old.cert)
        old_spki = cert.public_key().public_bytes(serialization.Encoding.DER,
                                                  serialization.PublicFormat.SubjectPublicKeyInfo)
        if spki is not None and spki == old_spki:
            raise Reject(BAD_CERT_TEMPLATE, "kur needs a new key")
        if subject is None:
            subject = cert.subject.public_bytes()
        if not exts:
            keep = ("2.5.29.17", "2.5.29.15", "2.5.29.37")
            exts = [(e.oid.dotted_string, e.critical, e.value.public_bytes()) for e in cert.extensions
                    if e.oid.dotted_string in keep]
        return subject, exts

    # ------------------------------------------------------------------ certConf
    def _cert_conf(self, ctx: _Request, txn: Transaction) -> PKIMessage:
        req = ctx.req
        nonce = req.sender_nonce
        seen = [txn.req_nonces[i:i + 16] for i in range(0, len(txn.req_nonces), 16)]
        if txn.state != WAITING_CERTCONF:
            rec = self.store.get_cert(txn.cert_serial) if txn.cert_serial is not None else None
            if rec is not None and rec.status != REVOKED and txn.cert_hash is not None:
                raise Reject(CERT_CONFIRMED, "certificate already confirmed")
            raise Reject(BAD_REQUEST, "no certificate waits for confirmation in this transaction")
        if nonce in seen:
            raise Reject(BAD_SENDER_NONCE, "senderNonce used before in this transaction")
        if req.recip_nonce != txn.last_nonce:
            raise Reject(BAD_RECIPIENT_NONCE, "recipNonce is not the senderNonce of the last response")
        entries = bodies.read_cert_conf(req.body_content)
        if len(entries) > 1:
            raise Reject(BAD_REQUEST, "one CertStatus expected")
        rejected = not entries
        if entries:
            cert_hash, req_id, si, hash_alg = entries[0]
            if req_id != txn.cert_req_id:
                raise Reject(BAD_REQUEST, f"certReqId {req_id} (expected {txn.cert_req_id})")
            if si is not None and si.failure_bits and si.status != REJECTION:
                raise Reject(BAD_REQUEST, "failInfo given without a rejection status")
            expected = txn.cert_hash
            if hash_alg is not None:
                from cmpkit.core import algs
                oid, _p = algs.decode_algorithm_identifier(hash_alg)
                name = algs.HASH_BY_OID.get(oid)
                if name is None:
                    raise Reject(checks.BAD_ALG, "certConf hashAlg not supported")
                expected = protection.cert_hash(self.store.get_cert(txn.cert_serial).cert, name)
            if cert_hash != expected:
                raise Reject(BAD_CERT_ID, "certHash does not match the certificate issued")
            rejected = si is not None and si.status == REJECTION
        txn.req_nonces += nonce
        if rejected:
            log.info("CA: certificate %x rejected by the client: revoked", txn.cert_serial)
            self._close(txn, revoke=True, now=ctx.now)
        else:
            if not self.store.confirm_cert(txn.cert_serial):
                raise Reject(CERT_CONFIRMED, "certificate already confirmed or revoked")
            txn.state = CLOSED
            if not self.store.update_transaction(txn, WAITING_CERTCONF):
                raise Reject(CERT_CONFIRMED, "certificate already confirmed")
        return self._response(ctx, "pkiconf", None)

    def _close(self, txn: Transaction, revoke: bool, now: float) -> None:
        state, txn.state = txn.state, CLOSED
        if self.store.update_transaction(txn, state) and revoke and txn.cert_serial is not None:
            self.store.revoke_cert(txn.cert_serial, now, None)
            txn.cert_hash = None

    # ------------------------------------------------------------------ rr, genm
    def _rr(self, ctx: _Request) -> PKIMessage:
        try:
            serial = self._revoke(ctx)
        except Reject as r:
            log.info("CA: rr rejected: %s", r.text)
            return self._response(ctx, "rp", bodies.rev_rep_der([StatusInfo(REJECTION, [r.text], [r.bit])]))
        cert_id = bodies.cert_id_der(directory_name(self.ca_subject), serial)
        return self._response(ctx, "rp", bodies.rev_rep_der([StatusInfo(ACCEPTED)], [cert_id]))

    def _revoke(self, ctx: _Request) -> int:
        details = bodies.read_rev_details(ctx.req.body_content)
        if len(details) != 1:
            raise Reject(BAD_REQUEST, "exactly one RevDetails expected")
        tpl, reason = details[0]
        if tpl.issuer is None or tpl.serial is None:
            raise Reject(BAD_REQUEST, "certDetails must give issuer and serialNumber")
        if not same_name(tpl.issuer, self.ca_subject):
            raise Reject(BAD_CERT_ID, "issuer is not this CA")
        rec = self.store.get_cert(tpl.serial)
        if rec is None:
            raise Reject(BAD_CERT_ID, "no certificate with this serial number issued")
        if rec.status == REVOKED:
            raise Reject(CERT_REVOKED, "certificate already revoked")
        if ctx.cert is not None and ctx.cert != rec.cert and self.store.get_cert(_serial(ctx.cert)) is not None:
            raise Reject(NOT_AUTHORIZED, "rr protected by another end entity's certificate")
        if not self.store.revoke_cert(tpl.serial, ctx.now, reason):
            raise Reject(CERT_REVOKED, "certificate already revoked")
        log.info("CA: certificate %x revoked", tpl.serial)
        return tpl.serial

    def _genm(self, ctx: _Request) -> PKIMessage:
        out = []
        for oid, value in bodies.read_itavs(ctx.req.body_content):
            handler = GENM_HANDLERS.get(oid) or _BUILTIN_GENM.get(oid)
            answer_oid = genm_types.ANSWER_TYPE.get(oid, oid) if oid in GENM_HANDLERS else oid
            out.append((answer_oid, handler(self, value, ctx.now) if handler is not None else None))
        return self._response(ctx, "genp", bodies.genm_der(out))

    def crl(self, now: float) -> bytes:
        """A CRL of this CA listing every revoked certificate, with the next CRL number
        (:func:`cmpkit.core.ca.crl.build_crl`: any CA key type, ML-DSA included)."""
        from cmpkit.core.ca.crl import build_crl
        from cmpkit.core.keys import SoftwareKey
        return build_crl(SoftwareKey(self.s.ca_key), self.ca_subject, now, self.store.revoked(),
                         self.store.next_crl_number(), self.s.crl_url, protection.subject_key_id(self.s.ca_cert),
                         self.s.digest)

    # ------------------------------------------------------------------ responses
    def _response(self, ctx: _Request, body_type: str, body, extra_certs=(), general_info=()) -> PKIMessage:
        s = self.s
        msg = new_message(body_type, sender=self.sender, recipient=ctx.recipient, pvno=ctx.pvno,
                          transaction_id=ctx.tid or os.urandom(16), recip_nonce=ctx.recip_nonce,
                          general_info=general_info, body=body, message_time=ctx.now)
        if ctx.mac_alg is not None:
            if extra_certs:
                msg.set_extra_certs(list(dict.fromkeys(extra_certs)))
            msg.protect_with_mac(s.srv_secret, checks.fresh_mac_algorithm(ctx.mac_alg, os.urandom(16)), s.srv_ref)
            return msg
        own = [self.signer_cert] + [c for c in self.signer_chain if c != self.signer_cert]
        msg.set_extra_certs(list(dict.fromkeys(own + list(extra_certs))))
        alg = protection.signature_algorithm(self.signer.public_key(), s.digest)
        msg.protect_with_signature(self.signer, alg, protection.subject_key_id(self.signer_cert))
        return msg

    def _error(self, ctx: _Request, r: Reject) -> PKIMessage:
        si = StatusInfo(REJECTION, [r.text], [r.bit])
        if r.bit == BAD_MESSAGE_CHECK:
            ctx.mac_alg = None      # the MAC did not verify: do not answer with the same secret
        elif ctx.mac_alg is None and ctx.req is not None and ctx.req.is_mac_protected() and self.s.srv_secret:
            try:                    # rejected before its protection was checked: a MAC client can read a MAC
                checks.check_protection(ctx.req, self.s, [], [])
                ctx.mac_alg = ctx.req.protection_alg
            except (Reject, CmpError):
                pass
        return self._response(ctx, "error", bodies.error_der(si, None, [r.text]))


def _serial(cert_der: bytes) -> int:
    from cryptography import x509
    return x509.load_der_x509_certificate(cert_der).serial_number


def _is_ra(cert_der: Optional[bytes]) -> bool:
    """Is the protecting certificate an RA's (extendedKeyUsage id-kp-cmcRA, RFC 9483 section 5.2)?"""
    if cert_der is None:
        return False
    from cryptography import x509
    try:
        eku = x509.load_der_x509_certificate(cert_der).extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    except (x509.ExtensionNotFound, ValueError):
        return False
    return x509.ObjectIdentifier(OID_KP_CMC_RA) in eku.value


def _ca_certs(server: CAServer, value, now) -> bytes:
    from cmpkit.core import der
    return der.sequence(server.s.ca_cert, *server.s.ca_chain)


def _current_crl(server: CAServer, value, now) -> bytes:
    return server.crl(now)


_BUILTIN_GENM = {OID_CA_CERTS: _ca_certs, OID_CURRENT_CRL: _current_crl}

# the RFC 9480 2.3 info types (openssl cmp -infotype): caCerts, rootCaCert, certReqTemplate, crlStatusList
from cmpkit.core.ca import genm as _ca_genm  # noqa: E402 - after GENM_HANDLERS, which it fills

GENM_HANDLERS.update(_ca_genm.HANDLERS)
