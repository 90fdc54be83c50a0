"""One client's byte stream, free of I/O: framing, pipelining, line limits, flow control.

The adapter feeds what it reads to :meth:`Connection.receive_data`, reports
how much of its output is still unsent (:meth:`Connection.output_buffered`),
when a transfer (RETR, TOP, XLIST, XMIT) ends and what the session answered
to a login or commit; every call returns the :mod:`actions <pop3d.core.actions>`
to carry out, in order.  The connection feeds the session one line at a time,
strictly in order, and never more than :data:`BATCH` lines before it asks
for :class:`RunLater` (the adapter lets every other client have a turn, then
calls :meth:`Connection.run`), so a client pipelining 100,000 commands in one
write cannot starve the others.  It stops running lines, and asks the
adapter to stop reading, while the client's unsent answers pass
:data:`OUTPUT_HIGH` (a client that does not read) or unread input passes
:data:`INPUT_HIGH`.  Over-long lines are answered ``-ERR`` as soon as they
pass the limit, and the connection is closed once one passes
``max_line_discard``.  After STLS, everything the client pipelined is dropped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from pop3d.core.actions import Action, Close, SendHeaderList, SendMessage, StartTLS, Submit
from pop3d.core.lines import TOO_LONG, LineBuffer
from pop3d.core.session import Session

#: Lines fed to the session in one go; then the adapter yields to the reactor.
BATCH = 16
#: Unsent output (octets) past which no further command runs and reading pauses.
OUTPUT_HIGH = 256 * 1024
#: Unread input (octets) past which reading pauses while commands wait.
INPUT_HIGH = 64 * 1024
#: Actions after which the session's answer streams on: no line runs until it ends.
TRANSFERS = (SendMessage, SendHeaderList, Submit)


@dataclass(frozen=True)
class LinesArrived:
    """Whole lines arrived: the client is active (restart the idle timer)."""


@dataclass(frozen=True)
class PauseReading:
    """Stop reading from the client until :class:`ResumeReading`."""


@dataclass(frozen=True)
class ResumeReading:
    """Read from the client again."""


@dataclass(frozen=True)
class RunLater:
    """Call :meth:`Connection.run` once every other connection has had a turn."""


#: What the connection adds to the session's actions.
StreamAction = LinesArrived | PauseReading | ResumeReading | RunLater


@dataclass(frozen=True)
class LineLimits:
    """How long a line may be (octets, without CRLF), and when to give up on one."""

    max_line: int = 1024
    #: A SASL answer, or an XTND XMIT line: the session awaits a continuation.
    max_sasl_line: int = 16384
    #: One line this long (or longer) closes the connection.
    max_line_discard: int = 1 << 20


class SessionWatch(Protocol):
    """Told of each line just before the session reads it and of each answer (logs, trace)."""

    def line(self, session: Session, line: bytes | None) -> None: ...

    def performing(self, session: Session, actions: Sequence[Action]) -> None: ...


class Connection:
    """Drives one :class:`Session` from a byte stream; see the module docstring."""

    def __init__(self, session: Session, limits: LineLimits = LineLimits(),
                 watch: SessionWatch | None = None) -> None:
        self.session = session
        self.limits = limits
        #: Told of lines and answers (None: nobody watches).
        self.watch = watch
        self.lines = LineBuffer()
        self.closing = False
        #: A transfer (RETR, XLIST, XMIT) is under way.
        self.transferring = False
        self.unsent = 0
        self.reading = True
        self._budget = BATCH
        self._run_later = False

    # -- calls from the adapter --------------------------------------------

    def start(self) -> list[Action | StreamAction]:
        """The connection is open: the greeting."""
        return self._answered(self.session.greeting())

    def receive_data(self, data: bytes) -> list[Action | StreamAction]:
        """Bytes read from the client."""
        if self.closing:
            return []
        actions: list[Action | StreamAction] = []
        if self.lines.feed(data):
            # Only whole lines count as activity: a client dribbling a partial line still times out.
            actions.append(LinesArrived())
        if self.lines.discarded > self.limits.max_line_discard:
            return actions + self._answered(self.session.hang_up("line too long, closing"))
        return actions + self._advance()

    def run(self) -> list[Action | StreamAction]:
        """The :class:`RunLater` asked for came due: a new turn, a new batch."""
        self._run_later = False
        self._budget = BATCH
        return self._advance()

    def output_buffered(self, octets: int) -> list[Action | StreamAction]:
        """The adapter now holds ``octets`` of output the client has not taken yet."""
        self.unsent = octets
        return self._advance()

    def transfer_finished(self, answer: Sequence[Action] = ()) -> list[Action | StreamAction]:
        """The streamed answer, or XMIT's submission (``answer``: the session's word on it), is over."""
        self.transferring = False
        return self._answered(list(answer)) + self._advance()

    def session_answered(self, actions: list[Action]) -> list[Action | StreamAction]:
        """The session answered an outcome the adapter reported (login, commit, submission)."""
        return self._answered(actions) + self._advance()

    def close(self) -> None:
        """The adapter is closing the connection (or it is gone): read and run nothing more."""
        self.closing = True
        self.lines.clear()

    # -- internals ---------------------------------------------------------

    def _line_limit(self) -> int:
        awaiting = self.session.continuation is not None
        return self.limits.max_sasl_line if awaiting else self.limits.max_line

    def _ready(self) -> bool:
        """The session may take its next line now."""
        session = self.session
        return not (self.closing or self.transferring or session.busy or session.closed
                    or self.unsent > OUTPUT_HIGH)

    def _advance(self) -> list[Action | StreamAction]:
        actions: list[Action | StreamAction] = []
        if not self._run_later:
            self._run_lines(actions)
        self._flow_control(actions)
        return actions

    def _run_lines(self, actions: list[Action | StreamAction]) -> None:
        while self._ready():
            if not self.lines.has_line(self._line_limit()):
                self._budget = BATCH  # waiting for input: what comes next starts a new batch
                return
            if self._budget <= 0:
                self._run_later = True
                actions.append(RunLater())
                return
            self._budget -= 1
            self._run_one(actions)

    def _run_one(self, actions: list[Action | StreamAction]) -> None:
        session = self.session
        line = self.lines.next_line(self._line_limit())
        assert line is not None
        if line is TOO_LONG:
            if self.watch is not None:
                self.watch.line(session, None)
            answer = session.line_too_long()
        else:
            assert isinstance(line, bytes)
            if self.watch is not None:
                self.watch.line(session, line)
            answer = session.receive_line(line)
        actions += self._answered(answer)

    def _answered(self, answer: list[Action]) -> list[Action]:
        """Note what the session's answer means for the stream, and report it."""
        if self.watch is not None:
            self.watch.performing(self.session, answer)
        for action in answer:
            if isinstance(action, TRANSFERS):
                self.transferring = True
            elif isinstance(action, StartTLS):
                # Sent in the clear: never executed as if it came over TLS.
                self.lines.clear()
            elif isinstance(action, Close):
                self.close()
        return answer

    def _flow_control(self, actions: list[Action | StreamAction]) -> None:
        """Read while there is room, or while the session waits for the rest of a line."""
        if self.closing:
            return
        waits_for_rest = self._ready() and not self.lines.has_line(self._line_limit())
        wants = self.unsent <= OUTPUT_HIGH and (self.lines.pending < INPUT_HIGH or waits_for_rest)
        if wants != self.reading:
            self.reading = wants
            actions.append(ResumeReading() if wants else PauseReading())
