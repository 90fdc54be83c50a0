"""No brute force, no enumeration: failure delays that block no one, lock-out, identical refusals."""

from __future__ import annotations

import base64
import hashlib
import socket
import threading
import time

import pytest
import yaml
from support import Client, ServerFixture, free_port, write_config

REFUSED = b"-ERR [AUTH] invalid user name or password"
NO_SECRET = b"-ERR [AUTH] no shared secret for this mechanism; use your password"


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


def test_apop_unknown_user_answers_like_a_user_without_a_secret(make_server, users, tmp_path):
    """No secret, or no such user: the same answer, at once and uncounted; a wrong digest waits."""
    from pop3d.auth import mailauth

    db = str(tmp_path / "mailauth")
    mailauth.write(db, {"alice": b"secret"})
    server = make_server(users, extra={"auth": {"failure_delay": 1, "apop_database": db}})
    answers = {}
    for name in ("alice", "bob", "nobody"):
        c = Client.connect(server.port)
        stamp = c.line().rsplit(b" ", 1)[1]
        answers[name] = timed(c, f"APOP {name} {hashlib.md5(stamp + b'wrong').hexdigest()}")
    assert answers["alice"][0] == REFUSED and answers["alice"][1] >= 1
    assert answers["bob"][0] == answers["nobody"][0] == NO_SECRET
    assert answers["bob"][1] < 0.5 and answers["nobody"][1] < 0.5


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


# -- hostile secrets, hash floods, timing (issue 10) ------------------------------

LOG_NOISE = ("Traceback", "internal error", "login failed unexpectedly", "[SYS/TEMP]")


def timed_plain(c: Client, name: str, password: bytes) -> tuple[bytes, float]:
    """AUTH PLAIN, the answer on a line of its own (up to limits.max_sasl_line, 16 KB)."""
    assert c.cmd("AUTH PLAIN") == b"+ "
    started = time.monotonic()
    reply = c.cmd(base64.b64encode(b"\0" + name.encode() + b"\0" + password))
    return reply, time.monotonic() - started


def test_overlong_secret_enumerates_no_users(make_server, users):
    """4 KB passwords answered unknown users at once with [SYS/TEMP] and known ones after the delay."""
    server = make_server(users, extra={"auth": {"failure_delay": 0.4, "max_failure_delay": 5},
                                       "limits": {"max_line": 8192, "max_auth_failures": 10}})
    for name in ("alice", "nobody"):
        c = connect(server.port)
        first = timed_plain(c, name, b"x" * 4096)
        second = timed_plain(c, name, b"y" * 2000)
        c.cmd(f"USER {name}")
        third = timed(c, "PASS " + "z" * 5000)
        assert [reply for reply, _ in (first, second, third)] == [REFUSED] * 3, name
        # An ordinary failure: delayed, and counted (the delay doubles per failure of the name).
        assert 0.4 <= first[1] < 0.8 and 0.8 <= second[1] < 1.4 and 1.6 <= third[1] < 2.5, name
        c.close()
    log = server.log()
    assert not [noise for noise in LOG_NOISE if noise in log], log


def test_overlong_secret_is_never_hashed(make_server, users, tmp_path):
    """A 4 KB sha512-crypt check took 6.6 s of CPU; the bound refuses it before hashing."""
    server = make_server(users, extra={"auth": {"failure_delay": 0, "max_failure_delay": 0,
                                                "max_secret_length": 1024}})
    slow_users(tmp_path)
    c = connect(server.port)
    reply, took = timed_plain(c, "alice", b"x" * 4096)
    assert reply == REFUSED and took < 0.2


def slow_users(tmp_path) -> None:
    """alice gets a full-cost sha512-crypt hash (passlib's default rounds); bob keeps a quick one."""
    from passlib.hash import sha512_crypt
    from support import fast_hash

    (tmp_path / "users.yaml").write_text(yaml.safe_dump({
        "alice": {"password": sha512_crypt.hash("alice-pw"), "maildrop": f"maildir:{tmp_path}/alice"},
        "bob": {"password": fast_hash("bob-pw"), "maildrop": f"maildir:{tmp_path}/bob"}}))


class Flood:
    """``count`` connections sending wrong passwords for ``name`` until stopped."""

    def __init__(self, port: int, count: int, name: str, password: bytes) -> None:
        self.port, self.name, self.password = port, name, password
        self.stopping = threading.Event()
        self.attempts = 0
        self.threads = [threading.Thread(target=self.attack, daemon=True) for _ in range(count)]

    def attack(self) -> None:
        while not self.stopping.is_set():
            try:
                c = connect(self.port)
                while not self.stopping.is_set():
                    if not timed_plain(c, self.name, self.password)[0].startswith(b"-ERR"):
                        return
                    self.attempts += 1
            except (OSError, ConnectionError):
                continue

    def __enter__(self) -> Flood:
        for t in self.threads:
            t.start()
        time.sleep(1)  # the flood is under way
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        for t in self.threads:
            t.join(30)


def login_latency(port: int, host: str = "127.0.0.1") -> float:
    """Seconds from connecting to the answer of PASS for bob, with a commit (DELE, QUIT) after it."""
    started = time.monotonic()
    c = Client(socket.create_connection((host, port), timeout=60))
    c.line()
    c.cmd("USER bob")
    assert c.cmd("PASS bob-pw").startswith(b"+OK bob")
    took = time.monotonic() - started
    c.cmd("QUIT")
    c.close()
    return took


@pytest.mark.slow
def test_flood_of_4k_sha512_passwords_does_not_stall_other_logins(make_server, users, tmp_path):
    """10 connections sending 4096-byte passwords for a sha512-crypt user stalled every login > 60 s."""
    server = make_server(users, extra={"limits": {"max_auth_failures": 1000}})
    slow_users(tmp_path)
    with Flood(server.port, 10, "alice", b"x" * 4096) as flood:
        latencies = [login_latency(server.port) for _ in range(5)]
    assert flood.attempts > 10
    assert max(latencies) < 1.5, latencies


@pytest.fixture
def dual_stack(tmp_path):
    """start(users, extra) -> (server, IPv6 port): pop3d on 127.0.0.1 and on ::1; stopped afterwards."""
    servers = []

    def start(users, extra):
        port, port6 = free_port(), free_port6()
        config = write_config(str(tmp_path), users, port, {
            **extra, "listen": [f"tcp:{port}:interface=127.0.0.1", f"tcp6:{port6}:interface=\\:\\:1"]})
        servers.append(ServerFixture(str(tmp_path), port, config).start())
        return servers[-1], port6

    yield start
    for server in servers:
        server.stop()


def free_port6() -> int:
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
            return s.getsockname()[1]
    except OSError:
        pytest.skip("no IPv6 loopback on this machine")


@pytest.mark.slow
def test_flood_of_slow_password_checks_leaves_other_clients_a_turn(dual_stack, users, tmp_path):
    """Full-cost hashes keep every password thread busy: a client from elsewhere still gets the next turn."""
    server, port6 = dual_stack(users, {"limits": {"max_auth_failures": 1000}})
    slow_users(tmp_path)
    with Flood(server.port, 10, "alice", b"wrong password"):
        latencies = [login_latency(port6, "::1") for _ in range(5)]
    assert max(latencies) < 3, latencies


def test_unknown_user_timing_does_not_reveal_the_hash_scheme(make_server, users, tmp_path):
    """Unknown names were checked against whichever hash sorts first (a quick bcrypt here)."""
    from passlib.hash import bcrypt, sha512_crypt

    server = make_server(users, extra={"auth": {"failure_delay": 0, "max_failure_delay": 0}})
    table = {f"user{i}": {"password": sha512_crypt.using(rounds=300000).hash(f"pw{i}"),
                          "maildrop": f"maildir:{tmp_path}/alice"} for i in range(3)}
    table["aaron"] = {"password": bcrypt.using(rounds=4).hash("pw"), "maildrop": f"maildir:{tmp_path}/alice"}
    (tmp_path / "users.yaml").write_text(yaml.safe_dump(table))
    times: dict[str, list[float]] = {"user0": [], "nobody": []}
    for _ in range(3):
        for name in times:
            c = connect(server.port)
            c.cmd(f"USER {name}")
            reply, took = timed(c, "PASS wrong")
            assert reply == REFUSED
            times[name].append(took)
            c.close()
    known, unknown = min(times["user0"]), min(times["nobody"])
    assert known > 0.02, times  # a real check of that cost takes measurable time ...
    assert 0.6 < unknown / known < 1.6, times  # ... and an unknown name costs the same


# -- remote clients, posed with PROXY headers (the server still only sees 127.0.0.1) -----

@pytest.fixture
def behind_proxy(tmp_path, users):
    """start(extra) -> port: pop3d whose one listener takes a PROXY header first; stopped afterwards."""
    servers = []

    def start(extra):
        port = free_port()
        config = write_config(str(tmp_path), users, port,
                              {**extra, "listen": [f"haproxy:tcp:{port}:interface=127.0.0.1"]})
        server = ServerFixture(str(tmp_path), port, config)
        servers.append(server)
        server.start(wait=False)
        deadline = time.monotonic() + 20
        while True:
            try:
                c = proxied(port, "127.0.0.1")
                c.line()
                c.close()
                return port
            except OSError:
                assert time.monotonic() < deadline and server.proc.poll() is None, server.log()
                time.sleep(0.05)

    yield start
    for server in servers:
        server.stop()


def proxied(port: int, source: str) -> Client:
    """A connection the balancer says comes from ``source``."""
    c = Client.connect(port)
    family = "TCP6" if ":" in source else "TCP4"
    c.send(f"PROXY {family} {source} {'::1' if ':' in source else '127.0.0.1'} 40000 110\r\n".encode())
    return c


def test_apop_and_cram_md5_not_in_the_clear_from_remote_clients_by_default(behind_proxy, tmp_path):
    """A captured APOP or CRAM-MD5 digest can be attacked offline: remote clients need TLS for them."""
    from pop3d.auth import mailauth

    db = str(tmp_path / "mailauth")
    mailauth.write(db, {"alice": b"alice-apop"})
    port = behind_proxy({"auth": {"apop_database": db, "mechanisms": ["PLAIN", "LOGIN", "CRAM-MD5"],
                                  "failure_delay": 2}})
    remote = proxied(port, "192.0.2.7")
    assert remote.line() == b"+OK pop3d 0.1.0 at pop3d.test starting."  # no timestamp to answer
    remote.send(b"CAPA\r\n")
    remote.line()
    assert not [cap for cap in remote.multiline() if cap.startswith(b"SASL")]
    reply, took = timed(remote, f"APOP alice {'0' * 32}")
    assert reply == b"-ERR [AUTH] APOP is not available on this connection" and took < 0.5
    assert remote.cmd("AUTH CRAM-MD5").startswith(b"-ERR [AUTH] CRAM-MD5 is allowed only over TLS")
    local = proxied(port, "127.0.0.1")
    stamp = local.line().rsplit(b" ", 1)[1]
    assert local.cmd(f"APOP alice {hashlib.md5(stamp + b'alice-apop').hexdigest()}").startswith(b"+OK alice")


def failed_pass(port: int, source: str, name: str = "alice") -> tuple[bytes, float]:
    c = proxied(port, source)
    c.line()
    c.cmd(f"USER {name}")
    answer = timed(c, "PASS wrong")
    c.close()
    return answer


def test_rotating_through_an_ipv6_64_does_not_reset_the_failure_delay(behind_proxy):
    port = behind_proxy({"plaintext_auth": "always", "auth": {"failure_delay": 0.3, "max_failure_delay": 5}})
    waits = [failed_pass(port, f"2001:db8:1:2::{i:x}")[1] for i in range(1, 4)]
    assert waits[0] >= 0.3 and waits[1] >= 0.6 and waits[2] >= 1.2, waits
    assert failed_pass(port, "2001:db8:1:3::1")[1] < 0.6  # the next /64 is somebody else


def test_rotating_through_an_ipv6_64_does_not_escape_the_connection_limit(behind_proxy):
    port = behind_proxy({"limits": {"max_connections_per_address": 2}})
    held = [proxied(port, f"2001:db8:1:2::{i}") for i in (1, 2)]
    for c in held:
        assert c.line().startswith(b"+OK")
    third = proxied(port, "2001:db8:1:2::3")
    assert third.line() == b"-ERR [SYS/TEMP] too many connections from your address, try again later"
    other = proxied(port, "2001:db8:1:3::1")
    assert other.line().startswith(b"+OK")


def test_failure_delay_doubles_over_ipv6_loopback(dual_stack, users):
    server, port6 = dual_stack(users, {"auth": {"failure_delay": 0.3, "max_failure_delay": 5}})
    waits = []
    for _ in range(2):
        c = Client(socket.create_connection(("::1", port6), timeout=30))
        c.line()
        c.cmd("USER alice")
        waits.append(timed(c, "PASS wrong"))
        c.close()
    assert [reply for reply, _ in waits] == [REFUSED] * 2
    assert waits[0][1] >= 0.3 and waits[1][1] >= 0.6, waits


def test_a_misconfigured_client_behind_a_nat_does_not_slow_its_neighbours(behind_proxy):
    """The delay was kept per address for all users, and a login did not clear it (issue 12)."""
    port = behind_proxy({"plaintext_auth": "always", "auth": {"failure_delay": 0.3, "max_failure_delay": 5}})
    office = "198.51.100.9"
    for _ in range(3):
        failed_pass(port, office, "printer")  # 0.3, 0.6, 1.2 s: a client with a stale password
    assert failed_pass(port, office, "alice")[1] < 0.6  # alice's typo waits only the first delay
    assert failed_pass(port, office, "alice")[1] >= 0.6
    c = proxied(port, office)
    c.line()
    c.cmd("USER alice")
    assert c.cmd("PASS alice-pw").startswith(b"+OK alice")  # the right password clears her penalty
    c.cmd("QUIT")
    assert failed_pass(port, office, "alice")[1] < 0.6
