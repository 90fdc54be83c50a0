"""Slow down password guessing: delay every failed login, more for repeat offenders.

Each failed attempt from a client address is answered only after a delay:
``failure_delay`` seconds for the first, doubling for each further failure
from that address, up to ``max_failure_delay``.  An address's record is
forgotten ``forget_failures_after`` seconds after its last failure.  Trusted
networks get no delay.  The delay is counted from the moment the
credentials arrived, so a quick "unknown user" and a slow hash check both
answer at the same instant; the adapter waits with ``callLater``, never by
blocking the reactor.

One process per connection (inetd) or several workers would each count
only their own failures, so there :class:`SharedFailureThrottle` keeps the
counts in ``failures.sqlite3`` in the state folder, shared by every process
(blocking: the adapter calls it from a worker thread).
"""

from __future__ import annotations

import ipaddress
import time
from collections import OrderedDict
from collections.abc import Callable

from twisted.logger import Logger

from pop3d.config.auth import AuthConfig
from pop3d.statedb import StoreError, shared

log = Logger()

#: Addresses remembered at once; the stalest is dropped beyond this.
MAX_TRACKED = 50_000


class FailureThrottle:
    """Failure counts in this process's memory."""

    #: record_failure does blocking I/O (call it from a thread).
    blocking = False

    def __init__(self, config: AuthConfig, clock: Callable[[], float] = time.monotonic,
                 max_tracked: int = MAX_TRACKED) -> None:
        self.config = config
        self.clock = clock
        self.max_tracked = max_tracked
        #: address -> (failures, time of the last one), oldest first.
        self._failures: OrderedDict[str, tuple[int, float]] = OrderedDict()

    def trusted(self, host: str | None) -> bool:
        if host is None or not self.config.trusted_networks:
            return False
        try:
            address = ipaddress.ip_address(host.split("%", 1)[0])
        except ValueError:
            return False
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        return any(address in network for network in self.config.trusted_networks)

    def failures(self, host: str) -> int:
        """Failures remembered for ``host`` now."""
        entry = self._failures.get(host)
        if entry is None:
            return 0
        count, last = entry
        if self.clock() - last > self.config.forget_failures_after:
            del self._failures[host]
            return 0
        return count

    def record_failure(self, host: str | None) -> float:
        """Note a failed login from ``host``; return the seconds its answer must wait."""
        if self.trusted(host):
            return 0.0
        key = host or "?"
        count = self.failures(key) + 1
        self._failures[key] = (count, self.clock())
        self._failures.move_to_end(key)
        while len(self._failures) > self.max_tracked:
            self._failures.popitem(last=False)
        return self.delay(count)

    def delay(self, count: int) -> float:
        """The wait for an address's ``count``-th failure in a row."""
        base, cap = self.config.failure_delay, self.config.max_failure_delay
        return min(base * 2 ** min(count - 1, 32), cap)


FAILURES_DB = "failures.sqlite3"
FAILURES_SCHEMA = """
CREATE TABLE IF NOT EXISTS failures (host TEXT PRIMARY KEY, count INTEGER NOT NULL, at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS failures_at ON failures (at);
"""


class SharedFailureThrottle(FailureThrottle):
    """Failure counts shared by every pop3d process using the same state folder.

    Falls back to this process's memory, with a warning, if the database
    cannot be used: a broken store never stops the delays altogether.
    """

    blocking = True

    def __init__(self, config: AuthConfig, state_dir: str, clock: Callable[[], float] = time.time) -> None:
        super().__init__(config, clock)
        self.db = shared(state_dir, FAILURES_DB, FAILURES_SCHEMA)

    def record_failure(self, host: str | None) -> float:
        if self.trusted(host):
            return 0.0
        key = host or "?"
        now = self.clock()
        try:
            with self.db.transaction() as db:
                row = db.execute("SELECT count, at FROM failures WHERE host = ?", (key,)).fetchone()
                fresh = row is not None and 0 <= now - row[1] <= self.config.forget_failures_after
                count = row[0] + 1 if fresh else 1
                db.execute("INSERT INTO failures (host, count, at) VALUES (?, ?, ?) ON CONFLICT(host) "
                           "DO UPDATE SET count = excluded.count, at = excluded.at", (key, count, now))
                # Forget stale addresses now and then, so the table stays small.
                if count == 1:
                    stale = now - self.config.forget_failures_after
                    db.execute("DELETE FROM failures WHERE at < ?", (stale,))
        except StoreError as exc:
            log.warn("failure delays counted per process: {exc}", exc=exc)
            return super().record_failure(host)
        return self.delay(count)


def build_throttle(config: AuthConfig, state_dir: str, shared_between_processes: bool) -> FailureThrottle:
    """The shared throttle where several processes serve (inetd, workers), else the in-memory one."""
    if shared_between_processes:
        try:
            return SharedFailureThrottle(config, state_dir)
        except StoreError as exc:
            log.warn("failure delays counted per process: {exc}", exc=exc)
    return FailureThrottle(config)
