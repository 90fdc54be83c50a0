"""Build mail.log lines for the pop3d-stats tests, with the messages pop3d itself writes.

The messages are written by the code itself (:mod:`pop3d.logs.stats` for
``-s``, :mod:`pop3d.logs.debug` for ``-d``), so a change of format there shows
up here.
"""

from __future__ import annotations

from datetime import datetime

from pop3d import __version__
from pop3d.logs.debug import DebugLog
from pop3d.logs.stats import StatsLog, failed_login_line, login_line, stats_line
from pop3d.server.observers import ConnectionInfo, SessionSummary


def traditional(when: datetime, message: str, ident: str = "pop3d", pid: int = 4242,
                host: str = "mail") -> str:
    """``May  1 08:00:01 mail pop3d[4242]: message`` (RSYSLOG_TraditionalFileFormat)."""
    return f"{when:%b} {when.day:2d} {when:%H:%M:%S} {host} {ident}[{pid}]: {message}"


def rfc3339(when: datetime, message: str, ident: str = "pop3d", pid: int = 4242, host: str = "mail") -> str:
    """``2024-05-01T08:00:01.123456+02:00 mail pop3d[4242]: message`` (RSYSLOG_FileFormat)."""
    return f"{when.isoformat(timespec='microseconds')} {host} {ident}[{pid}]: {message}"


def stats(user: str, deleted: int = 0, deleted_bytes: int = 0, left: int = 0, left_bytes: int = 0,
          host: str = "client.example", ip: str = "192.0.2.7", monitor: bool = False,
          poll: bool = False) -> str:
    summary = SessionSummary(user, True, deleted, deleted_bytes, left, left_bytes, monitor=monitor, poll=poll)
    return stats_line(user, summary, host, ip)


def login(user: str, host: str = "client.example", ip: str = "192.0.2.7") -> str:
    return login_line(__version__, user, host, ip)


def failed(user: str, host: str = "client.example", ip: str = "192.0.2.7") -> str:
    return failed_login_line(user, host, ip)


class _Capture:
    """Stands in for the SyslogWriter: keeps the last message written."""

    def __init__(self) -> None:
        self.message = ""

    def write(self, severity: int, message: str) -> None:
        self.message = message


def _conn(connection: str = "4242-1", host: str = "client.example", ip: str = "192.0.2.7") -> ConnectionInfo:
    return ConnectionInfo(connection, ip, 40000, host)


def refused(user: str, code: str, reason: str, host: str = "client.example", ip: str = "192.0.2.7") -> str:
    """What ``-s`` writes for a login refused with another code than ``[AUTH]``."""
    capture = _Capture()
    StatsLog(capture, __version__).login_failed(  # type: ignore[arg-type]
        _conn(host=host, ip=ip), user, "USER", code, reason, 0.0)
    return capture.message


def debug_login(connection: str, user: str, mechanism: str = "USER") -> str:
    capture = _Capture()
    DebugLog(capture).login_succeeded(_conn(connection), user, mechanism, 0.004)  # type: ignore[arg-type]
    return capture.message


def debug_sent(connection: str, number: int, body_lines: int | None = None) -> str:
    """``-d``'s line for RETR (``body_lines`` None) or TOP."""
    capture = _Capture()
    DebugLog(capture).message_sent(_conn(connection), number, body_lines)  # type: ignore[arg-type]
    return capture.message
