"""TRANSACTION: STAT, LIST, UIDL, RETR, TOP, DELE, NOOP, RSET, LAST and QUIT's Commit."""

from __future__ import annotations

from dataclasses import replace

import pytest

from pop3d.core.actions import Commit, Send, SendMessage
from pop3d.core.messages import MessageInfo
from pop3d.core.policy import SessionPolicy
from pop3d.core.session import Session
from pop3d.core.states import State

POLICY = SessionPolicy(hostname="pop.test", version="9.9")
MESSAGES = (MessageInfo(100, "uid-1"), MessageInfo(200, "uid-2"), MessageInfo(300, "uid-3"),
            MessageInfo(400, "uid-4"))


def logged_in(messages=MESSAGES, **policy: object) -> Session:
    s = Session(replace(POLICY, **policy), "<c@pop.test>")
    s.receive_line(b"USER alice")
    s.receive_line(b"PASS pw")
    s.login_succeeded("alice", messages)
    assert s.state is State.TRANSACTION
    return s


def reply(s: Session, line: bytes) -> bytes:
    [action] = s.receive_line(line)
    assert isinstance(action, Send)
    return action.data


# -- message number arguments -------------------------------------------------------

NUMBERED = [b"LIST", b"UIDL", b"RETR", b"DELE"]


@pytest.mark.parametrize("cmd", [*NUMBERED, b"TOP"])
@pytest.mark.parametrize("arg", [b"x", b"-1", b"+1", b"1.0", b"0x1", b"1 2", b"\xd9\xa1", b"\xb9", b"1e3"])
def test_non_numeric_message_numbers_are_invalid(cmd, arg):
    s = logged_in()
    line = cmd + b" " + arg + (b" 1" if cmd == b"TOP" else b"")
    if cmd == b"TOP" and b" " in arg:
        expected = b"-ERR usage: TOP msg n\r\n"
    else:
        expected = b"-ERR invalid message number\r\n"
    assert reply(s, line) == expected
    assert s.bad_commands == 1


@pytest.mark.parametrize("cmd", [*NUMBERED, b"TOP"])
@pytest.mark.parametrize("number", [b"0", b"5", b"99", b"4294967297", b"18446744073709551617", b"000"])
def test_out_of_range_message_numbers(cmd, number):
    s = logged_in()
    line = cmd + b" " + number + (b" 1" if cmd == b"TOP" else b"")
    assert reply(s, line) == b"-ERR no such message, only 4 in maildrop\r\n"
    assert s.bad_commands == 0


@pytest.mark.parametrize("cmd", [*NUMBERED, b"TOP"])
@pytest.mark.parametrize(("number", "expected"), [
    (b"9" * 4301, b"-ERR no such message, only 4 in maildrop\r\n"),
    (b"9" * 60000, b"-ERR no such message, only 4 in maildrop\r\n"),
    (b"0" * 5000, b"-ERR no such message, only 4 in maildrop\r\n"),
    (b"0" * 5000 + b"1", b"+OK"),
], ids=["4301-nines", "60000-nines", "5000-zeros", "zeros-then-1"])
def test_huge_message_number_is_no_such_message_not_a_crash(cmd, number, expected):
    # int() refuses more than 4300 digits (ValueError), and max_line allows lines up to 64 KiB.
    s = logged_in()
    [action] = s.receive_line(cmd + b" " + number + (b" 1" if cmd == b"TOP" else b""))
    status = action.status if isinstance(action, SendMessage) else action.data
    assert status.startswith(expected)
    assert reply(s, b"NOOP") == b"+OK\r\n"


def test_huge_top_line_count_sends_the_whole_message():
    s = logged_in()
    [action] = s.receive_line(b"TOP 1 " + b"9" * 5000)
    assert isinstance(action, SendMessage)
    assert action.index == 0 and action.body_lines is not None and action.body_lines >= 10**18


def test_message_number_with_extra_spaces():
    s = logged_in()
    assert reply(s, b"LIST  2 ") == b"+OK 2 200\r\n"
    assert reply(s, b"DELE  2") == b"+OK message 2 deleted\r\n"


def test_leading_zeros_are_accepted():
    assert reply(logged_in(), b"LIST 002") == b"+OK 2 200\r\n"


@pytest.mark.parametrize("cmd", [b"RETR", b"DELE"])
@pytest.mark.parametrize("arg", [b"", b" ", b"  "])
def test_missing_argument(cmd, arg):
    s = logged_in()
    assert reply(s, cmd + arg) == f"-ERR usage: {cmd.decode()} msg\r\n".encode()


@pytest.mark.parametrize("args", [b"", b" 1", b" 1 2 3", b"  "])
def test_top_needs_exactly_two_arguments(args):
    assert reply(logged_in(), b"TOP" + args) == b"-ERR usage: TOP msg n\r\n"


@pytest.mark.parametrize("count", [b"-1", b"x", b"1.5", b"+2", b"\xd9\xa1"])
def test_top_bad_line_count(count):
    assert reply(logged_in(), b"TOP 1 " + count) == b"-ERR invalid number of lines\r\n"


@pytest.mark.parametrize("cmd", [b"STAT", b"NOOP", b"RSET", b"LAST"])
@pytest.mark.parametrize("arg", [b" 1", b" x", b" 0 0"])
def test_no_argument_commands_refuse_arguments(cmd, arg):
    s = logged_in()
    s.receive_line(b"DELE 1")
    assert reply(s, cmd + arg) == f"-ERR {cmd.decode()} takes no arguments\r\n".encode()
    assert 0 in s.deleted


@pytest.mark.parametrize("cmd", [b"STAT", b"NOOP", b"RSET", b"LAST"])
@pytest.mark.parametrize("blank", [b" ", b"  ", b" \t"])
def test_trailing_blanks_are_not_an_argument(cmd, blank):
    assert reply(logged_in(), cmd + blank).startswith(b"+OK")


# -- listings ------------------------------------------------------------------------

def test_stat_list_uidl():
    s = logged_in()
    assert reply(s, b"STAT") == b"+OK 4 1000\r\n"
    assert reply(s, b"LIST") == b"+OK 4 messages (1000 octets)\r\n1 100\r\n2 200\r\n3 300\r\n4 400\r\n.\r\n"
    assert reply(s, b"UIDL") == (b"+OK unique-id listing follows\r\n"
                                 b"1 uid-1\r\n2 uid-2\r\n3 uid-3\r\n4 uid-4\r\n.\r\n")
    assert reply(s, b"LIST 3") == b"+OK 3 300\r\n"
    assert reply(s, b"UIDL 4") == b"+OK 4 uid-4\r\n"


def test_empty_maildrop():
    s = logged_in(())
    assert reply(s, b"STAT") == b"+OK 0 0\r\n"
    assert reply(s, b"LIST") == b"+OK 0 messages (0 octets)\r\n.\r\n"
    assert reply(s, b"UIDL") == b"+OK unique-id listing follows\r\n.\r\n"
    assert reply(s, b"LIST 1") == b"-ERR no such message, only 0 in maildrop\r\n"
    assert reply(s, b"LAST") == b"+OK 0\r\n"


@pytest.mark.parametrize("keyword", [b"stat", b"Stat", b"sTaT"])
def test_keywords_case_insensitive(keyword):
    assert reply(logged_in(), keyword) == b"+OK 4 1000\r\n"


# -- deletion -------------------------------------------------------------------------

@pytest.mark.parametrize("line", [b"RETR 2", b"TOP 2 0", b"DELE 2", b"LIST 2", b"UIDL 2"])
def test_deleted_message_refused(line):
    s = logged_in()
    assert reply(s, b"DELE 2") == b"+OK message 2 deleted\r\n"
    assert reply(s, line) == b"-ERR message 2 already deleted\r\n"
    assert s.bad_commands == 0


def test_deleted_messages_hidden_from_stat_list_uidl_and_numbers_kept():
    s = logged_in()
    s.receive_line(b"DELE 1")
    s.receive_line(b"dele 3")
    assert reply(s, b"STAT") == b"+OK 2 600\r\n"
    assert reply(s, b"LIST") == b"+OK 2 messages (600 octets)\r\n2 200\r\n4 400\r\n.\r\n"
    assert reply(s, b"UIDL") == b"+OK unique-id listing follows\r\n2 uid-2\r\n4 uid-4\r\n.\r\n"


def test_rset_restores_deleted_messages():
    s = logged_in()
    s.receive_line(b"DELE 1")
    s.receive_line(b"DELE 4")
    assert reply(s, b"RSET") == b"+OK maildrop has 4 messages (1000 octets)\r\n"
    assert reply(s, b"STAT") == b"+OK 4 1000\r\n"
    assert reply(s, b"LIST 4") == b"+OK 4 400\r\n"
    assert s.receive_line(b"QUIT") == [Commit(frozenset(), frozenset())]


def test_noop():
    assert reply(logged_in(), b"NOOP") == b"+OK\r\n"


# -- RETR and TOP ----------------------------------------------------------------------

def test_retr_asks_the_adapter_to_stream_the_message():
    s = logged_in()
    assert s.receive_line(b"RETR 3") == [SendMessage(2, b"+OK 300 octets\r\n")]
    assert s.retrieved == {2}


def test_top_asks_for_header_and_n_lines_and_does_not_count_as_retrieved():
    s = logged_in()
    assert s.receive_line(b"TOP 2 5") == [SendMessage(1, b"+OK top of message follows\r\n", body_lines=5)]
    assert s.receive_line(b"top 2 0") == [SendMessage(1, b"+OK top of message follows\r\n", body_lines=0)]
    assert s.retrieved == set()
    assert reply(s, b"LAST") == b"+OK 0\r\n"


def test_quit_commits_deleted_and_retrieved_zero_based():
    s = logged_in()
    for line in (b"RETR 1", b"RETR 3", b"RETR 3", b"DELE 3", b"DELE 4", b"TOP 2 1"):
        s.receive_line(line)
    assert s.receive_line(b"QUIT") == [Commit(frozenset({2, 3}), frozenset({0, 2}))]
    assert s.state is State.UPDATE


def test_quit_with_nothing_done_still_commits_nothing():
    assert logged_in().receive_line(b"QUIT") == [Commit(frozenset(), frozenset())]


def test_commit_sets_are_snapshots():
    s = logged_in()
    s.receive_line(b"DELE 1")
    [commit] = s.receive_line(b"QUIT")
    s.deleted.add(3)
    assert commit.deleted == frozenset({0})


# -- LAST (RFC 1460 / 1725) -----------------------------------------------------------

def test_last_is_highest_number_retrieved():
    s = logged_in()
    assert reply(s, b"LAST") == b"+OK 0\r\n"
    s.receive_line(b"RETR 3")
    assert reply(s, b"LAST") == b"+OK 3\r\n"
    s.receive_line(b"RETR 1")
    assert reply(s, b"LAST") == b"+OK 3\r\n"
    s.receive_line(b"LIST 4")
    assert reply(s, b"last") == b"+OK 3\r\n"


def test_last_starts_from_seen_messages():
    messages = (MessageInfo(1, "a", seen=True), MessageInfo(1, "b", seen=True),
                MessageInfo(1, "c"), MessageInfo(1, "d", seen=False))
    s = logged_in(messages)
    assert reply(s, b"LAST") == b"+OK 2\r\n"
    s.receive_line(b"RETR 1")
    assert reply(s, b"LAST") == b"+OK 2\r\n"
    s.receive_line(b"RETR 4")
    assert reply(s, b"LAST") == b"+OK 4\r\n"


def test_last_initial_value_is_the_highest_seen_even_with_gaps():
    messages = (MessageInfo(1, "a"), MessageInfo(1, "b"), MessageInfo(1, "c", seen=True), MessageInfo(1, "d"))
    assert reply(logged_in(messages), b"LAST") == b"+OK 3\r\n"


def test_rset_resets_last_to_its_initial_value():
    messages = (MessageInfo(1, "a", seen=True), MessageInfo(1, "b"), MessageInfo(1, "c"))
    s = logged_in(messages)
    s.receive_line(b"RETR 3")
    assert reply(s, b"LAST") == b"+OK 3\r\n"
    s.receive_line(b"RSET")
    assert reply(s, b"LAST") == b"+OK 1\r\n"


def test_deleted_messages_do_not_count_for_last():
    s = logged_in()
    s.receive_line(b"RETR 2")
    s.receive_line(b"RETR 3")
    s.receive_line(b"DELE 3")
    assert reply(s, b"LAST") == b"+OK 2\r\n"
    s.receive_line(b"DELE 2")
    s.receive_line(b"DELE 1")
    assert reply(s, b"LAST") == b"+OK 0\r\n"
    s.receive_line(b"RSET")
    assert reply(s, b"LAST") == b"+OK 0\r\n"


def test_deleting_a_lower_message_leaves_last_alone():
    s = logged_in()
    s.receive_line(b"RETR 3")
    s.receive_line(b"DELE 1")
    assert reply(s, b"LAST") == b"+OK 3\r\n"
