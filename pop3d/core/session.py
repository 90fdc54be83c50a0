"""The POP3 session state machine, free of I/O.

A :class:`Session` is fed one command line at a time and answers with a list
of :mod:`actions <pop3d.core.actions>`.  It holds no sockets or files: the
maildrop appears only as the list of :class:`MessageInfo` handed over at
login, and everything that needs the outside world (checking credentials,
streaming a message, committing deletions, starting TLS) is an action the
adapter performs and, where needed, reports back on.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pop3d.core.commands  # noqa: F401  (registers the command handlers)
from pop3d.core import responses
from pop3d.core.actions import Action, Authenticate, Close, Commit, Send
from pop3d.core.messages import MessageInfo
from pop3d.core.policy import SessionPolicy
from pop3d.core.registry import COMMANDS, CommandError
from pop3d.core.states import BUSY_STATES, Event, ProtocolStateError, State, next_state

#: A handler for the next raw line, used by multi-line exchanges such as SASL.
Continuation = Callable[[bytes], "list[Action]"]


class Session:
    """One POP3 conversation, from greeting to sign-off."""

    def __init__(self, policy: SessionPolicy, challenge: str) -> None:
        self.policy = policy
        self.challenge = challenge
        self.state = State.AUTHORIZATION
        self.tls_active = policy.tls_active
        #: Name given by USER, waiting for PASS.
        self.pending_user: str | None = None
        #: The authenticated user, once in TRANSACTION.
        self.username: str | None = None
        self.messages: Sequence[MessageInfo] = ()
        self.deleted: set[int] = set()
        self.retrieved: set[int] = set()
        #: Messages past the EXPIRE period, deleted at UPDATE with the client's deletions.
        self.expired: frozenset[int] = frozenset()
        self.initial_last = 0
        self.last_accessed = 0
        #: LOGIN-DELAY in force for the authenticated user.
        self.user_login_delay: int | None = None
        #: A monitor account's session, or a LOGIN-DELAY poll (empty maildrop).
        self.monitor = False
        self.poll = False
        self.bad_commands = 0
        self.auth_failures = 0
        #: Lines read before login (capped: a connection slot must not be held for free).
        self.lines_before_login = 0
        self.continuation: Continuation | None = None
        #: Set by the adapter when the commit failed, for statistics.
        self.commit_error: str | None = None

    # -- adapter interface -------------------------------------------------

    @property
    def busy(self) -> bool:
        """True while the session waits for the adapter; hold further lines."""
        return self.state in BUSY_STATES

    @property
    def closed(self) -> bool:
        return self.state is State.CLOSED

    @property
    def apop_offered(self) -> bool:
        """APOP can succeed on this connection, so the greeting carries its timestamp (RFC 1939 7).

        Decided once, at the greeting: a client that starts TLS later has no timestamp to use.
        """
        p = self.policy
        return p.apop_available and (p.tls_active or not p.apop_requires_tls)

    def greeting(self) -> list[Action]:
        p = self.policy
        stamp = f" {self.challenge}" if self.apop_offered else ""
        return [Send(responses.ok(f"pop3d {p.version} at {p.hostname} starting.{stamp}"))]

    def receive_line(self, line: bytes) -> list[Action]:
        """Handle one command line (without its CRLF)."""
        if self.busy or self.closed:
            raise ProtocolStateError(f"line received in {self.state.value}")
        if self._over_login_cap():
            return self.hang_up("too many commands before login, closing")
        if self.continuation is not None:
            handler, self.continuation = self.continuation, None
            return self._run(lambda: handler(line))
        keyword, _, args = line.partition(b" ")
        name = keyword.decode("ascii", "replace").upper()
        cmd = COMMANDS.get(name)
        if cmd is None:
            return self._invalid("unknown command")
        if self.state not in cmd.states:
            return self._invalid(f"{name} not valid in the {self._state_name()} state")
        return self._run(lambda: cmd.handler(self, args))

    def line_too_long(self) -> list[Action]:
        """The client sent a line over the length limit; it was discarded."""
        if self.busy or self.closed:
            raise ProtocolStateError(f"line received in {self.state.value}")
        if self._over_login_cap():
            return self.hang_up("too many commands before login, closing")
        handler, self.continuation = self.continuation, None
        on_long_line = getattr(handler, "line_too_long", None)
        if on_long_line is not None:
            # Multi-line data (XTND XMIT) reads on to its end, never as commands.
            return self._run(on_long_line)
        return self._invalid("line too long")

    def hang_up(self, text: str) -> list[Action]:
        """Give up on a client that broke a limit: say why, and close."""
        self.continuation = None
        if self.state in (State.AUTHORIZATION, State.AUTHENTICATING, State.TRANSACTION):
            self._move(Event.TOO_MANY_ERRORS)
        return [Send(responses.err(text)), Close()]

    def login_succeeded(
        self,
        username: str,
        messages: Sequence[MessageInfo],
        login_delay: int | None = None,
        *,
        monitor: bool = False,
        poll: bool = False,
        expired: frozenset[int] = frozenset(),
    ) -> list[Action]:
        """Credentials were accepted and the maildrop is open (and locked).

        ``monitor``: a health-check account (empty maildrop; marked in the
        Stats log); ``poll``: a login sooner than LOGIN-DELAY that was given
        an empty maildrop; ``expired``: messages retrieved longer ago than
        the EXPIRE period, which QUIT deletes.
        """
        self._move(Event.LOGIN_SUCCEEDED)
        self.username = username
        self.monitor = monitor
        self.poll = poll
        self.pending_user = None
        self.messages = messages
        self.expired = frozenset(i for i in expired if 0 <= i < len(messages))
        self.user_login_delay = login_delay
        self.initial_last = max((i + 1 for i, m in enumerate(messages) if m.seen), default=0)
        self.last_accessed = self.initial_last
        count, octets = self.totals()
        return [Send(responses.ok(f"{username} has {count} messages ({octets} octets)"))]

    def login_failed(self, text: str, code: str | None = responses.AUTH,
                     counted: bool = True) -> list[Action]:
        """Credentials were refused, or the maildrop could not be opened.

        ``counted``: an ``[AUTH]`` refusal counts towards ``max_auth_failures``
        (not so a mechanism the user has no secret for: no password was tried).
        """
        self._move(Event.LOGIN_FAILED)
        self.pending_user = None
        if code == responses.AUTH and counted:
            self.auth_failures += 1
        actions: list[Action] = [Send(responses.err(text, code))]
        if self.auth_failures >= self.policy.max_auth_failures:
            self._move(Event.TOO_MANY_ERRORS)
            actions += [Send(responses.err("too many failed logins, closing")), Close()]
        return actions

    def commit_finished(self, error: str | None = None) -> list[Action]:
        """UPDATE is over: the maildrop was committed, or nothing changed."""
        self._move(Event.COMMIT_FINISHED)
        self.commit_error = error
        if error is not None:
            reply = responses.err(f"{error}; no messages were deleted", responses.SYS_TEMP)
        else:
            reply = self.sign_off()
        return [Send(reply), Close()]

    def submission_finished(self, error: str | None = None, code: str | None = None) -> list[Action]:
        """XTND XMIT is over: the submission command took the message, or ``error``."""
        if error is not None:
            return [Send(responses.err(error, code))]
        return [Send(responses.ok("message submitted"))]

    def tls_started(self) -> None:
        self.tls_active = True

    # -- helpers for command handlers --------------------------------------

    def sign_off(self) -> bytes:
        return responses.ok(f"pop3d at {self.policy.hostname} signing off.")

    def authenticate(self, username: str, credentials: object, mechanism: str) -> list[Action]:
        """Hand credentials to the adapter; the session waits for its verdict."""
        self._move(Event.CREDENTIALS_GIVEN)
        return [Authenticate(username, credentials, mechanism)]

    def quit(self) -> list[Action]:
        if self.state is State.TRANSACTION:
            self._move(Event.QUIT)
            if self.policy.expire == "0":
                # RFC 2449 EXPIRE 0: what was retrieved (RETR) is deleted at UPDATE.
                self.deleted |= self.retrieved
            # EXPIRE n: what was first retrieved n or more days ago goes too.
            self.deleted |= self.expired
            return [Commit(frozenset(self.deleted), frozenset(self.retrieved))]
        self._move(Event.QUIT)
        return [Send(self.sign_off()), Close()]

    def message_index(self, arg: bytes) -> int:
        """Parse a message number; return its 0-based index or raise."""
        text = arg.strip()
        if not text.isdigit():
            raise CommandError("invalid message number", invalid=True)
        # int() refuses over 4300 digits, which max_line allows: so many digits are out of range.
        digits = text.lstrip(b"0") or b"0"
        number = int(digits) if len(digits) <= 18 else 0
        if not 1 <= number <= len(self.messages):
            raise CommandError(f"no such message, only {len(self.messages)} in maildrop")
        index = number - 1
        if index in self.deleted:
            raise CommandError(f"message {number} already deleted")
        return index

    def totals(self) -> tuple[int, int]:
        """Number and octets of the messages not marked deleted."""
        live = [m.size for i, m in enumerate(self.messages) if i not in self.deleted]
        return len(live), sum(live)

    def plaintext_allowed(self) -> bool:
        return self.tls_active or self.policy.plaintext_without_tls

    # -- internals ---------------------------------------------------------

    def _state_name(self) -> str:
        if self.state is State.AUTHENTICATING:
            return State.AUTHORIZATION.value
        return self.state.value

    def _over_login_cap(self) -> bool:
        if self.state is not State.AUTHORIZATION:
            return False
        self.lines_before_login += 1
        return self.lines_before_login > self.policy.max_commands_before_login

    def _move(self, event: Event) -> None:
        self.state = next_state(self.state, event)

    def _run(self, call: Callable[[], list[Action]]) -> list[Action]:
        try:
            actions = call()
        except CommandError as exc:
            if exc.invalid:
                return self._invalid(exc.text, exc.code)
            self.bad_commands = 0
            return [Send(responses.err(exc.text, exc.code))]
        self.bad_commands = 0
        return actions

    def _invalid(self, text: str, code: str | None = None) -> list[Action]:
        self.bad_commands += 1
        actions: list[Action] = [Send(responses.err(text, code))]
        if self.bad_commands >= self.policy.max_bad_commands and self.state in (
            State.AUTHORIZATION,
            State.TRANSACTION,
        ):
            self._move(Event.TOO_MANY_ERRORS)
            actions += [Send(responses.err("too many invalid commands, closing")), Close()]
        return actions
