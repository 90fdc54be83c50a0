"""Send lines to syslog, or to standard error when there is no syslog.

Python's ``syslog`` module drops lines silently when ``/dev/log`` is missing,
and always talks to ``/dev/log``; this writer talks to a configured socket,
notices when nobody listens, and then falls back to standard error, saying
so once per outage.  Logging never raises into a session, and a message is
always one line: any control or separator character left in it is escaped.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from typing import TextIO

from pop3d.logs.escape import one_line

# syslog(3) severities (RFC 5424 section 6.2.1).
LOG_ERR = 3
LOG_WARNING = 4
LOG_NOTICE = 5
LOG_INFO = 6
LOG_DEBUG = 7

#: Longest message sent in one datagram (RFC 5426 asks receivers for at least 2048 octets).
MAX_MESSAGE = 1900


class SyslogWriter:
    """Writes ``ident[pid]: message`` lines to one facility of a syslog socket."""

    def __init__(self, ident: str, facility: int, socket_path: str, fallback: TextIO | None) -> None:
        self.ident = ident
        self.facility = facility
        self.socket_path = socket_path
        #: Where lines go when syslog is unavailable (None: dropped, e.g. under inetd).
        self.fallback = fallback
        self._sock: socket.socket | None = None
        self._unavailable = False
        self._lock = threading.Lock()

    def reconfigure(self, ident: str, facility: int, socket_path: str) -> None:
        """Take new settings (on reload); the next line reconnects if the socket moved."""
        with self._lock:
            if socket_path != self.socket_path:
                self._disconnect()
            self.ident, self.facility, self.socket_path = ident, facility, socket_path

    def write(self, severity: int, message: str) -> None:
        """Log one line; never raises."""
        message = one_line(message)[:MAX_MESSAGE]
        stamp = time.strftime("%b %e %H:%M:%S", time.localtime())
        record = f"<{self.facility * 8 + severity}>{stamp} {self.ident}[{os.getpid()}]: {message}"
        with self._lock:
            if self._send(record.encode("utf-8", "replace")):
                self._unavailable = False
                return
            if not self._unavailable:
                self._unavailable = True
                self._to_fallback(f"pop3d: syslog is unavailable at {self.socket_path}; "
                                  "logging to standard error instead")
            self._to_fallback(f"{self.ident}[{os.getpid()}]: {message}")

    def _send(self, data: bytes) -> bool:
        for _ in range(2):  # a second try after reconnecting (syslogd restarted)
            try:
                if self._sock is None:
                    self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
                    self._sock.connect(self.socket_path)
                self._sock.send(data)
                return True
            except OSError:
                self._disconnect()
        return False

    def _disconnect(self) -> None:
        if self._sock is not None:
            try:
                self._sock.close()
            finally:
                self._sock = None

    def _to_fallback(self, line: str) -> None:
        stream = self.fallback
        if stream is None:
            return
        try:
            stream.write(line + "\n")
            stream.flush()
        except (OSError, ValueError):
            pass

    def close(self) -> None:
        with self._lock:
            self._disconnect()
