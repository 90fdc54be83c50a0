"""Slow down password guessing: delay every failed login, more for repeat offenders.

Failures are counted per client (an IPv4 address or an IPv6 /64, see
:mod:`pop3d.auth.client_key`) and user name, and per client for all names
together, as Dovecot's anvil keeps its penalties.  A failed attempt waits
``failure_delay`` seconds, doubling for each further failure of that name
from that client, up to ``max_failure_delay``; the client as a whole only
starts to double once its failures for all names pass
``address_failure_allowance``, so one misconfigured mail client behind a NAT
does not make everybody there wait the longest delay, while trying many
names from one address still slows down.  A successful login clears that
name's failures from that client (its count for all names stays).  Records are forgotten
``forget_failures_after`` seconds after their last failure; trusted networks
get no delay.  The delay is counted from the moment the credentials
arrived, so a quick "unknown user" and a slow hash check answer at the
same instant; the adapter waits with ``callLater``, never by blocking the
reactor.

One process per connection (inetd) or several workers would each count
only their own failures, so there :class:`SharedFailureThrottle` keeps the
counts in ``failures.sqlite3`` in the state folder, shared by every process
(blocking: :meth:`FailureThrottle.failed` and :meth:`FailureThrottle.succeeded`
run it in a worker thread).
"""

from __future__ import annotations

import ipaddress
import time
from collections import OrderedDict
from collections.abc import Callable

from twisted.internet import defer, threads
from twisted.logger import Logger

from pop3d.auth.client_key import client_key
from pop3d.config.auth import AuthConfig
from pop3d.statedb import StoreError, shared

log = Logger()

#: Records remembered at once; the stalest is dropped beyond this.
MAX_TRACKED = 50_000
#: The user name a failure without one is counted under.
NO_NAME = ""


class FailureThrottle:
    """Failure counts in this process's memory."""

    #: record_failure and record_success do blocking I/O (the Deferred helpers use a thread).
    blocking = False

    def __init__(self, config: AuthConfig, clock: Callable[[], float] = time.monotonic,
                 max_tracked: int = MAX_TRACKED) -> None:
        self.config = config
        self.clock = clock
        self.max_tracked = max_tracked
        #: (client, user name or None for the client as a whole) -> (failures, time of the last one).
        self._failures: OrderedDict[tuple[str, str | None], tuple[int, float]] = OrderedDict()

    def key(self, host: str | None) -> str:
        return client_key(host, self.config.ipv6_prefix)

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

    # -- for the adapter: never blocks the reactor -------------------------

    def failed(self, host: str | None, user: str | None) -> defer.Deferred[float]:
        """:meth:`record_failure`, in a thread if it blocks."""
        if self.blocking:
            return threads.deferToThread(self.record_failure, host, user)
        return defer.succeed(self.record_failure(host, user))

    def succeeded(self, host: str | None, user: str) -> defer.Deferred[None]:
        """:meth:`record_success`, in a thread if it blocks."""
        if self.blocking:
            return threads.deferToThread(self.record_success, host, user)
        return defer.succeed(self.record_success(host, user))

    # -- the rule ----------------------------------------------------------

    def record_failure(self, host: str | None, user: str | None = None) -> float:
        """Note a failed login as ``user`` from ``host``; return the seconds its answer must wait."""
        if self.trusted(host):
            return 0.0
        name_count, client_count = self.count_failure(self.key(host), user or NO_NAME, self.clock())
        return self.wait(name_count, client_count)

    def record_success(self, host: str | None, user: str) -> None:
        """``user`` logged in from ``host``: forget that name's failures there."""
        if not self.trusted(host):
            self.clear_failures(self.key(host), user, self.clock())

    def wait(self, name_count: int, client_count: int) -> float:
        """The wait for a name's ``name_count``-th failure, the client's ``client_count``-th."""
        beyond = client_count - self.config.address_failure_allowance
        return max(self.delay(name_count), self.delay(beyond) if beyond > 0 else 0.0)

    def delay(self, count: int) -> float:
        """``failure_delay`` doubled for each failure after the first, at most ``max_failure_delay``."""
        base, cap = self.config.failure_delay, self.config.max_failure_delay
        return min(base * 2 ** min(count - 1, 32), cap)

    # -- storage (in memory here) ------------------------------------------

    def failures(self, host: str, user: str | None = None) -> int:
        """Failures remembered now for ``user`` from ``host`` (None: for all names there)."""
        return self._fresh((self.key(host), user), self.clock())

    def count_failure(self, client: str, user: str, now: float) -> tuple[int, int]:
        """Add one failure; return the counts for the name and for the client after it."""
        counts = []
        for record in ((client, user), (client, None)):
            count = self._fresh(record, now) + 1
            self._failures[record] = (count, now)
            self._failures.move_to_end(record)
            counts.append(count)
        while len(self._failures) > self.max_tracked:
            self._failures.popitem(last=False)
        return counts[0], counts[1]

    def clear_failures(self, client: str, user: str, now: float) -> None:
        """Drop the name's failures (the client's count for all names stays)."""
        self._failures.pop((client, user), None)

    def _fresh(self, record: tuple[str, str | None], now: float) -> int:
        entry = self._failures.get(record)
        if entry is None:
            return 0
        count, last = entry
        if not 0 <= now - last <= self.config.forget_failures_after:
            del self._failures[record]
            return 0
        return count


FAILURES_DB = "failures.sqlite3"
FAILURES_SCHEMA = """
CREATE TABLE IF NOT EXISTS failures (host TEXT PRIMARY KEY, count INTEGER NOT NULL, at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS failures_at ON failures (at);
CREATE TABLE IF NOT EXISTS name_failures (host TEXT NOT NULL, user TEXT NOT NULL,
    count INTEGER NOT NULL, at REAL NOT NULL, PRIMARY KEY (host, user));
CREATE INDEX IF NOT EXISTS name_failures_at ON name_failures (at);
"""


class SharedFailureThrottle(FailureThrottle):
    """Failure counts shared by every pop3d process using the same state folder.

    ``failures`` holds each client's count for all names, ``name_failures``
    the count per client and name.  Falls back to this process's memory,
    with a warning, if the database cannot be used: a broken store never
    stops the delays altogether.
    """

    blocking = True

    def __init__(self, config: AuthConfig, state_dir: str, clock: Callable[[], float] = time.time) -> None:
        super().__init__(config, clock)
        self.db = shared(state_dir, FAILURES_DB, FAILURES_SCHEMA)

    def count_failure(self, client: str, user: str, now: float) -> tuple[int, int]:
        forget = self.config.forget_failures_after
        try:
            with self.db.transaction() as db:
                row = db.execute("SELECT count, at FROM name_failures WHERE host = ? AND user = ?",
                                 (client, user)).fetchone()
                name_count = row[0] + 1 if row is not None and 0 <= now - row[1] <= forget else 1
                db.execute("INSERT OR REPLACE INTO name_failures (host, user, count, at) VALUES (?, ?, ?, ?)",
                           (client, user, name_count, now))
                row = db.execute("SELECT count, at FROM failures WHERE host = ?", (client,)).fetchone()
                client_count = row[0] + 1 if row is not None and 0 <= now - row[1] <= forget else 1
                db.execute("INSERT OR REPLACE INTO failures (host, count, at) VALUES (?, ?, ?)",
                           (client, client_count, now))
                if client_count == 1:  # now and then, forget stale records so the tables stay small
                    db.execute("DELETE FROM failures WHERE at < ?", (now - forget,))
                    db.execute("DELETE FROM name_failures WHERE at < ?", (now - forget,))
        except StoreError as exc:
            log.warn("failure delays counted per process: {exc}", exc=exc)
            return super().count_failure(client, user, now)
        return name_count, client_count

    def clear_failures(self, client: str, user: str, now: float) -> None:
        try:
            with self.db.transaction() as db:
                db.execute("DELETE FROM name_failures WHERE host = ? AND user = ?", (client, user))
        except StoreError as exc:
            log.warn("failure delays counted per process: {exc}", exc=exc)
            super().clear_failures(client, user, now)


def build_throttle(config: AuthConfig, state_dir: str, shared_between_processes: bool) -> FailureThrottle:
    """The shared throttle where several processes serve (inetd, workers), else the in-memory one."""
    if shared_between_processes:
        try:
            return SharedFailureThrottle(config, state_dir)
        except StoreError as exc:
            log.warn("failure delays counted per process: {exc}", exc=exc)
    return FailureThrottle(config)
