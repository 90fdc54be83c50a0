"""RFC 2449 EXPIRE with a number of days: retrieved mail leaves after that long.

The server remembers when each message was first retrieved (RETR) in a
session that ended with QUIT, in ``retrieved.sqlite3`` in the state folder
(see :mod:`pop3d.statedb`), keyed by user and UID.  At login, the messages
first retrieved at least ``days`` ago are *expired*: they are still listed
and can be read during the session, and the UPDATE of a session that ends
with QUIT deletes them along with the client's own deletions.  Nothing is
deleted anywhere else, and a session that drops deletes nothing.

A message counts as expired only if its UID, its size and its seen flag in
the maildrop all agree with the record, so a message never retrieved is
never expired, even if another one once had its UID.  Records of messages
that are gone (deleted here or by another program) are dropped at UPDATE.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from twisted.logger import Logger

from pop3d.core.messages import MessageInfo
from pop3d.maildrop.base import Maildrop, MessageReader
from pop3d.statedb import StoreError, shared

__all__ = ["ExpiringMaildrop", "RetrievalLog", "StoreError"]

DB_NAME = "retrieved.sqlite3"
SCHEMA = """
CREATE TABLE IF NOT EXISTS retrieved (
    user TEXT NOT NULL, uid TEXT NOT NULL, size INTEGER NOT NULL, at REAL NOT NULL,
    PRIMARY KEY (user, uid)) WITHOUT ROWID;
"""
DAY = 86400.0

log = Logger()


class RetrievalLog:
    """When each user's messages were first retrieved, shared by every pop3d process."""

    def __init__(self, state_dir: str, days: int, busy_timeout: float = 10.0) -> None:
        self.days = days
        self.db = shared(state_dir, DB_NAME, SCHEMA, busy_timeout)
        self.path = self.db.path

    def expired(self, user: str, messages: Sequence[MessageInfo], now: float | None = None) -> frozenset[int]:
        """Indexes of ``messages`` first retrieved at least ``days`` before ``now``."""
        cutoff = (time.time() if now is None else now) - self.days * DAY
        rows = self.db.query("SELECT uid, size FROM retrieved WHERE user = ? AND at <= ?", (user, cutoff))
        if not rows:
            return frozenset()
        old = dict(rows)
        return frozenset(i for i, m in enumerate(messages) if m.seen and old.get(m.uid) == m.size)

    def record(self, user: str, messages: Sequence[MessageInfo], deleted: frozenset[int],
               retrieved: frozenset[int], now: float | None = None) -> None:
        """After a committed UPDATE: note new first retrievals, forget messages now gone.

        ``messages`` are the session's messages; ``deleted`` and ``retrieved``
        index them.  Mail that arrived during the session has no record yet
        and keeps none.
        """
        now = time.time() if now is None else now
        kept = {m.uid for i, m in enumerate(messages) if i not in deleted}
        with self.db.transaction() as db:
            stored = [uid for (uid,) in db.execute("SELECT uid FROM retrieved WHERE user = ?", (user,))]
            db.executemany("DELETE FROM retrieved WHERE user = ? AND uid = ?",
                           [(user, uid) for uid in stored if uid not in kept])
            # The first retrieval counts; a different message under a known UID starts afresh.
            db.executemany(
                "INSERT INTO retrieved (user, uid, size, at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT(user, uid) DO UPDATE SET size = excluded.size, at = excluded.at "
                "WHERE size != excluded.size",
                [(user, messages[i].uid, messages[i].size, now) for i in sorted(retrieved - deleted)])

    def first_retrieved(self, user: str) -> dict[str, float]:
        """UID -> time of first retrieval, for one user (for tests and inspection)."""
        return dict(self.db.query("SELECT uid, at FROM retrieved WHERE user = ?", (user,)))


class ExpiringMaildrop(Maildrop):
    """A maildrop whose UPDATE also keeps the retrieval log up to date.

    ``expired`` is worked out when the maildrop is opened; the session adds
    it to the deletions at QUIT.  A log that cannot be written never fails
    the UPDATE: the messages merely stay longer.
    """

    def __init__(self, inner: Maildrop, user: str, retrievals: RetrievalLog) -> None:
        self.inner = inner
        self.user = user
        self.retrievals = retrievals
        self._messages = inner.messages()
        try:
            self.expired = retrievals.expired(user, self._messages)
        except StoreError as exc:
            log.warn("EXPIRE not applied for {user}: {exc}", user=user, exc=exc)
            self.expired = frozenset()

    def messages(self) -> Sequence[MessageInfo]:
        return self._messages

    def open_message(self, index: int) -> MessageReader:
        return self.inner.open_message(index)

    def commit(self, deleted: frozenset[int], retrieved: frozenset[int]) -> None:
        self.inner.commit(deleted, retrieved)
        expired = len(self.expired & deleted)
        if expired:
            log.info("expired {count} messages of {user} retrieved {days} or more days ago",
                     count=expired, user=self.user, days=self.retrievals.days)
        try:
            self.retrievals.record(self.user, self._messages, deleted, retrieved)
        except StoreError as exc:
            log.warn("retrieval times not recorded for {user}: {exc}", user=self.user, exc=exc)

    def close(self) -> None:
        self.inner.close()
