"""When each user last really logged in, shared by every pop3d process.

A small SQLite database in the configured state folder, in WAL mode with a
busy timeout, so any number of server processes (standalone, inetd, several
listeners) read and write it at once.  The check and the update are one
``BEGIN IMMEDIATE`` transaction: of two simultaneous logins, exactly one
wins the slot.  Blocking I/O: call from a worker thread.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from dataclasses import dataclass

SCHEMA = "CREATE TABLE IF NOT EXISTS last_login (user TEXT PRIMARY KEY, at REAL NOT NULL)"
DB_NAME = "last-login.sqlite3"


class StoreError(Exception):
    """The store cannot be read or written."""


@dataclass(frozen=True)
class Claim:
    """The outcome of :meth:`LastLoginStore.claim`."""

    granted: bool
    #: The time stored before this claim (None: never logged in).
    previous: float | None
    #: Seconds until the next login is allowed (0 when granted).
    wait: float
    #: The time this claim looked at (and stored, when granted).
    at: float


class LastLoginStore:
    def __init__(self, state_dir: str, busy_timeout: float = 10.0) -> None:
        self.path = os.path.join(state_dir, DB_NAME)
        self.busy_timeout = busy_timeout
        self._local = threading.local()
        try:
            os.makedirs(state_dir, mode=0o750, exist_ok=True)
            self._initialize()
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"cannot open {self.path}: {exc}") from exc

    def _initialize(self) -> None:
        """Create the table and switch to WAL (persistent), racing other processes safely.

        Changing the journal mode does not wait on the busy handler, so a
        process starting while another one sets up the file retries briefly.
        """
        deadline = time.monotonic() + self.busy_timeout
        while True:
            db = self._connect()
            try:
                db.execute("PRAGMA journal_mode=WAL")
                db.execute(SCHEMA)
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
            finally:
                db.close()
            time.sleep(0.01)

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=self.busy_timeout, isolation_level=None,
                             check_same_thread=True)
        db.execute("PRAGMA synchronous=NORMAL")
        return db

    def _db(self) -> sqlite3.Connection:
        """One connection per thread (sqlite3 connections are not shared)."""
        db = getattr(self._local, "db", None)
        if db is None:
            db = self._local.db = self._connect()
        return db

    def claim(self, user: str, interval: float, now: float | None = None) -> Claim:
        """Record a login now unless the last one is less than ``interval`` ago."""
        try:
            db = self._db()
            db.execute("BEGIN IMMEDIATE")
            # The time is read once the write lock is held, so a login that
            # waited for it never looks earlier than the one it waited for.
            now = time.time() if now is None else now
            try:
                row = db.execute("SELECT at FROM last_login WHERE user = ?", (user,)).fetchone()
                previous = row[0] if row else None
                # A stored time in the future (clock stepped back) does not lock anyone out.
                if previous is not None and previous <= now < previous + interval:
                    db.execute("COMMIT")
                    return Claim(False, previous, previous + interval - now, now)
                db.execute("INSERT INTO last_login (user, at) VALUES (?, ?) "
                           "ON CONFLICT(user) DO UPDATE SET at = excluded.at", (user, now))
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            raise StoreError(f"{self.path}: {exc}") from exc
        return Claim(True, previous, 0.0, now)

    def undo(self, user: str, claimed_at: float, previous: float | None) -> None:
        """Give back a granted claim whose login then failed (maildrop locked, ...)."""
        try:
            db = self._db()
            if previous is None:
                db.execute("DELETE FROM last_login WHERE user = ? AND at = ?", (user, claimed_at))
            else:
                db.execute("UPDATE last_login SET at = ? WHERE user = ? AND at = ?",
                           (previous, user, claimed_at))
        except sqlite3.Error as exc:
            raise StoreError(f"{self.path}: {exc}") from exc

    def last(self, user: str) -> float | None:
        try:
            row = self._db().execute("SELECT at FROM last_login WHERE user = ?", (user,)).fetchone()
        except sqlite3.Error as exc:
            raise StoreError(f"{self.path}: {exc}") from exc
        return row[0] if row else None
