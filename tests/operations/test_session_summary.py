"""What the Stats line counts, read off a real Session."""

from __future__ import annotations

from pop3d.core.messages import MessageInfo
from pop3d.core.policy import SessionPolicy
from pop3d.core.session import Session
from pop3d.logs.stats import failed_login_line, login_line, stats_line
from pop3d.server.observers import summarize


def logged_in_session(sizes: list[int]) -> Session:
    session = Session(SessionPolicy(), "<1.2@test>")
    session.receive_line(b"USER alice")
    session.receive_line(b"PASS secret")
    messages = [MessageInfo(size=s, uid=f"u{i}") for i, s in enumerate(sizes)]
    session.login_succeeded("alice", messages)
    return session


def test_deletions_count_only_after_a_successful_commit():
    session = logged_in_session([100, 200, 300])
    session.receive_line(b"DELE 1")
    session.receive_line(b"DELE 3")
    dropped = summarize(session, committed=False)
    assert (dropped.deleted_messages, dropped.deleted_octets) == (0, 0)
    assert (dropped.left_messages, dropped.left_octets) == (3, 600)
    session.receive_line(b"QUIT")
    session.commit_finished(None)
    done = summarize(session, committed=True)
    assert (done.user, done.committed) == ("alice", True)
    counts = (done.deleted_messages, done.deleted_octets, done.left_messages, done.left_octets)
    assert counts == (2, 400, 1, 200)


def test_a_failed_commit_deletes_nothing():
    session = logged_in_session([100, 200])
    session.receive_line(b"DELE 1")
    session.receive_line(b"QUIT")
    session.commit_finished("could not update the maildrop")
    summary = summarize(session, committed=True)
    assert (summary.committed, summary.deleted_messages, summary.left_messages) == (False, 0, 2)


def test_no_login_no_user():
    assert summarize(Session(SessionPolicy(), "<1@t>"), committed=False).user is None


def test_qpopper_wording():
    summary = summarize(logged_in_session([10]), committed=False)
    assert stats_line("alice", summary, "localhost", "127.0.0.1") == \
        "Stats: alice 0 0 1 10 localhost 127.0.0.1"
    assert login_line("0.1.0", "alice", "h.example", "192.0.2.1") == \
        '(v0.1.0) POP login by user "alice" at (h.example) 192.0.2.1'
    assert failed_login_line("bob", "h.example", "192.0.2.1") == \
        "[AUTH] Failed attempted login to bob from host (h.example) 192.0.2.1"
