"""Each way in over real sockets: USER/PASS, APOP with the mailauth database, SASL PLAIN/LOGIN/CRAM-MD5."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import subprocess
import sys
import time

import pytest
from support import Client

from pop3d.auth import mailauth

NO_SECRET = b"-ERR [AUTH] no shared secret for this mechanism; use your password"
REFUSED = b"-ERR [AUTH] invalid user name or password"


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
        settings = {"failure_delay": 0.05, "apop_database": db, "mechanisms": ["PLAIN", "LOGIN", "CRAM-MD5"]}
        return make_server(users, extra={"auth": {**settings, **auth}})

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
    assert apop(server.port, "bob", b"bob-pw") == NO_SECRET  # no entry in the database: no APOP
    assert apop(server.port, "nobody", b"x") == NO_SECRET


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
    server = start(apop_without_tls="never")
    c = Client.connect(server.port)
    greeting = c.line()
    assert greeting == b"+OK pop3d 0.1.0 at pop3d.test starting."  # no timestamp: APOP cannot work here
    c.send(b"CAPA\r\n")
    assert c.line().startswith(b"+OK")
    assert b"SASL PLAIN LOGIN" in c.multiline()
    started = time.monotonic()
    assert c.cmd(f"APOP alice {'0' * 32}") == b"-ERR [AUTH] APOP is not available on this connection"
    assert c.cmd("AUTH CRAM-MD5").startswith(b"-ERR [AUTH] CRAM-MD5 is allowed only over TLS")
    assert time.monotonic() - started < 0.5  # refused at once: nothing was checked


def test_greeting_timestamp_only_when_apop_can_succeed(make_server, apop_server, tmp_path):
    """Mail::POP3Client, curl and nmap read a timestamp as "APOP offered" (issue 12)."""
    start, _ = apop_server
    with_apop = start()
    assert greet(with_apop.port)[1].startswith(b"<") and greet(with_apop.port)[1].endswith(b"@pop3d.test>")
    users = {"bob": {"password": "bob-pw", "maildrop": f"maildir:{tmp_path}/bob"}}
    without = make_server(users, extra={"auth": {"failure_delay": 3}})
    c = Client.connect(without.port)
    assert c.line() == b"+OK pop3d 0.1.0 at pop3d.test starting."
    reply, took = timed(c, f"APOP bob {'0' * 32}")
    assert reply == b"-ERR [AUTH] APOP is not available on this connection" and took < 0.5
    assert c.cmd("USER bob").startswith(b"+OK")
    assert c.cmd("PASS bob-pw").startswith(b"+OK bob has 1 messages")  # the failed APOP cost nothing


def timed(c: Client, command: str) -> tuple[bytes, float]:
    started = time.monotonic()
    reply = c.cmd(command)
    return reply, time.monotonic() - started


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
                                   (b"alice", b"alice-pw", REFUSED),
                                   (b"bob", b"bob-pw", NO_SECRET)):
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


def test_cram_md5_not_offered_unless_listed(apop_server):
    """curl picks CRAM-MD5 whenever offered and fails with the login password (issue 12)."""
    start, _ = apop_server
    server = start(mechanisms=["PLAIN", "LOGIN"])
    c, _ = greet(server.port)
    assert c.cmd("AUTH") == b"+OK SASL mechanisms follow"
    assert c.multiline() == [b"PLAIN", b"LOGIN"]
    assert c.cmd("AUTH CRAM-MD5") == b"-ERR unsupported authentication mechanism CRAM-MD5"


def test_mechanism_without_a_secret_fails_at_once_uncounted_like_an_unknown_user(apop_server):
    """mutt and fetchmail try CRAM-MD5 and APOP before the password: that must cost no failure."""
    start, _ = apop_server
    # Every failure of the address counts at once (allowance 0): counted tries would show in the delay.
    server = start(failure_delay=0.5, max_failure_delay=4, address_failure_allowance=0,
                   mechanisms=["CRAM-MD5", "PLAIN"])
    answers = {}
    for name in (b"bob", b"nobody"):
        c, stamp = greet(server.port)
        tries = []
        for _ in range(3):  # max_auth_failures is 3: uncounted tries do not close the connection
            line = c.cmd("AUTH CRAM-MD5")
            digest = hmac.new(b"guess", base64.b64decode(line[2:]), hashlib.md5).hexdigest().encode()
            tries.append(timed(c, b64(name + b" " + digest)))
        tries.append(timed(c, f"APOP {name.decode()} {hashlib.md5(stamp + b'guess').hexdigest()}"))
        answers[name] = [reply for reply, _ in tries]
        assert all(took < 0.5 for _, took in tries), tries
        if name == b"bob":
            assert c.cmd("AUTH PLAIN " + b64(b"\0bob\0bob-pw")).startswith(b"+OK bob has 1 messages")
        c.close()
    assert answers[b"bob"] == answers[b"nobody"] == [NO_SECRET] * 4
    # None of them counted as a failed password: a wrong password now waits only the first delay.
    c, _ = greet(server.port)
    reply, took = timed(c, "AUTH PLAIN " + b64(b"\0alice\0wrong"))
    assert reply == REFUSED and 0.5 <= took < 1.5
