"""UNIX accounts over POP3: real users made with useradd/chpasswd, removed afterwards."""

from __future__ import annotations

import os

import pytest
from support import pass_login
from unix_kit import chown_tree, require_tool, run, shadow_hash, unix_account

PASSWORD = "Unix pw 1!"


def make_maildir(path: str, count: int) -> None:
    for sub in ("new", "cur", "tmp"):
        os.makedirs(os.path.join(path, sub), exist_ok=True)
    for i in range(count):
        with open(os.path.join(path, "new", f"170000000{i}.M{i}P1.test"), "wb") as f:
            f.write(b"Subject: hello %d\r\n\r\nbody\r\n" % i)


def unix_config(**source: object) -> dict[str, object]:
    return {"users": [{"type": "unix", "maildrop": "maildir:~/Maildir", **source}]}


@pytest.mark.parametrize("method, prefix", [("YESCRYPT", "$y$"), ("SHA512", "$6$"), ("MD5", "$1$")])
def test_unix_user_logs_in_with_each_system_hash(make_server, method, prefix):
    with unix_account(PASSWORD, method) as name:
        assert shadow_hash(name).startswith(prefix)
        home = os.path.expanduser(f"~{name}")
        make_maildir(os.path.join(home, "Maildir"), 2)
        chown_tree(home, name)
        server = make_server({}, extra=unix_config())
        assert pass_login(server.port, name, PASSWORD) == f"+OK {name} has 2 messages (52 octets)".encode()
        assert pass_login(server.port, name, "wrong") == b"-ERR [AUTH] invalid user name or password"


def test_locked_and_expired_accounts_are_refused(make_server):
    with unix_account(PASSWORD) as locked, unix_account(PASSWORD) as expired:
        for name in (locked, expired):
            home = os.path.expanduser(f"~{name}")
            make_maildir(os.path.join(home, "Maildir"), 1)
            chown_tree(home, name)
        server = make_server({}, extra=unix_config())
        assert pass_login(server.port, locked, PASSWORD).startswith(b"+OK")
        run(require_tool("usermod"), "--lock", locked)
        run(require_tool("chage"), "--expiredate", "1970-01-02", expired)
        refused = b"-ERR [AUTH] invalid user name or password"
        assert pass_login(server.port, locked, PASSWORD) == refused
        assert pass_login(server.port, expired, PASSWORD) == refused


def test_system_accounts_and_unknown_names_look_alike(make_server):
    server = make_server({}, extra=unix_config())
    refused = b"-ERR [AUTH] invalid user name or password"
    assert pass_login(server.port, "root", "x") == refused
    assert pass_login(server.port, "no-such-user-p3t", "x") == refused


def test_maildrop_not_owned_by_the_user_is_not_opened(make_server, tmp_path):
    with unix_account(PASSWORD) as name:
        foreign = str(tmp_path / "foreign")
        make_maildir(foreign, 1)  # owned by root, not by the user
        server = make_server({}, extra=unix_config(maildrop=f"maildir:{foreign}"))
        reply = pass_login(server.port, name, PASSWORD)
        assert reply == b"-ERR [SYS/TEMP] maildrop is unavailable, try later"
        assert "is not owned by" in server.log()
