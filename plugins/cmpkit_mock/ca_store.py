"""The CA mode's state in SQLite (standard library ``sqlite3``): :class:`SQLiteStore` implements
:class:`cmpkit.core.ca.store.CAStore` over one database file (``:memory:`` when none is given).

The file is in WAL mode and every change runs in a ``BEGIN IMMEDIATE`` transaction, so several
server processes can share one file and a restart loses nothing. One connection per store,
used under a lock, so that threads of one process share it.
"""
from __future__ import annotations

import os
import sqlite3
import threading
import weakref
from typing import Optional

from cmpkit.core.ca.store import (CLOSED, CONFIRMED, ISSUED, REVOKED, WAITING_CERTCONF, CertRecord,
                                  Transaction)
from cmpkit.errors import ConfigError

SCHEMA = """
CREATE TABLE IF NOT EXISTS certs (serial TEXT PRIMARY KEY, cert BLOB NOT NULL, status TEXT NOT NULL,
                                  revoked_at REAL, reason INTEGER, not_after REAL NOT NULL);
CREATE TABLE IF NOT EXISTS transactions (tid BLOB PRIMARY KEY, sender BLOB NOT NULL, state TEXT NOT NULL,
                                  last_nonce BLOB, req_nonces BLOB NOT NULL, cert_serial TEXT,
                                  cert_hash BLOB, cert_req_id INTEGER NOT NULL, deadline REAL, mac INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS waiting ON transactions (state, deadline);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""
_TXN_FIELDS = ("tid", "sender", "state", "last_nonce", "req_nonces", "cert_serial", "cert_hash",
               "cert_req_id", "deadline", "mac")


class SQLiteStore:
    """A CAStore in an SQLite file (or in memory)."""

    def __init__(self, path: Optional[str] = None, timeout: float = 30.0):
        self.path = path or ":memory:"
        self._lock = threading.Lock()
        try:
            self._db = sqlite3.connect(self.path, timeout=timeout, isolation_level=None,
                                       check_same_thread=False)
            if self.path != ":memory:":
                self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            with self._write() as db:
                for stmt in SCHEMA.split(";"):
                    if stmt.strip():
                        db.execute(stmt)
        except sqlite3.Error as exc:
            raise ConfigError(f"cannot open CA database {self.path}: {exc}") from None
        self._reopen_in_forked_workers(timeout)

    # ------------------------------------------------------------------ -srv_workers (cmpkit_http.server forks)
    def _reopen_in_forked_workers(self, timeout: float) -> None:
        """A process forked from this one (a -port worker) opens its own connection to the file: an
        SQLite connection must not be used across fork()."""
        if self.path == ":memory:" or not hasattr(os, "register_at_fork"):
            return
        ref = weakref.ref(self)

        def reopen():
            store = ref()
            if store is not None:
                store._lock = threading.Lock()
                store._db = sqlite3.connect(store.path, timeout=timeout, isolation_level=None,
                                            check_same_thread=False)
                store._db.execute("PRAGMA synchronous=NORMAL")
        os.register_at_fork(after_in_child=reopen)

    # ------------------------------------------------------------------ plumbing
    class _Tx:
        def __init__(self, store):
            self.store = store

        def __enter__(self):
            self.store._lock.acquire()
            try:
                self.store._db.execute("BEGIN IMMEDIATE")
            except BaseException:
                self.store._lock.release()
                raise
            return self.store._db

        def __exit__(self, exc_type, exc, tb):
            try:
                self.store._db.execute("ROLLBACK" if exc_type else "COMMIT")
            finally:
                self.store._lock.release()

    def _write(self):
        return self._Tx(self)

    def _read(self, sql: str, args=()) -> list:
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # ------------------------------------------------------------------ certificates
    @staticmethod
    def _cert(row) -> CertRecord:
        serial, cert, status, revoked_at, reason, not_after = row
        return CertRecord(int(serial), bytes(cert), status, revoked_at, reason, not_after)

    def add_cert(self, record: CertRecord) -> bool:
        with self._write() as db:
            try:
                db.execute("INSERT INTO certs VALUES (?, ?, ?, ?, ?, ?)",
                           (str(record.serial), record.cert, record.status, record.revoked_at, record.reason,
                            record.not_after))
            except sqlite3.IntegrityError:
                return False
        return True

    def get_cert(self, serial: int) -> Optional[CertRecord]:
        rows = self._read("SELECT * FROM certs WHERE serial = ?", (str(serial),))
        return self._cert(rows[0]) if rows else None

    def confirm_cert(self, serial: int) -> bool:
        with self._write() as db:
            cur = db.execute("UPDATE certs SET status = ? WHERE serial = ? AND status = ?",
                             (CONFIRMED, str(serial), ISSUED))
            return cur.rowcount == 1

    def revoke_cert(self, serial: int, at: float, reason: Optional[int]) -> bool:
        with self._write() as db:
            return self._revoke(db, serial, at, reason)

    @staticmethod
    def _revoke(db, serial, at, reason) -> bool:
        cur = db.execute("UPDATE certs SET status = ?, revoked_at = ?, reason = ? WHERE serial = ? AND status != ?",
                         (REVOKED, at, reason, str(serial), REVOKED))
        return cur.rowcount == 1

    def revoked(self) -> list:
        return [self._cert(r) for r in self._read("SELECT * FROM certs WHERE status = ?", (REVOKED,))]

    # ------------------------------------------------------------------ transactions
    @staticmethod
    def _row(txn: Transaction) -> tuple:
        return (txn.tid, txn.sender, txn.state, txn.last_nonce, txn.req_nonces,
                None if txn.cert_serial is None else str(txn.cert_serial), txn.cert_hash, txn.cert_req_id,
                txn.deadline, int(txn.mac))

    def open_transaction(self, txn: Transaction) -> bool:
        with self._write() as db:
            try:
                db.execute(f"INSERT INTO transactions VALUES ({', '.join('?' * len(_TXN_FIELDS))})", self._row(txn))
            except sqlite3.IntegrityError:
                return False
        return True

    def get_transaction(self, tid: bytes) -> Optional[Transaction]:
        rows = self._read("SELECT * FROM transactions WHERE tid = ?", (tid,))
        if not rows:
            return None
        v = dict(zip(_TXN_FIELDS, rows[0]))
        v["cert_serial"] = None if v["cert_serial"] is None else int(v["cert_serial"])
        v["mac"] = bool(v["mac"])
        for k in ("tid", "sender", "req_nonces"):
            v[k] = bytes(v[k])
        return Transaction(**v)

    def update_transaction(self, txn: Transaction, expected_state: str) -> bool:
        sets = ", ".join(f"{f} = ?" for f in _TXN_FIELDS[1:])
        with self._write() as db:
            cur = db.execute(f"UPDATE transactions SET {sets} WHERE tid = ? AND state = ?",
                             self._row(txn)[1:] + (txn.tid, expected_state))
            return cur.rowcount == 1

    def expire(self, now: float) -> list:
        if not self._read("SELECT 1 FROM transactions WHERE state = ? AND deadline < ? LIMIT 1",
                          (WAITING_CERTCONF, now)):
            return []       # the common case: a read, no write lock
        with self._write() as db:
            rows = db.execute("SELECT tid, cert_serial FROM transactions WHERE state = ? AND deadline < ?",
                              (WAITING_CERTCONF, now)).fetchall()
            out = []
            for tid, serial in rows:
                db.execute("UPDATE transactions SET state = ? WHERE tid = ?", (CLOSED, tid))
                if serial is not None and self._revoke(db, int(serial), now, None):
                    out.append(int(serial))
            return out

    def next_crl_number(self) -> int:
        with self._write() as db:
            db.execute("INSERT OR IGNORE INTO counters VALUES ('crl_number', 0)")
            db.execute("UPDATE counters SET value = value + 1 WHERE name = 'crl_number'")
            return db.execute("SELECT value FROM counters WHERE name = 'crl_number'").fetchone()[0]
