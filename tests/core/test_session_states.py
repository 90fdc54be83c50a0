"""The session state machine: every command in every state, busy protocol, limits, greeting.

Transaction details live in test_session_transaction.py, logins in test_session_auth.py,
CAPA in test_session_capa.py.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from pop3d.core import responses
from pop3d.core.actions import Authenticate, Close, Commit, Send, SendMessage
from pop3d.core.messages import MessageInfo
from pop3d.core.policy import SessionPolicy
from pop3d.core.session import Session
from pop3d.core.states import BUSY_STATES, TRANSITIONS, Event, ProtocolStateError, State, next_state

CHALLENGE = "<abc.123@pop.test>"
POLICY = SessionPolicy(hostname="pop.test", version="9.9")
MESSAGES = (MessageInfo(100, "uid-1"), MessageInfo(200, "uid-2"))
DIGEST = "0" * 32


def new_session(**policy: object) -> Session:
    return Session(replace(POLICY, **policy), CHALLENGE)


def in_state(state: State, **policy: object) -> Session:
    """A session driven to ``state`` through the public interface."""
    s = new_session(**policy)
    if state is State.AUTHORIZATION:
        return s
    if state is State.CLOSED:
        s.receive_line(b"QUIT")
        return s
    s.receive_line(b"USER alice")
    s.receive_line(b"PASS secret")
    if state is State.AUTHENTICATING:
        return s
    s.login_succeeded("alice", MESSAGES)
    if state is State.UPDATE:
        s.receive_line(b"QUIT")
    assert s.state is state
    return s


def sent(actions: list) -> bytes:
    return b"".join(a.data for a in actions if isinstance(a, Send))


# -- the command x state matrix -------------------------------------------------

AUTHZ, TRANS = State.AUTHORIZATION, State.TRANSACTION

#: line -> {state: expected}; expected is the start of the reply, or an action type.
MATRIX: dict[str, dict[State, object]] = {
    "USER alice": {AUTHZ: b"+OK password required for alice\r\n", TRANS: None},
    "PASS secret": {AUTHZ: b"-ERR USER first\r\n", TRANS: None},
    f"APOP alice {DIGEST}": {AUTHZ: Authenticate, TRANS: None},
    "QUIT": {AUTHZ: b"+OK pop3d at pop.test signing off.\r\n", TRANS: Commit},
    "CAPA": {AUTHZ: b"+OK capability list follows\r\n", TRANS: b"+OK capability list follows\r\n"},
    "STAT": {AUTHZ: None, TRANS: b"+OK 2 300\r\n"},
    "LIST": {AUTHZ: None, TRANS: b"+OK 2 messages (300 octets)\r\n1 100\r\n2 200\r\n.\r\n"},
    "LIST 2": {AUTHZ: None, TRANS: b"+OK 2 200\r\n"},
    "UIDL": {AUTHZ: None, TRANS: b"+OK unique-id listing follows\r\n1 uid-1\r\n2 uid-2\r\n.\r\n"},
    "UIDL 1": {AUTHZ: None, TRANS: b"+OK 1 uid-1\r\n"},
    "RETR 1": {AUTHZ: None, TRANS: SendMessage},
    "TOP 1 0": {AUTHZ: None, TRANS: SendMessage},
    "DELE 1": {AUTHZ: None, TRANS: b"+OK message 1 deleted\r\n"},
    "NOOP": {AUTHZ: b"+OK\r\n", TRANS: b"+OK\r\n"},  # before login too (Mail::POP3Client)
    "RSET": {AUTHZ: None, TRANS: b"+OK maildrop has 2 messages (300 octets)\r\n"},
    "LAST": {AUTHZ: None, TRANS: b"+OK 0\r\n"},
    "HELO": {AUTHZ: b"-ERR unknown command\r\n", TRANS: b"-ERR unknown command\r\n"},
    "": {AUTHZ: b"-ERR unknown command\r\n", TRANS: b"-ERR unknown command\r\n"},
    " STAT": {AUTHZ: b"-ERR unknown command\r\n", TRANS: b"-ERR unknown command\r\n"},
}

CASES = [(line, state, expected) for line, row in MATRIX.items() for state, expected in row.items()]


def _case_variants(line: str) -> list[str]:
    keyword, sep, rest = line.partition(" ")
    return sorted({line, keyword.lower() + sep + rest, keyword.capitalize() + sep + rest})


@pytest.mark.parametrize(("line", "state", "expected"), CASES, ids=[f"{s.value}-{c!r}" for c, s, _ in CASES])
def test_command_in_line_accepting_state(line, state, expected):
    for variant in _case_variants(line):
        s = in_state(state)
        actions = s.receive_line(variant.encode())
        keyword = line.partition(" ")[0]
        if expected is None:
            assert actions == [Send(f"-ERR {keyword} not valid in the {state.value} state\r\n".encode())]
            assert s.state is state
        elif isinstance(expected, bytes):
            assert sent(actions).startswith(expected), variant
        else:
            assert any(isinstance(a, expected) for a in actions), variant


@pytest.mark.parametrize("state", sorted(BUSY_STATES | {State.CLOSED}, key=lambda s: s.value))
@pytest.mark.parametrize("line", list(MATRIX))
def test_no_line_is_taken_while_busy_or_closed(state, line):
    s = in_state(state)
    with pytest.raises(ProtocolStateError):
        s.receive_line(line.encode())
    assert s.state is state


@pytest.mark.parametrize("state", list(State))
def test_busy_and_closed_flags(state):
    s = in_state(state)
    assert s.busy is (state in (State.AUTHENTICATING, State.UPDATE))
    assert s.closed is (state is State.CLOSED)


# -- adapter calls out of turn -------------------------------------------------

@pytest.mark.parametrize("state", [State.AUTHORIZATION, State.TRANSACTION, State.UPDATE, State.CLOSED])
def test_login_verdicts_only_while_authenticating(state):
    s = in_state(state)
    with pytest.raises(ProtocolStateError):
        s.login_succeeded("alice", MESSAGES)
    with pytest.raises(ProtocolStateError):
        s.login_failed("no")
    assert s.state is state


@pytest.mark.parametrize("state", [State.AUTHORIZATION, State.AUTHENTICATING, State.TRANSACTION,
                                   State.CLOSED])
def test_commit_finished_only_in_update(state):
    s = in_state(state)
    with pytest.raises(ProtocolStateError):
        s.commit_finished()
    assert s.state is state


def test_transition_table_is_closed_and_next_state_refuses_the_rest():
    for state in State:
        for event in Event:
            if event in TRANSITIONS[state]:
                assert next_state(state, event) in State
            else:
                with pytest.raises(ProtocolStateError):
                    next_state(state, event)
    assert TRANSITIONS[State.CLOSED] == {}


# -- greeting and sign-off -------------------------------------------------------

def test_greeting_format():
    assert new_session().greeting() == [Send(b"+OK pop3d 9.9 at pop.test starting. <abc.123@pop.test>\r\n")]


def test_greeting_default_version_is_the_package_version():
    from pop3d import __version__
    s = Session(SessionPolicy(hostname="h"), "<c@h>")
    assert s.greeting() == [Send(f"+OK pop3d {__version__} at h starting. <c@h>\r\n".encode())]


def test_quit_in_authorization_signs_off_and_closes_without_commit():
    s = new_session()
    actions = s.receive_line(b"QUIT")
    assert actions == [Send(b"+OK pop3d at pop.test signing off.\r\n"), Close()]
    assert s.closed


def test_quit_with_a_pending_user_still_just_closes():
    s = new_session()
    s.receive_line(b"USER alice")
    assert s.receive_line(b"quit")[-1] == Close()
    assert s.closed


def test_quit_ignores_arguments():
    # Lenient on purpose: a client that wants to leave may always leave.
    s = new_session()
    assert s.receive_line(b"QUIT now")[-1] == Close()


def test_quit_in_transaction_commits_and_only_commit_finished_answers():
    s = in_state(State.TRANSACTION)
    s.receive_line(b"RETR 2")
    s.receive_line(b"DELE 1")
    assert s.receive_line(b"QUIT") == [Commit(frozenset({0}), frozenset({1}))]
    assert s.state is State.UPDATE and s.busy
    assert s.commit_finished() == [Send(b"+OK pop3d at pop.test signing off.\r\n"), Close()]
    assert s.closed
    assert s.commit_error is None


def test_commit_failure_answers_sys_temp():
    s = in_state(State.UPDATE)
    actions = s.commit_finished("disk full")
    assert actions == [Send(b"-ERR [SYS/TEMP] disk full; no messages were deleted\r\n"), Close()]
    assert s.commit_error == "disk full"
    assert s.closed


def test_commit_error_text_cannot_inject_lines():
    actions = in_state(State.UPDATE).commit_finished("bad\r\n+OK forged")
    assert sent(actions).count(b"\r\n") == 1


# -- bad command limit -------------------------------------------------------------

@pytest.mark.parametrize("state", [State.AUTHORIZATION, State.TRANSACTION])
def test_too_many_bad_commands_in_a_row_closes_with_final_err(state):
    s = in_state(state, max_bad_commands=3)
    assert s.receive_line(b"BOGUS") == [Send(b"-ERR unknown command\r\n")]
    assert s.receive_line(b"BOGUS") == [Send(b"-ERR unknown command\r\n")]
    assert s.receive_line(b"BOGUS") == [
        Send(b"-ERR unknown command\r\n"),
        Send(b"-ERR too many invalid commands, closing\r\n"),
        Close(),
    ]
    assert s.closed
    with pytest.raises(ProtocolStateError):
        s.receive_line(b"NOOP")


@pytest.mark.parametrize("good", [b"CAPA", b"NOOP"])
def test_a_good_command_resets_the_bad_command_count(good):
    s = in_state(State.TRANSACTION, max_bad_commands=2)
    s.receive_line(b"BOGUS")
    s.receive_line(good)
    assert s.receive_line(b"BOGUS") == [Send(b"-ERR unknown command\r\n")]
    assert not s.closed


def test_a_refused_but_valid_command_resets_the_count():
    # "no such message" is an answer, not a syntax error.
    s = in_state(State.TRANSACTION, max_bad_commands=2)
    s.receive_line(b"STAT x")
    assert s.receive_line(b"RETR 9") == [Send(b"-ERR no such message, only 2 in maildrop\r\n")]
    assert s.receive_line(b"STAT x") == [Send(b"-ERR STAT takes no arguments\r\n")]
    assert not s.closed


@pytest.mark.parametrize("line", [b"STAT 1", b"RETR x", b"TOP 1", b"LIST a", b"USER", b"APOP a",
                                  b"PASS x"])
def test_syntax_errors_and_wrong_state_count_as_bad(line):
    s = in_state(State.AUTHORIZATION, max_bad_commands=2)
    s.receive_line(line)
    actions = s.receive_line(line)
    assert actions[-1] == Close()
    assert s.closed


def test_line_too_long_counts_as_bad_and_closes_at_the_limit():
    s = in_state(State.TRANSACTION, max_bad_commands=2)
    assert s.line_too_long() == [Send(b"-ERR line too long\r\n")]
    assert s.line_too_long()[-1] == Close()
    assert s.closed


def test_line_too_long_drops_a_pending_continuation():
    s = new_session()
    s.continuation = lambda line: pytest.fail("continuation must be dropped")
    s.line_too_long()
    assert s.continuation is None
    assert s.receive_line(b"CAPA")[0].data.startswith(b"+OK")


def test_continuation_takes_the_next_raw_line_once():
    s = new_session()
    seen = []
    s.continuation = lambda line: seen.append(line) or [Send(responses.ok("got it"))]
    assert s.receive_line(b"QUIT") == [Send(b"+OK got it\r\n")]
    assert seen == [b"QUIT"]
    assert not s.closed
    assert s.receive_line(b"QUIT")[-1] == Close()


@pytest.mark.parametrize("state", [State.AUTHENTICATING, State.UPDATE, State.CLOSED])
def test_line_too_long_while_busy_or_closed_is_refused_not_answered_out_of_turn(state):
    # It used to answer "-ERR line too long" before the pending login/commit verdict,
    # or after Close; an over-long line is a line and waits like any other.
    s = in_state(state)
    with pytest.raises(ProtocolStateError):
        s.line_too_long()
    assert s.state is state
    assert s.bad_commands == 0
