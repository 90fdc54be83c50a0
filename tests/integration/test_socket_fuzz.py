"""Socket-level fuzzing: garbage, NUL bytes, huge lines, abrupt and half-closed connections.

Many concurrent clients abuse a running server (plain and STLS, Maildir and
mbox users).  None of them ever sends QUIT after logging in, so afterwards
every maildrop must be byte-for-byte unchanged, the server must still serve a
normal session, and its log must hold no traceback or internal error.  The
random choices are seeded, so a failure replays.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import random
import socket
import struct
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest
from support import Client, running_server
from tls_kit import CertFiles, client_context, make_certificate

SEED = 20261122
CONNECTIONS = 160
USERS = {"alice": "alice-pw", "bob": "bob-pw"}
MAILDIR_MESSAGES = [b"Subject: one\n\nfirst\n", b"Subject: two\r\n\r\n.dot\r\n..dots\r\n", b"no header\n"]
MBOX = (b"From a@example.org Sat Nov  7 11:00:00 2026\nSubject: m1\n\nbody\n>From quoted\n\n"
        b"From b@example.org Sat Nov  7 11:00:01 2026\nSubject: m2\n\nsecond\n\n")


def snapshot(workdir: str) -> dict[str, str]:
    """Every message-bearing file (name and content hash); caches and locks left out."""
    state = {}
    for top in ("alice", "bob.mbox"):
        root = os.path.join(workdir, top)
        paths = [root] if os.path.isfile(root) else [
            os.path.join(d, f) for d, _, files in os.walk(root) for f in files
            if f != "pop3d-sizes" and not f.endswith(".lock")]
        for path in paths:
            with open(path, "rb") as f:
                state[os.path.relpath(path, workdir)] = hashlib.sha256(f.read()).hexdigest()
    journals = [f for f in os.listdir(workdir) if f.endswith(".pop3d-journal")]
    assert not journals, journals
    return state


class Fuzzer:
    """One abusive connection, driven by its own seeded random generator."""

    def __init__(self, port: int, cert: CertFiles, seed: int) -> None:
        self.port = port
        self.cert = cert
        self.rng = random.Random(seed)
        self.received = b""

    # -- building blocks -------------------------------------------------------

    def garbage(self, size: int) -> bytes:
        alphabet = b"\x00\r\n\xff\x7f .+-*ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
        if self.rng.random() < 0.5:
            return self.rng.randbytes(size)
        return bytes(self.rng.choice(alphabet) for _ in range(size))

    def command(self) -> bytes:
        r = self.rng
        user = r.choice(list(USERS) + ["nobody", "", "a" * 300, "al\x00ice"])
        number = r.choice(["1", "2", "3", "0", "-1", "99999999999999999999", "x", "", "1 2", " 1"])
        words = [
            f"USER {user}", f"PASS {r.choice(list(USERS.values()) + ['wrong', ''])}",
            f"APOP {user} {r.randbytes(16).hex()}", "AUTH", "AUTH PLAIN", "AUTH LOGIN", "AUTH CRAM-MD5",
            "AUTH PLAIN " + base64.b64encode(b"\x00alice\x00" + r.randbytes(4)).decode(),
            base64.b64encode(r.randbytes(r.randint(0, 40))).decode(), "*", "=",
            f"STAT {number}", f"LIST {number}", f"UIDL {number}", f"RETR {number}", f"DELE {number}",
            f"TOP {number} {r.choice(['0', '5', '-3', 'x', '99999999999999999999'])}",
            "RSET", "NOOP", "LAST", "CAPA", "STLS", "XTND XLIST Subject", "list", "rEtR 1",
        ]
        line = r.choice(words).encode("latin-1")
        return line + r.choice([b"\r\n", b"\n", b"\r\n", b" \r\n", b"\r\r\n"])

    def login(self) -> list[bytes]:
        user = self.rng.choice(list(USERS))
        return [f"USER {user}\r\n".encode(), f"PASS {USERS[user]}\r\n".encode()]

    # -- one connection ----------------------------------------------------------

    def connect(self) -> socket.socket:
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=5)
        return sock

    def send_in_pieces(self, sock: socket.socket, data: bytes) -> None:
        while data:
            cut = self.rng.randint(1, max(1, min(len(data), 70000)))
            sock.sendall(data[:cut])
            data = data[cut:]

    def drain(self, sock: socket.socket, seconds: float) -> None:
        sock.settimeout(seconds)
        with contextlib.suppress(OSError):
            while chunk := sock.recv(65536):
                self.received += chunk
                if len(self.received) > 1 << 20:
                    self.received = self.received[-4096:]

    def finish(self, sock: socket.socket) -> None:
        how = self.rng.choice(["close", "reset", "half-close", "linger"])
        with contextlib.suppress(OSError):
            if how == "reset":
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            elif how == "half-close":
                sock.shutdown(socket.SHUT_WR)
                self.drain(sock, 2)
            elif how == "linger":
                self.drain(sock, 0.1)
        sock.close()

    def run(self) -> bytes:
        scenario: Callable[[socket.socket], None] = self.rng.choice([
            self.garbage_stream, self.huge_line, self.random_commands, self.logged_in_abuse,
            self.abandoned_retr, self.stls_then_garbage, self.pipelined_flood,
        ])
        try:
            sock = self.connect()
        except OSError:
            return b""
        try:
            scenario(sock)
        except OSError:
            pass  # the server may hang up on us at any point; that is allowed
        finally:
            self.finish(sock)
        return self.received

    # -- scenarios ------------------------------------------------------------------

    def garbage_stream(self, sock: socket.socket) -> None:
        self.send_in_pieces(sock, self.garbage(self.rng.randint(1, 8000)))
        self.drain(sock, 0.05)

    def huge_line(self, sock: socket.socket) -> None:
        self.send_in_pieces(sock, b"X" * self.rng.randint(100_000, 3_000_000))
        if self.rng.random() < 0.5:
            sock.sendall(b"\r\nCAPA\r\n")
            self.drain(sock, 0.1)

    def random_commands(self, sock: socket.socket) -> None:
        data = b"".join(self.command() for _ in range(self.rng.randint(1, 40)))
        self.send_in_pieces(sock, data)
        self.drain(sock, 0.05)

    def changes(self) -> bytes:
        """A command that would alter the maildrop if the server ever committed without QUIT."""
        return self.rng.choice([b"DELE 1", b"DELE 2", b"DELE 3", b"RETR 1", b"RETR 2", b"RETR 3"]) + b"\r\n"

    def logged_in_abuse(self, sock: socket.socket) -> None:
        steps = [self.changes() if self.rng.random() < 0.4 else self.command()
                 for _ in range(self.rng.randint(1, 30))]
        data = b"".join(self.login()) + b"".join(steps)
        self.send_in_pieces(sock, data)
        self.drain(sock, 0.1)

    def abandoned_retr(self, sock: socket.socket) -> None:
        sock.sendall(b"".join(self.login()) + b"RETR 1\r\nRETR 2\r\nTOP 1 1\r\nUIDL\r\n")
        sock.settimeout(0.5)
        with contextlib.suppress(OSError):
            self.received += sock.recv(self.rng.randint(1, 200))

    def stls_then_garbage(self, sock: socket.socket) -> None:
        sock.sendall(b"STLS\r\n" + self.command())
        self.drain(sock, 0.05)
        if self.rng.random() < 0.5:
            sock.sendall(self.garbage(self.rng.randint(1, 3000)))
            return
        tls = client_context(self.cert).wrap_socket(sock, server_hostname="localhost")
        data = b"".join(self.command() for _ in range(self.rng.randint(1, 10)))
        tls.sendall(data + self.garbage(self.rng.randint(0, 200)))
        with contextlib.suppress(OSError):
            tls.settimeout(0.1)
            self.received += tls.recv(65536)

    def pipelined_flood(self, sock: socket.socket) -> None:
        sock.sendall(b"NOOP\r\n" * self.rng.randint(100, 3000) + b"".join(self.login()) + b"STAT\r\n" * 500)


@pytest.mark.slow
def test_fuzzed_connections_leave_the_server_serving_and_maildrops_unchanged(tmp_path):
    workdir = str(tmp_path)
    alice = os.path.join(workdir, "alice")
    for sub in ("new", "cur", "tmp"):
        os.makedirs(os.path.join(alice, sub))
    for i, m in enumerate(MAILDIR_MESSAGES):
        name = f"170000000{i}.M{i}P1.fuzz" + ("" if i else ":2,S")
        with open(os.path.join(alice, "new" if i else "cur", name), "wb") as f:
            f.write(m)
    with open(os.path.join(workdir, "bob.mbox"), "wb") as f:
        f.write(MBOX)
    users = {"alice": {"password": USERS["alice"], "maildrop": f"maildir:{alice}"},
             "bob": {"password": USERS["bob"], "maildrop": f"mbox:{workdir}/bob.mbox"}}
    cert = make_certificate(os.path.join(workdir, "certs"))
    extra = {"tls": cert.config(), "limits": {"max_connections_per_address": 50}}
    with running_server(workdir, users, extra) as server:
        # Warm-up sessions build the backends' caches before the snapshot.
        for user in USERS:
            c = Client.connect(server.port)
            c.line()
            c.cmd(f"USER {user}")
            assert c.cmd(f"PASS {USERS[user]}").startswith(b"+OK")
            c.cmd("QUIT")
            c.close()
        before = snapshot(workdir)

        with ThreadPoolExecutor(max_workers=8) as pool:
            replies = list(pool.map(lambda i: Fuzzer(server.port, cert, SEED + i).run(), range(CONNECTIONS)))

        assert not any(b"internal server error" in r for r in replies)
        # The abuse reached every layer: greetings, logins, refusals of overlong lines.
        everything = b"".join(replies)
        for seen in (b"+OK pop3d ", b"has 3 messages", b"has 2 messages", b"-ERR line too long",
                     b"-ERR unknown command", b"+OK begin TLS negotiation"):
            assert seen in everything, seen
        assert snapshot(workdir) == before
        assert server.proc is not None and server.proc.poll() is None
        log = server.log()
        assert "Traceback" not in log and "internal error" not in log, log[-3000:]

        # A normal session still works, for both users, with the original messages.
        c = Client.connect(server.port)
        assert c.line().startswith(b"+OK")
        c.cmd("USER alice")
        assert c.cmd("PASS alice-pw").startswith(b"+OK alice has 3 messages")
        assert c.cmd("RETR 2").startswith(b"+OK")
        assert c.multiline() == [b"Subject: two", b"", b"..dot", b"...dots"]
        assert c.cmd("RSET").startswith(b"+OK")
        assert c.cmd("QUIT").startswith(b"+OK")
        c = Client.connect(server.port)
        c.line()
        c.cmd("USER bob")
        assert c.cmd("PASS bob-pw").startswith(b"+OK bob has 2 messages")
        assert c.cmd("TOP 1 5").startswith(b"+OK")
        assert c.multiline() == [b"Subject: m1", b"", b"body", b"From quoted"]
        c.cmd("QUIT")
