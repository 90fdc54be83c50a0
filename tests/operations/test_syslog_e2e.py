"""-s and -d end to end: a real rsyslogd writes mail.log, and Debian's logwatch reads it."""

from __future__ import annotations

import os
import re
import subprocess

import pytest
from daemons import login, rsyslogd
from maildrop_builders import make_mbox
from support import Client, require_tool

PASSWORDS = {"alice": "alice-Secret-1", "bob": "bob-Secret-2"}
NO_DELAY = {"trusted_networks": ["127.0.0.0/8"]}


def mbox_sizes(server, user: str) -> list[int]:
    """Wire sizes of the user's messages, as LIST reports them."""
    client = Client.connect(server.port)
    try:
        assert login(client, user, PASSWORDS[user]).startswith(b"+OK")
        client.cmd("LIST")
        sizes = [int(line.split()[1]) for line in client.multiline()]
        client.cmd("QUIT")
        return sizes
    finally:
        client.close()


def run_sessions(server) -> list[int]:
    """alice deletes message 1 and QUITs; drops a DELE without QUIT; bob fails to log in."""
    sizes = mbox_sizes(server, "alice")
    client = Client.connect(server.port)
    assert login(client, "alice", PASSWORDS["alice"]).startswith(b"+OK")
    assert client.cmd("DELE 1").startswith(b"+OK")
    assert client.cmd("QUIT").startswith(b"+OK")
    client.close()
    client = Client.connect(server.port)
    assert login(client, "alice", PASSWORDS["alice"]).startswith(b"+OK")
    assert client.cmd("DELE 1").startswith(b"+OK")
    client.close()  # no QUIT: nothing may be deleted
    client = Client.connect(server.port)
    assert login(client, "bob", "wrong password").startswith(b"-ERR [AUTH]")
    assert client.cmd("QUIT").startswith(b"+OK")
    client.close()
    return sizes


@pytest.fixture
def users(tmp_path):
    for user in PASSWORDS:
        make_mbox(str(tmp_path / f"{user}.mbox"), 3)
    return {user: {"password": pw, "maildrop": f"mbox:{tmp_path}/{user}.mbox"}
            for user, pw in PASSWORDS.items()}


def test_stats_login_and_debug_lines_reach_mail_log(tmp_path, make_server, users):
    logdir = tmp_path / "syslog"
    logdir.mkdir()
    with rsyslogd(str(logdir)) as syslog:
        server = make_server(users, args=["-s", "-d"],
                             extra={"logging": {"syslog_socket": syslog.socket_path}, "auth": NO_DELAY})
        sizes = run_sessions(server)
        log = syslog.wait_for("Failed attempted login to bob")
        log = syslog.wait_for("Stats: alice 0 0 2", timeout=10)
    lines = [line for line in log.splitlines() if " pop3d[" in line]
    host = r"(?:localhost|127\.0\.0\.1)"
    stats = [line.split(": ", 1)[1] for line in lines if ": Stats: " in line]
    assert stats[0] == f"Stats: alice 0 0 3 {sum(sizes)} {stats[0].split()[-2]} 127.0.0.1"  # the LIST session
    assert re.fullmatch(rf"Stats: alice 1 {sizes[0]} 2 {sizes[1] + sizes[2]} {host} 127\.0\.0\.1", stats[1])
    assert re.fullmatch(rf"Stats: alice 0 0 2 {sizes[1] + sizes[2]} {host} 127\.0\.0\.1", stats[2])
    assert not any("Stats: bob" in s for s in stats)
    assert any(re.search(rf'\(v[0-9.]+\) POP login by user "alice" at \({host}\) 127\.0\.0\.1$', line)
               for line in lines)
    assert any(re.search(rf"\[AUTH\] Failed attempted login to bob from host \({host}\) 127\.0\.0\.1$", line)
               for line in lines)
    # -d: commands with the secrets redacted, and state changes.
    assert any(line.endswith("C: PASS <redacted>") for line in lines)
    assert any("state AUTHORIZATION -> AUTHENTICATING" in line for line in lines)
    assert any("state TRANSACTION -> UPDATE" in line for line in lines)
    for secret in (*PASSWORDS.values(), "wrong password"):
        assert secret not in log


def test_logwatch_in_qpopper_reads_our_mail_log(tmp_path, make_server, users):
    logwatch = require_tool("logwatch")
    logdir = tmp_path / "syslog"
    logdir.mkdir()
    with rsyslogd(str(logdir)) as syslog:
        server = make_server(users, args=["-s"], extra={
            "logging": {"syslog_socket": syslog.socket_path, "ident": "in.qpopper"}, "auth": NO_DELAY})
        sizes = run_sessions(server)
        syslog.wait_for("Stats: alice 0 0 2")
        server.stop()
    report = subprocess.run(
        [logwatch, "--service", "in.qpopper", "--detail", "10", "--range", "All", "--output", "stdout",
         "--logdir", str(logdir), "--hostformat", "none"],
        capture_output=True, text=True, timeout=60, env=dict(os.environ, TZ="UTC"),
    ).stdout
    assert "in.qpopper Begin" in report, report
    row = re.search(r"^ *alice +(\d+) +\| +(\d+) +(\d+) +\| +(\d+) +(\d+) +\|$", report, re.M)
    assert row, report
    # Three sessions; one message deleted; two kept (KBytes as logwatch rounds them).
    assert row.groups() == ("3", "1", str(sizes[0] // 1024), "2", str((sizes[1] + sizes[2]) // 1024)), report
    assert re.search(r"^ *bob: 1 time\(s\)\.$", report, re.M), report
    assert "Unmatched Entries" not in report, report


def test_without_syslog_sessions_work_and_stderr_says_so_once(tmp_path, make_server, users):
    server = make_server(users, args=["-s"], extra={
        "logging": {"syslog_socket": str(tmp_path / "no-syslog-here")}, "auth": NO_DELAY})
    for _ in range(2):
        client = Client.connect(server.port)
        assert login(client, "alice", PASSWORDS["alice"]).startswith(b"+OK")
        assert client.cmd("QUIT").startswith(b"+OK")
        client.close()
    server.stop()
    log = server.log()
    assert log.count("syslog is unavailable") == 1, log
    assert log.count("Stats: alice 0 0 3 ") == 2, log


#: A user name (USER refuses spaces and C0 controls) carrying Unicode separators that a
#: syslog reader takes for spaces or line breaks, and a forged segment for fail2ban-style parsers.
FORGED_USER = "x\u2028from\u2028host\u2028(evil.example)\u2029203.0.113.9\u0085"
ESCAPED_USER = r"x\u2028from\u2028host\u2028(evil.example)\u2029203.0.113.9\x85"


def test_user_name_with_line_separators_cannot_forge_a_failed_login_line(tmp_path, make_server, users):
    logdir = tmp_path / "syslog"
    logdir.mkdir()
    trace = tmp_path / "trace.log"
    with rsyslogd(str(logdir)) as syslog:
        server = make_server(users, args=["-s", "-d", "-t", str(trace)],
                             extra={"logging": {"syslog_socket": syslog.socket_path}, "auth": NO_DELAY})
        client = Client.connect(server.port)
        client.line()
        client.cmd("USER " + FORGED_USER)
        assert client.cmd("PASS guess").startswith(b"-ERR [AUTH]")
        client.cmd("QUIT")
        client.close()
        log = syslog.wait_for("Failed attempted login to")
        log = syslog.wait_for("closed before login", timeout=10)
    failed = [line for line in log.splitlines() if "Failed attempted login" in line]
    assert len(failed) == 1
    # What a fail2ban filter reads: one "from host", the real address last.
    assert failed[0].count("from host (") == 1
    assert re.search(rf"Failed attempted login to {re.escape(ESCAPED_USER)} "
                     r"from host \((localhost|127\.0\.0\.1)\) 127\.0\.0\.1$", failed[0]), failed[0]
    assert any(line.endswith(f"C: USER {ESCAPED_USER}") for line in log.splitlines())  # -d
    assert f"C: USER {ESCAPED_USER}\n" in trace.read_text(encoding="utf-8")  # -t
    for text in (log, trace.read_text(encoding="utf-8")):
        assert not any(c in text for c in "\u2028\u2029\u0085")
