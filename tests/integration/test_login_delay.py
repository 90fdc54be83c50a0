"""LOGIN-DELAY over real sockets: the empty and reject policies, the shared store, CAPA."""

from __future__ import annotations

import os

from maildrop_builders import make_maildir
from support import Client, running_server

DELAY = 3600


def users(tmp_path) -> dict[str, dict[str, str]]:
    make_maildir(str(tmp_path / "alice"), 3)
    make_maildir(str(tmp_path / "bob"), 2)
    return {"alice": {"password": "alice-pw", "maildrop": f"maildir:{tmp_path}/alice"},
            "bob": {"password": "bob-pw", "maildrop": f"maildir:{tmp_path}/bob"}}


def settings(tmp_path, policy: str = "empty") -> dict[str, object]:
    return {"login_delay": {"seconds": DELAY, "policy": policy, "state_dir": str(tmp_path / "state"),
                            "users": {"bob": 0}}}


def login(port: int, user: str, password: str) -> tuple[Client, bytes]:
    c = Client.connect(port)
    c.line()
    assert c.cmd(f"USER {user}").startswith(b"+OK")
    return c, c.cmd(f"PASS {password}")


def capa(c: Client) -> list[bytes]:
    assert c.cmd("CAPA").startswith(b"+OK")
    return c.multiline()


def test_empty_policy_serves_polls_an_empty_maildrop_without_the_lock(make_server, tmp_path):
    server = make_server(users(tmp_path), settings(tmp_path))
    c = Client.connect(server.port)
    c.line()
    assert b"LOGIN-DELAY 3600 USER" in capa(c)
    c.cmd("QUIT")

    real, reply = login(server.port, "alice", "alice-pw")
    assert reply == b"+OK alice has 3 messages (%d octets)" % int(real.cmd("STAT").split()[2])
    assert b"LOGIN-DELAY 3600" in capa(real)
    # While the real session holds the maildrop, a poll is served at once, empty,
    # instead of [IN-USE]: it never touches the lock or the maildrop.
    poll, reply = login(server.port, "alice", "alice-pw")
    assert reply == b"+OK alice has 0 messages (0 octets)"
    assert poll.cmd("STAT") == b"+OK 0 0"
    assert poll.cmd("LIST").startswith(b"+OK") and poll.multiline() == []
    assert poll.cmd("RETR 1").startswith(b"-ERR no such message")
    assert b"LOGIN-DELAY 3600" in capa(poll)
    assert poll.cmd("QUIT").startswith(b"+OK")
    assert real.cmd("DELE 1") == b"+OK message 1 deleted"
    assert real.cmd("QUIT").startswith(b"+OK")
    assert len(os.listdir(tmp_path / "alice" / "new")) + len(os.listdir(tmp_path / "alice" / "cur")) == 2

    # Wrong password during the delay: an ordinary AUTH failure, nothing about LOGIN-DELAY.
    c, reply = login(server.port, "alice", "wrong")
    assert reply.startswith(b"-ERR [AUTH]")
    # A user whose own value is 0 logs in for real every time.
    for _ in range(2):
        c, reply = login(server.port, "bob", "bob-pw")
        assert reply == b"+OK bob has 2 messages (%d octets)" % int(c.cmd("STAT").split()[2])
        assert b"LOGIN-DELAY 0" in capa(c)
        c.cmd("QUIT")


def test_reject_policy_answers_login_delay_only_after_the_password(make_server, tmp_path):
    server = make_server(users(tmp_path), settings(tmp_path, "reject"))
    c, reply = login(server.port, "alice", "alice-pw")
    assert reply.startswith(b"+OK alice has 3 messages")
    c.cmd("QUIT")
    c, reply = login(server.port, "alice", "alice-pw")
    assert reply.startswith(b"-ERR [LOGIN-DELAY] minimum interval between logins is 3600 seconds; "
                            b"try again in ")
    # Still in AUTHORIZATION, the connection open: the client may QUIT cleanly.
    assert c.cmd("QUIT").startswith(b"+OK")
    c, reply = login(server.port, "alice", "not-the-password")
    assert reply.startswith(b"-ERR [AUTH]")
    c, reply = login(server.port, "nobody", "alice-pw")
    assert reply.startswith(b"-ERR [AUTH]")


def test_last_login_is_shared_by_servers_and_survives_restarts(tmp_path):
    accounts = users(tmp_path)
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    with running_server(str(tmp_path / "one"), accounts, settings(tmp_path, "reject")) as one:
        c, reply = login(one.port, "alice", "alice-pw")
        assert reply.startswith(b"+OK alice has 3")
        c.cmd("QUIT")
        with running_server(str(tmp_path / "two"), accounts, settings(tmp_path, "reject")) as two:
            c, reply = login(two.port, "alice", "alice-pw")
            assert reply.startswith(b"-ERR [LOGIN-DELAY]")
    with running_server(str(tmp_path / "one"), accounts, settings(tmp_path, "reject")) as again:
        c, reply = login(again.port, "alice", "alice-pw")
        assert reply.startswith(b"-ERR [LOGIN-DELAY]")


def test_a_login_refused_for_a_locked_maildrop_does_not_use_up_the_slot(make_server, tmp_path):
    accounts = users(tmp_path)
    # carol shares alice's maildrop and has no delay: her session holds the lock.
    accounts["carol"] = {"password": "carol-pw", "maildrop": accounts["alice"]["maildrop"]}
    config = {"login_delay": {"seconds": DELAY, "policy": "reject", "state_dir": str(tmp_path / "state"),
                              "users": {"carol": 0}}}
    server = make_server(accounts, config)
    holder, reply = login(server.port, "carol", "carol-pw")
    assert reply.startswith(b"+OK carol has 3")
    c, reply = login(server.port, "alice", "alice-pw")
    assert reply.startswith(b"-ERR [IN-USE]")
    holder.cmd("QUIT")
    c, reply = login(server.port, "alice", "alice-pw")
    assert reply.startswith(b"+OK alice has 3")


def test_expire_is_advertised_from_the_config(make_server, tmp_path):
    server = make_server(users(tmp_path), {"expire": 30})
    c = Client.connect(server.port)
    c.line()
    caps = capa(c)
    assert b"EXPIRE 30" in caps
    assert not any(line.startswith(b"LOGIN-DELAY") for line in caps)


def test_expire_0_deletes_what_was_retrieved(make_server, tmp_path):
    server = make_server(users(tmp_path), {"expire": 0})
    c, reply = login(server.port, "alice", "alice-pw")
    assert b"EXPIRE 0" in capa(c)
    assert c.cmd("RETR 2").startswith(b"+OK")
    c.multiline()
    assert c.cmd("TOP 3 0").startswith(b"+OK")  # TOP is not a retrieval
    c.multiline()
    assert c.cmd("QUIT").startswith(b"+OK")
    c, reply = login(server.port, "alice", "alice-pw")
    assert reply.startswith(b"+OK alice has 2 messages")
    assert c.cmd("XTND XLIST Subject").startswith(b"-ERR")  # XTND is off by default
