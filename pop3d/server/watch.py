"""Turn what the protocol does into observer events, with four calls from it.

The protocol tells a :class:`ConnectionWatch` when the connection opens and
closes, each line it feeds the session, and each batch of actions it
performs.  Everything else is read off the session: a move out of
AUTHENTICATING is a login's outcome (its ``-ERR`` reply carries the reason),
and UPDATE ending without a commit error means the deletions were made.

A line is reported as secret (``continuation``: the writers redact it) while
the session awaits a SASL answer, and also after any AUTH, accepted or
refused, until a line that starts with a command name: a client pipelining
its SASL answers after an AUTH the server refused must not see them logged.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence

from OpenSSL import SSL
from twisted.protocols.tls import TLSMemoryBIOProtocol
from twisted.python.failure import Failure

from pop3d.core.actions import Action, Authenticate, Send, SendMessage
from pop3d.core.registry import COMMANDS
from pop3d.core.session import Session
from pop3d.core.states import State
from pop3d.server.observers import SessionObserver, new_connection, summarize

_ERR = re.compile(rb"^-ERR (?:\[([^\]]+)\] )?([^\r\n]*)")


class ConnectionWatch:
    """Bookkeeping for one connection's observer events."""

    def __init__(self, observers: SessionObserver, transport: object) -> None:
        self.observers = observers
        self.conn = new_connection(transport)
        self.state: State | None = None
        self.auth: Authenticate | None = None
        self.auth_started = 0.0
        self.committed = False
        #: The last line was AUTH or a secret: the next may be a SASL answer.
        self.after_auth = False
        self.observers.connection_opened(self.conn)

    def line(self, session: Session, line: bytes | None) -> None:
        """``line`` is about to be fed to ``session`` (None: it was too long)."""
        if line is None:
            self.observers.line_too_long(self.conn)
            return
        keyword = line.split(b" ", 1)[0].upper().decode("ascii", "replace")
        secret = session.continuation is not None or (self.after_auth and keyword not in COMMANDS)
        self.after_auth = secret or keyword == "AUTH"
        self.observers.line_received(self.conn, line, secret)

    def performing(self, session: Session, actions: Sequence[Action]) -> None:
        """The protocol is about to carry out ``actions``, just returned by ``session``."""
        old, new = self.state, session.state
        self.state = new
        if old is not None and old is not new:
            self.observers.state_changed(self.conn, old, new)
            if old is State.AUTHENTICATING:
                self._login_outcome(session, actions)
            elif old is State.UPDATE and session.commit_error is None:
                self.committed = True
        for action in actions:
            if isinstance(action, Send):
                self.observers.data_sent(self.conn, action.data)
            elif isinstance(action, SendMessage):
                self.observers.message_sent(self.conn, action.index + 1, action.body_lines)
            elif isinstance(action, Authenticate):
                self.auth = action
                self.auth_started = time.monotonic()

    def _login_outcome(self, session: Session, actions: Sequence[Action]) -> None:
        auth, self.auth = self.auth, None
        if auth is None:
            return
        seconds = time.monotonic() - self.auth_started
        if session.state is State.TRANSACTION:
            self.observers.login_succeeded(self.conn, session.username or auth.username,
                                           auth.mechanism, seconds)
            return
        code, reason = None, "login refused"
        for action in actions:
            if isinstance(action, Send) and (match := _ERR.match(action.data)):
                code = match.group(1).decode("ascii", "replace") if match.group(1) else None
                reason = match.group(2).decode("utf-8", "replace")
                break
        self.observers.login_failed(self.conn, auth.username, auth.mechanism, code, reason, seconds)

    def sent(self, data: bytes) -> None:
        """The server wrote ``data`` on its own, not as a session's answer (autologout, shutdown)."""
        self.observers.data_sent(self.conn, data)

    def tls_established(self, transport: object) -> None:
        """The TLS handshake on ``transport`` completed: report its version and cipher."""
        tls = tls_connection(transport)
        if tls is None:
            return
        alpn = tls.get_alpn_proto_negotiated()
        self.observers.tls_established(self.conn, tls.get_protocol_version_name(),
                                       tls.get_cipher_name() or "unknown",
                                       alpn.decode("ascii", "replace") if alpn else None)

    def connection_lost(self, reason: Failure) -> None:
        """The connection is gone; if TLS broke it (a failed handshake), say why."""
        if reason.check(SSL.Error):
            self.observers.tls_failed(self.conn, tls_error_text(reason.value))

    def closed(self, session: Session | None) -> None:
        """The connection is gone."""
        self.observers.connection_closed(self.conn, summarize(session, self.committed))


def tls_connection(transport: object) -> SSL.Connection | None:
    """The OpenSSL connection under ``transport`` (implicit TLS, or TCP after STLS)."""
    tls = transport if isinstance(transport, TLSMemoryBIOProtocol) else getattr(transport, "protocol", None)
    handle = tls.getHandle() if isinstance(tls, TLSMemoryBIOProtocol) else None
    return handle if isinstance(handle, SSL.Connection) else None


def tls_error_text(error: BaseException) -> str:
    """OpenSSL's reasons (``unsupported protocol``, ``no shared cipher``) from an ``SSL.Error``."""
    reasons = [entry[2] for entry in error.args[0] if isinstance(entry, tuple) and len(entry) == 3] \
        if error.args and isinstance(error.args[0], list) else []
    return "; ".join(str(r) for r in reasons) or str(error) or type(error).__name__
