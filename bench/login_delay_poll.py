#!/usr/bin/env python3
"""Cost of a LOGIN-DELAY ``empty``-policy poll against a normal login, same run.

One pop3d serves one Maildir of 10,000 messages to two users sharing it:
``normal`` has no LOGIN-DELAY, ``poller`` has one of an hour under the
``empty`` policy and logged in for real once at the start, so every later
login of theirs is a poll that gets an empty maildrop.  A client on
127.0.0.1 runs USER, PASS, STAT, QUIT sessions one after another, in
alternating rounds for the two users, and reports sessions per second.
Passwords are SHA512-CRYPT with ``--rounds`` rounds (the password check is
the same for both users; lower rounds show the maildrop's share better).

    .venv/bin/python bench/login_delay_poll.py [--messages 10000] [--sessions 100] [--rounds 5000]
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml
from passlib.hash import sha512_crypt

ROOT = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"


def make_maildir(root: Path, count: int) -> None:
    for sub in ("new", "cur", "tmp"):
        (root / sub).mkdir(parents=True)
    for i in range(count):
        body = "".join(f"Line {n} of message {i}, with some words in it.\n" for n in range(10 + i % 40))
        data = (f"From: sender{i % 97}@example.org\nTo: user@example.net\nSubject: message {i}\n"
                f"Message-ID: <{i}.bench@example.org>\n\n{body}").encode()
        (root / "cur" / f"{1_700_000_000 + i}.M{i}P4242.bench:2,S").write_bytes(data)


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def session(port: int, user: str, password: str) -> bytes:
    """USER, PASS, STAT, QUIT; return the STAT reply."""
    with socket.create_connection((HOST, port), timeout=30) as s:
        f = s.makefile("rb")
        f.readline()
        s.sendall(f"USER {user}\r\n".encode())
        f.readline()
        s.sendall(f"PASS {password}\r\nSTAT\r\nQUIT\r\n".encode())
        login = f.readline()
        if not login.startswith(b"+OK"):
            raise RuntimeError(f"{user}: {login!r}")
        stat = f.readline()
        f.readline()
        return stat.strip()


def rate(port: int, user: str, password: str, sessions: int) -> float:
    start = time.perf_counter()
    for _ in range(sessions):
        session(port, user, password)
    return sessions / (time.perf_counter() - start)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--sessions", type=int, default=100, help="sessions per round and user")
    parser.add_argument("--repeats", type=int, default=3, help="alternating rounds per user")
    parser.add_argument("--rounds", type=int, default=5000, help="SHA512-CRYPT rounds of the passwords")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="pop3d-bench-") as tmp:
        work = Path(tmp)
        print(f"writing a Maildir of {args.messages} messages ...", flush=True)
        make_maildir(work / "Maildir", args.messages)
        hashed = sha512_crypt.using(rounds=args.rounds).hash("secret")
        maildrop = f"maildir:{work}/Maildir"
        (work / "users.yaml").write_text(yaml.safe_dump({
            "normal": {"password": hashed, "maildrop": maildrop},
            "poller": {"password": hashed, "maildrop": maildrop},
        }))
        port = free_port()
        (work / "pop3d.yaml").write_text(yaml.safe_dump({
            "hostname": "bench.test",
            "listen": [f"tcp:{port}:interface={HOST}"],
            "users": [{"type": "virtual", "file": str(work / "users.yaml")}],
            "login_delay": {"seconds": 3600, "policy": "empty", "state_dir": str(work / "state"),
                            "users": {"normal": 0}},
        }))
        log = open(work / "server.log", "wb")  # noqa: SIM115 (closed below)
        server = subprocess.Popen([sys.executable, "-m", "pop3d", "-c", str(work / "pop3d.yaml")],
                                  cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    socket.create_connection((HOST, port), timeout=1).close()
                    break
                except OSError:
                    if server.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError((work / "server.log").read_text()) from None
                    time.sleep(0.1)
            # Warm up: the first normal login builds the size cache; the poller's
            # first login is real and starts its hour of LOGIN-DELAY.
            print("normal STAT:", session(port, "normal", "secret").decode())
            print("poller first STAT:", session(port, "poller", "secret").decode())
            print("poller poll STAT:", session(port, "poller", "secret").decode())
            normal, poll = [], []
            for _ in range(args.repeats):
                normal.append(rate(port, "normal", "secret", args.sessions))
                poll.append(rate(port, "poller", "secret", args.sessions))
            n, p = statistics.median(normal), statistics.median(poll)
            print(f"\n{args.messages} messages, {args.sessions} sessions x {args.repeats} rounds each, "
                  f"SHA512-CRYPT rounds={args.rounds}, one client, sequential")
            print(f"normal login : {n:8.1f} sessions/s  (rounds: {', '.join(f'{r:.1f}' for r in normal)})")
            print(f"empty poll   : {p:8.1f} sessions/s  (rounds: {', '.join(f'{r:.1f}' for r in poll)})")
            print(f"poll/normal  : {p / n:8.1f}x")
        finally:
            os.killpg(server.pid, 15)
            server.wait(10)
            log.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
