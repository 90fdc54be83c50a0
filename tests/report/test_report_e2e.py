"""pop3d-stats end to end: a real pop3d -s -d logs through a real rsyslogd, and the report adds up.

rsyslogd writes the same lines twice, in the traditional layout and in its
modern RFC 3339 one, and the report must give the same numbers for both.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
from maildrop_builders import make_mbox
from support import Client, require_tool

PASSWORDS = {"alice": "alice-Secret-1", "bob": "bob-Secret-2", "mon": "mon-Secret-3"}
LAYOUTS = {"mail.log": "RSYSLOG_TraditionalFileFormat", "mail-rfc3339.log": "RSYSLOG_FileFormat"}


@contextlib.contextmanager
def rsyslogd(workdir: str) -> Iterator[str]:
    """A private rsyslogd writing facility mail to one file per layout; yields its socket."""
    binary = require_tool("rsyslogd")
    sock = os.path.join(workdir, "log.sock")
    conf = os.path.join(workdir, "rsyslog.conf")
    actions = "".join(f'mail.*  action(type="omfile" file="{os.path.join(workdir, name)}" '
                      f'template="{template}")\n' for name, template in LAYOUTS.items())
    with open(conf, "w") as f:
        f.write(f'global(workDirectory="{workdir}")\nmodule(load="imuxsock" SysSock.Use="off")\n'
                f'input(type="imuxsock" Socket="{sock}" RateLimit.Interval="0")\n{actions}')
    proc = subprocess.Popen([binary, "-n", "-f", conf, "-i", os.path.join(workdir, "rsyslogd.pid")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    try:
        deadline = time.monotonic() + 10
        while not os.path.exists(sock):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"rsyslogd did not start: {proc.stderr.read().decode()}")  # type: ignore[union-attr]
            time.sleep(0.05)
        yield sock
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)


def wait_for(path: str, text: str, count: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    content = ""
    while time.monotonic() < deadline:
        with contextlib.suppress(FileNotFoundError), open(path, errors="replace") as f:
            content = f.read()
        if content.count(text) >= count:
            return
        time.sleep(0.05)
    raise AssertionError(f"{count} x {text!r} never reached {path}:\n{content}")


def session(port: int, user: str, password: str, *commands: str) -> list[bytes]:
    """Log in, run ``commands`` (reading multi-line answers whole), QUIT; the answers."""
    client = Client.connect(port)
    try:
        assert client.line().startswith(b"+OK")
        assert client.cmd(f"USER {user}").startswith(b"+OK")
        answer = client.cmd(f"PASS {password}")
        if not answer.startswith(b"+OK"):
            client.cmd("QUIT")
            return [answer]
        answers = []
        for command in commands:
            answer = client.cmd(command)
            assert answer.startswith(b"+OK"), (command, answer)
            verb, *arguments = command.split()
            if verb in ("RETR", "TOP") or verb in ("LIST", "UIDL") and not arguments:
                answers.append(b"\n".join(client.multiline()))
            else:
                answers.append(answer)
        assert client.cmd("QUIT").startswith(b"+OK")
        return answers
    finally:
        client.close()


@pytest.fixture
def mail_logs(tmp_path, make_server) -> dict[str, object]:
    """Run a morning's sessions against pop3d -s -d; the mail.logs and the message sizes."""
    make_mbox(str(tmp_path / "alice.mbox"), 3)
    make_mbox(str(tmp_path / "bob.mbox"), 3, body_size=700)
    users = {user: {"password": pw, "maildrop": f"mbox:{tmp_path}/{user}.mbox"}
             for user, pw in PASSWORDS.items()}
    logdir = tmp_path / "syslog"
    logdir.mkdir()
    with rsyslogd(str(logdir)) as sock:
        server = make_server(users, args=["-s", "-d"], extra={
            "logging": {"syslog_socket": sock}, "monitors": ["mon"]})
        listing = session(server.port, "alice", PASSWORDS["alice"], "LIST")[0]
        alice_sizes = [int(line.split()[1]) for line in listing.splitlines()]
        # alice fetches 1 and 2 (1 twice), reads the headers of 3, deletes 1.
        session(server.port, "alice", PASSWORDS["alice"], "RETR 1", "RETR 2", "RETR 1", "TOP 3 0", "DELE 1")
        listing = session(server.port, "bob", PASSWORDS["bob"], "LIST")[0]
        bob_sizes = [int(line.split()[1]) for line in listing.splitlines()]
        assert session(server.port, "bob", "wrong")[0].startswith(b"-ERR [AUTH]")
        assert session(server.port, "nobody", "wrong")[0].startswith(b"-ERR [AUTH]")
        # bob fetches and deletes everything.
        session(server.port, "bob", PASSWORDS["bob"],
                "RETR 1", "RETR 2", "RETR 3", "DELE 1", "DELE 2", "DELE 3")
        session(server.port, "mon", PASSWORDS["mon"])  # a health check
        session(server.port, "alice", PASSWORDS["alice"], "STAT")
        for name in LAYOUTS:
            wait_for(str(logdir / name), "Stats: ", 6)
            wait_for(str(logdir / name), "Failed attempted login", 2)
        server.stop()
    return {"logs": [str(logdir / name) for name in LAYOUTS], "alice": alice_sizes, "bob": bob_sizes}


def pop3d_stats(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pop3d.report", *argv],
                          capture_output=True, text=True, timeout=60)


def test_report_of_a_real_servers_mail_log(mail_logs):
    alice, bob = mail_logs["alice"], mail_logs["bob"]
    reports = []
    for log in mail_logs["logs"]:
        run = pop3d_stats("--json", log)
        assert run.returncode == 0, run.stderr
        reports.append(json.loads(run.stdout))
    traditional, modern = reports
    assert traditional["totals"] == {
        "sessions": 5, "logins": 6, "early_polls": 0, "failed_logins": 2, "refused_logins": 0,
        "retrieved_messages": 5, "deleted_messages": 4, "deleted_bytes": alice[0] + sum(bob),
        "users": 2, "addresses": 1, "monitor_sessions": 1,
    }
    users = {u["user"]: u for u in traditional["users"]}
    assert users["alice"] == {"user": "alice", "sessions": 3, "early_polls": 0, "failed_logins": 0,
                              "refused_logins": 0, "retrieved_messages": 2, "deleted_messages": 1,
                              "deleted_bytes": alice[0], "left_messages": 2, "left_bytes": sum(alice[1:])}
    assert users["bob"] == {"user": "bob", "sessions": 2, "early_polls": 0, "failed_logins": 1,
                            "refused_logins": 0, "retrieved_messages": 3, "deleted_messages": 3,
                            "deleted_bytes": sum(bob), "left_messages": 0, "left_bytes": 0}
    assert users["nobody"]["failed_logins"] == 1 and users["nobody"]["sessions"] == 0
    assert traditional["monitors"] == [{"user": "mon", "address": "127.0.0.1", "sessions": 1}]
    [address] = traditional["addresses"]
    assert (address["address"], address["sessions"], address["users"], address["failed_logins"]) == \
        ("127.0.0.1", 5, 2, 2)
    clients = {(c["user"], c["address"]): c for c in traditional["polling_clients"]}
    assert clients[("alice", "127.0.0.1")]["sessions"] == 3
    assert 0 <= clients[("alice", "127.0.0.1")]["median_interval_seconds"] < 60
    assert sum(traditional["sessions_per_hour"].values()) == 5
    assert traditional["lines"]["malformed"] == 0
    assert traditional["lines"]["other_programs"] == 0
    # The RFC 3339 layout carries the same lines: the same numbers (its stamps have sub-seconds).
    for key in ("totals", "users", "addresses", "monitors", "sessions_per_hour", "lines", "sessions_per_day"):
        assert modern[key] == traditional[key], key


def test_text_report_of_both_layouts_at_once(mail_logs):
    run = pop3d_stats(*mail_logs["logs"])
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    summary = dict(re.split(r"\s{2,}", line.strip()) for line in lines[lines.index("Summary") + 2:][:11])
    assert summary["sessions"] == "10" and summary["monitor sessions (not counted above)"] == "2"
    alice = lines[lines.index("Per user") + 3].split()
    assert alice[:2] == ["alice", "6"]
