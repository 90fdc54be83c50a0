"""Build the log writers the command line asks for, and point Twisted's log at them."""

from __future__ import annotations

import argparse
import os
import stat
import sys
from dataclasses import dataclass, field

from twisted.logger import ILogObserver, LogLevel, globalLogBeginner, textFileLogObserver

from pop3d import __version__
from pop3d.config.logging_options import FACILITIES
from pop3d.config.model import LoggingConfig
from pop3d.logs.debug import DebugLog
from pop3d.logs.stats import StatsLog
from pop3d.logs.syslog_writer import SyslogWriter
from pop3d.logs.trace import TraceFile, TraceLog
from pop3d.logs.twisted_bridge import SyslogBridge
from pop3d.server.observers import ObserverSet


class TraceFileError(Exception):
    """The ``-t`` file cannot be opened."""


@dataclass
class Logs:
    """The writers one server process uses."""

    writer: SyslogWriter
    observers: ObserverSet
    trace: TraceFile | None = None
    twisted_observers: list[ILogObserver] = field(default_factory=list)

    def reconfigure(self, options: LoggingConfig) -> None:
        """A reloaded configuration may name another ident, facility or socket."""
        self.writer.reconfigure(options.ident, FACILITIES[options.facility], options.syslog_socket)


def fd_is_socket(fd: int) -> bool:
    try:
        return stat.S_ISSOCK(os.fstat(fd).st_mode)
    except OSError:
        return False


def build_logs(options: LoggingConfig, args: argparse.Namespace, inetd: bool) -> Logs:
    """Writers for ``-s``, ``-d`` and ``-t``; under inetd nothing is written to the client's socket."""
    stderr_usable = not (inetd and fd_is_socket(2))
    writer = SyslogWriter(options.ident, FACILITIES[options.facility], options.syslog_socket,
                          sys.stderr if stderr_usable else None)
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
        twisted_observers.append(textFileLogObserver(sys.stderr))
    if inetd or getattr(args, "stats", False) or getattr(args, "debug", False):
        level = LogLevel.info if getattr(args, "debug", False) else LogLevel.warn
        twisted_observers.append(SyslogBridge(writer, level))
    return Logs(writer, observers, trace, twisted_observers)


def begin_logging(logs: Logs) -> None:
    """Send Twisted's log events (the server's warnings and failures) to ``logs``."""
    globalLogBeginner.beginLoggingTo(logs.twisted_observers, redirectStandardIO=False)
