"""Split one mail.log line into its time stamp, host, ident, pid and message.

Two layouts are read, the two rsyslog writes to files:

* traditional (``RSYSLOG_TraditionalFileFormat``, sysklogd, syslog-ng's default):
  ``May  1 12:34:56 mailhost pop3d[123]: message``, local time, no year;
* RFC 3339 (``RSYSLOG_FileFormat``, rsyslog's modern default):
  ``2024-05-01T12:34:56.123456+02:00 mailhost pop3d[123]: message``.

A traditional time stamp has no year.  It is taken from a reference time (the
log file's modification time): the line gets the latest year that does not put
it more than a day after the reference, so a log that runs from December into
January gets both years right.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

MONTHS = {name: n for n, name in enumerate(
    ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), start=1)}

_TAG = r"(?P<host>\S+) (?P<ident>[^\s\[\]:]+)(?:\[(?P<pid>\d+)\])?: ?(?P<message>.*)"
_TRADITIONAL = re.compile(
    r"(?P<mon>[A-Z][a-z]{2}) {1,2}(?P<day>\d{1,2}) (?P<h>\d\d):(?P<m>\d\d):(?P<s>\d\d) " + _TAG)
_RFC3339 = re.compile(
    r"(?P<stamp>\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:\.\d{1,9})?(?:Z|[+-]\d\d:?\d\d)?) " + _TAG)
#: A clock may run a little ahead of the file's modification time (buffered writes).
_SLACK = timedelta(days=1)


@dataclass(frozen=True)
class LogLine:
    """One parsed line."""

    #: The clock time as written in the log (no time zone): for per-hour and per-day counts.
    wall: datetime
    #: Seconds since the epoch: for intervals between sessions.
    instant: float
    host: str
    ident: str
    pid: int | None
    message: str


def parse_line(text: str, reference: datetime) -> LogLine | None:
    """The parts of ``text``, or None if it is not a syslog line in either layout.

    ``reference`` is a naive local time no earlier than the line was written.
    """
    match = _TRADITIONAL.fullmatch(text)
    if match is not None:
        wall = _traditional_time(match, reference)
        if wall is None:
            return None
        instant = wall.timestamp()
    else:
        match = _RFC3339.fullmatch(text)
        if match is None:
            return None
        stamped = _rfc3339_time(match["stamp"])
        if stamped is None:
            return None
        wall = stamped.replace(tzinfo=None)
        instant = stamped.timestamp()
    pid = match["pid"]
    return LogLine(wall, instant, match["host"], match["ident"], int(pid) if pid else None,
                   match["message"])


def _traditional_time(match: re.Match[str], reference: datetime) -> datetime | None:
    month = MONTHS.get(match["mon"])
    if month is None:
        return None
    parts = (month, int(match["day"]), int(match["h"]), int(match["m"]), int(match["s"]))
    # Four years back reaches a leap year for 29 February.
    for year in range(reference.year, reference.year - 5, -1):
        try:
            when = datetime(year, *parts)
        except ValueError:
            continue
        if when <= reference + _SLACK:
            return when
    return None


def _rfc3339_time(stamp: str) -> datetime | None:
    """Python 3.11 reads every RFC 3339 variant rsyslog writes (``Z``, nanoseconds)."""
    try:
        return datetime.fromisoformat(stamp)
    except ValueError:
        return None
