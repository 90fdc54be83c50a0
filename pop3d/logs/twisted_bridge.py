"""Forward the server's own log events (warnings, failures) to syslog.

Under inetd standard error is the client's socket, so these must go to
syslog; standalone they go there too when ``-s`` or ``-d`` is given, so an
administrator reading mail.log sees what went wrong.
"""

from __future__ import annotations

from twisted.logger import ILogObserver, LogLevel, formatEvent
from zope.interface import implementer

from pop3d.logs.syslog_writer import LOG_DEBUG, LOG_ERR, LOG_INFO, LOG_NOTICE, LOG_WARNING, SyslogWriter

_SEVERITY = {
    LogLevel.debug: LOG_DEBUG,
    LogLevel.info: LOG_INFO,
    LogLevel.warn: LOG_WARNING,
    LogLevel.error: LOG_ERR,
    LogLevel.critical: LOG_ERR,
}
_ORDER = [LogLevel.debug, LogLevel.info, LogLevel.warn, LogLevel.error, LogLevel.critical]


@implementer(ILogObserver)
class SyslogBridge:
    """A Twisted log observer writing events at ``min_level`` or above as one line each."""

    def __init__(self, writer: SyslogWriter, min_level: LogLevel = LogLevel.warn) -> None:
        self.writer = writer
        self.min_level = min_level

    def __call__(self, event: dict) -> None:
        level = event.get("log_level", LogLevel.info)
        if _ORDER.index(level) < _ORDER.index(self.min_level):
            return
        text = formatEvent(event)
        failure = event.get("log_failure")
        if failure is not None:
            text = f"{text}: {failure.type.__name__}: {failure.getErrorMessage()}"
        self.writer.write(_SEVERITY.get(level, LOG_NOTICE), text)
