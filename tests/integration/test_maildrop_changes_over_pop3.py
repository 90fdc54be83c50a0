"""Local users attacking maildrops a root server reads, over real sockets.

Each test names the attack it stops: a file that changes while RETR sends
it, links in spools, a virtual user's maildrop that a UNIX user owns.
"""

from __future__ import annotations

import os
import pwd
import threading

import pytest
from support import Client, logged_in, pass_login
from unix_kit import chown_tree, unix_account

from pop3d.maildrop import fs_identity

NAME = "cur/1700000000.M1P1.grow:2,"
MESSAGE = b"Subject: grows\n\n" + b"x" * 100 + b"\n"


def test_message_growing_while_retr_sends_it_does_not_stream_forever(make_server, tmp_path):
    """The owner appends to a message without end while RETR sends it.  Before, RETR read
    until the end of a file that never ended (343 MB for a 116-octet message in 3 s); now it
    sends the bytes the file had when RETR opened it, and the transfer ends."""
    maildir = tmp_path / "grow"
    for sub in ("new", "cur", "tmp"):
        (maildir / sub).mkdir(parents=True)
    path = maildir / NAME
    path.write_bytes(MESSAGE)
    server = make_server({"grow": {"password": "grow-pw", "maildrop": f"maildir:{maildir}"}})
    c = logged_in(server.port, "grow")
    assert c.cmd("LIST 1") == b"+OK 1 %d" % (len(MESSAGE) + MESSAGE.count(b"\n"))
    stop = threading.Event()

    def append_forever() -> None:
        with open(path, "ab") as f:
            while not stop.is_set():
                f.write(b"y" * 65535 + b"\n")
                f.flush()

    appender = threading.Thread(target=append_forever)
    appender.start()
    received = 0
    try:
        c.send(b"RETR 1\r\n")
        tail = b""
        while not tail.endswith(b"\r\n.\r\n"):
            data = c.sock.recv(1 << 20)
            assert data, "connection closed during RETR"
            received += len(data)
            tail = (tail + data)[-5:]
            assert received < 64 << 20, "RETR kept sending what was appended after it began"
    finally:
        stop.set()
        appender.join()
    assert c.cmd("NOOP").startswith(b"+OK")
    c.close()


def test_virtual_users_mbox_hard_linked_to_a_root_only_file_in_a_sticky_spool_is_refused(
        make_server, tmp_path):
    """A world-writable sticky spool (mode 1777): before the virtual user vu has an mbox, a
    local user makes ``spool/vu`` a hard link to a root-only file (possible wherever
    fs.protected_hardlinks is 0; the test makes the link as root).  Virtual users' mboxes have
    no owner to check, so before, a root server listed the file as vu's mail, RETR sent it and
    DELE+QUIT rewrote it; now an mbox with more than one link is refused and nothing is read."""
    spool = tmp_path / "spool"
    spool.mkdir()
    os.chmod(spool, 0o1777)
    secret = tmp_path / "shadow"
    content = b"From root Thu Jan  1 00:00:00 2026\nSubject: root only\n\nroot:$6$hash:19000::::::\n"
    secret.write_bytes(content)
    os.chmod(secret, 0o600)
    os.link(secret, spool / "vu")
    server = make_server({"vu": {"password": "vu-pw", "maildrop": f"mbox:{spool}/vu"}})
    c = Client.connect(server.port, timeout=30)
    assert c.line().startswith(b"+OK")
    c.cmd("USER vu")
    answer = c.cmd("PASS vu-pw")
    if answer.startswith(b"+OK"):  # the old behaviour: show what leaked, then try to delete it
        c.cmd("DELE 1")
        c.cmd("QUIT")
    assert answer.startswith(b"-ERR [SYS/"), answer
    c.close()
    assert secret.read_bytes() == content
    assert "links" in server.log()


def test_virtual_users_maildrop_owned_by_a_unix_user_is_read_with_that_owners_rights(make_server):
    """A virtual user's maildrop lies where a UNIX user owns it (alice's ~/Maildir).  Before,
    a root server read it with root's rights, so whatever alice planted past the checks
    (here: a message she made unreadable) was read as root; now the I/O runs with the
    maildrop owner's rights, as for UNIX users, and such a file is left out."""
    if not fs_identity.supported():
        pytest.skip("needs root on Linux")
    with unix_account() as alice:
        home = pwd.getpwnam(alice).pw_dir
        maildir = os.path.join(home, "Maildir")
        for sub in ("new", "cur", "tmp"):
            os.makedirs(os.path.join(maildir, sub))
        for name, body in (("1700000001.M1P1.a", b"Subject: a\r\n\r\nhello\r\n"),
                           ("1700000002.M2P2.locked", b"Subject: b\r\n\r\nno\r\n")):
            with open(os.path.join(maildir, "new", name), "wb") as f:
                f.write(body)
        chown_tree(home, alice)
        os.chmod(os.path.join(maildir, "new", "1700000002.M2P2.locked"), 0)
        server = make_server({"vu": {"password": "vu-pw", "maildrop": f"maildir:{maildir}"}})
        assert pass_login(server.port, "vu", "vu-pw") == b"+OK vu has 1 messages (21 octets)"
        assert "Permission denied" in server.log()
        lock = os.stat(os.path.join(maildir, "pop3d-session.lock"))
        assert lock.st_uid == pwd.getpwnam(alice).pw_uid


def test_deleting_thousands_of_messages_does_not_leak_a_descriptor_per_message(make_server, tmp_path):
    """DELE of every message of a big Maildir, then QUIT.  Before, each deletion leaked a
    folder descriptor: 50,000 deletions failed with "Too many open files" (nothing deleted,
    every time) and left the whole server without descriptors for anyone else; now the
    commit keeps one descriptor per folder."""
    count = 3000
    maildir = tmp_path / "many"
    for sub in ("new", "cur", "tmp"):
        (maildir / sub).mkdir(parents=True)
    for i in range(count):
        (maildir / "cur" / f"{1700000000 + i}.M{i}P1.x:2,").write_bytes(b"Subject: x\n\nbody\n")
    server = make_server({"many": {"password": "many-pw", "maildrop": f"maildir:{maildir}"}})
    assert server.proc is not None
    fds = f"/proc/{server.proc.pid}/fd"
    before = len(os.listdir(fds))
    c = logged_in(server.port, "many")
    c.send(b"".join(b"DELE %d\r\n" % i for i in range(1, count + 1)))
    for _ in range(count):
        assert c.line().startswith(b"+OK")
    assert c.cmd("QUIT").startswith(b"+OK")
    c.close()
    assert os.listdir(maildir / "cur") == []
    assert len(os.listdir(fds)) < before + 20


def test_mbox_truncated_while_retr_sends_it_closes_without_a_traceback(make_server, tmp_path):
    """The owner truncates the mbox while RETR is sending a big message.  Before, the read
    error escaped the producer: "Unhandled Error" with a traceback in the log; now one
    warning line names the problem and the connection closes without the final ``.``."""
    mbox = tmp_path / "t.mbox"
    mbox.write_bytes(b"From a@b Thu Jan  1 00:00:00 2026\nSubject: big\n\n" + (b"y" * 100 + b"\n") * 200000)
    server = make_server({"t": {"password": "t-pw", "maildrop": f"mbox:{mbox}"}})
    c = logged_in(server.port, "t")
    c.send(b"RETR 1\r\n")
    assert c.sock.recv(1000).startswith(b"+OK")  # the server now waits for this client to read
    os.truncate(mbox, 100)
    received = b""
    c.sock.settimeout(10)
    while data := c.sock.recv(1 << 20):
        received += data
    assert not received.endswith(b"\r\n.\r\n")
    assert "message transfer stopped, connection closed: the message is no longer in the mbox" in server.log()
    assert "Traceback" not in server.log() and "Unhandled" not in server.log()
