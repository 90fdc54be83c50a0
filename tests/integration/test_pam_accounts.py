"""UNIX accounts through PAM (``type: pam``), over POP3, with a test-owned PAM service.

The service file in /etc/pam.d is written by the test (pam_unix for auth and
account, nothing from the site's common-* stacks) and removed afterwards, as
are the accounts.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator

import pytest
from support import pass_login
from unix_kit import chown_tree, require_root, require_tool, run, unix_account

PASSWORD = "Pam pw 1!"
REFUSED = b"-ERR [AUTH] invalid user name or password"
STACK = "auth required pam_unix.so\naccount required pam_unix.so\n"


@contextlib.contextmanager
def pam_service(stack: str = STACK) -> Iterator[str]:
    require_root()
    name = "pop3d-test-" + secrets.token_hex(4)
    path = os.path.join("/etc/pam.d", name)
    with open(path, "w") as f:
        f.write(stack)
    try:
        yield name
    finally:
        os.unlink(path)


def maildir(name: str, count: int = 1) -> None:
    home = os.path.expanduser(f"~{name}")
    for sub in ("new", "cur", "tmp"):
        os.makedirs(os.path.join(home, "Maildir", sub), exist_ok=True)
    for i in range(count):
        with open(os.path.join(home, "Maildir", "new", f"170000000{i}.M{i}P1.test"), "wb") as f:
            f.write(b"Subject: hello %d\r\n\r\nbody\r\n" % i)
    chown_tree(home, name)


def pam_config(service: str) -> dict[str, object]:
    return {"users": [{"type": "pam", "service": service, "maildrop": "maildir:~/Maildir"}]}


def test_pam_checks_passwords_and_the_account(make_server):
    with pam_service() as service, unix_account(PASSWORD) as alice, unix_account(PASSWORD) as bob:
        maildir(alice, 2)
        maildir(bob)
        server = make_server({}, extra=pam_config(service))
        assert pass_login(server.port, alice, PASSWORD) == f"+OK {alice} has 2 messages (52 octets)".encode()
        assert pass_login(server.port, alice, "wrong") == REFUSED
        assert pass_login(server.port, "p3t-nobody", PASSWORD) == REFUSED
        # pam_unix's account stage: a locked password and an expired account are refused.
        assert pass_login(server.port, bob, PASSWORD).startswith(b"+OK")
        run(require_tool("usermod"), "--lock", alice)
        run(require_tool("chage"), "--expiredate", "1970-01-02", bob)
        assert pass_login(server.port, alice, PASSWORD) == REFUSED
        assert pass_login(server.port, bob, PASSWORD) == REFUSED


def test_the_pam_stack_decides(make_server):
    """A stack that denies everyone refuses even the right password: PAM, not pop3d, decides."""
    with pam_service("auth required pam_deny.so\naccount required pam_unix.so\n") as service, \
            unix_account(PASSWORD) as alice:
        maildir(alice)
        server = make_server({}, extra=pam_config(service))
        assert pass_login(server.port, alice, PASSWORD) == REFUSED


def test_the_shipped_pam_service_uses_the_systems_stacks():
    from support import ROOT

    with open(os.path.join(ROOT, "conf", "pam.d", "pop3d")) as f:
        lines = [line.strip() for line in f if line.strip() and not line.startswith("#")]
    assert lines == ["@include common-auth", "@include common-account"]


@pytest.mark.parametrize("settings, message", [
    ({"type": "pam", "service": 5}, "users[0].service: must be a non-empty string, not 5"),
    ({"type": "pam", "file": "x"}, "users[0].file"),
])
def test_pam_source_settings_are_checked(tmp_path, settings, message):
    import yaml

    from pop3d.config import ConfigError, load_config

    path = tmp_path / "pop3d.yaml"
    path.write_text(yaml.safe_dump({"users": [settings]}))
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load_config(str(path))
