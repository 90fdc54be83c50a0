"""The Maildir listing snapshot: reused only while new/ and cur/ are exactly as listed."""

from __future__ import annotations

import os

import pytest
from maildir_kit import deliver, make_maildir, opened

from pop3d.maildrop.maildir_snapshot import SNAPSHOT_NAME
from pop3d.maildrop.safe_fs import Folder

OLD = 1_600_000_000


def age(root):
    """Make new/ and cur/ look untouched for a long time (a settled Maildir)."""
    for sub in ("new", "cur"):
        os.utime(root / sub, (OLD, OLD))


@pytest.fixture
def root(tmp_path):
    root = make_maildir(tmp_path)
    deliver(root, "1.m,S=6,W=7", b"hello\n", subdir="cur", flags="S")
    deliver(root, "2.m", b"one\ntwo\n", subdir="cur", flags="")
    deliver(root, "3.m", b"no newline")
    age(root)
    return root


def listing(root):
    with opened(root) as maildrop:
        return [(m.size, m.uid, m.seen) for m in maildrop.messages()], list(maildrop.unique_names())


def stats_while_listing(root, monkeypatch):
    calls = []
    real = Folder.stat
    monkeypatch.setattr(Folder, "stat", lambda self, name: calls.append(name) or real(self, name))
    result = listing(root)
    monkeypatch.undo()
    return result, calls


def test_unchanged_maildir_is_listed_from_the_snapshot_without_a_stat_per_message(root, monkeypatch):
    first, first_calls = stats_while_listing(root, monkeypatch)
    assert (root / SNAPSHOT_NAME).exists() and len(first_calls) == 3
    again, calls = stats_while_listing(root, monkeypatch)
    assert again == first and calls == []
    assert first[0] == [(7, "1.m", True), (10, "2.m", False), (12, "3.m", False)]


def test_delivery_makes_the_snapshot_stale(root):
    listing(root)
    deliver(root, "4.m", b"new mail\n")
    age(root)  # even with the folder's mtime put back, the names differ
    sizes, names = listing(root)
    assert names == ["1.m,S=6,W=7", "2.m", "3.m", "4.m"]


def test_foreign_file_linked_in_with_mtime_put_back_is_not_listed_from_the_snapshot(root, tmp_path):
    listing(root)
    foreign = tmp_path / "secret"
    foreign.write_bytes(b"root's secret\n")
    os.chown(foreign, 12345, 12345) if os.geteuid() == 0 else None
    os.link(foreign, root / "cur" / "5.m:2,")
    age(root)
    _, names = listing(root)
    assert ("5.m" in names) == (os.geteuid() != 0)  # as root the file is someone else's: not listed


def test_recently_changed_folder_gets_no_snapshot(root):
    deliver(root, "4.m", b"just arrived\n")  # new/ changed in this clock second
    listing(root)
    assert not (root / SNAPSHOT_NAME).exists()


def test_corrupt_snapshot_is_ignored(root):
    listing(root)
    path = root / SNAPSHOT_NAME
    path.write_bytes(path.read_bytes()[:-8] + b"\nc- x y\n")
    assert listing(root)[1] == ["1.m,S=6,W=7", "2.m", "3.m"]


def test_flag_change_by_imap_client_is_seen(root):
    listing(root)
    os.rename(root / "cur" / "2.m:2,", root / "cur" / "2.m:2,S")
    age(root)
    sizes, _ = listing(root)
    assert sizes[1] == (10, "2.m", True)


def test_commit_that_moved_mail_leaves_a_snapshot_of_what_it_left(root, monkeypatch):
    with opened(root) as maildrop:
        maildrop.commit(frozenset({1}), frozenset({2}))
    after, calls = stats_while_listing(root, monkeypatch)
    assert calls == []
    assert after == ([(7, "1.m", True), (12, "3.m", True)], ["1.m,S=6,W=7", "3.m"])


def test_delivery_during_the_session_keeps_the_commit_from_saving_a_snapshot(root, monkeypatch):
    listing(root)
    with opened(root) as maildrop:
        deliver(root, "4.m", b"arrived meanwhile\n")
        maildrop.commit(frozenset(), frozenset({2}))
    (sizes, names), calls = stats_while_listing(root, monkeypatch)
    assert names == ["1.m,S=6,W=7", "2.m", "3.m", "4.m"] and len(calls) == 4
