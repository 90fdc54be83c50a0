"""``-d``: debugging as in pop3d(8): SO_DEBUG on each connection, debug lines to syslog.

The lines show each command (secrets redacted), each state change, and how
long a login took to check the credentials and open and lock the maildrop,
which is where lock waits show up.
"""

from __future__ import annotations

import socket

from pop3d.core.states import State
from pop3d.logs.escape import escape, escape_word, login_as, tls_summary
from pop3d.logs.redact import redact_line
from pop3d.logs.syslog_writer import LOG_DEBUG, SyslogWriter
from pop3d.server.observers import ConnectionInfo, SessionObserver, SessionSummary


def set_so_debug(sock: socket.socket) -> str | None:
    """Turn on SO_DEBUG; the reason it was refused, or None."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_DEBUG, 1)
    except OSError as exc:
        return exc.strerror or str(exc)
    return None


class DebugLog(SessionObserver):
    """Writes debug lines for every connection to syslog at priority debug."""

    def __init__(self, writer: SyslogWriter) -> None:
        self.writer = writer
        self._so_debug_refused = False

    def _say(self, conn: ConnectionInfo, text: str) -> None:
        self.writer.write(LOG_DEBUG, f"debug: [{conn.id}] {text}")

    def connection_opened(self, conn: ConnectionInfo) -> None:
        self._say(conn, f"connection from {conn.peer_ip} port {conn.peer_port}")
        if conn.handle is not None:
            refused = set_so_debug(conn.handle)
            if refused is not None and not self._so_debug_refused:
                self._so_debug_refused = True
                self._say(conn, f"SO_DEBUG not set: {refused} (needs CAP_NET_ADMIN); continuing without it")

    def line_received(self, conn: ConnectionInfo, line: bytes, continuation: bool) -> None:
        self._say(conn, f"C: {redact_line(line, continuation)}")

    def line_too_long(self, conn: ConnectionInfo) -> None:
        self._say(conn, "C: (line too long, discarded)")

    def state_changed(self, conn: ConnectionInfo, old: State, new: State) -> None:
        self._say(conn, f"state {old.value} -> {new.value}")

    def tls_established(self, conn: ConnectionInfo, version: str, cipher: str, alpn: str | None) -> None:
        self._say(conn, f"TLS established: {tls_summary(version, cipher, alpn)}")

    def tls_failed(self, conn: ConnectionInfo, reason: str) -> None:
        self._say(conn, f"TLS failed: {escape(reason)}")

    def login_succeeded(self, conn: ConnectionInfo, user: str, mechanism: str, seconds: float) -> None:
        self._say(conn, f"{login_as(mechanism, user)}: credentials checked and maildrop locked "
                        f"in {seconds:.3f} s")

    def login_failed(self, conn: ConnectionInfo, user: str, mechanism: str,
                     code: str | None, reason: str, seconds: float) -> None:
        tag = f"[{code}] " if code else ""
        self._say(conn, f"{login_as(mechanism, user)} refused after {seconds:.3f} s: "
                        f"{tag}{escape(reason)}")

    def message_sent(self, conn: ConnectionInfo, number: int, body_lines: int | None) -> None:
        part = "whole" if body_lines is None else f"headers and {body_lines} body lines"
        self._say(conn, f"sending message {number} ({part})")

    def connection_closed(self, conn: ConnectionInfo, summary: SessionSummary) -> None:
        if summary.user is None:
            self._say(conn, "closed before login")
        else:
            outcome = "maildrop updated" if summary.committed else "nothing deleted"
            self._say(conn, f"closed: {escape_word(summary.user)}, {outcome}, "
                            f"{summary.deleted_messages} deleted, {summary.left_messages} left")
