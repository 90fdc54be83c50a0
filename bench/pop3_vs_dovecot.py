#!/usr/bin/env python3
"""pop3d against Dovecot's POP3 server (Debian's dovecot-pop3d), every scenario, one interleaved run.

One command makes the data, then for each round and each scenario starts
each server fresh (its own process tree, same data, same SHA512-CRYPT hash,
127.0.0.1), runs the scenario and stops it again, so neither inherits the
other's state or drift.  Every RETR is checked for size and SHA-256.
Server CPU is read from ``/proc`` for the whole process tree (children that
exited included, through their parent's ``cutime``/``cstime``).

Scenarios (``--quick`` shrinks all of them for a smoke run):

* ``poll``        USER, PASS, STAT, QUIT over many small users, several clients: sessions/s
* ``retr20 md``   RETR of one 20 MB message (Maildir), and ``retr20 mbox``: MB/s
* ``pipe 4K``     1,000 x 4 KB RETR sent in one write (what mpop does): messages/s
* ``list 10k`` / ``list 100k`` (Maildir and mbox, cold and warm): seconds from
  connect to the last line of UIDL ("cold": both servers' caches and indexes
  removed first; the page cache is warm in both), and the QUIT after it

Bodies contain lines starting with ``.`` and ``From `` (escaped ``>From `` in
mbox, where a server may show either).  A ``*`` marks a figure where the
load generator (this process) used more than 90% of a core: it, not the
server, was the limit.  Needs root (Dovecot serves mail as user ``mail``):

    apt-get install -y dovecot-pop3d
    .venv/bin/python bench/pop3_vs_dovecot.py [--quick] [--rounds 2] [--only poll,pipe]
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import pwd
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from passlib.hash import sha512_crypt

HOST = "127.0.0.1"
PASSWORD = "bench-password"
HZ = os.sysconf("SC_CLK_TCK")
BASE_TIME = 1_700_000_000
NL = b"\n"
FROM_LINE = b"From sender@example.org Tue Nov 14 22:13:20 2023\n"


# -- data ---------------------------------------------------------------------


def body_of(i: int, size: int) -> bytes:
    """A message of about ``size`` bytes, LF line ends, with ``.`` and ``From `` lines; ends in LF."""
    head = (f"From: Sender <s{i % 97}@example.org>\nTo: user@example.net\n"
            f"Subject: bench {i}\nMessage-ID: <{i}.bench@example.org>\n\n").encode()
    lines = [b"The quick brown fox jumps over the lazy dog, again and again.\n",
             b".a line that starts with a dot\n", b"From the start of a line, a trap for mbox\n",
             b"..\n", b"plain text " * 6 + b"\n"]
    block = b"".join(lines)
    return head + block * max(1, (size - len(head)) // len(block))


def wire_forms(message: bytes, mbox: bool) -> set[tuple[int, str]]:
    """(length, sha256) of the dot-stuffed CRLF body a server may send for ``message``."""
    forms = {message}
    if mbox:  # stored as >From; a server may or may not unescape it
        forms.add(message.replace(b"\nFrom ", b"\n>From "))
    out = set()
    for form in forms:
        wire = b"\r\n".join(b"." + ln if ln.startswith(b".") else ln for ln in form[:-1].split(b"\n"))
        wire += b"\r\n"
        out.add((len(wire), hashlib.sha256(wire).hexdigest()))
    return out


@dataclass
class Drop:
    """One user's maildrop and the wire forms of its messages (for checking RETR)."""

    user: str
    kind: str  # maildir | mbox
    path: str
    expected: list[set[tuple[int, str]]] = field(default_factory=list)


def make_maildir(drop: Drop, messages: list[bytes], sizes_in_names: bool) -> None:
    for sub in ("new", "cur", "tmp"):
        os.makedirs(os.path.join(drop.path, sub), exist_ok=True)
    for i, data in enumerate(messages):
        unique = f"{BASE_TIME + i}.M{i}P4242.bench"
        if sizes_in_names:  # as Dovecot's LDA and Courier deliver
            unique += f",S={len(data)},W={len(data) + data.count(NL)}"
        name = f"cur/{unique}:2,S" if i % 3 else f"new/{unique}"
        with open(os.path.join(drop.path, name), "wb") as f:
            f.write(data)
    drop.expected = [wire_forms(m, False) for m in messages]


def make_mbox(drop: Drop, messages: list[bytes]) -> None:
    os.makedirs(os.path.dirname(drop.path), exist_ok=True)
    with open(drop.path, "wb") as f:
        for data in messages:
            f.write(FROM_LINE + data.replace(b"\nFrom ", b"\n>From ") + b"\n")
    drop.expected = [wire_forms(m, True) for m in messages]


def make_data(root: str, quick: bool) -> dict[str, list[Drop]]:
    """Every scenario's maildrops, by scenario data name."""
    big = 2 << 20 if quick else 20 << 20
    n_users = 40 if quick else 2000
    counts = {"10k": 1000 if quick else 10_000, "100k": 2000 if quick else 100_000}
    data: dict[str, list[Drop]] = {"poll": []}
    for u in range(n_users):
        drop = Drop(f"poll{u}", "maildir", f"{root}/poll{u}/Maildir")
        make_maildir(drop, [body_of(i, 2000) for i in range(3)], True)
        data["poll"].append(drop)
    drop = Drop("bigmd", "maildir", f"{root}/bigmd/Maildir")
    make_maildir(drop, [body_of(0, big)], False)
    data["bigmd"] = [drop]
    drop = Drop("bigmb", "mbox", f"{root}/bigmb/mbox")
    make_mbox(drop, [body_of(0, big)])
    data["bigmb"] = [drop]
    drop = Drop("pipe", "maildir", f"{root}/pipe/Maildir")
    make_maildir(drop, [body_of(i, 4096) for i in range(1000)], False)
    data["pipe"] = [drop]
    for label, count in counts.items():
        messages = [body_of(i, 1000 + (i * 7919) % 5000) for i in range(count)]
        drop = Drop(f"md{label}", "maildir", f"{root}/md{label}/Maildir")
        make_maildir(drop, messages, True)
        data[f"md{label}"] = [drop]
        drop = Drop(f"mb{label}", "mbox", f"{root}/mb{label}/mbox")
        make_mbox(drop, messages)
        data[f"mb{label}"] = [drop]
    return data


def clear_caches(drop: Drop) -> None:
    """Remove both servers' caches and indexes for ``drop`` (a cold start)."""
    home = os.path.dirname(drop.path)
    for name in ("pop3d-sizes", "pop3d-listing", "dovecot.index", "dovecot.index.cache", "dovecot.index.log",
                 "dovecot-uidlist", "dovecot.index.log.2"):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(os.path.join(drop.path if drop.kind == "maildir" else home, name))
    for leftover in (os.path.join(home, "mail"), drop.path + ".pop3d-index"):
        shutil.rmtree(leftover, ignore_errors=True)
    with contextlib.suppress(FileNotFoundError):
        for name in os.listdir(home):
            if name.startswith((".pop3d", "pop3d-")) or name.endswith(".pop3d-index"):
                path = os.path.join(home, name)
                shutil.rmtree(path) if os.path.isdir(path) else os.unlink(path)


# -- servers ------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def wait_port(port: int, proc: subprocess.Popen[bytes], what: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{what} exited with {proc.returncode}")
        with contextlib.suppress(OSError), socket.create_connection((HOST, port), timeout=1) as s:
            if s.recv(100).startswith(b"+OK"):
                return
        time.sleep(0.05)
    raise SystemExit(f"{what} did not come up")


def tree_cpu(pid: int) -> float:
    """CPU seconds of ``pid`` and every live descendant, with their reaped children."""
    children: dict[int, list[int]] = {}
    stats: dict[int, list[str]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        with contextlib.suppress(OSError), open(f"/proc/{entry}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
            stats[int(entry)] = fields
            children.setdefault(int(fields[1]), []).append(int(entry))
    total, todo = 0.0, [pid]
    while todo:
        p = todo.pop()
        if p in stats:
            total += sum(int(x) for x in stats[p][11:15]) / HZ
        todo.extend(children.get(p, ()))
    return total


def write_pop3d(work: str, drops: list[Drop], hashed: str, port: int, workers: int) -> list[str]:
    with open(f"{work}/users.yaml", "w") as f:
        for d in drops:
            f.write(f'{d.user}:\n  password: "{hashed}"\n  maildrop: {d.kind}:{d.path}\n')
    config = f"{work}/pop3d.yaml"
    with open(config, "w") as f:
        f.write(f"hostname: bench\nlisten: ['tcp:{port}:interface={HOST}']\n"
                f"users: [{{type: virtual, file: {work}/users.yaml}}]\nworkers: {workers}\n"
                f"state_dir: {work}/state\n")
    return [sys.executable, "-m", "pop3d", "-c", config]


def write_dovecot(work: str, drops: list[Drop], hashed: str, port: int, workers: int) -> list[str]:
    mail = pwd.getpwnam("mail")
    with open(f"{work}/passwd", "w") as f:
        for d in drops:
            home = os.path.dirname(d.path)
            if d.kind == "maildir":
                extra = f"userdb_mail=maildir:{d.path}"
            else:  # %f (file names) is Maildir only; %% escapes % in passwd-file fields
                extra = f"userdb_mail=mbox:{home}/mail:INBOX={d.path} userdb_pop3_uidl_format=%%08Xu%%08Xv"
            f.write(f"{d.user}:{{SHA512-CRYPT}}{hashed}:{mail.pw_uid}:{mail.pw_gid}::{home}::{extra}\n")
    config = f"{work}/dovecot.conf"
    with open(config, "w") as f:
        f.write(f"""base_dir = {work}/run
state_dir = {work}/dstate
log_path = {work}/dovecot.log
protocols = pop3
listen = {HOST}
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
first_valid_uid = {mail.pw_uid}
pop3_uidl_format = %f
mbox_write_locks = fcntl
passdb {{
  driver = passwd-file
  args = scheme=SHA512-CRYPT {work}/passwd
}}
userdb {{
  driver = passwd-file
  args = {work}/passwd
}}
service pop3-login {{
  inet_listener pop3 {{
    port = {port}
  }}
  inet_listener pop3s {{
    port = 0
  }}
  service_count = 0
  process_min_avail = {workers}
}}
service pop3 {{
  service_count = 0
  process_limit = 100
}}
service imap-login {{
  inet_listener imap {{
    port = 0
  }}
}}
""")
    return ["dovecot", "-F", "-c", config]


SERVERS: dict[str, Callable[..., list[str]]] = {"pop3d": write_pop3d, "dovecot": write_dovecot}


@contextlib.contextmanager
def running(server: str, root: str, drops: list[Drop], hashed: str, workers: int):
    """Start ``server`` fresh for ``drops``; yield (port, pid); stop it."""
    work = tempfile.mkdtemp(prefix=f"{server}-", dir=root)
    os.chmod(work, 0o755)
    port = free_port()
    argv = SERVERS[server](work, drops, hashed, port, workers)
    with open(f"{work}/stderr", "wb") as log:
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=log, start_new_session=True)
    try:
        wait_port(port, proc, server)
        yield port, proc.pid
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        if not os.environ.get("BENCH_KEEP"):
            shutil.rmtree(work, ignore_errors=True)


# -- the client ---------------------------------------------------------------


class Client:
    """A minimal POP3 client reading multi-line responses in large blocks."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection((HOST, port), timeout=120)
        self.buf = bytearray()
        self.line()

    def _fill(self) -> None:
        data = self.sock.recv(1 << 20)
        if not data:
            raise ConnectionError("server closed the connection")
        self.buf += data

    def line(self) -> bytes:
        while (end := self.buf.find(b"\r\n")) < 0:
            self._fill()
        out = bytes(self.buf[:end])
        del self.buf[:end + 2]
        if not out.startswith(b"+OK"):
            raise ConnectionError(f"server said {out!r}")
        return out

    def multi(self) -> bytes:
        """The status line, then the body up to (without) the terminating ``.``."""
        self.line()
        start = 0
        if self.buf.startswith(b".\r\n"):
            del self.buf[:3]
            return b""
        while (end := self.buf.find(b"\r\n.\r\n", start)) < 0:
            start = max(0, len(self.buf) - 4)
            self._fill()
        out = bytes(self.buf[:end + 2])
        del self.buf[:end + 5]
        return out

    def send(self, *commands: str) -> None:
        self.sock.sendall("".join(c + "\r\n" for c in commands).encode())

    def login(self, user: str) -> None:
        self.send(f"USER {user}", f"PASS {PASSWORD}")
        self.line()
        self.line()

    def quit(self) -> None:
        self.send("QUIT")
        self.line()
        self.sock.close()


def check(drop: Drop, index: int, data: bytes) -> None:
    got = (len(data), hashlib.sha256(data).hexdigest())
    if got not in drop.expected[index]:
        raise SystemExit(f"RETR {index + 1} of {drop.user}: {got[0]} bytes, wrong size or checksum")


@dataclass
class Figure:
    value: float  # the figure (higher is better unless lower_better)
    cpu: float  # server CPU seconds for the scenario
    per: float  # sessions, or MB, the CPU is divided by
    saturated: bool


def measured(pid: int, run: Callable[[], float]) -> tuple[float, float, bool]:
    """(run's result, server CPU seconds, whether this client saturated a core)."""
    cpu0, own0, t0 = tree_cpu(pid), time.process_time(), time.perf_counter()
    result = run()
    wall = time.perf_counter() - t0
    time.sleep(0.2)  # let the server finish its share (QUIT commits, exits)
    cpu = tree_cpu(pid) - cpu0
    return result, cpu, (time.process_time() - own0) / wall > 0.9


def poll(port: int, drops: list[Drop], clients: int) -> float:
    queue = list(drops)
    lock = threading.Lock()
    errors: list[BaseException] = []

    def worker() -> None:
        while True:
            with lock:
                if not queue:
                    return
                drop = queue.pop()
            try:
                c = Client(port)
                c.login(drop.user)
                c.send("STAT")
                c.line()
                c.quit()
            except (OSError, ConnectionError) as exc:
                errors.append(exc)
                return

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise SystemExit(f"poll: {errors[0]!r}")
    return len(drops) / (time.perf_counter() - start)


def retr_all(port: int, drop: Drop, pipelined: bool) -> float:
    """RETR every message (all in one write when ``pipelined``); seconds for the RETRs."""
    c = Client(port)
    c.login(drop.user)
    n = len(drop.expected)
    start = time.perf_counter()
    if pipelined:
        c.send(*(f"RETR {i}" for i in range(1, n + 1)))
    for i in range(n):
        if not pipelined:
            c.send(f"RETR {i + 1}")
        check(drop, i, c.multi())
    elapsed = time.perf_counter() - start
    c.quit()
    return elapsed


def listing(port: int, drop: Drop) -> tuple[float, float]:
    """(seconds from connect to the end of UIDL, seconds for the QUIT after it)."""
    start = time.perf_counter()
    c = Client(port)
    c.login(drop.user)
    c.send("UIDL")
    lines = c.multi().count(b"\r\n")
    listed = time.perf_counter()
    if lines != len(drop.expected):
        raise SystemExit(f"UIDL of {drop.user}: {lines} lines, {len(drop.expected)} messages")
    c.quit()
    return listed - start, time.perf_counter() - listed


# -- scenarios ----------------------------------------------------------------


def scenarios(data: dict[str, list[Drop]], clients: int) -> dict[str, tuple[str, Callable]]:
    """name -> (unit, function(port, pid) -> {row name: Figure})."""
    def poll_rows(port: int, pid: int) -> dict[str, Figure]:
        drops = data["poll"]
        rate, cpu, sat = measured(pid, lambda: poll(port, drops, clients))
        return {"poll sessions/s": Figure(rate, cpu, len(drops), sat)}

    def retr_rows(key: str, row: str, pipelined: bool) -> Callable:
        def run(port: int, pid: int) -> dict[str, Figure]:
            drop = data[key][0]
            seconds, cpu, sat = measured(pid, lambda: retr_all(port, drop, pipelined))
            mb = sum(min(e)[0] for e in drop.expected) / 1e6
            value = (len(drop.expected) if pipelined else mb) / seconds
            return {row: Figure(value, cpu, mb, sat)}
        return run

    def list_rows(key: str) -> Callable:
        def run(port: int, pid: int) -> dict[str, Figure]:
            drop = data[key][0]
            out = {}
            for state in ("cold", "warm"):
                if state == "cold":
                    clear_caches(drop)
                (seconds, quit_s), cpu, sat = measured(pid, lambda: listing(port, drop))
                out[f"{key} list {state} s"] = Figure(seconds, cpu, 1, sat)
                out[f"{key} quit {state} s"] = Figure(quit_s, 0, 1, False)
            return out
        return run

    table = {
        "poll": ("poll", poll_rows),
        "retr20md": ("bigmd", retr_rows("bigmd", "RETR big Maildir MB/s", False)),
        "retr20mb": ("bigmb", retr_rows("bigmb", "RETR big mbox MB/s", False)),
        "pipe": ("pipe", retr_rows("pipe", "1000x4K pipelined msgs/s", True)),
    }
    for key in data:
        if key.startswith(("md", "mb")):
            table[f"list{key}"] = (key, list_rows(key))
    return table


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small data, one round: a smoke run")
    parser.add_argument("--rounds", type=int, default=2, help="interleaved rounds (median reported)")
    parser.add_argument("--clients", type=int, default=4, help="concurrent clients for poll")
    parser.add_argument("--workers", type=int, default=1, help="pop3d workers / Dovecot login processes")
    parser.add_argument("--only", default="", help="comma-separated scenarios (prefix match)")
    parser.add_argument("--dir", default=None, help="work here (data kept between runs) not in /tmp")
    args = parser.parse_args()
    if not shutil.which("dovecot"):
        raise SystemExit("Dovecot is not installed: apt-get install -y dovecot-pop3d")
    if os.geteuid() != 0:
        raise SystemExit("needs root: Dovecot serves mail as user mail")
    rounds = 1 if args.quick else args.rounds
    hashed = sha512_crypt.using(rounds=5000).hash(PASSWORD)
    mail = pwd.getpwnam("mail")
    root = args.dir or tempfile.mkdtemp(prefix="pop3-bench-")
    try:
        os.makedirs(root, exist_ok=True)
        os.chmod(root, 0o755)
        start = time.perf_counter()
        data = make_data(f"{root}/data", args.quick)
        subprocess.run(["chown", "-R", f"{mail.pw_uid}:{mail.pw_gid}", f"{root}/data"], check=True)
        print(f"data made in {time.perf_counter() - start:.0f} s", file=sys.stderr)
        table = scenarios(data, args.clients)
        only = [o for o in args.only.split(",") if o]
        chosen = [k for k in table if not only or k.startswith(tuple(only))]
        results: dict[str, dict[str, list[Figure]]] = {}
        for r in range(rounds):
            for name in chosen:
                key, run = table[name]
                order = ("pop3d", "dovecot") if r % 2 == 0 else ("dovecot", "pop3d")
                for server in order:
                    with running(server, root, data[key], hashed, args.workers) as (port, pid):
                        for row, fig in run(port, pid).items():
                            results.setdefault(row, {}).setdefault(server, []).append(fig)
                    print(f"round {r + 1} {name} {server} done", file=sys.stderr)
        print_table(results, rounds, args)
    finally:
        if not args.dir:
            shutil.rmtree(root, ignore_errors=True)
    return 0


def print_table(results: dict[str, dict[str, list[Figure]]], rounds: int, args: argparse.Namespace) -> None:
    print(f"pop3d vs Dovecot, {rounds} interleaved round(s), median; {args.workers} worker(s); "
          f"{os.cpu_count()} CPUs; * = load generator saturated")
    print(f"{'scenario':28} {'pop3d':>10} {'dovecot':>10} {'ratio':>6}   "
          f"{'pop3d CPU':>10} {'dovecot CPU':>11} {'ratio':>6}  (CPU ms per session/MB)")
    for row, by_server in results.items():
        figs = {s: by_server.get(s, []) for s in ("pop3d", "dovecot")}
        if not all(figs.values()):
            continue
        med = {s: statistics.median(f.value for f in fs) for s, fs in figs.items()}
        cpu = {s: statistics.median(1000 * f.cpu / f.per for f in fs) for s, fs in figs.items()}
        mark = {s: "*" if any(f.saturated for f in fs) else " " for s, fs in figs.items()}
        ratio = med["pop3d"] / med["dovecot"] if med["dovecot"] else float("inf")
        line = (f"{row:28} {med['pop3d']:>9.3f}{mark['pop3d']} {med['dovecot']:>9.3f}{mark['dovecot']} "
                f"{ratio:>6.2f}")
        if " quit " not in row:
            cpu_ratio = cpu["pop3d"] / cpu["dovecot"] if cpu["dovecot"] else float("inf")
            line += f"   {cpu['pop3d']:>10.2f} {cpu['dovecot']:>11.2f} {cpu_ratio:>6.2f}"
        print(line)


if __name__ == "__main__":
    sys.exit(main())
