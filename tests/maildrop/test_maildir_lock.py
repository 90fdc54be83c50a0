"""The session lock of a Maildir: one POP3 session at a time, released on every path."""

from __future__ import annotations

import signal
import subprocess

import pytest
from maildir_kit import deliver, make_maildir, opened, run_python

from pop3d.maildrop import MaildropBusy, MaildropError
from pop3d.maildrop import maildir as maildir_module
from pop3d.maildrop.maildir import LOCK_NAME, MaildirMaildrop

HOLD = """
    import sys
    from pop3d.maildrop.maildir import MaildirMaildrop
    maildrop = MaildirMaildrop.open(sys.argv[1])
    print("locked", flush=True)
    sys.stdin.read()
"""


@pytest.fixture
def root(tmp_path):
    root = make_maildir(tmp_path)
    deliver(root, "1.a")
    return root


def test_second_open_is_busy(root):
    with opened(root), pytest.raises(MaildropBusy):
        MaildirMaildrop.open(str(root))
    assert (root / LOCK_NAME).exists()


def test_close_releases_and_is_idempotent(root):
    maildrop = opened(root)
    maildrop.close()
    maildrop.close()
    with opened(root) as again:
        assert len(again.messages()) == 1


def test_closed_maildrop_refuses_use(root):
    maildrop = opened(root)
    maildrop.close()
    with pytest.raises(MaildropError):
        maildrop.open_message(0)
    with pytest.raises(MaildropError):
        maildrop.commit(frozenset({0}), frozenset())
    assert (root / "new" / "1.a").exists()


def test_failed_open_releases_the_lock(root, monkeypatch):
    def broken_listing(path):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(maildir_module, "list_messages", broken_listing)
    with pytest.raises(MaildropError):
        MaildirMaildrop.open(str(root))
    monkeypatch.undo()
    with opened(root) as maildrop:
        assert len(maildrop.messages()) == 1


def hold_in_child(root):
    child = run_python(HOLD, str(root), stdin=subprocess.PIPE)
    assert child.stdout.readline() == b"locked\n", child.stderr.read()
    return child


def test_lock_held_by_another_process_is_busy_until_it_closes(root):
    child = hold_in_child(root)
    try:
        with pytest.raises(MaildropBusy):
            MaildirMaildrop.open(str(root))
    finally:
        child.communicate(b"")  # EOF on stdin: the child exits
    with opened(root):
        pass


def test_lock_of_a_killed_holder_is_released(root):
    child = hold_in_child(root)
    child.send_signal(signal.SIGKILL)
    child.wait()
    child.stdin.close()
    child.stdout.close()
    child.stderr.close()
    with opened(root) as maildrop:
        assert len(maildrop.messages()) == 1
