"""UNIX accounts without the system: shadow(5) rules and crypt(3) hashes through libcrypt."""

from __future__ import annotations

import pytest

from pop3d.auth import crypt
from pop3d.auth.records import SourceUnavailable, UserRecord
from pop3d.auth.unix import ShadowEntry, UnixUsers
from pop3d.maildrop.location import Location

TODAY = 20_000


@pytest.mark.parametrize("prefix", [None, "$y$", "$6$", "$5$", "$1$", "$2b$"])
def test_crypt_verifies_every_scheme_debian_writes(prefix):
    hashed = crypt.crypt(b"s3cret pw", crypt.gensalt(prefix))
    assert hashed is not None
    assert hashed.startswith(prefix or "$y$")
    assert crypt.verify(b"s3cret pw", hashed)
    assert not crypt.verify(b"s3cret pX", hashed)


def test_crypt_refuses_nonsense_and_nul():
    assert not crypt.verify(b"x", "!")
    assert not crypt.verify(b"x", "*")
    assert not crypt.verify(b"x", "")
    hashed = crypt.crypt(b"ab", crypt.gensalt("$6$"))
    assert not crypt.verify(b"ab\0cd", hashed)


def entry(line: str) -> ShadowEntry:
    parsed = ShadowEntry.parse(line)
    assert parsed is not None
    return parsed


@pytest.mark.parametrize("line, reason", [
    ("u:$6$s$h:19000:0:99999:7:::", None),
    ("u:$6$s$h:::::::", None),
    ("u:!$6$s$h:19000:0:99999:7:::", "is locked"),
    ("u:!:19000:0:99999:7:::", "is locked"),
    ("u:*:19000:0:99999:7:::", "is locked"),
    ("u::19000:0:99999:7:::", "has no password"),
    (f"u:$6$s$h:19000:0:99999:7::{TODAY}:", "has expired"),
    (f"u:$6$s$h:19000:0:99999:7::{TODAY - 1}:", "has expired"),
    (f"u:$6$s$h:19000:0:99999:7::{TODAY + 1}:", None),
    ("u:$6$s$h:0:0:99999:7:::", "must change its password first"),
    (f"u:$6$s$h:{TODAY - 31}:0:30:7:::", "has an expired password"),
    (f"u:$6$s$h:{TODAY - 30}:0:30:7:::", None),
    (f"u:$6$s$h:{TODAY - 31}:0:-1:7:::", None),
])
def test_shadow_refusal_rules(line, reason):
    assert entry(line).refusal(TODAY) == reason


def test_unknown_user_is_none_and_costs_a_hash_check():
    source = UnixUsers("mbox:/var/mail/%u")
    assert source.lookup("no-such-user-pop3d") is None
    assert source._dummy_hash.startswith("$y$")
    assert source.verify_password(None, b"anything") is False


def test_system_accounts_below_min_uid_are_unknown():
    assert UnixUsers("mbox:/var/mail/%u").lookup("root") is None
    record = UnixUsers("mbox:/var/mail/%u", min_uid=0).lookup("root")
    assert record == UserRecord("root", Location("mbox", "/var/mail/root"), home="/root", uid=0, gid=0)


def test_home_template_expands_from_passwd():
    record = UnixUsers("maildir:~/Maildir", min_uid=0).lookup("root")
    assert record is not None and record.location == Location("maildir", "/root/Maildir")


def test_unreadable_shadow_is_a_temporary_failure(tmp_path):
    source = UnixUsers("mbox:/var/mail/%u", min_uid=0, shadow_path=str(tmp_path / "missing"))
    record = source.lookup("root")
    with pytest.raises(SourceUnavailable, match="cannot read"):
        source.verify_password(record, b"pw")
