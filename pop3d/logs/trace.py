"""``-t FILE``: a protocol trace of every connection, both directions.

Each line is timestamped (UTC) and tagged with the connection id::

    2025-01-31T12:00:00.123Z [4711-1] C: PASS <redacted>
    2025-01-31T12:00:00.125Z [4711-1] S: +OK alice has 2 messages (320 octets)

A response is traced by its first line and a count of the rest, so the
trace grows in step with what the client sends, not with what it asks
for.  Client lines go through :func:`pop3d.logs.redact.redact_line` and every
client-supplied string is escaped (:mod:`pop3d.logs.escape`); message
contents are not copied, only noted.  The file is created mode 0600 and
written with O_APPEND, one write per record, so several processes (inetd
mode) can share it.
"""

from __future__ import annotations

import contextlib
import os
import time

from pop3d.core.states import State
from pop3d.logs.escape import escape, login_as, one_line, tls_summary
from pop3d.logs.redact import printable, redact_line
from pop3d.server.observers import ConnectionInfo, SessionObserver, SessionSummary


class TraceFile:
    """An append-only file, created private (0600); symlinks are refused."""

    def __init__(self, path: str) -> None:
        self.path = path
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC | os.O_NOFOLLOW
        self.fd = os.open(path, flags, 0o600)
        os.fchmod(self.fd, 0o600)

    def write(self, conn_id: str, lines: list[str]) -> None:
        now = time.time()
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1000):03d}Z"
        record = "".join(f"{stamp} [{conn_id}] {one_line(line)}\n" for line in lines)
        with contextlib.suppress(OSError):  # a full disk must not take sessions down with it
            os.write(self.fd, record.encode("utf-8", "replace"))

    def close(self) -> None:
        os.close(self.fd)


class TraceLog(SessionObserver):
    """Writes every connection's conversation to a :class:`TraceFile`."""

    def __init__(self, trace: TraceFile) -> None:
        self.trace = trace

    def connection_opened(self, conn: ConnectionInfo) -> None:
        self.trace.write(conn.id, [f"* connection from {conn.peer_ip} port {conn.peer_port}"])

    def line_received(self, conn: ConnectionInfo, line: bytes, continuation: bool) -> None:
        self.trace.write(conn.id, [f"C: {redact_line(line, continuation)}"])

    def line_too_long(self, conn: ConnectionInfo) -> None:
        self.trace.write(conn.id, ["C: (line too long, discarded)"])

    def data_sent(self, conn: ConnectionInfo, data: bytes) -> None:
        """The first line of a response, and how much followed it (a LIST may be 1000s of lines)."""
        first, _, rest = data.partition(b"\r\n")
        lines = [f"S: {printable(first)}"]
        if rest:
            count = rest.count(b"\r\n") + (not rest.endswith(b"\r\n"))
            lines.append(f"S: ({count} more lines, {len(rest)} octets; not traced)")
        self.trace.write(conn.id, lines)

    def message_sent(self, conn: ConnectionInfo, number: int, body_lines: int | None) -> None:
        part = "" if body_lines is None else f", headers and {body_lines} body lines"
        self.trace.write(conn.id, [f"S: (message {number}{part}; contents not traced)"])

    def state_changed(self, conn: ConnectionInfo, old: State, new: State) -> None:
        self.trace.write(conn.id, [f"* state {old.value} -> {new.value}"])

    def tls_established(self, conn: ConnectionInfo, version: str, cipher: str, alpn: str | None) -> None:
        self.trace.write(conn.id, [f"* TLS established: {tls_summary(version, cipher, alpn)}"])

    def tls_failed(self, conn: ConnectionInfo, reason: str) -> None:
        self.trace.write(conn.id, [f"* TLS failed: {escape(reason)}"])

    def login_succeeded(self, conn: ConnectionInfo, user: str, mechanism: str, seconds: float) -> None:
        self.trace.write(conn.id, [f"* {login_as(mechanism, user)} ({seconds:.3f} s)"])

    def login_failed(self, conn: ConnectionInfo, user: str, mechanism: str,
                     code: str | None, reason: str, seconds: float) -> None:
        tag = f"[{code}] " if code else ""
        self.trace.write(conn.id, [f"* {login_as(mechanism, user)} refused: "
                                   f"{tag}{escape(reason)}"])

    def connection_closed(self, conn: ConnectionInfo, summary: SessionSummary) -> None:
        self.trace.write(conn.id, ["* connection closed"])
