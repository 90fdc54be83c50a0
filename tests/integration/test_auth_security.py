"""No brute force, no enumeration: failure delays that block no one, lock-out, identical refusals."""

from __future__ import annotations

import hashlib
import threading
import time

import pytest
from support import Client

REFUSED = b"-ERR [AUTH] invalid user name or password"


@pytest.fixture
def users(tmp_path):
    for user in ("alice", "bob"):
        for sub in ("new", "cur", "tmp"):
            (tmp_path / user / sub).mkdir(parents=True)
        (tmp_path / user / "new" / "1700000000.M1P1.test").write_bytes(b"Subject: hi\r\n\r\nhello\r\n")
    return {u: {"password": f"{u}-pw", "maildrop": f"maildir:{tmp_path}/{u}"} for u in ("alice", "bob")}


def connect(port: int) -> Client:
    c = Client.connect(port, timeout=30)
    c.line()
    return c


def timed(c: Client, command: str) -> tuple[bytes, float]:
    start = time.monotonic()
    reply = c.cmd(command)
    return reply, time.monotonic() - start


def test_failed_login_waits_while_other_clients_are_served(make_server, users):
    server = make_server(users, extra={"auth": {"failure_delay": 1.5, "max_failure_delay": 3}})
    bob = connect(server.port)
    bob.cmd("USER bob")
    assert bob.cmd("PASS bob-pw").startswith(b"+OK")
    attacker = connect(server.port)
    attacker.cmd("USER alice")
    result: dict[str, object] = {}

    def fail() -> None:
        result["reply"], result["took"] = timed(attacker, "PASS wrong")

    thread = threading.Thread(target=fail)
    thread.start()
    time.sleep(0.2)  # the failed attempt is now being held back
    stats = []
    while thread.is_alive():
        stats.append(timed(bob, "STAT"))
        time.sleep(0.1)
    thread.join()
    assert result["reply"] == REFUSED
    assert result["took"] >= 1.5
    assert len(stats) >= 5  # STAT was answered again and again during the delay ...
    assert all(reply == b"+OK 1 22" for reply, _ in stats)
    assert max(took for _, took in stats) < 0.5  # ... each well under the delay
    # The next failure from the same address waits twice as long, up to the cap.
    attacker.cmd("USER alice")
    reply, took = timed(attacker, "PASS wrong again")
    assert reply == REFUSED and 3 <= took < 5


def test_trusted_networks_get_no_delay(make_server, users):
    server = make_server(users, extra={"auth": {"failure_delay": 3, "trusted_networks": ["127.0.0.0/8"]}})
    c = connect(server.port)
    c.cmd("USER alice")
    reply, took = timed(c, "PASS wrong")
    assert reply == REFUSED and took < 1


def test_connection_closed_after_max_failures(make_server, users):
    server = make_server(users, extra={"limits": {"max_auth_failures": 3}})
    c = connect(server.port)
    for attempt in range(3):
        c.cmd("USER alice")
        assert c.cmd(f"PASS wrong{attempt}") == REFUSED
    assert c.line() == b"-ERR too many failed logins, closing"
    assert c.closed()


def test_unknown_user_and_wrong_password_answer_alike(make_server, users):
    server = make_server(users, extra={"auth": {"failure_delay": 0.4, "max_failure_delay": 0.4}})
    answers: dict[str, list[bytes]] = {}
    times: dict[str, list[float]] = {"alice": [], "nobody": []}
    for _ in range(3):
        for name in ("alice", "nobody"):
            c = connect(server.port)
            user_reply = c.cmd(f"USER {name}")
            pass_reply, took = timed(c, "PASS wrong")
            stamp = c.cmd("QUIT")
            answers.setdefault(name, []).append(user_reply.replace(name.encode(), b"NAME") + pass_reply)
            times[name].append(took)
            assert stamp.startswith(b"+OK")
            c.close()
    assert answers["alice"] == answers["nobody"]
    assert answers["alice"][0] == b"+OK password required for NAME" + REFUSED
    # Padded to the failure delay: both answer at the delay, whatever the hash check cost.
    for name in times:
        assert all(0.4 <= t < 0.7 for t in times[name]), times
    assert abs(sum(times["alice"]) - sum(times["nobody"])) / 3 < 0.1


def test_apop_unknown_user_answers_like_a_wrong_digest(make_server, users, tmp_path):
    from pop3d.auth import mailauth

    db = str(tmp_path / "mailauth")
    mailauth.write(db, {"alice": b"secret"})
    server = make_server(users, extra={"auth": {"failure_delay": 0.05, "apop_database": db}})
    for name in ("alice", "nobody"):
        c = Client.connect(server.port)
        stamp = c.line().rsplit(b" ", 1)[1]
        assert c.cmd(f"APOP {name} {hashlib.md5(stamp + b'wrong').hexdigest()}") == REFUSED


def test_broken_secrets_database_is_a_temporary_failure(make_server, users, tmp_path):
    db = tmp_path / "mailauth"
    db.write_text("this is not a mailauth database\n")
    server = make_server(users, extra={"auth": {"failure_delay": 0.05, "apop_database": str(db)}})
    c = Client.connect(server.port)
    stamp = c.line().rsplit(b" ", 1)[1]
    reply = c.cmd(f"APOP alice {hashlib.md5(stamp + b'secret').hexdigest()}")
    assert reply == b"-ERR [SYS/TEMP] cannot check passwords now, try later"
    c.cmd("USER alice")
    assert c.cmd("PASS alice-pw").startswith(b"+OK alice")  # passwords still work


def test_locked_maildrop_is_in_use(make_server, users):
    server = make_server(users)
    first = connect(server.port)
    first.cmd("USER alice")
    assert first.cmd("PASS alice-pw").startswith(b"+OK")
    second = connect(server.port)
    second.cmd("USER alice")
    reply, took = timed(second, "PASS alice-pw")
    assert reply.startswith(b"-ERR [IN-USE]")
