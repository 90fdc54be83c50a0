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

    def closed(self, session: Session | None) -> None:
        """The connection is gone."""
        self.observers.connection_closed(self.conn, summarize(session, self.committed))
