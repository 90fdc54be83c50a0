"""A random command sequence against a simple model of the maildrop (hypothesis)."""

from __future__ import annotations

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from pop3d.core import responses
from pop3d.core.actions import Authenticate, Close, Commit, Send, SendMessage
from pop3d.core.messages import MessageInfo
from pop3d.core.policy import SessionPolicy
from pop3d.core.session import Session
from pop3d.core.states import ProtocolStateError, State

MAX_AUTH_FAILURES = 3


def check_wire(actions: list) -> None:
    """Every Send is complete CRLF lines; the first starts with +OK or -ERR."""
    for action in actions:
        if isinstance(action, Send):
            assert action.data.startswith((b"+OK", b"-ERR")), action
            assert action.data.endswith(b"\r\n")


class SessionModel(RuleBasedStateMachine):
    @initialize(sizes=st.lists(st.tuples(st.integers(0, 10_000), st.booleans()), max_size=6))
    def start(self, sizes):
        self.messages = tuple(MessageInfo(size, f"u{i}", seen) for i, (size, seen) in enumerate(sizes))
        policy = SessionPolicy(hostname="h", max_bad_commands=10_000, max_auth_failures=MAX_AUTH_FAILURES)
        self.s = Session(policy, "<c@h>")
        self.state = State.AUTHORIZATION
        self.deleted: set[int] = set()
        self.retrieved: set[int] = set()
        self.failures = 0
        self.initial_last = max((i + 1 for i, m in enumerate(self.messages) if m.seen), default=0)
        self.high = self.initial_last

    def send(self, line: bytes) -> list:
        if self.state in (State.AUTHENTICATING, State.UPDATE, State.CLOSED):
            with pytest.raises(ProtocolStateError):
                self.s.receive_line(line)
            return []
        actions = self.s.receive_line(line)
        check_wire(actions)
        return actions

    def live(self) -> list[int]:
        return [i for i in range(len(self.messages)) if i not in self.deleted]

    # -- AUTHORIZATION ------------------------------------------------------

    @rule()
    def give_credentials(self):
        was = self.state
        self.send(b"USER alice")
        actions = self.send(b"PASS secret")
        if was is State.AUTHORIZATION:
            assert [type(a) for a in actions] == [Authenticate]
            self.state = State.AUTHENTICATING

    @precondition(lambda self: self.state is State.AUTHENTICATING)
    @rule()
    def login_ok(self):
        actions = self.s.login_succeeded("alice", self.messages)
        assert actions[0].data.startswith(b"+OK alice has %d messages" % len(self.messages))
        self.state = State.TRANSACTION

    @precondition(lambda self: self.state is State.AUTHENTICATING)
    @rule(code=st.sampled_from([responses.AUTH, responses.IN_USE, responses.SYS_TEMP]))
    def login_bad(self, code):
        actions = self.s.login_failed("no", code)
        check_wire(actions)
        self.failures += code == responses.AUTH
        if self.failures >= MAX_AUTH_FAILURES:
            assert actions[-1] == Close()
            self.state = State.CLOSED
        else:
            assert Close() not in actions
            self.state = State.AUTHORIZATION

    # -- TRANSACTION ------------------------------------------------------

    @rule(cmd=st.sampled_from([b"LIST", b"UIDL", b"RETR", b"DELE", b"TOP"]),
          number=st.one_of(st.integers(-2, 8).map(lambda n: str(n).encode()),
                           st.sampled_from([b"x", b" ", b"1 1 1", b"07"])),
          lower=st.booleans())
    def numbered(self, cmd, number, lower):
        line = (cmd.lower() if lower else cmd) + b" " + number + (b" 2" if cmd == b"TOP" else b"")
        if cmd in (b"LIST", b"UIDL") and not number.strip():
            return self.listing(cmd)
        actions = self.send(line)
        if self.state is not State.TRANSACTION:
            if self.state is State.AUTHORIZATION:
                assert actions[0].data.endswith(b"not valid in the AUTHORIZATION state\r\n")
            return
        [action] = actions
        index = int(number) - 1 if number.lstrip(b"-").isdigit() and b"-" not in number else None
        ok = index is not None and 0 <= index < len(self.messages) and index not in self.deleted
        if not ok:
            assert isinstance(action, Send) and action.data.startswith(b"-ERR"), (line, action)
            return
        if cmd in (b"RETR", b"TOP"):
            assert isinstance(action, SendMessage) and action.index == index
            assert action.body_lines == (2 if cmd == b"TOP" else None)
            if cmd == b"RETR":
                self.retrieved.add(index)
                self.high = max(self.high, index + 1)
        else:
            assert action.data.startswith(b"+OK")
            if cmd == b"DELE":
                self.deleted.add(index)

    @rule()
    def stat(self):
        actions = self.send(b"STAT")
        if self.state is State.TRANSACTION:
            live = self.live()
            total = sum(self.messages[i].size for i in live)
            assert actions == [Send(b"+OK %d %d\r\n" % (len(live), total))]

    @rule(cmd=st.sampled_from([b"LIST", b"UIDL"]))
    def listing(self, cmd):
        actions = self.send(cmd)
        if self.state is State.TRANSACTION:
            lines = actions[0].data.split(b"\r\n")[1:-2]
            numbers = [int(line.split()[0]) - 1 for line in lines]
            assert numbers == self.live()

    @rule()
    def rset(self):
        actions = self.send(b"RSET")
        if self.state is State.TRANSACTION:
            assert actions[0].data.startswith(b"+OK maildrop has %d messages" % len(self.messages))
            self.deleted.clear()
            self.high = self.initial_last

    @rule()
    def last(self):
        actions = self.send(b"LAST")
        if self.state is State.TRANSACTION:
            value = int(actions[0].data[4:-2])
            expected = self.high
            while expected and expected - 1 in self.deleted:
                expected -= 1
            assert value == expected
            assert value == 0 or value - 1 not in self.deleted

    @rule(junk=st.binary(max_size=20).filter(lambda b: b"\n" not in b))
    def junk(self, junk):
        actions = self.send(b"X" + junk)
        if self.state in (State.AUTHORIZATION, State.TRANSACTION):
            assert actions == [Send(b"-ERR unknown command\r\n")]

    @rule(line=st.binary(max_size=30))
    def anything(self, line):
        """Any line at all: an answer or ProtocolStateError, never another exception."""
        if self.state is not State.AUTHORIZATION:
            return  # in TRANSACTION a random line could change the maildrop model
        if line.split(b" ", 1)[0].upper() in (b"USER", b"PASS", b"APOP", b"QUIT"):
            return
        self.send(line)

    @rule()
    def too_long(self):
        if self.state in (State.AUTHORIZATION, State.TRANSACTION):
            assert self.s.line_too_long() == [Send(b"-ERR line too long\r\n")]
        else:
            with pytest.raises(ProtocolStateError):
                self.s.line_too_long()

    # -- QUIT and UPDATE ----------------------------------------------------

    @rule()
    def quit(self):
        actions = self.send(b"QUIT")
        if self.state is State.AUTHORIZATION:
            assert actions[-1] == Close()
            assert not any(isinstance(a, Commit) for a in actions)
            self.state = State.CLOSED
        elif self.state is State.TRANSACTION:
            assert actions == [Commit(frozenset(self.deleted), frozenset(self.retrieved))]
            self.state = State.UPDATE

    @precondition(lambda self: self.state is State.UPDATE)
    @rule(error=st.sampled_from([None, "disk full"]))
    def commit_done(self, error):
        actions = self.s.commit_finished(error)
        assert actions[-1] == Close()
        assert actions[0].data.startswith(b"+OK" if error is None else b"-ERR [SYS/TEMP]")
        self.state = State.CLOSED

    @rule()
    def adapter_out_of_turn(self):
        if self.state is not State.AUTHENTICATING:
            with pytest.raises(ProtocolStateError):
                self.s.login_succeeded("alice", self.messages)
        if self.state is not State.UPDATE:
            with pytest.raises(ProtocolStateError):
                self.s.commit_finished()

    @invariant()
    def states_agree(self):
        if hasattr(self, "s"):
            assert self.s.state is self.state
            if self.state is State.TRANSACTION:
                assert self.s.deleted == self.deleted


SessionModel.TestCase.settings = settings(max_examples=60, stateful_step_count=30, deadline=None)
TestSessionModel = SessionModel.TestCase
