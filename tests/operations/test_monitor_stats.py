"""Monitor and LOGIN-DELAY poll sessions carry a mark in the Stats log (-s)."""

from __future__ import annotations

import re

from daemons import login, rsyslogd
from maildrop_builders import make_maildir
from support import Client

from pop3d.core.policy import SessionPolicy
from pop3d.core.session import Session
from pop3d.logs.stats import stats_line
from pop3d.server.observers import summarize


def summary_of(**marks: bool):
    session = Session(SessionPolicy(), "<1@t>")
    session.receive_line(b"USER mon")
    session.receive_line(b"PASS pw")
    session.login_succeeded("mon", [], **marks)
    return summarize(session, committed=False)


def test_stats_line_marks():
    line = "Stats: mon 0 0 0 0 h 192.0.2.1"
    assert stats_line("mon", summary_of(monitor=True), "h", "192.0.2.1") == line + " monitor"
    assert stats_line("mon", summary_of(poll=True), "h", "192.0.2.1") == line + " poll"
    assert stats_line("mon", summary_of(), "h", "192.0.2.1") == line


def session(port: int, user: str, password: str) -> None:
    client = Client.connect(port)
    try:
        assert login(client, user, password).startswith(b"+OK")
        assert client.cmd("QUIT").startswith(b"+OK")
    finally:
        client.close()


def test_monitor_and_poll_sessions_are_marked_in_mail_log(tmp_path, make_server):
    make_maildir(str(tmp_path / "alice"), 2)
    users = {"alice": {"password": "alice-pw", "maildrop": f"maildir:{tmp_path}/alice"},
             "mon": {"password": "mon-pw", "maildrop": "maildir:/nonexistent/mon"}}
    logdir = tmp_path / "syslog"
    logdir.mkdir()
    with rsyslogd(str(logdir)) as syslog:
        server = make_server(users, args=["-s"], extra={
            "logging": {"syslog_socket": syslog.socket_path},
            "monitors": ["mon"],
            "login_delay": {"seconds": 3600, "state_dir": str(tmp_path / "state")},
        })
        session(server.port, "mon", "mon-pw")
        session(server.port, "alice", "alice-pw")  # real
        session(server.port, "alice", "alice-pw")  # poll
        log = syslog.wait_for(" poll\n")
    stats = [line.split(": ", 1)[1] for line in log.splitlines() if ": Stats: " in line]
    assert len(stats) == 3, log
    assert re.fullmatch(r"Stats: mon 0 0 0 0 \S+ 127\.0\.0\.1 monitor", stats[0])
    assert re.fullmatch(r"Stats: alice 0 0 2 \d+ \S+ 127\.0\.0\.1", stats[1])
    assert re.fullmatch(r"Stats: alice 0 0 0 0 \S+ 127\.0\.0\.1 poll", stats[2])
