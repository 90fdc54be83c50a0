"""Count pop3d's log events per user, per client address, per client and per hour.

What is counted, and from which lines:

* a *session* is a ``Stats:`` line (one per session that logged in, written
  when it ends); *deleted* messages and bytes come from it, and *left* is the
  maildrop after the user's latest session;
* *downloaded* (retrieved) messages are the distinct messages sent whole by
  RETR in a session.  Only ``-d`` logs them, so without debug lines the count
  is unknown (None), and bytes downloaded are never known; with POP3 clients
  that delete what they fetch, *deleted* is the volume downloaded;
* a *failed login* is a ``[AUTH] Failed attempted login`` line (bad
  credentials); a *refused login* is any other ``-ERR`` answer to a login
  (``[IN-USE]``, ``[LOGIN-DELAY]``, ``[SYS/TEMP]`` ...);
* a *client* is one user at one address; its polling interval is the median
  time between the ends of its consecutive sessions;
* monitor sessions (``Stats:`` lines marked ``monitor``) are counted apart and
  left out of every user, address, client and hourly count.
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from pop3d.report import events
from pop3d.report.syslog_lines import LogLine


@dataclass
class UserCounts:
    sessions: int = 0
    early_polls: int = 0
    failed_logins: int = 0
    refused_logins: int = 0
    deleted_messages: int = 0
    deleted_bytes: int = 0
    left_messages: int = 0
    left_bytes: int = 0
    #: When the latest session ended (for ``left``).
    last_seen: float = float("-inf")


@dataclass
class AddressCounts:
    sessions: int = 0
    failed_logins: int = 0
    refused_logins: int = 0
    deleted_messages: int = 0
    deleted_bytes: int = 0
    users: set[str] = field(default_factory=set)
    #: The latest host name the log gave for the address.
    host: str = ""


@dataclass
class LineCounts:
    """What happened to every line read."""

    read: int = 0
    pop3d: int = 0
    other_programs: int = 0
    #: Not a syslog line, or a pop3d line that starts like a known one but does not parse.
    malformed: int = 0
    #: pop3d lines the report has no use for (startup, warnings, other debug lines).
    unused: int = 0


@dataclass
class Tally:
    """Everything the report prints, accumulated one line at a time."""

    ident: str = "pop3d"
    lines: LineCounts = field(default_factory=LineCounts)
    users: dict[str, UserCounts] = field(default_factory=lambda: defaultdict(UserCounts))
    addresses: dict[str, AddressCounts] = field(default_factory=lambda: defaultdict(AddressCounts))
    #: Session end times per (user, address), monitors excluded.
    client_times: dict[tuple[str, str], list[float]] = field(default_factory=lambda: defaultdict(list))
    monitors: Counter[tuple[str, str]] = field(default_factory=Counter)
    monitor_users: set[str] = field(default_factory=set)
    logins: int = 0
    sessions_per_hour: Counter[int] = field(default_factory=Counter)
    failed_per_hour: Counter[int] = field(default_factory=Counter)
    sessions_per_day: Counter[str] = field(default_factory=Counter)
    refusal_codes: Counter[str] = field(default_factory=Counter)
    #: Debug lines: which user each connection logged in as, and the messages it sent whole.
    debug_seen: bool = False
    _connection_user: dict[tuple[str, str], str] = field(default_factory=dict)
    _connection_sent: dict[tuple[str, str], set[int]] = field(default_factory=lambda: defaultdict(set))
    _retrieved: Counter[str] = field(default_factory=Counter)
    first: datetime | None = None
    last: datetime | None = None

    def add_unparsed(self) -> None:
        self.lines.read += 1
        self.lines.malformed += 1

    def add(self, line: LogLine) -> None:
        """Count one parsed syslog line."""
        self.lines.read += 1
        if line.ident != self.ident:
            self.lines.other_programs += 1
            return
        self.lines.pop3d += 1
        self.first = line.wall if self.first is None else min(self.first, line.wall)
        self.last = line.wall if self.last is None else max(self.last, line.wall)
        event = events.parse_message(line.message)
        match event:
            case events.Session():
                self._session(line, event)
            case events.Login():
                self.logins += 1
            case events.FailedLogin():
                self.users[event.user].failed_logins += 1
                self._address(event.address, event.host).failed_logins += 1
                self.failed_per_hour[line.wall.hour] += 1
            case events.RefusedLogin():
                self.users[event.user].refused_logins += 1
                self._address(event.address, event.host).refused_logins += 1
                self.refusal_codes[event.code or "(none)"] += 1
            case events.DebugLogin():
                self.debug_seen = True
                key = (line.host, event.connection)
                self._finish_connection(key)  # a connection id seen again: pid reused
                self._connection_user[key] = event.user
            case events.Retrieved():
                self.debug_seen = True
                self._connection_sent[(line.host, event.connection)].add(event.number)
            case events.Malformed():
                self.lines.malformed += 1
            case _:
                self.lines.unused += 1

    def _address(self, address: str, host: str) -> AddressCounts:
        counts = self.addresses[address]
        if host and host != address:
            counts.host = host
        return counts

    def _session(self, line: LogLine, s: events.Session) -> None:
        if s.monitor:
            self.monitors[(s.user, s.address)] += 1
            self.monitor_users.add(s.user)
            return
        user = self.users[s.user]
        user.sessions += 1
        user.early_polls += s.poll
        user.deleted_messages += s.deleted_messages
        user.deleted_bytes += s.deleted_bytes
        if line.instant >= user.last_seen:
            user.last_seen = line.instant
            user.left_messages, user.left_bytes = s.left_messages, s.left_bytes
        address = self._address(s.address, s.host)
        address.sessions += 1
        address.users.add(s.user)
        address.deleted_messages += s.deleted_messages
        address.deleted_bytes += s.deleted_bytes
        self.client_times[(s.user, s.address)].append(line.instant)
        self.sessions_per_hour[line.wall.hour] += 1
        self.sessions_per_day[line.wall.date().isoformat()] += 1

    def _finish_connection(self, key: tuple[str, str]) -> None:
        user = self._connection_user.pop(key, None)
        sent = self._connection_sent.pop(key, set())
        if user is not None:
            self._retrieved[user] += len(sent)

    def retrieved_by_user(self) -> Counter[str]:
        """Distinct messages sent whole per session, summed per user (``-d`` lines)."""
        for key in list(self._connection_user):
            self._finish_connection(key)
        return Counter(self._retrieved)


@dataclass(frozen=True)
class Client:
    user: str
    address: str
    sessions: int
    #: Median seconds between consecutive sessions (None with fewer than two).
    median_interval: float | None


def polling_clients(tally: Tally) -> list[Client]:
    """Clients, the most frequent pollers first (ties: the shorter interval first)."""
    clients = []
    for (user, address), times in tally.client_times.items():
        times = sorted(times)
        gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
        clients.append(Client(user, address, len(times), statistics.median(gaps) if gaps else None))
    return sorted(clients, key=lambda c: (-c.sessions, c.median_interval if c.median_interval is not None
                                          else float("inf"), c.user, c.address))
