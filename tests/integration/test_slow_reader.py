"""A client reading a 50 MB RETR at a crawl holds neither memory nor the event loop.

The transfer is a pull producer: the server reads the next chunk from disk only
when the socket has drained, so its memory stays flat while other clients get
prompt answers.  Checked over plain TCP and over implicit TLS (where Twisted's
TLS layer sits between the producer and the socket).
"""

from __future__ import annotations

import os
import socket
import threading
import time

import pytest
from support import Client, rss_kib, running_server
from tls_kit import connect_tls, make_certificate, server_with_tls_port

MESSAGE_MB = 50
LINE = b"The quick brown fox jumps over the lazy dog, again and again and again.\n"


def maildir(path: str, body: bytes) -> str:
    for sub in ("new", "cur", "tmp"):
        os.makedirs(os.path.join(path, sub), exist_ok=True)
    with open(os.path.join(path, "cur", "1700000000.M1P1.test:2,"), "wb") as f:
        f.write(body)
    return f"maildir:{path}"


def login(c: Client, user: str, password: str) -> None:
    assert c.line().startswith(b"+OK")
    c.cmd(f"USER {user}")
    assert c.cmd(f"PASS {password}").startswith(b"+OK")


@pytest.mark.slow
@pytest.mark.parametrize("transport", ["tcp", "tls"])
def test_crawling_reader_of_50mb_message(tmp_path, transport):
    workdir = str(tmp_path)
    big = b"Subject: big\n\n" + LINE * (MESSAGE_MB * 1024 * 1024 // len(LINE))
    users = {
        "slow": {"password": "slow-pw", "maildrop": maildir(f"{workdir}/slow", big)},
        "quick": {"password": "quick-pw", "maildrop": maildir(f"{workdir}/quick", b"Subject: s\n\nhi\n")},
    }
    cert = make_certificate(f"{workdir}/certs")
    with server_with_tls_port(workdir, users, cert) as (server, tls_port):
        assert server.proc is not None
        pid = server.proc.pid

        def connect() -> Client:
            return connect_tls(tls_port, cert) if transport == "tls" else Client.connect(server.port)

        slow = connect()
        if transport == "tcp":  # a small receive window, as a slow client on a slow link would have
            slow.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        login(slow, "slow", "slow-pw")
        baseline = rss_kib(pid)
        slow.send(b"RETR 1\r\n")
        received = 0
        stop = threading.Event()
        peak = [baseline]

        def crawl() -> None:
            nonlocal received
            while not stop.is_set() and received < 6 * 1024 * 1024:
                received += len(slow.sock.recv(16 * 1024))
                peak[0] = max(peak[0], rss_kib(pid))
                time.sleep(0.02)

        reader = threading.Thread(target=crawl)
        reader.start()
        try:
            time.sleep(0.5)  # let the transfer fill every buffer on the way
            quick = connect()
            login(quick, "quick", "quick-pw")
            worst = 0.0
            for command in ["STAT", "LIST", "UIDL", "NOOP", "RETR 1"] * 4:
                started = time.monotonic()
                reply = quick.cmd(command)
                if command in ("LIST", "UIDL", "RETR 1"):
                    quick.multiline()
                worst = max(worst, time.monotonic() - started)
                assert reply.startswith(b"+OK"), reply
            assert worst < 0.5, f"another client waited {worst:.2f}s for an answer"
            quick.cmd("QUIT")
            time.sleep(0.3)
        finally:
            stop.set()
            reader.join()
        grown_mib = (peak[0] - baseline) / 1024
        assert received < len(big) / 2, "the client was meant to read only part of the message"
        assert grown_mib < 16, f"server memory grew by {grown_mib:.1f} MiB during a {MESSAGE_MB} MB transfer"
        slow.close()  # hang up mid-message: the server must carry on
        after = connect()
        login(after, "quick", "quick-pw")
        assert after.cmd("STAT") == b"+OK 1 18"
        after.cmd("QUIT")


@pytest.mark.slow
def test_64mb_message_without_newline_freezes_no_one(tmp_path):
    """A 64 MB message with no newline froze the server 23 s on RETR (and 20 s at login)."""
    workdir = str(tmp_path)
    users = {
        "huge": {"password": "huge-pw", "maildrop": maildir(f"{workdir}/huge", b"x" * (64 << 20))},
        "quick": {"password": "quick-pw", "maildrop": maildir(f"{workdir}/quick", b"Subject: s\n\nhi\n")},
    }
    with running_server(workdir, users) as server:
        huge = Client.connect(server.port, timeout=60)
        started = time.monotonic()
        login(huge, "huge", "huge-pw")
        login_seconds = time.monotonic() - started
        huge.send(b"RETR 1\r\n")
        worst = 0.0
        received = 0
        stop = threading.Event()

        def drain() -> None:
            nonlocal received
            tail = b""
            while not stop.is_set() and tail != b"\r\n.\r\n":
                data = huge.sock.recv(1 << 20)
                if not data:
                    break
                received += len(data)
                tail = (tail + data)[-5:]

        reader = threading.Thread(target=drain)
        reader.start()
        try:
            while reader.is_alive():
                t0 = time.monotonic()
                quick = Client.connect(server.port)
                login(quick, "quick", "quick-pw")
                assert quick.cmd("STAT") == b"+OK 1 18"
                quick.cmd("QUIT")
                worst = max(worst, time.monotonic() - t0)
        finally:
            reader.join(60)
            stop.set()
        print(f"64 MB without newline: login {login_seconds:.2f}s, other client's worst {worst:.3f}s")
        assert login_seconds < 5, f"measuring the message took {login_seconds:.1f}s"
        assert received >= (64 << 20) + 2 + 3  # the line, its CRLF, the terminator
        assert worst < 1.0, f"another client waited {worst:.2f}s"
