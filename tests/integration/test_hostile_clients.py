"""Limits that keep the server alive, over real sockets: each test names the attack it stops."""

from __future__ import annotations

import contextlib
import os
import socket
import time

import pytest
from support import Client, rss_kib, running_server


def make_maildir(path: str, messages: list[bytes]) -> None:
    for sub in ("new", "cur", "tmp"):
        os.makedirs(os.path.join(path, sub), exist_ok=True)
    for i, m in enumerate(messages):
        with open(os.path.join(path, "cur", f"17000000{i:02d}.M{i}P1.test:2,"), "wb") as f:
            f.write(m)


def greeted(port: int) -> Client:
    c = Client.connect(port)
    assert c.line().startswith(b"+OK")
    return c


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """Short idle timeout and small limits, so attacks are cheap to stage."""
    workdir = str(tmp_path_factory.mktemp("hostile"))
    make_maildir(os.path.join(workdir, "alice"), [b"Subject: a\n\nbody\n"])
    users = {"alice": {"password": "alice-pw", "maildrop": f"maildir:{workdir}/alice"}}
    limits = {"max_line": 512, "max_bad_commands": 5, "max_connections_per_address": 6}
    extra = {"timeout": 2, "limits": limits}
    with running_server(workdir, users, extra) as srv:
        yield srv


def test_line_without_end_gets_err_at_once_and_is_dropped_to_its_end(server):
    """Today's answer came only with the CRLF: a 10 MB line got nothing back for as long as it took."""
    c = greeted(server.port)
    before = rss_kib(server.proc.pid)
    c.send(b"USER " + b"X" * 4096)
    c.sock.settimeout(2)
    assert c.line() == b"-ERR line too long"  # before any CRLF
    for _ in range(14):  # 900 KB more: under limits.max_line_discard (1 MiB), dropped as it comes
        c.send(b"X" * 65536)
    c.send(b"\r\n")
    assert c.cmd("CAPA") == b"+OK capability list follows"  # no second answer for the long line
    c.multiline()
    assert rss_kib(server.proc.pid) - before < 8 * 1024
    c.cmd("QUIT")


def test_line_past_the_discard_bound_closes_the_connection(server):
    c = greeted(server.port)
    before = rss_kib(server.proc.pid)
    # Just past 1 MiB: the server reads all of it, so its close is a FIN, never a reset.
    for _ in range(18):
        c.send(b"X" * 65536)
    assert c.line() == b"-ERR line too long"
    assert c.line() == b"-ERR line too long, closing"
    assert c.closed()
    with contextlib.suppress(OSError):  # nothing more is read from it
        c.send(b"X" * 65536)
    grown = rss_kib(server.proc.pid) - before
    assert grown < 8 * 1024, f"server grew by {grown} KiB while a line of over 1 MiB arrived"
    greeted(server.port).cmd("QUIT")  # the server goes on


def test_line_over_the_limit_gets_err_and_the_session_goes_on(server):
    c = greeted(server.port)
    c.send(b"USER " + b"a" * 600 + b"\r\nUSER alice\r\n")
    assert c.line() == b"-ERR line too long"
    assert c.line() == b"+OK password required for alice"
    assert c.cmd("PASS alice-pw").startswith(b"+OK alice has 1 messages")
    c.cmd("QUIT")


def test_invalid_commands_in_a_row_end_with_a_final_err_and_close(server):
    c = greeted(server.port)
    c.send(b"\x00\x01\x02\r\nHELO\r\nGET / HTTP/1.0\r\nRETR 1\r\n\r\n")
    replies = [c.line() for _ in range(6)]
    assert replies[:5] == [b"-ERR unknown command"] * 3 + [
        b"-ERR RETR not valid in the AUTHORIZATION state", b"-ERR unknown command"]
    assert replies[5] == b"-ERR too many invalid commands, closing"
    assert c.closed()


def test_slowloris_partial_line_times_out(server):
    c = greeted(server.port)
    start = time.monotonic()
    try:
        for byte in b"USER alice_and_a_very_long_name_sent_slowly":
            c.send(bytes([byte]))
            time.sleep(0.25)
    except OSError:
        pass  # the server hung up mid-dribble
    assert c.closed(timeout=5)
    assert c.buf == b"-ERR autologout; idle for too long\r\n"
    assert time.monotonic() - start < 6


def test_idle_timeout_in_transaction_commits_nothing(server):
    c = greeted(server.port)
    c.cmd("USER alice")
    c.cmd("PASS alice-pw")
    assert c.cmd("DELE 1") == b"+OK message 1 deleted"
    assert c.closed(timeout=5)
    assert c.buf == b"-ERR autologout; idle for too long\r\n"
    again = greeted(server.port)
    again.cmd("USER alice")
    assert again.cmd("PASS alice-pw").startswith(b"+OK alice has 1 messages")
    again.cmd("QUIT")


def test_per_address_limit_refuses_with_sys_temp_and_others_go_on(server):
    held = [greeted(server.port) for _ in range(6)]
    extra = Client.connect(server.port)
    assert extra.line() == b"-ERR [SYS/TEMP] too many connections from your address, try again later"
    assert extra.closed()
    for c in held:
        assert c.cmd("STAT") == b"-ERR STAT not valid in the AUTHORIZATION state"
    held.pop().close()
    deadline = time.monotonic() + 5
    while True:  # the server notices the close asynchronously
        late = Client.connect(server.port)
        if late.line().startswith(b"+OK"):
            break
        assert time.monotonic() < deadline
        time.sleep(0.05)
    late.cmd("QUIT")
    for c in held:
        c.close()


def test_total_connection_limit(tmp_path):
    make_maildir(str(tmp_path / "alice"), [b"x\n"])
    users = {"alice": {"password": "pw", "maildrop": f"maildir:{tmp_path}/alice"}}
    with running_server(str(tmp_path), users, {"limits": {"max_connections": 2}}) as srv:
        time.sleep(0.2)  # let the readiness probe's connection close
        held = [greeted(srv.port) for _ in range(2)]
        over = Client.connect(srv.port)
        assert over.line() == b"-ERR [SYS/TEMP] too many connections, try again later"
        assert over.closed()
        assert held[0].cmd("QUIT").startswith(b"+OK")
        time.sleep(0.2)
        greeted(srv.port).cmd("QUIT")


def test_half_closed_client_is_dropped_without_commit(server):
    c = greeted(server.port)
    c.send(b"USER alice\r\nPASS alice-pw\r\nDELE 1\r\n")
    c.sock.shutdown(socket.SHUT_WR)
    assert c.closed()
    # The login may still have been opening the maildrop when the client
    # vanished; its lock must be released within seconds, and nothing committed.
    deadline = time.monotonic() + 5
    while True:
        again = greeted(server.port)
        again.cmd("USER alice")
        reply = again.cmd("PASS alice-pw")
        if not reply.startswith(b"-ERR [IN-USE]") or time.monotonic() > deadline:
            break
        again.close()
        time.sleep(0.1)
    assert reply.startswith(b"+OK alice has 1 messages")
    again.cmd("QUIT")


@pytest.mark.slow
def test_unauthenticated_clients_sending_capa_every_second_cannot_hold_every_slot(tmp_path):
    """All slots taken by clients that never log in but keep the idle timer alive with CAPA."""
    make_maildir(str(tmp_path / "alice"), [b"x\n"])
    users = {"alice": {"password": "pw", "maildrop": f"maildir:{tmp_path}/alice"}}
    limits = {"max_connections": 6, "login_timeout": 2}
    with running_server(str(tmp_path), users, {"timeout": 3, "limits": limits}) as srv:
        time.sleep(0.2)  # let the readiness probe's connection close
        squatters = [greeted(srv.port) for _ in range(6)]
        refused = Client.connect(srv.port)
        assert refused.line() == b"-ERR [SYS/TEMP] too many connections, try again later"
        started = time.monotonic()
        cut_off = 0
        while time.monotonic() - started < 4 and cut_off < len(squatters):
            cut_off = 0
            for c in squatters:
                try:
                    c.send(b"CAPA\r\n")
                    seen = c.sock.recv(65536, socket.MSG_PEEK | socket.MSG_DONTWAIT)
                    cut_off += b"login not completed" in seen
                except BlockingIOError:
                    pass
                except OSError:
                    cut_off += 1
            time.sleep(0.5)
        assert cut_off == len(squatters), "clients that never logged in kept their slots"
        for c in squatters:
            assert c.closed(timeout=5)
            assert c.buf.endswith(b"-ERR autologout; login not completed in time\r\n")
        again = greeted(srv.port)
        again.cmd("USER alice")
        assert again.cmd("PASS pw").startswith(b"+OK")
        again.cmd("QUIT")
