"""A small SQLite database in pop3d's state folder, shared by every process.

Used for the last-login times (LOGIN-DELAY) and the first-retrieval times
(EXPIRE).  Each process opens one connection when it starts, while it still
has the rights it started with (root, before ``run_as`` or before an inetd
process becomes the mail user), and keeps it: all later reads and writes go
through the files already open, so the folder can stay private to root.
The database is in WAL mode with a busy timeout, so any number of server
processes read and write it at once; inside a process one lock serialises
the connection's users.  Blocking I/O: call from a worker thread.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import time
from collections.abc import Iterator


class StoreError(Exception):
    """The state database cannot be opened, read or written."""


class StateDatabase:
    """One database file; use :func:`shared` so that a process opens each file once."""

    def __init__(self, state_dir: str, name: str, schema: str, busy_timeout: float = 10.0) -> None:
        self.path = os.path.join(state_dir, name)
        self.busy_timeout = busy_timeout
        self._lock = threading.Lock()
        try:
            os.makedirs(state_dir, mode=0o750, exist_ok=True)
            self._db = self._open(schema)
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"cannot open {self.path}: {exc}") from exc

    def _open(self, schema: str) -> sqlite3.Connection:
        """Connect, switch to WAL and create the schema, racing other processes safely.

        Changing the journal mode does not wait on the busy handler, so a
        process starting while another one sets up the file retries briefly.
        The final read opens the WAL and shared-memory files too, so nothing
        needs opening after the process gives up its rights.
        """
        deadline = time.monotonic() + self.busy_timeout
        while True:
            db = sqlite3.connect(self.path, timeout=self.busy_timeout, isolation_level=None,
                                 check_same_thread=False)
            try:
                db.execute("PRAGMA journal_mode=WAL")
                db.execute("PRAGMA synchronous=NORMAL")
                db.executescript(schema)
                db.execute("SELECT count(*) FROM sqlite_master").fetchone()
                return db
            except sqlite3.OperationalError as exc:
                db.close()
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
            except BaseException:
                db.close()
                raise
            time.sleep(0.01)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE`` ... ``COMMIT`` (rolled back on error); errors become StoreError."""
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    yield self._db
                    self._db.execute("COMMIT")
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
            except sqlite3.Error as exc:
                raise StoreError(f"{self.path}: {exc}") from exc

    def query(self, sql: str, args: tuple[object, ...] = ()) -> list[tuple]:
        """Run one read-only statement and return its rows."""
        with self._lock:
            try:
                return self._db.execute(sql, args).fetchall()
            except sqlite3.Error as exc:
                raise StoreError(f"{self.path}: {exc}") from exc

    def close(self) -> None:
        with _OPEN_LOCK:
            if _OPEN.get(os.path.realpath(self.path)) is self:
                del _OPEN[os.path.realpath(self.path)]
        with self._lock:
            self._db.close()


_OPEN: dict[str, StateDatabase] = {}
_OPEN_LOCK = threading.Lock()


def shared(state_dir: str, name: str, schema: str, busy_timeout: float = 10.0) -> StateDatabase:
    """The process's connection to ``state_dir/name``, opened on first use.

    A reload (SIGHUP) builds new stores after the process may have given up
    root: they reuse the connection opened at start instead of failing to
    open the root-only folder again.
    """
    path = os.path.realpath(os.path.join(state_dir, name))
    with _OPEN_LOCK:
        db = _OPEN.get(path)
        if db is None:
            db = _OPEN[path] = StateDatabase(state_dir, name, schema, busy_timeout)
        return db
