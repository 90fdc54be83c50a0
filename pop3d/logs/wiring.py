"""Build the log writers the command line asks for, and point Twisted's log at them.

Warnings and errors always go to syslog, with or without ``-s``, and to
standard error when it is not the client's socket.  While syslog is
unavailable, lines go to ``logging.fallback_file`` if configured, else to
standard error, or, under inetd, where standard error is the client's socket,
errors go to the console as syslog(3)'s LOG_CONS does.  Fallback files are
opened at start, so they still work once the process has given up root.
"""

from __future__ import annotations

import argparse
import os
import stat
import sys
from dataclasses import dataclass, field
from typing import TextIO

from twisted.logger import (
    FilteringLogObserver,
    ILogObserver,
    LogLevel,
    PredicateResult,
    globalLogBeginner,
    textFileLogObserver,
)

from pop3d import __version__
from pop3d.config.logging_options import FACILITIES
from pop3d.config.model import LoggingConfig
from pop3d.logs.debug import DebugLog
from pop3d.logs.stats import StatsLog
from pop3d.logs.syslog_writer import SyslogWriter
from pop3d.logs.trace import TraceFile, TraceLog
from pop3d.logs.twisted_bridge import SyslogBridge
from pop3d.server.observers import ObserverSet

#: syslog(3)'s last resort (LOG_CONS) for errors under inetd without syslog.
CONSOLE = "/dev/console"


class TraceFileError(Exception):
    """The ``-t`` file cannot be opened."""


@dataclass
class Logs:
    """The writers one server process uses."""

    writer: SyslogWriter
    observers: ObserverSet
    trace: TraceFile | None = None
    twisted_observers: list[ILogObserver] = field(default_factory=list)
    #: The writer of the server's warnings and errors (its fallback differs from ``writer``'s).
    error_writer: SyslogWriter | None = None

    def reconfigure(self, options: LoggingConfig) -> None:
        """A reloaded configuration may name another ident, facility or socket."""
        for writer in {id(w): w for w in (self.writer, self.error_writer) if w is not None}.values():
            writer.reconfigure(options.ident, FACILITIES[options.facility], options.syslog_socket)


def fd_is_socket(fd: int) -> bool:
    try:
        return stat.S_ISSOCK(os.fstat(fd).st_mode)
    except OSError:
        return False


def open_fallback(path: str) -> TextIO | None:
    """``path`` opened for appending now, while the process may still be root; None if it cannot be."""
    flags = os.O_WRONLY | os.O_APPEND | os.O_NOCTTY | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        fd = os.open(path, flags if path == CONSOLE else flags | os.O_CREAT, 0o600)
    except OSError:
        return None
    return os.fdopen(fd, "a", buffering=1, errors="replace")


def build_logs(options: LoggingConfig, args: argparse.Namespace, inetd: bool) -> Logs:
    """Writers for ``-s``, ``-d`` and ``-t``; under inetd nothing is written to the client's socket."""
    stderr_usable = not (inetd and fd_is_socket(2))
    facility = FACILITIES[options.facility]
    configured = open_fallback(options.fallback_file) if options.fallback_file else None
    writer = SyslogWriter(options.ident, facility, options.syslog_socket,
                          configured or (sys.stderr if stderr_usable else None))
    if configured is not None:
        error_writer = writer
    else:  # standalone, standard error shows the errors already; under inetd, the console
        error_writer = SyslogWriter(options.ident, facility, options.syslog_socket,
                                    None if stderr_usable else open_fallback(CONSOLE))
    observers = ObserverSet()
    if getattr(args, "stats", False):
        observers.observers.append(StatsLog(writer, __version__))
    if getattr(args, "debug", False):
        observers.observers.append(DebugLog(writer))
    trace = None
    if getattr(args, "trace", None):
        try:
            trace = TraceFile(args.trace)
        except OSError as exc:
            raise TraceFileError(f"cannot open trace file {args.trace}: {exc.strerror or exc}") from None
        observers.observers.append(TraceLog(trace))
    twisted_observers: list[ILogObserver] = []
    if stderr_usable:
        twisted_observers.append(FilteringLogObserver(textFileLogObserver(sys.stderr), [pop3d_or_warning]))
    level = LogLevel.info if getattr(args, "debug", False) else LogLevel.warn
    twisted_observers.append(SyslogBridge(error_writer, level))
    return Logs(writer, observers, trace, twisted_observers, error_writer)


def pop3d_or_warning(event: dict) -> PredicateResult:
    """Standard error shows pop3d's own lines and everyone's warnings, not Twisted's chatter."""
    if str(event.get("log_namespace", "")).startswith("pop3d") or \
            event.get("log_level", LogLevel.info) >= LogLevel.warn:
        return PredicateResult.maybe
    return PredicateResult.no


def begin_logging(logs: Logs) -> None:
    """Send Twisted's log events (the server's warnings and failures) to ``logs``."""
    globalLogBeginner.beginLoggingTo(logs.twisted_observers, redirectStandardIO=False)
