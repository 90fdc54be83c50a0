"""The mailauth database of APOP secrets: format, atomic 0600 writes, live re-reading."""

from __future__ import annotations

import os
import stat

import pytest

from pop3d.auth import mailauth
from pop3d.auth.records import SourceUnavailable


def test_round_trip_keeps_any_bytes(tmp_path):
    path = str(tmp_path / "mailauth")
    secrets = {"alice": b"s3cret", "bob": b"with:colon\nand newline \xff"}
    mailauth.write(path, secrets)
    assert mailauth.read(path) == secrets
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    with open(path) as f:
        text = f.read()
    assert text.startswith("# pop3d mailauth database") and "s3cret" not in text


def test_rewrite_replaces_the_file_and_leaves_no_temporary(tmp_path):
    path = str(tmp_path / "mailauth")
    mailauth.write(path, {"alice": b"one"})
    os.chmod(path, 0o644)
    inode = os.stat(path).st_ino
    mailauth.write(path, {"alice": b"two"})
    assert os.stat(path).st_ino != inode  # renamed into place, never rewritten in place
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert sorted(os.listdir(tmp_path)) == ["mailauth"]


def test_missing_database_is_empty(tmp_path):
    assert mailauth.read(str(tmp_path / "none")) == {}
    assert mailauth.MailauthDatabase(str(tmp_path / "none")).secret("alice") is None


@pytest.mark.parametrize("text, problem", [
    ("alice\n", "line 1: expected NAME:BASE64-SECRET"),
    ("# c\nal ice:YQ==\n", "line 2: expected NAME:BASE64-SECRET"),
    ("alice:not base64!\n", "line 1: the secret is not valid base64"),
])
def test_malformed_lines_are_named(tmp_path, text, problem):
    path = tmp_path / "mailauth"
    path.write_text(text)
    with pytest.raises(mailauth.MailauthError, match=problem):
        mailauth.read(str(path))


def test_server_view_sees_changes_without_restart(tmp_path):
    path = str(tmp_path / "mailauth")
    db = mailauth.MailauthDatabase(path)
    mailauth.write(path, {"alice": b"one"})
    assert db.secret("alice") == b"one"
    mailauth.write(path, {"alice": b"two", "bob": b"three"})
    assert db.secret("alice") == b"two" and db.secret("bob") == b"three"
    mailauth.write(path, {})
    assert db.secret("alice") is None


def test_a_broken_database_keeps_the_last_good_one(tmp_path):
    path = tmp_path / "mailauth"
    db = mailauth.MailauthDatabase(str(path))
    mailauth.write(str(path), {"alice": b"one"})
    assert db.secret("alice") == b"one"
    path.write_text("garbage\n")
    assert db.secret("alice") == b"one"


def test_a_broken_database_without_a_good_one_is_unavailable(tmp_path):
    path = tmp_path / "mailauth"
    path.write_text("garbage\n")
    with pytest.raises(SourceUnavailable):
        mailauth.MailauthDatabase(str(path)).secret("alice")


def test_valid_names():
    assert mailauth.valid_name("alice") and mailauth.valid_name("jürgen.x-y_z@example.org")
    for bad in ("", "a:b", "a b", "a/b", "a\nb", "x" * 256):
        assert not mailauth.valid_name(bad)
