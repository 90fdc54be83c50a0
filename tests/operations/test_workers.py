"""workers: N, over real sockets: a supervisor and N processes accepting on the same ports."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import time

import pytest
import yaml
from maildrop_builders import make_maildir
from support import Client, ServerFixture, fast_hash, free_port, write_config


def children(pid: int) -> set[int]:
    found = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid and fields[0] != "Z":
                found.add(int(entry))
    return found


def two_workers(pid: int, without: int | None = None) -> set[int]:
    """The supervisor's two worker pids (waiting until there are two, neither ``without``)."""

    def ready() -> set[int] | None:
        kids = children(pid)
        return kids if len(kids) == 2 and without not in kids else None

    workers = wait_for(ready)
    assert workers, f"no two workers under {pid}: {children(pid)}"
    return workers


def wait_for(condition, timeout: float = 15.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not (result := condition()) and time.monotonic() < deadline:
        time.sleep(0.05)
    return result


def login(port: int, user: str = "alice", password: str = "alice-pw") -> bytes:
    c = Client.connect(port)
    try:
        c.line()
        c.cmd(f"USER {user}")
        reply = c.cmd(f"PASS {password}")
        c.cmd("QUIT")
        return reply
    finally:
        c.close()


def login_or_none(port: int) -> bytes | None:
    try:
        return login(port)
    except OSError:
        return None


def served_by(trace: str) -> list[int]:
    """The pid of the process that served each connection, from the trace's connection ids."""
    with open(trace) as f:
        return [int(line.split("[", 1)[1].split("-", 1)[0]) for line in f if "* connection from" in line]


@pytest.fixture
def server(tmp_path):
    make_maildir(str(tmp_path / "alice"), 2)
    port = free_port()
    users = {"alice": {"password": "alice-pw", "maildrop": f"maildir:{tmp_path}/alice"}}
    config = write_config(str(tmp_path), users, port, {"workers": 2})
    fixture = ServerFixture(str(tmp_path), port, config, extra_args=["-t", str(tmp_path / "trace.log")])
    try:
        yield fixture.start()
    finally:
        fixture.stop()


def test_workers_accept_side_by_side_and_the_supervisor_never_does(server, tmp_path):
    assert server.proc is not None
    workers = two_workers(server.proc.pid)
    first, second = sorted(workers)
    trace = str(tmp_path / "trace.log")
    for stopped, serving in ((first, second), (second, first)):
        os.kill(stopped, signal.SIGSTOP)  # it cannot accept: the other one must
        try:
            before = len(served_by(trace))
            for _ in range(3):
                assert login(server.port).startswith(b"+OK alice has 2 messages")
            assert set(served_by(trace)[before:]) == {serving}
            assert login(server.port, "alice", "wrong").startswith(b"-ERR [AUTH]")
        finally:
            os.kill(stopped, signal.SIGCONT)
    assert server.proc.pid not in served_by(trace)
    # One failed login in each worker: both counted in the shared database.
    with sqlite3.connect(str(tmp_path / "state" / "failures.sqlite3")) as db:
        assert db.execute("SELECT host, count FROM failures").fetchall() == [("127.0.0.1", 2)]


def test_a_dead_worker_is_replaced_and_sighup_reaches_every_worker(server, tmp_path):
    assert server.proc is not None
    workers = two_workers(server.proc.pid)
    victim = min(workers)
    os.kill(victim, signal.SIGKILL)
    two_workers(server.proc.pid, without=victim)
    assert "worker 1 ended" in server.log() or "worker 2 ended" in server.log()
    assert login(server.port).startswith(b"+OK")
    # A new user, then SIGHUP to the supervisor: every worker reloads.
    users_file = tmp_path / "users.yaml"
    users = yaml.safe_load(users_file.read_text())
    users["bob"] = {"password": fast_hash("bob-pw"), "maildrop": f"maildir:{tmp_path}/alice"}
    users_file.write_text(yaml.safe_dump(users))
    os.kill(server.proc.pid, signal.SIGHUP)
    assert wait_for(lambda: server.log().count("reloaded") >= 2), server.log()
    for _ in range(6):
        assert login(server.port, "bob", "bob-pw").startswith(b"+OK bob has 2 messages")


def test_sighup_while_a_worker_starts_does_not_kill_it(server):
    """SIGHUPs sent while a replacement worker starts are held for it, never its death."""
    assert server.proc is not None
    victim = min(two_workers(server.proc.pid))
    os.kill(victim, signal.SIGKILL)
    deadline = time.monotonic() + 2.0
    while time.monotonic() < deadline:  # the whole start of the new worker, hung up on
        os.kill(server.proc.pid, signal.SIGHUP)
        time.sleep(0.02)
    two_workers(server.proc.pid, without=victim)
    assert "signal 1." not in server.log(), server.log()
    assert login(server.port).startswith(b"+OK")


def test_sigterm_stops_supervisor_and_workers(server):
    assert server.proc is not None
    workers = two_workers(server.proc.pid)
    os.kill(server.proc.pid, signal.SIGTERM)  # the supervisor alone, not the process group
    assert server.proc.wait(20) == 0
    assert wait_for(lambda: not any(os.path.exists(f"/proc/{pid}") for pid in workers))


def test_workers_stop_when_the_supervisor_dies(server):
    assert server.proc is not None
    workers = two_workers(server.proc.pid)
    os.kill(server.proc.pid, signal.SIGKILL)
    server.proc.wait(5)

    def gone() -> bool:
        for pid in workers:
            try:
                with open(f"/proc/{pid}/stat") as f:
                    if f.read().rsplit(")", 1)[1].split()[0] != "Z":
                        return False
            except OSError:
                continue
        return True

    assert wait_for(gone, 15)


def test_workers_serve_systemd_sockets_including_pop3s(tmp_path):
    """Socket activation with workers: the supervisor takes systemd's sockets and hands them on."""
    from daemons import POP3D
    from support import HOST, require_tool
    from tls_kit import client_context, make_certificate

    activate = require_tool("systemd-socket-activate")
    cert = make_certificate(str(tmp_path / "certs"))
    make_maildir(str(tmp_path / "alice"), 2)
    users = {"alice": {"password": "alice-pw", "maildrop": f"maildir:{tmp_path}/alice"}}
    config = write_config(str(tmp_path), users, free_port(), {"workers": 2, "tls": cert.config()})
    plain, tls = free_port(), free_port()
    proc = subprocess.Popen([activate, "-l", f"{HOST}:{plain}", "-l", f"{HOST}:{tls}",
                             "--fdname=pop3d.socket:pop3s", *POP3D, "-c", config],
                            stdout=subprocess.DEVNULL, stderr=open(tmp_path / "err.log", "wb"),  # noqa: SIM115
                            cwd=str(tmp_path), start_new_session=True)
    try:
        # systemd-socket-activate starts the service on the first connection, as systemd does.
        assert wait_for(lambda: login_or_none(plain)), (tmp_path / "err.log").read_text()
        two_workers(proc.pid)
        raw = socket.create_connection((HOST, tls), timeout=10)
        c = Client(client_context(cert).wrap_socket(raw, server_hostname="localhost"))
        try:
            assert c.line().startswith(b"+OK pop3d")
            c.cmd("USER alice")
            assert c.cmd("PASS alice-pw").startswith(b"+OK alice has 2 messages")
            c.cmd("QUIT")
        finally:
            c.close()
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(20)
