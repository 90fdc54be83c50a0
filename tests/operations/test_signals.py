"""SIGTERM stops gracefully without committing what was not QUIT; SIGHUP reloads without dropping sessions."""

from __future__ import annotations

import signal
import socket
import time

import pytest
from daemons import login
from maildrop_builders import make_mbox
from support import HOST, Client, write_config

NO_DELAY = {"auth": {"trusted_networks": ["127.0.0.0/8"]}}


@pytest.fixture
def users(tmp_path):
    make_mbox(str(tmp_path / "alice.mbox"), 2)
    return {"alice": {"password": "alice-pw", "maildrop": f"mbox:{tmp_path}/alice.mbox"}}


def mbox(tmp_path) -> bytes:
    with open(tmp_path / "alice.mbox", "rb") as f:
        return f.read()


def wait_refused(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex((HOST, port)) != 0:
                return
        time.sleep(0.05)
    raise AssertionError("the server still accepts connections")


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_sigterm_lets_an_open_session_quit_and_commit(tmp_path, make_server, users, signum):
    """SIGINT (Ctrl-C) used to stop at once, dropping the open sessions; now it is SIGTERM."""
    server = make_server(users, extra={**NO_DELAY, "shutdown_grace": 30})
    client = Client.connect(server.port)
    assert login(client, "alice", "alice-pw").startswith(b"+OK")
    assert client.cmd("DELE 1").startswith(b"+OK")
    server.signal(signum)
    wait_refused(server.port)
    assert client.cmd("STAT").startswith(b"+OK 1 ")  # the session goes on during the grace period
    assert client.cmd("QUIT").startswith(b"+OK")
    started = time.monotonic()
    assert server.proc.wait(10) == 0
    assert time.monotonic() - started < 5  # it did not sit out the 30 s grace
    assert b"Subject: message 0" not in mbox(tmp_path) and b"Subject: message 1" in mbox(tmp_path)


def test_sigterm_closes_sessions_after_the_grace_period_without_committing(tmp_path, make_server, users):
    server = make_server(users, extra={**NO_DELAY, "shutdown_grace": 1})
    before = mbox(tmp_path)
    client = Client.connect(server.port)
    assert login(client, "alice", "alice-pw").startswith(b"+OK")
    assert client.cmd("DELE 1").startswith(b"+OK")
    started = time.monotonic()
    server.signal(signal.SIGTERM)
    assert client.line() == b"-ERR [SYS/TEMP] server shutting down; no messages were deleted"
    assert client.closed()
    assert 0.9 < time.monotonic() - started < 5
    assert server.proc.wait(10) == 0
    assert mbox(tmp_path) == before


def test_sighup_reloads_users_without_dropping_sessions(tmp_path, make_server, users):
    server = make_server(users, extra=NO_DELAY)
    client = Client.connect(server.port)
    assert login(client, "alice", "alice-pw").startswith(b"+OK")
    make_mbox(str(tmp_path / "carol.mbox"), 1)
    write_config(str(tmp_path), {**users, "carol": {"password": "carol-pw",
                                                    "maildrop": f"mbox:{tmp_path}/carol.mbox"}},
                 server.port, NO_DELAY)
    server.signal(signal.SIGHUP)
    deadline = time.monotonic() + 10
    while True:
        other = Client.connect(server.port)
        reply = login(other, "carol", "carol-pw")
        other.close()
        if reply.startswith(b"+OK carol has 1 messages") or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert reply.startswith(b"+OK carol has 1 messages")
    assert client.cmd("STAT").startswith(b"+OK 2 ")  # the open session was not disturbed
    assert client.cmd("QUIT").startswith(b"+OK")


def test_a_broken_config_on_sighup_keeps_the_old_one_and_says_why_once(tmp_path, make_server, users):
    server = make_server(users, extra=NO_DELAY)
    with open(server.config_path, "a") as f:
        f.write("no_such_setting: 1\n")
    server.signal(signal.SIGHUP)
    deadline = time.monotonic() + 10
    while "reload failed" not in server.log() and time.monotonic() < deadline:
        time.sleep(0.05)
    lines = [line for line in server.log().splitlines() if "reload failed" in line]
    assert len(lines) == 1, server.log()
    assert "keeping the old configuration" in lines[0] and "no_such_setting: unknown setting" in lines[0]
    client = Client.connect(server.port)
    assert login(client, "alice", "alice-pw").startswith(b"+OK")
    client.cmd("QUIT")
    client.close()
