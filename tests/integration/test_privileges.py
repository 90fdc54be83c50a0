"""Giving up root, checked on the serving process itself (/proc/PID/status).

Standalone: bind (a privileged port) as root, then run as ``run_as``.
inetd (one process per connection): become the authenticated UNIX user
before the maildrop is opened.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator

import pytest
from support import HOST, Client, ServerFixture, inetd_process, write_config
from unix_kit import chown_tree, require_root, unix_account


def ids(pid: int) -> dict[str, list[int]]:
    """Uid, Gid (real, effective, saved, fs) and Groups of a process."""
    out: dict[str, list[int]] = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("Uid", "Gid", "Groups"):
                out[key] = [int(v) for v in value.split()]
    return out


def ids_once_settled(pid: int, uid: int, timeout: float = 10.0) -> dict[str, list[int]]:
    """:func:`ids` once the process has given up root for ``uid`` (it listens first, then drops)."""
    deadline = time.monotonic() + timeout
    while (status := ids(pid))["Uid"][0] != uid and time.monotonic() < deadline:
        time.sleep(0.02)
    return status


def make_maildir(path: str) -> None:
    for sub in ("new", "cur", "tmp"):
        os.makedirs(os.path.join(path, sub), exist_ok=True)
    with open(os.path.join(path, "new", "1700000000.M1P1.test"), "wb") as f:
        f.write(b"Subject: hi\r\n\r\nhello\r\n")


@contextlib.contextmanager
def alice_spool(owner: str) -> Iterator[str]:
    """A world-readable spool folder (not in tmp_path, which is root's) with alice's Maildir,
    owned by ``owner``; removed afterwards."""
    spool = tempfile.mkdtemp(prefix="p3t-spool-")
    try:
        os.chmod(spool, 0o755)
        make_maildir(os.path.join(spool, "alice"))
        chown_tree(os.path.join(spool, "alice"), owner)
        yield spool
    finally:
        subprocess.run(["rm", "-rf", spool], check=False)


def free_low_port() -> int:
    """A free port below 1024 on loopback: only root can bind it."""
    for port in range(1023, 900, -1):
        with contextlib.suppress(OSError), socket.socket() as s:
            s.bind((HOST, port))
            return port
    raise RuntimeError("no free port below 1024")


def test_standalone_binds_as_root_then_runs_as_run_as(tmp_path):
    require_root()
    with unix_account() as name:
        pw = pwd.getpwnam(name)
        with alice_spool(name) as spool:
            make_maildir(os.path.join(spool, "root-only"))
            os.chmod(os.path.join(spool, "root-only"), 0o700)
            users = {"alice": {"password": "alice-pw", "maildrop": f"maildir:{spool}/alice"},
                     "carol": {"password": "carol-pw", "maildrop": f"maildir:{spool}/root-only"}}
            port = free_low_port()
            config = write_config(str(tmp_path), users, port, {
                "listen": [f"tcp:{port}:interface={HOST}"],
                "run_as": {"user": name, "group": name, "groups": ["mail"]},
            })
            server = ServerFixture(str(tmp_path), port, config)
            try:
                server.start()
                assert server.proc is not None
                status = ids_once_settled(server.proc.pid, pw.pw_uid)
                assert status["Uid"] == [pw.pw_uid] * 4
                assert status["Gid"] == [pw.pw_gid] * 4
                assert sorted(status["Groups"]) == sorted({pw.pw_gid, 8})  # its group and mail
                c = Client.connect(port)
                c.line()
                c.cmd("USER alice")
                assert c.cmd("PASS alice-pw") == b"+OK alice has 1 messages (22 octets)"
                assert c.cmd("STAT") == b"+OK 1 22"
                c.cmd("QUIT")
                # A maildrop only root could read stays closed: no root rights are left.
                c = Client.connect(port)
                c.line()
                c.cmd("USER carol")
                assert c.cmd("PASS carol-pw") == b"-ERR [SYS/TEMP] maildrop is unavailable, try later"
                c.close()
            finally:
                server.stop()


@pytest.mark.parametrize("workers", [1, 2])
def test_unknown_run_as_user_stops_the_server(tmp_path, workers):
    require_root()
    port = free_low_port()
    config = write_config(str(tmp_path), {}, port, {"run_as": {"user": "no-such-user-p3t"},
                                                    "workers": workers})
    proc = subprocess.run([sys.executable, "-m", "pop3d", "-c", config], capture_output=True, text=True,
                          timeout=60, cwd=str(tmp_path))
    assert proc.returncode == 2
    assert proc.stderr == f"pop3d: {config}: run_as.user: no such user: no-such-user-p3t\n"


def test_inetd_process_becomes_the_unix_user_before_opening_the_maildrop(tmp_path):
    require_root()
    with unix_account("Unix pw 1!") as name:
        pw = pwd.getpwnam(name)
        home = pw.pw_dir
        make_maildir(os.path.join(home, "Maildir"))
        chown_tree(home, name)  # the home is 0700: only the user (and root) can enter it
        config = write_config(str(tmp_path), {}, 0, {
            "users": [{"type": "unix", "maildrop": "maildir:~/Maildir"}],
            "listen": [f"tcp:0:interface={HOST}"],
        })
        with inetd_process(["-i", "-c", config], str(tmp_path)) as (c, proc):
            assert c.line().startswith(b"+OK")
            assert ids(proc.pid)["Uid"] == [0] * 4  # root until someone logs in
            c.cmd(f"USER {name}")
            assert c.cmd("PASS Unix pw 1!") == f"+OK {name} has 1 messages (22 octets)".encode()
            status = ids(proc.pid)
            assert status["Uid"] == [pw.pw_uid] * 4
            assert status["Gid"] == [pw.pw_gid] * 4
            assert sorted(status["Groups"]) == sorted(os.getgrouplist(name, pw.pw_gid))
            assert c.cmd("DELE 1") == b"+OK message 1 deleted"
            assert c.cmd("QUIT").startswith(b"+OK")
            assert proc.wait(15) == 0
            # The deletion was committed by the process now running as the user.
            cur = os.path.join(home, "Maildir", "cur")
            assert os.listdir(os.path.join(home, "Maildir", "new")) == [] and os.listdir(cur) == []


def retrieval_records(state_dir: str) -> list[tuple[str, str]]:
    with sqlite3.connect(os.path.join(state_dir, "retrieved.sqlite3")) as db:
        return db.execute("SELECT user, uid FROM retrieved").fetchall()


def test_state_databases_stay_root_only_yet_writable_after_giving_up_root(tmp_path):
    """LOGIN-DELAY and EXPIRE records are written by the process running as ``run_as``."""
    require_root()
    with unix_account() as name, alice_spool(name) as spool:
        # The configuration must be readable by run_as for a reload: not in tmp_path (0700).
        workdir = os.path.join(spool, "etc")
        os.mkdir(workdir, 0o755)
        state = os.path.join(spool, "state")
        port = free_low_port()
        config = write_config(workdir, {"alice": {"password": "alice-pw",
                                                  "maildrop": f"maildir:{spool}/alice"}}, port, {
            "listen": [f"tcp:{port}:interface={HOST}"],
            "run_as": {"user": name, "group": name},
            "state_dir": state, "expire": 2,
            "login_delay": {"seconds": 3600, "policy": "reject"},
        })
        server = ServerFixture(workdir, port, config)
        try:
            server.start()
            assert server.proc is not None
            assert ids_once_settled(server.proc.pid, pwd.getpwnam(name).pw_uid)["Uid"][0] != 0
            c = Client.connect(port)
            c.line()
            c.cmd("USER alice")
            assert c.cmd("PASS alice-pw").startswith(b"+OK alice has 1 messages")
            assert c.cmd("RETR 1").startswith(b"+OK")
            c.multiline()
            assert c.cmd("QUIT").startswith(b"+OK")
            c = Client.connect(port)
            c.line()
            c.cmd("USER alice")
            assert c.cmd("PASS alice-pw").startswith(b"-ERR [LOGIN-DELAY]")
            c.close()
            # A reload (SIGHUP) keeps using the databases opened as root.
            os.kill(server.proc.pid, signal.SIGHUP)
            deadline = time.monotonic() + 10
            while "reloaded" not in server.log() and time.monotonic() < deadline:
                time.sleep(0.05)
            assert "reloaded" in server.log() and "reload failed" not in server.log()
            c = Client.connect(port)
            c.line()
            c.cmd("USER alice")
            assert c.cmd("PASS alice-pw").startswith(b"-ERR [LOGIN-DELAY]")
            c.close()
        finally:
            server.stop()
        assert os.stat(state).st_uid == 0 and os.stat(state).st_mode & 0o007 == 0
        assert retrieval_records(state) == [("alice", "1700000000.M1P1.test")]


def test_inetd_process_records_retrievals_after_becoming_the_user(tmp_path):
    require_root()
    with unix_account("Unix pw 1!") as name:
        home = pwd.getpwnam(name).pw_dir
        make_maildir(os.path.join(home, "Maildir"))
        chown_tree(home, name)
        state = str(tmp_path / "state")
        config = write_config(str(tmp_path), {}, 0, {
            "users": [{"type": "unix", "maildrop": "maildir:~/Maildir"}],
            "listen": [f"tcp:0:interface={HOST}"], "state_dir": state, "expire": 2,
        })
        with inetd_process(["-i", "-c", config], str(tmp_path)) as (c, proc):
            assert c.line().startswith(b"+OK")
            c.cmd(f"USER {name}")
            assert c.cmd("PASS Unix pw 1!").startswith(b"+OK")
            assert ids(proc.pid)["Uid"][0] == pwd.getpwnam(name).pw_uid
            assert c.cmd("RETR 1").startswith(b"+OK")
            c.multiline()
            assert c.cmd("QUIT").startswith(b"+OK")
            assert proc.wait(15) == 0
            assert os.stat(state).st_uid == 0 and os.stat(state).st_mode & 0o007 == 0
            assert retrieval_records(state) == [(name, "1700000000.M1P1.test")]


def test_workers_run_as_run_as_while_the_supervisor_stays_root(tmp_path):
    """workers: 2 -- the supervisor keeps root to restart workers; each worker gives it up."""
    require_root()
    with unix_account() as name:
        pw = pwd.getpwnam(name)
        with alice_spool(name) as spool:
            port = free_low_port()
            config = write_config(str(tmp_path), {"alice": {"password": "alice-pw",
                                                            "maildrop": f"maildir:{spool}/alice"}}, port, {
                "listen": [f"tcp:{port}:interface={HOST}"], "workers": 2,
                "run_as": {"user": name, "group": name},
            })
            server = ServerFixture(str(tmp_path), port, config)
            try:
                server.start()
                assert server.proc is not None
                assert ids(server.proc.pid)["Uid"] == [0] * 4
                deadline = time.monotonic() + 15
                while True:
                    workers = [int(p) for p in os.listdir("/proc")
                               if p.isdigit() and _ppid(int(p)) == server.proc.pid]
                    if len(workers) == 2 and all(ids(w)["Uid"] == [pw.pw_uid] * 4 for w in workers):
                        break
                    assert time.monotonic() < deadline, f"workers {workers} did not give up root"
                    time.sleep(0.1)
                for _ in range(4):
                    c = Client.connect(port)
                    c.line()
                    c.cmd("USER alice")
                    assert c.cmd("PASS alice-pw").startswith(b"+OK alice has 1 messages")
                    c.cmd("QUIT")
            finally:
                server.stop()


def _ppid(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return None


def test_inetd_process_that_became_a_unix_user_accepts_no_other_login(tmp_path):
    """After a UNIX login failed with [IN-USE], the process (already that user) served a virtual user."""
    require_root()
    with unix_account("Unix pw 1!") as name, unix_account() as vmail, alice_spool(vmail) as spool:
        home = pwd.getpwnam(name).pw_dir
        make_maildir(os.path.join(home, "Maildir"))
        chown_tree(home, name)
        # Even a maildrop anybody may write is not served by a process that is another user now.
        subprocess.run(["chmod", "-R", "a+rwX", os.path.join(spool, "alice")], check=True)
        config = write_config(str(tmp_path), {"alice": {"password": "alice-pw",
                                                        "maildrop": f"maildir:{spool}/alice"}}, 0, {
            "users": [{"type": "unix", "maildrop": "maildir:~/Maildir"},
                      {"type": "virtual", "file": str(tmp_path / "users.yaml")}],
            "listen": [f"tcp:0:interface={HOST}"], "run_as": {"user": vmail, "group": vmail},
        })
        with inetd_process(["-i", "-c", config], str(tmp_path)) as (holder, _), \
                inetd_process(["-i", "-c", config], str(tmp_path)) as (c, proc):
            holder.line()
            holder.cmd(f"USER {name}")
            assert holder.cmd("PASS Unix pw 1!").startswith(b"+OK")  # holds the maildrop's lock
            c.line()
            c.cmd(f"USER {name}")
            assert c.cmd("PASS Unix pw 1!").startswith(b"-ERR [IN-USE]")
            assert ids(proc.pid)["Uid"] == [pwd.getpwnam(name).pw_uid] * 4
            c.cmd("USER alice")
            assert c.cmd("PASS alice-pw") == b"-ERR [SYS/TEMP] maildrop is unavailable, try later"
            assert os.listdir(os.path.join(spool, "alice", "new")) == ["1700000000.M1P1.test"]


def test_inetd_virtual_users_session_runs_as_run_as_never_root(tmp_path):
    require_root()
    with unix_account() as vmail, alice_spool(vmail) as spool:
        pw = pwd.getpwnam(vmail)
        config = write_config(str(tmp_path), {"alice": {"password": "alice-pw",
                                                        "maildrop": f"maildir:{spool}/alice"}}, 0, {
            "listen": [f"tcp:0:interface={HOST}"], "run_as": {"user": vmail, "group": vmail},
        })
        with inetd_process(["-i", "-c", config], str(tmp_path)) as (c, proc):
            assert c.line().startswith(b"+OK")
            c.cmd("USER alice")
            assert c.cmd("PASS alice-pw") == b"+OK alice has 1 messages (22 octets)"
            assert ids(proc.pid)["Uid"] == [pw.pw_uid] * 4 and ids(proc.pid)["Gid"] == [pw.pw_gid] * 4
            assert c.cmd("DELE 1").startswith(b"+OK") and c.cmd("QUIT").startswith(b"+OK")
            assert proc.wait(15) == 0
        assert os.listdir(os.path.join(spool, "alice", "new")) == []


def test_inetd_virtual_user_without_run_as_is_refused_not_served_as_root(tmp_path):
    """Root inetd with virtual users and no run_as: the login is refused, nothing runs as root."""
    require_root()
    with unix_account() as owner, alice_spool(owner) as spool:
        config = write_config(str(tmp_path), {"alice": {"password": "alice-pw",
                                                        "maildrop": f"maildir:{spool}/alice"}}, 0, {
            "listen": [f"tcp:0:interface={HOST}"],
        })
        with inetd_process(["-i", "-c", config, "-d"], str(tmp_path)) as (c, proc):
            assert c.line().startswith(b"+OK")
            c.cmd("USER alice")
            assert c.cmd("PASS alice-pw").startswith(b"-ERR [SYS/")
            assert c.cmd("STAT").startswith(b"-ERR")  # still not logged in
            c.cmd("QUIT")
            proc.wait(15)
        assert os.listdir(os.path.join(spool, "alice", "new")) != []
        assert not os.path.exists(os.path.join(spool, "alice", "pop3d-session.lock"))
