"""When each user last really logged in, shared by every pop3d process.

A small database in the state folder (see :mod:`pop3d.statedb`).  The check
and the update are one ``BEGIN IMMEDIATE`` transaction: of two simultaneous
logins, exactly one wins the slot.  Blocking I/O: call from a worker thread.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from pop3d.statedb import StoreError, shared

__all__ = ["Claim", "LastLoginStore", "StoreError"]

SCHEMA = "CREATE TABLE IF NOT EXISTS last_login (user TEXT PRIMARY KEY, at REAL NOT NULL)"
DB_NAME = "last-login.sqlite3"


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
        self.db = shared(state_dir, DB_NAME, SCHEMA, busy_timeout)
        self.path = self.db.path

    def claim(self, user: str, interval: float, now: float | None = None) -> Claim:
        """Record a login now unless the last one is less than ``interval`` ago."""
        with self.db.transaction() as db:
            # The time is read once the write lock is held, so a login that
            # waited for it never looks earlier than the one it waited for.
            now = time.time() if now is None else now
            row = db.execute("SELECT at FROM last_login WHERE user = ?", (user,)).fetchone()
            previous = row[0] if row else None
            # A stored time in the future (clock stepped back) does not lock anyone out.
            if previous is not None and previous <= now < previous + interval:
                return Claim(False, previous, previous + interval - now, now)
            db.execute("INSERT INTO last_login (user, at) VALUES (?, ?) "
                       "ON CONFLICT(user) DO UPDATE SET at = excluded.at", (user, now))
        return Claim(True, previous, 0.0, now)

    def undo(self, user: str, claimed_at: float, previous: float | None) -> None:
        """Give back a granted claim whose login then failed (maildrop locked, ...)."""
        with self.db.transaction() as db:
            if previous is None:
                db.execute("DELETE FROM last_login WHERE user = ? AND at = ?", (user, claimed_at))
            else:
                db.execute("UPDATE last_login SET at = ? WHERE user = ? AND at = ?",
                           (previous, user, claimed_at))

    def last(self, user: str) -> float | None:
        rows = self.db.query("SELECT at FROM last_login WHERE user = ?", (user,))
        return rows[0][0] if rows else None
