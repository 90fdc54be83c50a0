"""Local users attacking the server through their own maildrop, over real sockets.

Each test names the attack it stops.  The accounts are real UNIX accounts
(tests/unix_kit.py) where the attack needs one; the server runs as root,
the set-up in which a hole would hurt most.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import threading
import time

import pytest
from maildrop_builders import maildir_with
from support import Client, inetd_process, pass_login
from unix_kit import chown_tree, unix_account

from pop3d.maildrop import Location, fs_identity
from pop3d.maildrop.mbox import Sidecars

PASSWORD = "Local pw 1!"
SECRET = b"Subject: root only\r\n\r\nthe secret\r\n"


def unix_users() -> dict[str, object]:
    return {"users": [{"type": "unix", "maildrop": "maildir:~/Maildir"}]}


def snapshot(folder: str) -> dict[str, bytes]:
    out = {}
    for name in sorted(os.listdir(folder)):
        with open(os.path.join(folder, name), "rb") as f:
            out[name] = f.read()
    return out


def login(port: int, name: str) -> Client:
    c = Client.connect(port)
    assert c.line().startswith(b"+OK")
    assert c.cmd(f"USER {name}").startswith(b"+OK")
    return c


def test_subfolder_symlinked_to_root_only_or_another_users_mail_is_refused_over_pop3(make_server, tmp_path):
    """alice replaces ~/Maildir/cur, new or tmp by a symlink: to a root-only folder, or to
    bob's Maildir.  Before, RETR served those files, QUIT renamed them and DELE+QUIT
    deleted them; now the login is refused, logged with the path, and nothing is touched."""
    root_only = str(tmp_path / "root-only")
    os.mkdir(root_only, 0o700)
    with open(os.path.join(root_only, "1700000009.M9P9.secret:2,"), "wb") as f:
        f.write(SECRET)
    with unix_account(PASSWORD) as alice, unix_account() as bob:
        alice_home, bob_home = (pwd.getpwnam(n).pw_dir for n in (alice, bob))
        maildir = os.path.join(alice_home, "Maildir")
        maildir_with(maildir, {"new/1700000001.M1P1.alice": b"Subject: mine\r\n\r\nmine\r\n"})
        maildir_with(os.path.join(bob_home, "Maildir"),
                     {"cur/1700000002.M2P2.bob:2,": b"Subject: bob's\r\n\r\nprivate\r\n"})
        chown_tree(alice_home, alice)
        chown_tree(bob_home, bob)
        os.chmod(bob_home, 0o755)  # even a readable neighbour is not served to alice
        server = make_server({}, extra=unix_users())
        targets = [root_only, os.path.join(bob_home, "Maildir", "cur")]
        before = {target: snapshot(target) for target in targets}
        for sub in ("cur", "new", "tmp"):
            for target in targets:
                real = os.path.join(maildir, sub)
                os.rename(real, real + ".away")
                os.symlink(target, real)
                try:
                    c = login(server.port, alice)
                    answer = c.cmd(f"PASS {PASSWORD}")
                    if answer.startswith(b"+OK"):  # the old behaviour: serve and delete
                        c.cmd("RETR 1")
                        c.cmd("DELE 1")
                        c.cmd("QUIT")
                    c.close()
                    assert answer == b"-ERR [SYS/TEMP] maildrop is unavailable, try later", (sub, target)
                    assert f"{real} is a symbolic link" in server.log()
                finally:
                    os.unlink(real)
                    os.rename(real + ".away", real)
                assert {t: snapshot(t) for t in targets} == before, (sub, target)
        # Without the trap, alice's own mail is served as usual.
        assert pass_login(server.port, alice, PASSWORD).startswith(b"+OK")


def test_message_replaced_by_a_fifo_after_list_does_not_freeze_other_clients(make_server, tmp_path):
    """After LIST, the user turns a message into a FIFO: RETR answers -ERR at once,
    and another client's commands keep being answered within a second meanwhile."""
    maildir = str(tmp_path / "alice")
    maildir_with(maildir, {"new/1700000001.M1P1.fifo": b"Subject: soon a fifo\r\n\r\nx\r\n"})
    maildir_with(str(tmp_path / "bob"), {"new/1700000002.M2P2.b": b"Subject: b\r\n\r\nb\r\n"})
    server = make_server({"alice": {"password": "alice-pw", "maildrop": f"maildir:{maildir}"},
                          "bob": {"password": "bob-pw", "maildrop": f"maildir:{tmp_path}/bob"}})
    fifo = os.path.join(maildir, "new", "1700000001.M1P1.fifo")
    attacker = login(server.port, "alice")
    assert attacker.cmd("PASS alice-pw").startswith(b"+OK")
    assert attacker.cmd("LIST").startswith(b"+OK")
    attacker.multiline()
    os.unlink(fifo)
    os.mkfifo(fifo)
    other = login(server.port, "bob")
    assert other.cmd("PASS bob-pw").startswith(b"+OK")
    latencies: list[float] = []
    stop = threading.Event()

    def poll_other() -> None:
        other.sock.settimeout(5)
        while not stop.is_set():
            start = time.monotonic()
            try:
                reply = other.cmd("STAT")
            except OSError:
                latencies.append(float("inf"))
                return
            latencies.append(time.monotonic() - start)
            assert reply == b"+OK 1 17"
            time.sleep(0.02)

    poller = threading.Thread(target=poll_other, daemon=True)
    poller.start()
    try:
        attacker.sock.settimeout(5)
        start = time.monotonic()
        answer = attacker.cmd("RETR 1")
        took = time.monotonic() - start
        time.sleep(0.5)  # the other client keeps polling meanwhile
    finally:
        stop.set()
        fd = os.open(fifo, os.O_RDWR | os.O_NONBLOCK)  # frees a server stuck in open(2)
        os.close(fd)
        poller.join(10)
    assert answer.startswith(b"-ERR [SYS/TEMP]") and took < 1, (answer, took)
    assert latencies and max(latencies) < 1, f"the other client waited {max(latencies):.2f} s"
    assert "not a regular file" in server.log()
    assert attacker.cmd("QUIT").startswith(b"+OK")
    assert os.path.exists(fifo)


def test_files_a_root_session_leaves_in_the_maildir_serve_the_next_inetd_session(make_server, tmp_path):
    """After a standalone-root session, pop3d-session.lock and pop3d-sizes belonged to
    root with mode 0600, so the next inetd session (running as the user) was refused."""
    with unix_account(PASSWORD) as name:
        pw = pwd.getpwnam(name)
        maildir = os.path.join(pw.pw_dir, "Maildir")
        maildir_with(maildir, {"new/1700000001.M1P1.a": b"Subject: a\r\n\r\nhello\r\n"})
        chown_tree(pw.pw_dir, name)
        server = make_server({}, extra=unix_users())
        c = login(server.port, name)
        assert c.cmd(f"PASS {PASSWORD}") == f"+OK {name} has 1 messages (21 octets)".encode()
        assert c.cmd("RETR 1").startswith(b"+OK")
        c.multiline()
        assert c.cmd("QUIT").startswith(b"+OK")
        c.close()
        for created in ("pop3d-session.lock", "pop3d-sizes"):
            st = os.stat(os.path.join(maildir, created))
            assert (st.st_uid, st.st_gid) == (pw.pw_uid, pw.pw_gid), created
        workdir = tmp_path / "inetd"
        workdir.mkdir()
        shutil.copy(server.config_path, workdir / "pop3d.yaml")
        with inetd_process(["-i", "-c", str(workdir / "pop3d.yaml")], str(workdir)) as (c, proc):
            assert c.line().startswith(b"+OK")
            c.cmd(f"USER {name}")
            assert c.cmd(f"PASS {PASSWORD}") == f"+OK {name} has 1 messages (21 octets)".encode()
            assert c.cmd("QUIT").startswith(b"+OK")
            assert proc.wait(15) == 0


# -- a root server does a UNIX user's maildrop I/O with that user's rights -------------


def thread_ids(tid: int | None = None) -> dict[str, list[int]]:
    """Uid, Gid (real, effective, saved, fs) and Groups of one thread (default: this one)."""
    path = "/proc/thread-self/status" if tid is None else f"/proc/self/task/{tid}/status"
    out: dict[str, list[int]] = {}
    with open(path) as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("Uid", "Gid", "Groups"):
                out[key] = sorted(int(v) for v in value.split()) if key == "Groups" else \
                    [int(v) for v in value.split()]
    return out


def test_fs_identity_cannot_read_a_root_only_file_through_a_planted_symlink(tmp_path):
    """Even past the checks of safe_fs, a link the user planted leads nowhere the user
    could not go: the thread has the user's fsuid, fsgid and groups, other threads keep root's."""
    if not fs_identity.supported():
        pytest.skip("needs root on Linux")
    secret = tmp_path / "secret"
    secret.write_bytes(SECRET)
    os.chmod(secret, 0o600)
    with unix_account() as name:
        pw = pwd.getpwnam(name)
        planted = os.path.join(pw.pw_dir, "innocent")
        os.symlink(secret, planted)
        maildir = Location("maildir", f"{pw.pw_dir}/Maildir")
        identity = fs_identity.for_user(name, pw.pw_uid, pw.pw_gid, maildir)
        asked, answered = threading.Event(), threading.Event()
        seen: dict[str, list[int]] = {}
        bystander_tid: list[int] = []

        def bystander() -> None:
            bystander_tid.append(threading.get_native_id())
            asked.wait(10)
            seen.update(thread_ids())
            answered.set()

        other = threading.Thread(target=bystander)
        other.start()
        before = thread_ids()
        with fs_identity.acting_as(identity):
            inside = thread_ids()
            asked.set()
            answered.wait(10)
            with pytest.raises(PermissionError), open(planted, "rb") as f:
                f.read()
            created = os.path.join(pw.pw_dir, "made-by-pop3d")
            with open(created, "wb"):
                pass
        other.join(10)
        assert inside["Uid"] == [0, 0, 0, pw.pw_uid] and inside["Gid"] == [0, 0, 0, pw.pw_gid]
        assert inside["Groups"] == sorted(os.getgrouplist(name, pw.pw_gid))
        assert seen == before and thread_ids() == before  # the other thread, and this one afterwards
        st = os.stat(created)
        assert (st.st_uid, st.st_gid) == (pw.pw_uid, pw.pw_gid)
        with open(planted, "rb") as f:  # root itself still can: the rights were the user's
            assert f.read() == SECRET


def test_root_server_reads_a_users_maildir_with_the_users_rights(make_server):
    """A message file its owner made unreadable is not served by a root server either."""
    with unix_account(PASSWORD) as name:
        pw = pwd.getpwnam(name)
        maildir = os.path.join(pw.pw_dir, "Maildir")
        maildir_with(maildir, {"new/1700000001.M1P1.a": b"Subject: a\r\n\r\nhello\r\n",
                               "new/1700000002.M2P2.locked": b"Subject: b\r\n\r\nno\r\n"})
        chown_tree(pw.pw_dir, name)
        os.chmod(os.path.join(maildir, "new", "1700000002.M2P2.locked"), 0)
        server = make_server({}, extra=unix_users())
        assert pass_login(server.port, name, PASSWORD) == f"+OK {name} has 1 messages (21 octets)".encode()
        assert "Permission denied" in server.log()


def test_root_server_commits_an_mbox_in_var_mail_with_the_users_rights(make_server):
    """/var/mail is root:mail 2775: the user's rights plus the spool's group make the dotlock
    and pop3d's files there, and they belong to the user."""
    spool = "/var/mail"
    if not os.path.isdir(spool):
        pytest.skip("no /var/mail")
    mail_gid = os.stat(spool).st_gid
    with unix_account(PASSWORD) as name:
        pw = pwd.getpwnam(name)
        mbox = os.path.join(spool, name)
        sidecars = Sidecars.for_mbox(mbox)
        try:
            with open(mbox, "wb") as f:
                f.write(b"From a@b Thu Jan  1 00:00:00 2026\nSubject: 1\n\none\n\n"
                        b"From a@b Thu Jan  1 00:00:00 2026\nSubject: 2\n\ntwo\n")
            os.chown(mbox, pw.pw_uid, mail_gid)
            os.chmod(mbox, 0o660)
            server = make_server({}, extra={"users": [{"type": "unix", "maildrop": "mbox:/var/mail/%u"}]})
            c = login(server.port, name)
            assert c.cmd(f"PASS {PASSWORD}").startswith(f"+OK {name} has 2 messages".encode())
            assert c.cmd("DELE 1").startswith(b"+OK")
            assert c.cmd("QUIT").startswith(b"+OK")
            c.close()
            with open(mbox, "rb") as f:
                assert f.read() == b"From a@b Thu Jan  1 00:00:00 2026\nSubject: 2\n\ntwo\n"
            for path in (sidecars.session_lock, sidecars.index):
                st = os.stat(path)
                assert (st.st_uid, st.st_gid) == (pw.pw_uid, mail_gid), path
            assert not os.path.exists(mbox + ".lock")
        finally:
            for path in (mbox, sidecars.session_lock, sidecars.index, sidecars.journal):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path)
