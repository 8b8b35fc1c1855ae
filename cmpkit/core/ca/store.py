"""The CA's state as an interface (a Protocol): issued certificates with their status, open
transactions, the CRL number. The shell implements it (``cmpkit_mock.ca_store.SQLiteStore``);
every method is one atomic step, so that several threads or processes may share one store.

Times are POSIX seconds given by the caller (the core reads no clock).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Protocol

ISSUED, CONFIRMED, REVOKED = "issued", "confirmed", "revoked"          # certificate status
WAITING_CERTCONF, CLOSED = "waiting for certConf", "closed"            # transaction state


@dataclass
class CertRecord:
    """One certificate the CA issued."""

    serial: int
    cert: bytes                         # DER
    status: str = ISSUED
    revoked_at: Optional[float] = None
    reason: Optional[int] = None        # CRLReason code, None for unspecified/none
    not_after: float = 0.0


@dataclass
class Transaction:
    """One transaction, kept (also when closed) so that its ID is never used again."""

    tid: bytes
    sender: bytes                       # the first request's sender GeneralName DER
    state: str = CLOSED
    last_nonce: Optional[bytes] = None  # senderNonce of the last response
    req_nonces: bytes = b""             # the senderNonces of the requests, concatenated (16 bytes each)
    cert_serial: Optional[int] = None
    cert_hash: Optional[bytes] = None
    cert_req_id: int = 0
    deadline: Optional[float] = None    # confirmWaitTime: unconfirmed certificate revoked after it
    mac: bool = False                   # the first request was MAC-protected


class CAStore(Protocol):
    """What the CA machine needs of its state."""

    def add_cert(self, record: CertRecord) -> bool:
        """Store a new certificate; False if its serial number is taken."""

    def get_cert(self, serial: int) -> Optional[CertRecord]:
        ...

    def confirm_cert(self, serial: int) -> bool:
        """issued -> confirmed; False unless it was issued (not yet confirmed, not revoked)."""

    def revoke_cert(self, serial: int, at: float, reason: Optional[int]) -> bool:
        """Revoke; False if it was revoked already (or is unknown)."""

    def revoked(self) -> list:
        """Every revoked certificate as a CertRecord."""

    def open_transaction(self, txn: Transaction) -> bool:
        """Insert a new transaction; False if its ID is in use (or was used)."""

    def get_transaction(self, tid: bytes) -> Optional[Transaction]:
        ...

    def update_transaction(self, txn: Transaction, expected_state: str) -> bool:
        """Replace the stored transaction if it is still in ``expected_state``; False otherwise."""

    def expire(self, now: float) -> list:
        """Close the transactions waiting for a certConf past their deadline and revoke their
        certificates; the serial numbers revoked."""

    def next_crl_number(self) -> int:
        """The next CRL number (1, 2, ...), counted in the store."""
