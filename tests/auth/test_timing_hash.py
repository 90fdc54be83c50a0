"""Unknown users are checked against a hash of the users' own scheme and cost (issue 10)."""

from __future__ import annotations

import os
import pwd

import yaml
from passlib.hash import bcrypt, sha256_crypt, sha512_crypt

from pop3d.auth import crypt
from pop3d.auth.unix import UnixUsers, crypt_cost_class
from pop3d.auth.virtual import VirtualUsers, cost_class, timing_hash


def test_the_scheme_and_cost_most_users_share_wins_not_the_one_that_sorts_first():
    slow = [sha512_crypt.using(rounds=20000).hash(f"pw{i}") for i in range(3)]
    quick = bcrypt.using(rounds=4).hash("x")  # "$2b$" sorts before "$6$"
    assert cost_class(timing_hash([quick, *slow])) == cost_class(slow[0])
    other_cost = sha512_crypt.using(rounds=1000).hash("y")
    assert timing_hash([other_cost, *slow]) in slow
    assert cost_class(timing_hash([])) == ("sha512_crypt", 656000, None, None, None, "$6$")


def test_virtual_users_check_unknown_names_against_their_own_kind_of_hash(tmp_path):
    path = tmp_path / "users.yaml"
    hashes = {"a": bcrypt.using(rounds=4).hash("x"), "b": sha256_crypt.using(rounds=5000).hash("x"),
              "c": sha256_crypt.using(rounds=5000).hash("y")}
    path.write_text(yaml.safe_dump({n: {"password": h} for n, h in hashes.items()}))
    users = VirtualUsers(str(path), "maildir:/srv/%u")
    assert users._current()[1] in (hashes["b"], hashes["c"])
    assert users.verify_password(None, b"x") is False


def test_crypt_cost_class_reads_method_and_cost():
    assert crypt_cost_class("$6$rounds=9000$salt$hash") == ("6", "rounds=9000")
    assert crypt_cost_class("$6$salt$hash") == ("6", "")
    assert crypt_cost_class("$y$j9T$salt$hash") == ("y", "j9T")
    assert crypt_cost_class("$2b$12$saltandhash") == ("2b", "12")
    assert crypt_cost_class("$1$salt$hash") == ("1", "")
    assert crypt_cost_class("!$6$salt$hash") is None and crypt_cost_class("*") is None


def test_unix_users_check_unknown_names_against_the_systems_own_kind_of_hash(tmp_path):
    """The dummy was always yescrypt: with MD5-crypt accounts, unknown names took far longer."""
    me = pwd.getpwuid(os.getuid()).pw_name
    md5 = crypt.crypt(b"pw", crypt.gensalt("$1$"))
    assert md5 is not None
    shadow = tmp_path / "shadow"
    shadow.write_text(f"{me}:{md5}:19000:0:99999:7:::\nnobody-p3t:!:19000::::::\n")
    users = UnixUsers("maildir:~/Maildir", min_uid=0, shadow_path=str(shadow))
    assert users.timing_hash() == md5
    shadow.write_text(f"{me}:!{md5}:19000:0:99999:7:::\n")  # locked: cannot serve; the default dummy does
    assert crypt_cost_class(users.timing_hash()) == crypt_cost_class(crypt.gensalt() + "$x")
