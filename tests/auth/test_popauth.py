"""popauth: the admin command for APOP secrets and virtual users' password hashes."""

from __future__ import annotations

import os
import pty
import select
import stat
import subprocess
import sys
import time

import yaml
from passlib.context import CryptContext

from pop3d.auth import mailauth
from pop3d.auth.virtual import VirtualUsers

ARGON2 = CryptContext(schemes=["argon2", "bcrypt", "sha512_crypt"])


def popauth(*args: str, stdin: bytes = b"") -> subprocess.CompletedProcess[str]:
    result = subprocess.run([sys.executable, "-m", "pop3d.popauth", *args], input=stdin,
                            capture_output=True, timeout=60)
    return subprocess.CompletedProcess(result.args, result.returncode, result.stdout.decode(),
                                       result.stderr.decode())


def test_add_change_delete_list(tmp_path):
    db = str(tmp_path / "mailauth")
    assert popauth("-f", db, "add", "alice", stdin=b"s3cret\n").returncode == 0
    assert stat.S_IMODE(os.stat(db).st_mode) == 0o600
    assert mailauth.read(db) == {"alice": b"s3cret"}
    assert popauth("-f", db, "add", "bob", stdin=b"with spaces: and \xc3\xa9\r\n").returncode == 0
    assert popauth("-f", db, "list").stdout == "alice\nbob\n"
    again = popauth("-f", db, "add", "alice", stdin=b"other\n")
    assert again.returncode == 1 and "already has an APOP secret" in again.stderr
    assert popauth("-f", db, "change", "alice", stdin=b"new one\n").returncode == 0
    assert mailauth.read(db) == {"alice": b"new one", "bob": "with spaces: and é".encode()}
    assert popauth("-f", db, "delete", "bob").returncode == 0
    assert popauth("-f", db, "list").stdout == "alice\n"
    missing = popauth("-f", db, "delete", "bob")
    assert missing.returncode == 1 and "bob has no APOP secret" in missing.stderr
    assert sorted(os.listdir(tmp_path)) == ["mailauth", "mailauth.lock"]


def test_secret_never_taken_from_arguments(tmp_path):
    db = str(tmp_path / "mailauth")
    result = popauth("-f", db, "add", "alice", "s3cret")
    assert result.returncode == 2 and "never from arguments" in result.stderr
    assert not os.path.exists(db)


def test_empty_secret_and_bad_names_are_refused(tmp_path):
    db = str(tmp_path / "mailauth")
    empty = popauth("-f", db, "add", "alice", stdin=b"\n")
    assert empty.returncode == 1 and "empty" in empty.stderr
    bad = popauth("-f", db, "add", "a:b", stdin=b"x\n")
    assert bad.returncode == 1 and "invalid user name" in bad.stderr
    assert mailauth.read(db) == {}


def run_with_terminal(args: list[str], answers: list[bytes]) -> tuple[int, bytes]:
    """Run popauth on a pseudo-terminal, answering each prompt in turn."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "pop3d.popauth", *args], stdin=follower,
                            stdout=follower, stderr=follower, start_new_session=True)
    os.close(follower)
    seen = since_answer = b""
    deadline = time.monotonic() + 30
    pending = list(answers)
    while time.monotonic() < deadline:
        ready, _, _ = select.select([leader], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(leader, 1024)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
            since_answer += chunk
            if pending and since_answer.rstrip().endswith(b":"):
                os.write(leader, pending.pop(0) + b"\n")
                since_answer = b""
        elif proc.poll() is not None:
            break
    os.close(leader)
    return proc.wait(10), seen


def test_prompts_twice_on_a_terminal_without_echo(tmp_path):
    db = str(tmp_path / "mailauth")
    code, screen = run_with_terminal(["-f", db, "add", "alice"], [b"typed-secret", b"typed-secret"])
    assert code == 0, screen
    assert b"New APOP secret:" in screen and b"Again:" in screen
    assert b"typed-secret" not in screen  # getpass turned echo off
    assert mailauth.read(db) == {"alice": b"typed-secret"}


def test_mismatched_prompts_change_nothing(tmp_path):
    db = str(tmp_path / "mailauth")
    code, screen = run_with_terminal(["-f", db, "add", "alice"], [b"one", b"two"])
    assert code == 1 and b"differ" in screen
    assert mailauth.read(db) == {}


def test_database_path_from_the_server_config(tmp_path):
    users = tmp_path / "users.yaml"
    users.write_text("")
    config = tmp_path / "pop3d.yaml"
    source = [{"type": "virtual", "file": "users.yaml"}]
    config.write_text(yaml.safe_dump({"listen": ["tcp:1110"], "users": source,
                                      "auth": {"apop_database": "apop.db"}}))
    assert popauth("-c", str(config), "add", "carol", stdin=b"c-secret\n").returncode == 0
    assert mailauth.read(str(tmp_path / "apop.db")) == {"carol": b"c-secret"}
    no_db = tmp_path / "plain.yaml"
    no_db.write_text(yaml.safe_dump({"listen": ["tcp:1110"], "users": source}))
    result = popauth("-c", str(no_db), "list")
    assert result.returncode == 1 and "configures no auth.apop_database" in result.stderr


def test_virtual_set_hashes_keeps_other_settings_and_comments(tmp_path):
    users = tmp_path / "users.yaml"
    old_hash = ARGON2.handler("bcrypt").using(rounds=4).hash("bob-old")
    users.write_text(f"# demo users\n# keep me\nbob:\n  password: \"{old_hash}\"\n"
                     "  maildrop: mbox:/srv/bob.mbox\n")
    os.chmod(users, 0o640)
    result = popauth("-u", str(users), "virtual", "set", "bob", stdin=b"bob-new\n")
    assert result.returncode == 0, result.stderr
    assert popauth("-u", str(users), "virtual", "set", "dave", "--scheme", "sha512_crypt",
                   "--maildrop", "maildir:/srv/dave", stdin=b"dave-pw\n").returncode == 0
    text = users.read_text()
    assert text.startswith("# demo users\n# keep me\n")
    assert stat.S_IMODE(os.stat(users).st_mode) == 0o640
    data = yaml.safe_load(text)
    assert data["bob"]["maildrop"] == "mbox:/srv/bob.mbox"
    assert data["bob"]["password"].startswith("$argon2id$")
    assert ARGON2.verify("bob-new", data["bob"]["password"])
    assert data["dave"]["password"].startswith("$6$") and ARGON2.verify("dave-pw", data["dave"]["password"])
    source = VirtualUsers(str(users), "mbox:/var/mail/%u")
    assert source.verify_password(source.lookup("dave"), b"dave-pw")
    assert popauth("-u", str(users), "virtual", "list").stdout == "bob\ndave\n"
    assert popauth("-u", str(users), "virtual", "delete", "bob").returncode == 0
    assert sorted(yaml.safe_load(users.read_text())) == ["dave"]
