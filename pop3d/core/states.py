"""The POP3 session states (RFC 1939 section 3) and how they change.

Everything that moves a session from one state to another is listed in
:data:`TRANSITIONS`; :class:`pop3d.core.session.Session` consults it and
refuses any other move.
"""

from __future__ import annotations

import enum


class State(enum.Enum):
    AUTHORIZATION = "AUTHORIZATION"
    #: Credentials are being checked; further lines wait.
    AUTHENTICATING = "AUTHENTICATING"
    TRANSACTION = "TRANSACTION"
    #: QUIT was received in TRANSACTION; the maildrop is being committed.
    UPDATE = "UPDATE"
    CLOSED = "CLOSED"


class Event(enum.Enum):
    CREDENTIALS_GIVEN = "credentials given"
    LOGIN_SUCCEEDED = "login succeeded"
    LOGIN_FAILED = "login failed"
    QUIT = "quit"
    COMMIT_FINISHED = "commit finished"
    TOO_MANY_ERRORS = "too many errors"


TRANSITIONS: dict[State, dict[Event, State]] = {
    State.AUTHORIZATION: {
        Event.CREDENTIALS_GIVEN: State.AUTHENTICATING,
        Event.QUIT: State.CLOSED,
        Event.TOO_MANY_ERRORS: State.CLOSED,
    },
    State.AUTHENTICATING: {
        Event.LOGIN_SUCCEEDED: State.TRANSACTION,
        Event.LOGIN_FAILED: State.AUTHORIZATION,
        Event.TOO_MANY_ERRORS: State.CLOSED,
    },
    State.TRANSACTION: {
        Event.QUIT: State.UPDATE,
        Event.TOO_MANY_ERRORS: State.CLOSED,
    },
    State.UPDATE: {
        Event.COMMIT_FINISHED: State.CLOSED,
    },
    State.CLOSED: {},
}

#: States in which the session waits for the adapter and takes no lines.
BUSY_STATES = frozenset({State.AUTHENTICATING, State.UPDATE})


class ProtocolStateError(RuntimeError):
    """The adapter drove the session in a way its state does not allow."""


def next_state(state: State, event: Event) -> State:
    try:
        return TRANSITIONS[state][event]
    except KeyError:
        raise ProtocolStateError(f"{event.value} is not possible in {state.value}") from None
