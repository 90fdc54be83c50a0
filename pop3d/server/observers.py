"""The seam between the protocol adapter and everything that watches it.

The adapter reports a handful of events (connection opened and closed, a
line received, bytes sent, a login's outcome, a state change, a TLS
handshake's outcome); statistics,
debug lines and the protocol trace are observers of those events, each in
its own module under :mod:`pop3d.logs`.  Observers must not change what the
client sees: a failing observer is logged and otherwise ignored.
"""

from __future__ import annotations

import itertools
import os
import socket
from collections.abc import Iterable
from dataclasses import dataclass

from twisted.logger import Logger

from pop3d.core.session import Session
from pop3d.core.states import State

log = Logger()
_ids = itertools.count(1)


@dataclass
class ConnectionInfo:
    """Who is connected: tags every event of one connection."""

    #: Unique across the processes of one host: ``PID-N``.
    id: str
    peer_ip: str
    peer_port: int
    #: The client's host name if a reverse lookup found one, else its address.
    peer_host: str
    #: The connection's socket, for socket options (None when there is none).
    handle: socket.socket | None = None
    #: The user who logged in, once known.
    user: str | None = None


@dataclass(frozen=True)
class SessionSummary:
    """How a connection ended, counted the way qpopper's ``Stats:`` line counts."""

    user: str | None
    #: The client sent QUIT in TRANSACTION and the maildrop was updated.
    committed: bool
    deleted_messages: int = 0
    deleted_octets: int = 0
    left_messages: int = 0
    left_octets: int = 0
    #: A monitor account's session (health check): reports may leave it out.
    monitor: bool = False
    #: A login sooner than LOGIN-DELAY, served an empty maildrop.
    poll: bool = False


def new_connection(transport: object) -> ConnectionInfo:
    """Describe the connection behind ``transport`` (peer address, socket)."""
    peer = transport.getPeer()  # type: ignore[attr-defined]
    ip = str(getattr(peer, "host", None) or getattr(peer, "name", None) or "unknown")
    port = int(getattr(peer, "port", 0) or 0)
    return ConnectionInfo(f"{os.getpid()}-{next(_ids)}", ip, port, ip, socket_of(transport))


def socket_of(transport: object) -> socket.socket | None:
    """The socket under ``transport`` (looking through a TLS wrapper), if any."""
    for _ in range(3):
        get_handle = getattr(transport, "getHandle", None)
        handle = get_handle() if get_handle is not None else None
        if isinstance(handle, socket.socket):
            return handle
        transport = getattr(transport, "transport", None)
        if transport is None:
            break
    return None


def summarize(session: Session | None, committed: bool) -> SessionSummary:
    """Deleted and kept messages; deletions count only if the commit succeeded."""
    if session is None or session.username is None:
        return SessionSummary(user=None, committed=False)
    done = committed and session.commit_error is None
    deleted = session.deleted if done else set()
    gone = [m.size for i, m in enumerate(session.messages) if i in deleted]
    kept = [m.size for i, m in enumerate(session.messages) if i not in deleted]
    return SessionSummary(session.username, done, len(gone), sum(gone), len(kept), sum(kept),
                          monitor=session.monitor, poll=session.poll)


class SessionObserver:
    """Receives the adapter's events; every method does nothing unless overridden."""

    def connection_opened(self, conn: ConnectionInfo) -> None:
        """A client connected (before the greeting is sent)."""

    def line_received(self, conn: ConnectionInfo, line: bytes, continuation: bool) -> None:
        """A command line (or, with ``continuation``, a SASL response line) is about to run."""

    def line_too_long(self, conn: ConnectionInfo) -> None:
        """A line over the length limit was discarded."""

    def data_sent(self, conn: ConnectionInfo, data: bytes) -> None:
        """Complete response lines were written."""

    def message_sent(self, conn: ConnectionInfo, number: int, body_lines: int | None) -> None:
        """Message ``number`` (1-based) is being streamed (whole, or TOP's ``body_lines``)."""

    def state_changed(self, conn: ConnectionInfo, old: State, new: State) -> None:
        """The session moved from ``old`` to ``new``."""

    def tls_established(self, conn: ConnectionInfo, version: str, cipher: str, alpn: str | None) -> None:
        """A TLS handshake (implicit TLS or after STLS) completed."""

    def tls_failed(self, conn: ConnectionInfo, reason: str) -> None:
        """TLS failed (the handshake, or a record later): the connection is lost."""

    def login_succeeded(self, conn: ConnectionInfo, user: str, mechanism: str, seconds: float) -> None:
        """``user`` logged in; checking and opening the maildrop took ``seconds``."""

    def login_failed(self, conn: ConnectionInfo, user: str, mechanism: str,
                     code: str | None, reason: str, seconds: float) -> None:
        """A login was refused with RFC 3206 ``code`` (``AUTH``: bad credentials)."""

    def connection_closed(self, conn: ConnectionInfo, summary: SessionSummary) -> None:
        """The connection is gone; ``summary`` tells what the session did."""


class ObserverSet(SessionObserver):
    """Fans every event out to its observers; one failing never affects the others."""

    def __init__(self, observers: Iterable[SessionObserver] = ()) -> None:
        self.observers = list(observers)

    def __bool__(self) -> bool:
        return bool(self.observers)

    def _each(self, method: str, *args: object) -> None:
        for observer in self.observers:
            try:
                getattr(observer, method)(*args)
            except Exception:
                log.failure("observer {observer} failed in {method}",
                            observer=type(observer).__name__, method=method)

    def connection_opened(self, conn: ConnectionInfo) -> None:
        self._each("connection_opened", conn)

    def line_received(self, conn: ConnectionInfo, line: bytes, continuation: bool) -> None:
        self._each("line_received", conn, line, continuation)

    def line_too_long(self, conn: ConnectionInfo) -> None:
        self._each("line_too_long", conn)

    def data_sent(self, conn: ConnectionInfo, data: bytes) -> None:
        self._each("data_sent", conn, data)

    def message_sent(self, conn: ConnectionInfo, number: int, body_lines: int | None) -> None:
        self._each("message_sent", conn, number, body_lines)

    def state_changed(self, conn: ConnectionInfo, old: State, new: State) -> None:
        self._each("state_changed", conn, old, new)

    def tls_established(self, conn: ConnectionInfo, version: str, cipher: str, alpn: str | None) -> None:
        self._each("tls_established", conn, version, cipher, alpn)

    def tls_failed(self, conn: ConnectionInfo, reason: str) -> None:
        self._each("tls_failed", conn, reason)

    def login_succeeded(self, conn: ConnectionInfo, user: str, mechanism: str, seconds: float) -> None:
        conn.user = user
        self._each("login_succeeded", conn, user, mechanism, seconds)

    def login_failed(self, conn: ConnectionInfo, user: str, mechanism: str,
                     code: str | None, reason: str, seconds: float) -> None:
        self._each("login_failed", conn, user, mechanism, code, reason, seconds)

    def connection_closed(self, conn: ConnectionInfo, summary: SessionSummary) -> None:
        self._each("connection_closed", conn, summary)
