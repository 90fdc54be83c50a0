#!/usr/bin/env python3
"""Sessions per second of pop3d against Dovecot's POP3 server, in one run.

Both servers serve the same Maildirs (a copy each; one user per concurrent
client, since a POP3 maildrop is locked per session) with the same
SHA512-CRYPT password hash, on 127.0.0.1, and the same client drives them in
turn.  Workloads:

* ``poll``:     USER, PASS, STAT, QUIT (what mail clients and monitors do most)
* ``download``: USER, PASS, UIDL, RETR of every message, QUIT (nothing deleted)

Figures are reported as a ratio to Dovecot measured in the same run.
Needs root (Dovecot serves mail as user ``mail``) and Debian's dovecot-pop3d:

    apt-get install -y dovecot-pop3d
    .venv/bin/python bench/pop3_vs_dovecot.py [--messages 200] [--sessions 400] [--clients 4] [--workers 1,2]
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import os
import poplib
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

from passlib.hash import sha512_crypt

HOST = "127.0.0.1"
PASSWORD = "bench-password"


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def make_maildir(path: str, count: int, size: int) -> None:
    for sub in ("new", "cur", "tmp"):
        os.makedirs(os.path.join(path, sub))
    line = b"The quick brown fox jumps over the lazy dog, again and again.\n"
    for i in range(count):
        body = line * (size // len(line))
        with open(os.path.join(path, "cur", f"{1700000000 + i}.M{i}P1.bench:2,S"), "wb") as f:
            f.write(f"From: a@example.org\nSubject: bench {i}\nMessage-ID: <{i}@b>\n\n".encode() + body)


def wait_port(port: int, proc: subprocess.Popen[bytes], what: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{what} exited with {proc.returncode}")
        with contextlib.suppress(OSError), socket.create_connection((HOST, port), timeout=1) as s:
            if s.recv(100).startswith(b"+OK"):
                return
        time.sleep(0.1)
    raise SystemExit(f"{what} did not come up")


def start_pop3d(work: str, users: list[str], hashed: str,
                workers: int = 1) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    with open(os.path.join(work, "users.yaml"), "w") as f:
        for user in users:
            f.write(f'{user}:\n  password: "{hashed}"\n  maildrop: maildir:{work}/{user}/Maildir\n')
    config = os.path.join(work, "pop3d.yaml")
    with open(config, "w") as f:
        f.write(f"hostname: bench\nlisten: ['tcp:{port}:interface={HOST}']\n"
                f"users: [{{type: virtual, file: {work}/users.yaml}}]\nworkers: {workers}\n")
    with open(os.path.join(work, "pop3d.log"), "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "pop3d", "-c", config],
                                stdout=subprocess.DEVNULL, stderr=log)
    wait_port(port, proc, "pop3d")
    return proc, port


def start_dovecot(work: str, users: list[str], hashed: str) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    mail = pwd.getpwnam("mail")
    subprocess.run(["chown", "-R", f"{mail.pw_uid}:{mail.pw_gid}", work], check=True)
    with open(os.path.join(work, "passwd"), "w") as f:
        for user in users:
            f.write(f"{user}:{{SHA512-CRYPT}}{hashed}::::::\n")
    config = os.path.join(work, "dovecot.conf")
    with open(config, "w") as f:
        f.write(f"""base_dir = {work}/run
state_dir = {work}/state
log_path = {work}/dovecot.log
protocols = pop3
listen = {HOST}
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
first_valid_uid = {mail.pw_uid}
mail_location = maildir:{work}/%u/Maildir
pop3_uidl_format = %f
passdb {{
  driver = passwd-file
  args = scheme=SHA512-CRYPT {work}/passwd
}}
userdb {{
  driver = static
  args = uid={mail.pw_uid} gid={mail.pw_gid} home={work}/%u
}}
service pop3-login {{
  inet_listener pop3 {{
    port = {port}
  }}
  inet_listener pop3s {{
    port = 0
  }}
}}
service imap-login {{
  inet_listener imap {{
    port = 0
  }}
}}
""")
    with open(os.path.join(work, "dovecot.err"), "wb") as log:
        proc = subprocess.Popen(["dovecot", "-F", "-c", config], stdout=subprocess.DEVNULL, stderr=log)
    wait_port(port, proc, "dovecot")
    return proc, port


def session(port: int, user: str, workload: str) -> int:
    pop = poplib.POP3(HOST, port, timeout=30)
    pop.user(user)
    pop.pass_(PASSWORD)
    octets = 0
    if workload == "poll":
        pop.stat()
    else:
        count = len(pop.uidl()[1])
        for i in range(1, count + 1):
            octets += pop.retr(i)[2]
    pop.quit()
    return octets


def drive(port: int, users: list[str], workload: str, sessions: int) -> float:
    """Run ``sessions`` sessions over ``clients`` threads; return sessions per second."""
    counter = iter(range(sessions))
    lock = threading.Lock()
    errors: list[BaseException] = []

    def worker(user: str) -> None:
        while True:
            with lock:
                if next(counter, None) is None:
                    return
            try:
                session(port, user, workload)
            except (OSError, poplib.error_proto) as exc:
                errors.append(exc)
                return

    threads = [threading.Thread(target=worker, args=(user,)) for user in users]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    if errors:
        raise SystemExit(f"client error: {errors[0]!r}")
    return sessions / elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=200)
    parser.add_argument("--size", type=int, default=4000, help="bytes per message body")
    parser.add_argument("--sessions", type=int, default=300)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--workers", default="1",
                        help="pop3d worker processes; several, comma-separated, are measured in turn")
    args = parser.parse_args()
    worker_counts = [int(n) for n in args.workers.split(",")]
    if not shutil.which("dovecot"):
        raise SystemExit("Dovecot is not installed: apt-get install -y dovecot-pop3d")
    hashed = sha512_crypt.using(rounds=5000).hash(PASSWORD)
    results: dict[str, dict[str, float]] = {}
    users = [f"bench{i}" for i in range(args.clients)]
    with tempfile.TemporaryDirectory(prefix="pop3-bench-") as tmp:
        os.chmod(tmp, 0o755)
        procs = []
        try:
            servers = [(f"pop3d w={n}" if len(worker_counts) > 1 else "pop3d",
                        functools.partial(start_pop3d, workers=n)) for n in worker_counts]
            for name, start in (*servers, ("dovecot", start_dovecot)):
                work = os.path.join(tmp, name.replace(" ", "-").replace("=", ""))
                os.makedirs(work)
                os.chmod(work, 0o755)
                for user in users:
                    make_maildir(os.path.join(work, user, "Maildir"), args.messages, args.size)
                proc, port = start(work, users, hashed)
                procs.append(proc)
                for user in users:  # warm caches (pop3d's size cache, Dovecot's indexes)
                    session(port, user, "download")
                counts = {"poll": args.sessions, "download": args.sessions // 10}
                results[name] = {w: drive(port, users, w, n) for w, n in counts.items()}
        finally:
            for proc in procs:
                proc.send_signal(signal.SIGTERM)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(10)
                if proc.poll() is None:
                    proc.kill()
    print(f"{args.messages} messages of ~{args.size} bytes, {args.clients} concurrent clients, "
          f"{args.sessions} poll / {args.sessions // 10} download sessions each")
    for name, _ in servers:
        print(f"\n{'workload':10} {name + ' /s':>14} {'dovecot /s':>11} {'ratio':>7}")
        for w in ("poll", "download"):
            p, d = results[name][w], results["dovecot"][w]
            print(f"{w:10} {p:14.1f} {d:11.1f} {p / d:7.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
