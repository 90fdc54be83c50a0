"""Each way in over real sockets: USER/PASS, APOP with the mailauth database, SASL PLAIN/LOGIN/CRAM-MD5."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import subprocess
import sys

import pytest
from support import Client

from pop3d.auth import mailauth


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@pytest.fixture
def apop_server(make_server, tmp_path):
    """alice (Maildir, 1 message) with an APOP secret; bob without one."""
    for user in ("alice", "bob"):
        new = tmp_path / user / "new"
        new.mkdir(parents=True)
        (tmp_path / user / "cur").mkdir()
        (tmp_path / user / "tmp").mkdir()
        (new / "1700000000.M1P1.test").write_bytes(b"Subject: hi\r\n\r\nhello\r\n")
    db = str(tmp_path / "mailauth")
    mailauth.write(db, {"alice": b"alice-apop"})
    users = {u: {"password": f"{u}-pw", "maildrop": f"maildir:{tmp_path}/{u}"} for u in ("alice", "bob")}

    def start(**auth: object):
        return make_server(users, extra={"auth": {"failure_delay": 0.05, "apop_database": db, **auth}})

    return start, db


def greet(port: int) -> tuple[Client, bytes]:
    c = Client.connect(port)
    greeting = c.line()
    return c, greeting.rsplit(b" ", 1)[1]


def apop(port: int, name: str, secret: bytes) -> bytes:
    c, stamp = greet(port)
    reply = c.cmd(f"APOP {name} {hashlib.md5(stamp + secret).hexdigest()}")
    c.cmd("QUIT")
    return reply


def test_apop_with_mailauth_secret_not_with_login_password(apop_server):
    start, _ = apop_server
    server = start()
    assert apop(server.port, "alice", b"alice-apop") == b"+OK alice has 1 messages (22 octets)"
    refused = b"-ERR [AUTH] invalid user name or password"
    assert apop(server.port, "alice", b"alice-pw") == refused  # the login password is not an APOP secret
    assert apop(server.port, "bob", b"bob-pw") == refused  # no entry in the database: no APOP
    assert apop(server.port, "nobody", b"x") == refused


def test_popauth_changes_are_seen_without_restart(apop_server):
    start, db = apop_server
    server = start()
    assert apop(server.port, "bob", b"bob-apop").startswith(b"-ERR [AUTH]")
    for command, name, secret in (("add", "bob", b"bob-apop\n"), ("change", "alice", b"alice-new\n")):
        subprocess.run([sys.executable, "-m", "pop3d.popauth", "-f", db, command, name],
                       input=secret, check=True, capture_output=True, timeout=60)
    assert apop(server.port, "bob", b"bob-apop").startswith(b"+OK bob has 1 messages")
    assert apop(server.port, "alice", b"alice-apop").startswith(b"-ERR [AUTH]")
    assert apop(server.port, "alice", b"alice-new").startswith(b"+OK alice")
    subprocess.run([sys.executable, "-m", "pop3d.popauth", "-f", db, "delete", "bob"], check=True,
                   capture_output=True, timeout=60)
    assert apop(server.port, "bob", b"bob-apop").startswith(b"-ERR [AUTH]")


def test_apop_and_cram_md5_only_over_tls_when_configured(apop_server):
    start, _ = apop_server
    server = start(apop_requires_tls=True)
    c, stamp = greet(server.port)
    c.send(b"CAPA\r\n")
    assert c.line().startswith(b"+OK")
    assert b"SASL PLAIN LOGIN" in c.multiline()
    digest = hashlib.md5(stamp + b"alice-apop").hexdigest()
    assert c.cmd(f"APOP alice {digest}") == b"-ERR [AUTH] APOP is allowed only over TLS; use STLS"
    assert c.cmd("AUTH CRAM-MD5").startswith(b"-ERR [AUTH] CRAM-MD5 is allowed only over TLS")


def test_auth_lists_mechanisms_like_capa(apop_server):
    start, _ = apop_server
    server = start()
    c, _ = greet(server.port)
    assert c.cmd("AUTH") == b"+OK SASL mechanisms follow"
    assert c.multiline() == [b"PLAIN", b"LOGIN", b"CRAM-MD5"]
    c.send(b"CAPA\r\n")
    c.line()
    assert b"SASL PLAIN LOGIN CRAM-MD5" in c.multiline()


def test_sasl_plain_with_and_without_initial_response(apop_server):
    start, _ = apop_server
    server = start()
    c, _ = greet(server.port)
    assert c.cmd("AUTH PLAIN " + b64(b"\0alice\0alice-pw")) == b"+OK alice has 1 messages (22 octets)"
    assert c.cmd("STAT") == b"+OK 1 22"
    c.cmd("QUIT")
    c, _ = greet(server.port)
    assert c.cmd("AUTH PLAIN") == b"+ "
    assert c.cmd(b64(b"bob\0bob\0bob-pw")) == b"+OK bob has 1 messages (22 octets)"


def test_sasl_plain_bad_input_keeps_the_session_usable(apop_server):
    start, _ = apop_server
    server = start()
    c, _ = greet(server.port)
    assert c.cmd("AUTH PLAIN") == b"+ "
    assert c.cmd("%%% not base64") == b"-ERR malformed base64 in AUTH response"
    assert c.cmd("AUTH PLAIN " + b64(b"bob\0alice\0alice-pw")) == \
        b"-ERR [AUTH] authorization identity must be empty or the user's own"
    assert c.cmd("AUTH PLAIN") == b"+ "
    assert c.cmd("*") == b"-ERR authentication cancelled"
    assert c.cmd("AUTH PLAIN " + b64(b"\0alice\0wrong")) == b"-ERR [AUTH] invalid user name or password"
    assert c.cmd("AUTH PLAIN " + b64(b"\0alice\0alice-pw")).startswith(b"+OK alice")


def test_sasl_login(apop_server):
    start, _ = apop_server
    server = start()
    c, _ = greet(server.port)
    assert c.cmd("AUTH LOGIN") == b"+ " + base64.b64encode(b"Username:")
    assert c.cmd(b64(b"alice")) == b"+ " + base64.b64encode(b"Password:")
    assert c.cmd(b64(b"alice-pw")).startswith(b"+OK alice has 1 messages")
    assert c.cmd("STAT") == b"+OK 1 22"


def test_sasl_cram_md5_uses_the_mailauth_secret(apop_server):
    start, _ = apop_server
    server = start()
    for name, secret, expected in ((b"alice", b"alice-apop", b"+OK alice has 1 messages (22 octets)"),
                                   (b"alice", b"alice-pw", b"-ERR [AUTH] invalid user name or password"),
                                   (b"bob", b"bob-pw", b"-ERR [AUTH] invalid user name or password")):
        c, _ = greet(server.port)
        line = c.cmd("AUTH CRAM-MD5")
        assert line.startswith(b"+ ")
        challenge = base64.b64decode(line[2:])
        digest = hmac.new(secret, challenge, hashlib.md5).hexdigest().encode()
        assert c.cmd(b64(name + b" " + digest)) == expected
        c.cmd("QUIT")


def test_secrets_never_reach_the_log(apop_server):
    start, _ = apop_server
    server = start()
    c, _ = greet(server.port)
    c.cmd("AUTH PLAIN " + b64(b"\0alice\0wrong-secret-xyz"))
    c.cmd("USER alice")
    c.cmd("PASS other-secret-xyz")
    c.cmd("QUIT")
    log = server.log()
    assert "secret-xyz" not in log and b64(b"\0alice\0wrong-secret-xyz") not in log
    assert os.path.exists(server.log_path)
