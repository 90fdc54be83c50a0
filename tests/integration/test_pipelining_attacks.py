"""Pipelining floods over real sockets: one client must never starve the others.

Each test is named for the attack.  While it runs, a probe connects again and
again and times the greeting and one command; the answers must come within a
second, and the server's memory must stay bounded.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time

import pytest
from support import Client, logged_in, rss_kib, running_server

#: The longest another client may wait for its greeting or an answer during an attack.
MAX_LATENCY = 1.0


def make_maildir(path: str, count: int) -> None:
    for sub in ("new", "cur", "tmp"):
        os.makedirs(os.path.join(path, sub), exist_ok=True)
    for i in range(count):
        with open(os.path.join(path, "cur", f"{1700000000 + i}.M{i}P1.test:2,"), "wb") as f:
            f.write(b"Subject: message %d\n\nbody of message %d\n" % (i + 1, i + 1))


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    workdir = str(tmp_path_factory.mktemp("pipelining"))
    make_maildir(f"{workdir}/big", 1000)
    make_maildir(f"{workdir}/mid", 500)
    make_maildir(f"{workdir}/small", 1)
    users = {name: {"password": f"{name}-pw", "maildrop": f"maildir:{workdir}/{name}"}
             for name in ("big", "mid", "small")}
    with running_server(workdir, users, {"limits": {"max_connections_per_address": 50}}) as srv:
        yield srv


def login(port: int, user: str) -> Client:
    return logged_in(port, user)


class Probe:
    """Another client, timing its greeting and a CAPA over and over until stopped."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.worst = 0.0
        self.rounds = 0
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Probe:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(30)

    def _run(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                c = Client.connect(self.port, timeout=30)
                greeting = c.line()
                capa = c.cmd("CAPA")
                c.multiline()
                c.cmd("QUIT")
                c.close()
            except OSError as exc:
                self.errors.append(repr(exc))
                continue
            self.worst = max(self.worst, time.monotonic() - started)
            self.rounds += 1
            if not (greeting.startswith(b"+OK") and capa.startswith(b"+OK")):
                self.errors.append(f"{greeting!r} {capa!r}")
            time.sleep(0.05)


def send_in_background(sock: socket.socket, data: bytes) -> threading.Thread:
    """sendall in a thread: the server may stop reading a flood for a while."""

    def send() -> None:
        with contextlib.suppress(OSError):
            sock.sendall(data)

    t = threading.Thread(target=send, daemon=True)
    t.start()
    return t


def read_answers(sock: socket.socket, count: int, multiline: bool) -> list[list[bytes]]:
    """``count`` answers: each its status line and, if multi-line, its lines up to ``.``."""
    f = sock.makefile("rb")
    answers = []
    for _ in range(count):
        status = f.readline()
        assert status.startswith(b"+OK"), status
        answer = [status]
        if multiline:
            while (line := f.readline()) != b".\r\n":
                assert line, "connection closed mid-answer"
                answer.append(line)
        answers.append(answer)
    return answers


def assert_lock_free(port: int, user: str, timeout: float = 5.0) -> None:
    """A new session for ``user`` gets the maildrop: the old one did not keep it locked."""
    deadline = time.monotonic() + timeout
    while True:
        c = Client.connect(port)
        c.line()
        c.cmd(f"USER {user}")
        reply = c.cmd(f"PASS {user}-pw")
        c.cmd("QUIT")
        c.close()
        if reply.startswith(b"+OK") or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert reply.startswith(b"+OK"), reply


# -- issue 13's bug: pipelined RETRs ---------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("count", [1000, 10000])
def test_retrs_pipelined_in_one_write_are_all_answered_in_order(server, count):
    pid = server.proc.pid
    before = rss_kib(pid)
    c = login(server.port, "big")
    with Probe(server.port) as probe:
        started = time.monotonic()
        sender = send_in_background(c.sock, b"".join(b"RETR %d\r\n" % (i % 1000 + 1) for i in range(count)))
        answers = read_answers(c.sock, count, multiline=True)
        took = time.monotonic() - started
        sender.join()
        grown = rss_kib(pid) - before
    for i, answer in enumerate(answers):
        assert answer[1] == b"Subject: message %d\r\n" % (i % 1000 + 1)
    assert c.cmd("QUIT").startswith(b"+OK")
    print(f"{count} pipelined RETRs: {count / took:.0f} messages/s, probe worst {probe.worst:.3f}s, "
          f"server grew {grown / 1024:.1f} MiB")
    assert probe.worst < MAX_LATENCY
    assert grown < 32 * 1024
    assert_lock_free(server.port, "big")


@pytest.mark.slow
def test_client_gone_after_pipelining_retrs_leaves_the_maildrop_unlocked(server):
    c = login(server.port, "big")
    c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    c.send(b"".join(b"RETR %d\r\n" % (i % 1000 + 1) for i in range(3000)))
    time.sleep(0.5)  # the server is blocked on a client that reads nothing
    c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    c.close()  # a reset
    assert_lock_free(server.port, "big")


# -- pipelining floods ------------------------------------------------------------------


@pytest.mark.slow
def test_20000_pipelined_lists_on_500_messages_starve_no_one(server):
    pid = server.proc.pid
    before = rss_kib(pid)
    c = login(server.port, "mid")
    peak = before
    with Probe(server.port) as probe:
        sender = send_in_background(c.sock, b"LIST\r\n" * 20000)
        f = c.sock.makefile("rb")
        for n in range(20000):
            assert f.readline().startswith(b"+OK 500 messages")
            while f.readline() != b".\r\n":
                pass
            if n % 500 == 0:
                peak = max(peak, rss_kib(pid))
        sender.join()
    c.cmd("QUIT")
    print(f"LIST flood: probe worst {probe.worst:.3f}s over {probe.rounds} rounds, "
          f"server grew {(peak - before) / 1024:.1f} MiB")
    assert not probe.errors, probe.errors[:3]
    assert probe.rounds >= 3
    assert probe.worst < MAX_LATENCY, f"another client waited {probe.worst:.2f}s"
    assert peak - before < 32 * 1024, f"server grew by {(peak - before) / 1024:.0f} MiB"


@pytest.mark.slow
def test_20000_pipelined_lists_from_a_client_that_never_reads_hold_no_memory(server):
    pid = server.proc.pid
    before = rss_kib(pid)
    c = login(server.port, "mid")
    c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    with Probe(server.port) as probe:
        send_in_background(c.sock, b"LIST\r\n" * 20000)
        time.sleep(3)
        grown = rss_kib(pid) - before
    print(f"LIST flood, never read: probe worst {probe.worst:.3f}s, server grew {grown / 1024:.1f} MiB")
    assert not probe.errors, probe.errors[:3]
    assert probe.worst < MAX_LATENCY
    assert grown < 16 * 1024, f"server grew by {grown / 1024:.0f} MiB for a client that reads nothing"
    c.close()
    assert_lock_free(server.port, "mid")


@pytest.mark.slow
def test_100000_pipelined_noops_after_login_starve_no_one(server):
    c = login(server.port, "small")
    with Probe(server.port) as probe:
        sender = send_in_background(c.sock, b"NOOP\r\n" * 100000)
        f = c.sock.makefile("rb")
        for _ in range(100000):
            assert f.readline() == b"+OK\r\n"
        sender.join()
    assert c.cmd("STAT") == b"+OK 1 41"
    c.cmd("QUIT")
    print(f"NOOP flood: probe worst {probe.worst:.3f}s over {probe.rounds} rounds")
    assert not probe.errors, probe.errors[:3]
    assert probe.worst < MAX_LATENCY


def test_100000_pipelined_capas_before_login_are_cut_off(server):
    c = Client.connect(server.port)
    assert c.line().startswith(b"+OK")
    send_in_background(c.sock, b"CAPA\r\n" * 100000)
    for _ in range(50):
        assert c.line() == b"+OK capability list follows"
        c.multiline()
    assert c.line() == b"-ERR too many commands before login, closing"
    assert c.closed()
    probe = Client.connect(server.port)
    started = time.monotonic()
    assert probe.line().startswith(b"+OK")
    assert probe.cmd("QUIT").startswith(b"+OK")
    assert time.monotonic() - started < MAX_LATENCY

