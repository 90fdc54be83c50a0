"""End-to-end POP3 sessions over real sockets against a running pop3d."""

from __future__ import annotations

import os
import poplib
import socket
import time

import pytest
from support import Client

FROM_LINE = b"From sender@example.org Sat Nov  7 11:00:00 2026\n"


def mbox_message(subject: str, body: bytes = b"Hello.\n") -> bytes:
    return b"From: sender@example.org\nSubject: " + subject.encode() + b"\n\n" + body


def write_mbox(path: str, messages: list[bytes]) -> None:
    with open(path, "wb") as f:
        for m in messages:
            f.write(FROM_LINE + m + b"\n")


def write_maildir(path: str, messages: list[bytes]) -> list[str]:
    for sub in ("new", "cur", "tmp"):
        os.makedirs(os.path.join(path, sub), exist_ok=True)
    names = []
    for i, m in enumerate(messages):
        name = f"{1700000000 + i}.M{i}P1.test"
        with open(os.path.join(path, "new", name), "wb") as f:
            f.write(m)
        names.append(name)
    return names


def crlf(data: bytes) -> bytes:
    data = data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    return data if data.endswith(b"\r\n") or not data else data + b"\r\n"


@pytest.fixture
def maildir_user(tmp_path):
    path = str(tmp_path / "alice")
    msgs = [
        mbox_message("one"),
        b"Subject: dots\r\n\r\n.leading dot\r\n..two dots\r\n.\r\nend\r\n",
        b"Subject: no final newline\n\nlast line without newline",
        b"Subject: From line\n\nFrom the start of a line\n",
    ]
    write_maildir(path, msgs)
    return {"alice": {"password": "alice-pw", "maildrop": f"maildir:{path}"}}, path, msgs


@pytest.fixture
def mbox_user(tmp_path):
    path = str(tmp_path / "bob.mbox")
    msgs = [mbox_message("first"), mbox_message("second", b"Body\n>From quoted\n"), mbox_message("third")]
    write_mbox(path, msgs)
    return {"bob": {"password": "bob-pw", "maildrop": f"mbox:{path}"}}, path, msgs


def login(port: int, user: str, password: str) -> poplib.POP3:
    pop = poplib.POP3("127.0.0.1", port, timeout=10)
    pop.user(user)
    pop.pass_(password)
    return pop


def test_greeting_and_sign_off_read_like_pop3d(make_server, maildir_user, tmp_path):
    users, _, _ = maildir_user
    # The greeting carries an APOP timestamp only where APOP can work: with APOP secrets.
    server = make_server(users, extra={"auth": {"apop_database": str(tmp_path / "mailauth")}})
    c = Client.connect(server.port)
    greeting = c.line()
    assert greeting.startswith(b"+OK pop3d ")
    assert b" at pop3d.test starting. <" in greeting and greeting.endswith(b"@pop3d.test>")
    assert c.cmd("QUIT") == b"+OK pop3d at pop3d.test signing off."
    assert c.closed()


def test_greeting_timestamps_are_unique(make_server, maildir_user, tmp_path):
    users, _, _ = maildir_user
    # The greeting carries an APOP timestamp only where APOP can work: with APOP secrets.
    server = make_server(users, extra={"auth": {"apop_database": str(tmp_path / "mailauth")}})
    stamps = set()
    for _ in range(5):
        c = Client.connect(server.port)
        stamps.add(c.line().rsplit(b" ", 1)[1])
        c.cmd("QUIT")
        c.close()
    assert len(stamps) == 5


def test_poplib_full_session_maildir(make_server, maildir_user):
    users, path, msgs = maildir_user
    server = make_server(users)
    pop = login(server.port, "alice", "alice-pw")
    count, octets = pop.stat()
    assert count == len(msgs)
    sizes = [int(x.split()[1]) for x in pop.list()[1]]
    assert sum(sizes) == octets
    for i, m in enumerate(msgs, 1):
        _, lines, size = pop.retr(i)
        # poplib undoes dot-stuffing; join lines back into the CRLF form.
        assert b"\r\n".join(lines) + b"\r\n" == crlf(m)
        assert sizes[i - 1] == len(crlf(m))
    uids = [x.split()[1] for x in pop.uidl()[1]]
    assert len(set(uids)) == len(msgs)
    pop.dele(1)
    assert pop.stat()[0] == len(msgs) - 1
    pop.quit()
    pop = login(server.port, "alice", "alice-pw")
    assert pop.stat()[0] == len(msgs) - 1
    assert [x.split()[1] for x in pop.uidl()[1]] == uids[1:]
    pop.quit()


def test_poplib_full_session_mbox(make_server, mbox_user):
    users, path, msgs = mbox_user
    server = make_server(users)
    pop = login(server.port, "bob", "bob-pw")
    assert pop.stat()[0] == 3
    _, lines, _ = pop.retr(2)
    assert b"From quoted" in lines  # mboxrd quoting undone
    uids = [x.split()[1] for x in pop.uidl()[1]]
    pop.dele(2)
    pop.quit()
    with open(path, "rb") as f:
        data = f.read()
    assert b"Subject: second" not in data and b"Subject: first" in data and b"Subject: third" in data
    pop = login(server.port, "bob", "bob-pw")
    assert [x.split()[1] for x in pop.uidl()[1]] == [uids[0], uids[2]]
    pop.quit()


def test_raw_transcript_dot_stuffing_and_sizes(make_server, maildir_user):
    users, _, msgs = maildir_user
    server = make_server(users)
    c = Client.connect(server.port)
    c.line()
    assert c.cmd("user alice").startswith(b"+OK")
    assert c.cmd("pass alice-pw").startswith(b"+OK alice has 4 messages")
    status = c.cmd("RETR 2")
    assert status == f"+OK {len(crlf(msgs[1]))} octets".encode()
    assert c.multiline() == [b"Subject: dots", b"", b"..leading dot", b"...two dots", b"..", b"end"]
    assert c.cmd("TOP 2 0") == b"+OK top of message follows"
    assert c.multiline() == [b"Subject: dots", b""]
    assert c.cmd("TOP 2 1") == b"+OK top of message follows"
    assert c.multiline() == [b"Subject: dots", b"", b"..leading dot"]
    status = c.cmd("RETR 3")
    assert status == f"+OK {len(crlf(msgs[2]))} octets".encode()
    assert c.multiline()[-1] == b"last line without newline"
    assert c.cmd("LAST") == b"+OK 3"
    assert c.cmd("RETR 9").startswith(b"-ERR")
    assert c.cmd("DELE 1") == b"+OK message 1 deleted"
    assert c.cmd("DELE 1").startswith(b"-ERR")
    assert c.cmd("NOOP") == b"+OK"
    assert c.cmd("RSET").startswith(b"+OK")
    assert c.cmd("STAT") == f"+OK 4 {sum(len(crlf(m)) for m in msgs)}".encode()
    assert c.cmd("QUIT") == b"+OK pop3d at pop3d.test signing off."


def test_pipelined_commands_answer_in_order(make_server, maildir_user):
    users, _, msgs = maildir_user
    server = make_server(users)
    c = Client.connect(server.port)
    c.line()
    c.send(b"USER alice\r\nPASS alice-pw\r\nSTAT\r\nRETR 1\r\nLIST 2\r\nNOOP\r\nQUIT\r\n")
    assert c.line().startswith(b"+OK password")
    assert c.line().startswith(b"+OK alice has")
    assert c.line().startswith(b"+OK 4 ")
    assert c.line().startswith(b"+OK ")
    assert b"Subject: one" in c.multiline()
    assert c.line().startswith(b"+OK 2 ")
    assert c.line() == b"+OK"
    assert c.line().startswith(b"+OK pop3d at")


def test_wrong_state_and_bad_arguments(make_server, maildir_user):
    users, _, _ = maildir_user
    server = make_server(users)
    c = Client.connect(server.port)
    c.line()
    assert c.cmd("STAT").startswith(b"-ERR")
    assert c.cmd("PASS x").startswith(b"-ERR")
    assert c.cmd("FROB").startswith(b"-ERR")
    c.cmd("USER alice")
    c.cmd("PASS alice-pw")
    assert c.cmd("USER alice").startswith(b"-ERR")
    assert c.cmd("RETR").startswith(b"-ERR")
    assert c.cmd("RETR x").startswith(b"-ERR")
    assert c.cmd("RETR 0").startswith(b"-ERR")
    assert c.cmd("TOP 1").startswith(b"-ERR")
    assert c.cmd("TOP 1 -1").startswith(b"-ERR")
    assert c.cmd("STAT").startswith(b"+OK")


def test_second_session_gets_in_use(make_server, maildir_user):
    users, _, _ = maildir_user
    server = make_server(users)
    first = login(server.port, "alice", "alice-pw")
    c = Client.connect(server.port)
    c.line()
    c.cmd("USER alice")
    reply = c.cmd("PASS alice-pw")
    assert reply.startswith(b"-ERR [IN-USE]")
    first.quit()
    # Released on QUIT: the next session gets in.
    assert c.cmd("USER alice").startswith(b"+OK")
    assert c.cmd("PASS alice-pw").startswith(b"+OK")


def test_dropped_connection_commits_nothing_and_releases_lock(make_server, mbox_user):
    users, path, msgs = mbox_user
    with open(path, "rb") as f:
        before = f.read()
    server = make_server(users)
    c = Client.connect(server.port)
    c.line()
    c.cmd("USER bob")
    c.cmd("PASS bob-pw")
    assert c.cmd("DELE 1").startswith(b"+OK")
    c.sock.shutdown(socket.SHUT_RDWR)
    c.close()
    deadline = time.monotonic() + 5
    while True:
        try:
            pop = login(server.port, "bob", "bob-pw")
            break
        except poplib.error_proto:
            assert time.monotonic() < deadline, "lock not released after a dropped connection"
            time.sleep(0.1)
    assert pop.stat()[0] == 3
    pop.quit()
    with open(path, "rb") as f:
        assert f.read() == before


def test_delivery_during_session_survives_mbox(make_server, mbox_user):
    users, path, msgs = mbox_user
    server = make_server(users)
    pop = login(server.port, "bob", "bob-pw")
    pop.dele(1)
    late = mbox_message("arrived during the session")
    with open(path, "ab") as f:  # what an MTA appends (locking is tested with the backend)
        f.write(FROM_LINE + late + b"\n")
    pop.quit()
    pop = login(server.port, "bob", "bob-pw")
    assert pop.stat()[0] == 3
    subjects = [b"\n".join(pop.top(i, 0)[1]) for i in (1, 2, 3)]
    assert b"Subject: arrived during the session" in subjects[2]
    pop.quit()


def test_delivery_during_session_survives_maildir(make_server, maildir_user):
    users, path, msgs = maildir_user
    server = make_server(users)
    pop = login(server.port, "alice", "alice-pw")
    for i in range(1, len(msgs) + 1):
        pop.dele(i)
    with open(os.path.join(path, "new", "1800000000.M9P9.late"), "wb") as f:
        f.write(b"Subject: late\n\nlate\n")
    pop.quit()
    pop = login(server.port, "alice", "alice-pw")
    assert pop.stat()[0] == 1
    assert b"Subject: late" in pop.retr(1)[1]
    pop.quit()


def test_retr_is_byte_for_byte_what_is_on_disk(make_server, tmp_path):
    path = str(tmp_path / "md")
    body = bytes(range(32, 127)) * 3 + b"\n" + b"\x00\x01binary\xff\n" + b".\n" * 3
    msgs = [b"Subject: bytes\n\n" + body, b"Subject: crlf\r\n\r\nx\r\ny"]
    write_maildir(path, msgs)
    server = make_server({"u": {"password": "pw", "maildrop": f"maildir:{path}"}})
    c = Client.connect(server.port)
    c.line()
    c.cmd("USER u")
    c.cmd("PASS pw")
    for i, m in enumerate(msgs, 1):
        status = c.cmd(f"RETR {i}")
        lines = [line[1:] if line.startswith(b".") else line for line in c.multiline()]
        wire = b"".join(line + b"\r\n" for line in lines)
        assert wire == crlf(m)
        assert status == f"+OK {len(wire)} octets".encode()
    c.cmd("QUIT")


@pytest.mark.parametrize(("fmt", "expected"), [("mboxrd", b">From twice"), ("mboxo", b">>From twice")])
def test_mbox_format_setting_decides_unquoting(make_server, tmp_path, fmt, expected):
    path = str(tmp_path / "q.mbox")
    write_mbox(path, [mbox_message("quoted", b">From once\n>>From twice\n")])
    server = make_server({"q": {"password": "pw", "maildrop": f"mbox:{path}"}}, extra={"mbox_format": fmt})
    pop = login(server.port, "q", "pw")
    lines = pop.retr(1)[1]
    assert b"From once" in lines and expected in lines
    pop.quit()
