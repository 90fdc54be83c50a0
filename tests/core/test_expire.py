"""RFC 2449 EXPIRE 0 in the session: retrieved messages are deleted at UPDATE."""

from __future__ import annotations

import pytest

from pop3d.core.actions import Commit
from pop3d.core.messages import MessageInfo
from pop3d.core.policy import SessionPolicy
from pop3d.core.session import Session


def session(expire: str | None) -> Session:
    s = Session(SessionPolicy(expire=expire), "<c@h>")
    s.receive_line(b"USER alice")
    s.receive_line(b"PASS pw")
    s.login_succeeded("alice", [MessageInfo(10, "a"), MessageInfo(20, "b"), MessageInfo(30, "c")])
    return s


@pytest.mark.parametrize("expire, deleted", [("0", {0, 1}), ("NEVER", {0}), ("30", {0}), (None, {0})])
def test_expire_zero_deletes_retrieved_messages(expire, deleted):
    s = session(expire)
    s.receive_line(b"DELE 1")
    s.receive_line(b"RETR 2")
    s.receive_line(b"TOP 3 0")
    [commit] = s.receive_line(b"QUIT")
    assert commit == Commit(frozenset(deleted), frozenset({1}))


def test_expired_messages_are_deleted_at_quit_with_the_clients_deletions():
    s = Session(SessionPolicy(expire="7"), "<c@h>")
    s.receive_line(b"USER alice")
    s.receive_line(b"PASS pw")
    messages = [MessageInfo(10, "a", True), MessageInfo(20, "b", True), MessageInfo(30, "c")]
    s.login_succeeded("alice", messages, expired=frozenset({0, 9}))  # 9: out of range, ignored
    assert s.receive_line(b"STAT")[0].data == b"+OK 3 60\r\n"  # still listed and readable
    s.receive_line(b"RETR 1")
    s.receive_line(b"DELE 3")
    [commit] = s.receive_line(b"QUIT")
    assert commit == Commit(frozenset({0, 2}), frozenset({0}))


def test_a_session_that_drops_deletes_nothing_expired():
    s = Session(SessionPolicy(expire="7"), "<c@h>")
    s.receive_line(b"USER alice")
    s.receive_line(b"PASS pw")
    s.login_succeeded("alice", [MessageInfo(10, "a", True)], expired=frozenset({0}))
    assert s.receive_line(b"NOOP")[0].data.startswith(b"+OK")
    assert s.deleted == set()  # nothing leaves before QUIT


@pytest.mark.parametrize("lines, retrieved", [("99999999", {2}), ("30", {2}), ("29", set()), ("0", set())])
def test_fetchmails_whole_message_top_is_not_left_to_never_expire(lines, retrieved):
    """fetchmail fetches with ``TOP n 99999999``: a TOP sure to send the whole message is a retrieval."""
    s = session("0")
    s.receive_line(b"TOP 3 " + lines.encode())
    [commit] = s.receive_line(b"QUIT")
    assert commit == Commit(frozenset(retrieved), frozenset(retrieved))
