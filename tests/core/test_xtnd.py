"""XTND XLIST and XMIT in the sans-IO session."""

from __future__ import annotations

import pytest

from pop3d.core.actions import (
    DropSubmission,
    Send,
    SendHeaderList,
    SpoolSubmission,
    StartSubmission,
    Submit,
)
from pop3d.core.messages import MessageInfo
from pop3d.core.policy import SessionPolicy
from pop3d.core.session import Session

MESSAGES = [MessageInfo(100, "a"), MessageInfo(200, "b"), MessageInfo(300, "c")]


def session(xtnd: bool = True, limit: int = 1000, **policy) -> Session:
    policy.setdefault("xmit_mail_domain", "example.org")
    s = Session(SessionPolicy(xtnd=xtnd, xmit_max_message=limit, **policy), "<c@h>")
    s.receive_line(b"USER alice")
    s.receive_line(b"PASS pw")
    s.login_succeeded("alice", MESSAGES)
    return s


def text(actions) -> bytes:
    return b"".join(a.data for a in actions if isinstance(a, Send))


def test_xlist_lists_every_live_message():
    s = session()
    s.receive_line(b"DELE 2")
    [action] = s.receive_line(b"XTND XLIST Subject")
    assert action == SendHeaderList("Subject", (0, 2), b"+OK Subject header list follows\r\n")


def test_xlist_one_message_and_lowercase_subcommand():
    s = session()
    [action] = s.receive_line(b"xtnd xlist from 3")
    assert isinstance(action, SendHeaderList)
    assert (action.header, action.indices) == ("from", (2,))


@pytest.mark.parametrize("line, reply", [
    (b"XTND XLIST", b"-ERR usage: XTND XLIST header [msg]\r\n"),
    (b"XTND XLIST Sub:ject", b"-ERR invalid header name\r\n"),
    (b"XTND XLIST Subject 9", b"-ERR no such message, only 3 in maildrop\r\n"),
    (b"XTND XLIST Subject x", b"-ERR invalid message number\r\n"),
    (b"XTND XLIST Subject 1 2", b"-ERR usage: XTND XLIST header [msg]\r\n"),
    (b"XTND FOO", b"-ERR unknown XTND subcommand; try XLIST or XMIT\r\n"),
    (b"XTND XMIT now", b"-ERR XTND XMIT takes no arguments\r\n"),
])
def test_bad_xtnd_commands(line, reply):
    assert text(session().receive_line(line)) == reply


def test_xlist_of_deleted_message_refused():
    s = session()
    s.receive_line(b"DELE 1")
    assert text(s.receive_line(b"XTND XLIST Subject 1")) == b"-ERR message 1 already deleted\r\n"


def test_xtnd_disabled_is_an_unknown_command():
    s = session(xtnd=False)
    assert text(s.receive_line(b"XTND XLIST Subject")) == b"-ERR unknown command\r\n"
    assert s.bad_commands == 1


def test_xtnd_not_valid_before_login():
    s = Session(SessionPolicy(xtnd=True), "<c@h>")
    assert text(s.receive_line(b"XTND XLIST Subject")).startswith(b"-ERR XTND not valid")


def test_xmit_spools_unstuffed_lines_and_submits_as_user():
    s = session()
    start = s.receive_line(b"XTND XMIT")
    assert isinstance(start[0], StartSubmission)
    assert text(start).startswith(b"+OK ")
    assert s.receive_line(b"From: alice@example.org") == [SpoolSubmission(b"From: alice@example.org\n")]
    assert s.receive_line(b"To: bob@example.org") == [SpoolSubmission(b"To: bob@example.org\n")]
    assert s.receive_line(b"") == [SpoolSubmission(b"\n")]
    assert s.receive_line(b"..leading dot") == [SpoolSubmission(b".leading dot\n")]
    assert s.receive_line(b"STAT") == [SpoolSubmission(b"STAT\n")]  # data, not a command
    assert s.receive_line(b".") == [Submit("alice@example.org", "alice")]
    assert s.continuation is None
    assert text(s.submission_finished()) == b"+OK message submitted\r\n"
    assert text(s.receive_line(b"STAT")) == b"+OK 3 600\r\n"


def test_xmit_over_the_limit_is_discarded_while_reading():
    s = session(limit=30)
    s.receive_line(b"XTND XMIT")
    assert s.receive_line(b"X: " + b"x" * 17) == [SpoolSubmission(b"X: " + b"x" * 17 + b"\n")]
    assert s.receive_line(b"y" * 20) == [DropSubmission()]
    # The rest is read and dropped: nothing more to spool, no command run.
    assert s.receive_line(b"DELE 1") == []
    assert s.receive_line(b".") == [Send(b"-ERR message exceeds 30 octets; discarded\r\n")]
    assert s.deleted == set()
    assert text(s.receive_line(b"NOOP")) == b"+OK\r\n"


def test_xmit_long_line_spoils_the_message_but_not_the_framing():
    s = session()
    s.receive_line(b"XTND XMIT")
    s.receive_line(b"Subject: x")
    assert s.line_too_long() == [DropSubmission()]
    assert s.line_too_long() == []
    assert s.receive_line(b"QUIT") == []
    reply = text(s.receive_line(b"."))
    assert reply == b"-ERR message has a line over the length limit; discarded\r\n"
    assert s.bad_commands == 0
    assert text(s.receive_line(b"NOOP")) == b"+OK\r\n"


def test_empty_xmit_message_is_refused():
    s = session()
    s.receive_line(b"XTND XMIT")
    actions = s.receive_line(b".")
    assert isinstance(actions[0], DropSubmission)
    assert text(actions) == b"-ERR empty message; nothing sent\r\n"


def test_submission_failure_keeps_the_session():
    s = session()
    s.receive_line(b"XTND XMIT")
    s.receive_line(b"To: x")
    s.receive_line(b".")
    reply = text(s.submission_finished("message not sent: exited with status 1", "SYS/PERM"))
    assert reply == b"-ERR [SYS/PERM] message not sent: exited with status 1\r\n"
    assert text(s.receive_line(b"STAT")) == b"+OK 3 600\r\n"


def test_capa_advertises_xtnd_only_when_enabled():
    assert "XTND" in text(session().receive_line(b"CAPA")).decode().split("\r\n")
    assert "XTND" not in text(session(xtnd=False).receive_line(b"CAPA")).decode().split("\r\n")


def test_monitor_and_poll_marks_on_the_session():
    s = Session(SessionPolicy(), "<c@h>")
    s.receive_line(b"USER mon")
    s.receive_line(b"PASS pw")
    s.login_succeeded("mon", [], monitor=True)
    assert (s.monitor, s.poll) == (True, False)


def xmit(s: Session, lines: list[bytes]) -> list:
    """Send a message; every action, spooled data joined into one SpoolSubmission first."""
    s.receive_line(b"XTND XMIT")
    actions = [a for line in lines + [b"."] for a in s.receive_line(line)]
    spooled = b"".join(a.data for a in actions if isinstance(a, SpoolSubmission))
    return [SpoolSubmission(spooled), *(a for a in actions if not isinstance(a, SpoolSubmission))]


def test_forged_from_gets_a_sender_header_and_client_sender_is_dropped():
    actions = xmit(session(), [b"From: ceo@bank.example", b"Sender: ceo@bank.example", b"\tfolded",
                               b"To: bob@example.org", b"", b"Sender: in the body stays"])
    assert actions == [SpoolSubmission(b"From: ceo@bank.example\nTo: bob@example.org\n"
                                       b"Sender: alice@example.org\n\nSender: in the body stays\n"),
                       Submit("alice@example.org", "alice")]


def test_forged_from_refused_under_enforce():
    actions = xmit(session(xmit_from_policy="enforce"),
                   [b"From: Alice <alice@example.org>, ceo@bank.example", b"To: bob@example.org", b"", b"x"])
    assert actions[1:] == [DropSubmission(),
                           Send(b"-ERR From: must be your address alice@example.org; discarded\r\n")]


def test_own_from_passes_enforce_unchanged_and_missing_from_is_added():
    s = session(xmit_from_policy="enforce")
    actions = xmit(s, [b"From: Alice <ALICE@example.org>", b"To: bob@example.org", b"", b"x"])
    assert actions == [SpoolSubmission(b"From: Alice <ALICE@example.org>\nTo: bob@example.org\n\nx\n"),
                       Submit("alice@example.org", "alice")]
    s.submission_finished()
    actions = xmit(s, [b"To: bob@example.org", b"no header, so the body begins"])
    assert actions[0] == SpoolSubmission(b"To: bob@example.org\nFrom: alice@example.org\n\n"
                                         b"no header, so the body begins\n")


def test_too_many_recipients_refused():
    s = session(xmit_max_recipients=3)
    actions = xmit(s, [b"From: alice@example.org", b"To: a@x.example, b@x.example", b"Bcc: c@x.example,",
                       b" d@x.example", b"", b"spam"])
    assert actions[1:] == [DropSubmission(),
                           Send(b"-ERR too many recipients (4); at most 3 per message; discarded\r\n")]
    s = session(xmit_max_recipients=3)
    assert xmit(s, [b"To: a@x.example, b@x.example, c@x.example"])[-1] == Submit("alice@example.org", "alice")
