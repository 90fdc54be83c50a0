"""UPDATE on an mbox: in-place rewrite, concurrent delivery, journal recovery."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest
from mbox_kit import build, delivered_content, entry, read_all, spawn

from pop3d.maildrop import CommitError, mbox_journal
from pop3d.maildrop.mbox import MboxMaildrop, Sidecars

MSGS = [b"Subject: %d\n\n" % i + b"line of body %d\n" % i * 50 for i in range(8)]


class Crash(BaseException):
    """Stands for the process dying at this point."""


@pytest.fixture
def mbox(tmp_path):
    path = tmp_path / "mbox"
    path.write_bytes(build(MSGS))
    return str(path)


def after(deleted, appended=b""):
    return b"".join(entry(m, i) for i, m in enumerate(MSGS) if i not in deleted) + appended


def test_mail_delivered_during_session_survives_deleting_commit(mbox):
    ino = os.stat(mbox).st_ino
    with MboxMaildrop.open(mbox) as md:
        uids = [m.uid for m in md.messages()]
        mta = spawn("deliver", mbox, "3", "late")
        ids = mta.communicate(timeout=30)[0].split()
        assert mta.returncode == 0 and len(ids) == 3
        md.commit(frozenset({0, 2, 7}), frozenset())
    assert os.stat(mbox).st_ino == ino  # rewritten in place
    with MboxMaildrop.open(mbox) as md:
        got = read_all(md)
        assert got[:5] == [MSGS[i] for i in (1, 3, 4, 5, 6)]
        assert got[5:] == [delivered_content(i) for i in ids]
        assert [m.uid for m in md.messages()][:5] == [uids[i] for i in (1, 3, 4, 5, 6)]


@pytest.mark.parametrize("deleted", [{0}, {7}, {3, 4}, set(range(8))])
def test_delete_positions(mbox, deleted):
    with MboxMaildrop.open(mbox) as md:
        md.commit(frozenset(deleted), frozenset())
    assert Path(mbox).read_bytes() == after(deleted)
    assert not os.path.exists(Sidecars.for_mbox(mbox).journal)


def test_commit_without_deletions_does_not_write_the_mbox(mbox):
    before = os.stat(mbox)
    with MboxMaildrop.open(mbox) as md:
        assert not any(m.seen for m in md.messages())
        md.commit(frozenset(), frozenset({1, 2}))
    now = os.stat(mbox)
    assert (now.st_ino, now.st_size, now.st_mtime_ns) == (before.st_ino, before.st_size, before.st_mtime_ns)
    assert Path(mbox).read_bytes() == build(MSGS)
    with MboxMaildrop.open(mbox) as md:  # remembered in the index, not in Status headers
        assert [m.seen for m in md.messages()] == [False, True, True] + [False] * 5


def test_full_disk_while_writing_journal_leaves_mbox_untouched(mbox, monkeypatch):
    real = mbox_journal._write_all

    def full(fd, data, offset):
        if offset > 0:
            raise OSError(errno.ENOSPC, "No space left on device")
        real(fd, data, offset)

    monkeypatch.setattr(mbox_journal, "_write_all", full)
    with MboxMaildrop.open(mbox) as md, pytest.raises(CommitError, match="No space"):
        md.commit(frozenset({1}), frozenset())
    assert Path(mbox).read_bytes() == build(MSGS)
    assert not os.path.exists(Sidecars.for_mbox(mbox).journal)
    assert not os.path.exists(mbox + ".lock")


def test_mbox_rewritten_in_place_by_another_program_aborts_commit(mbox):
    with MboxMaildrop.open(mbox) as md:
        other = after({0})  # a mail reader expunged message 1 meanwhile
        with open(mbox, "r+b") as f:
            f.write(other)
            f.truncate()
        other += entry(b"S: padding\n\n" + b"x" * 5000, 9)  # and the file grew back
        with open(mbox, "ab") as f:
            f.write(other[len(after({0})):])
        with pytest.raises(CommitError, match="changed"):
            md.commit(frozenset({3}), frozenset())
    assert Path(mbox).read_bytes() == other


def test_mbox_replaced_by_rename_aborts_commit(mbox):
    with MboxMaildrop.open(mbox) as md:
        Path(mbox + ".new").write_bytes(after({0}))
        os.replace(mbox + ".new", mbox)
        with pytest.raises(CommitError, match="replaced"):
            md.commit(frozenset({3}), frozenset())
    assert Path(mbox).read_bytes() == after({0})


def crash_in(monkeypatch, name, partial=False):
    """Make ``mbox_journal.<name>`` die, after half its work when ``partial``."""
    real = getattr(mbox_journal, name)

    def dying(journal, fd=None):
        if partial:
            half = journal.plan.new_len // 2
            data = b"".join(mbox_journal.payload_chunks(journal))[:half]
            os.pwrite(fd, data, journal.plan.d0)
        elif name == "finish":
            pass
        else:
            return real(journal, fd)
        raise Crash

    monkeypatch.setattr(mbox_journal, name, dying)


@pytest.mark.parametrize("where", ["before-apply", "mid-apply", "before-finish"])
@pytest.mark.parametrize("mta_after_crash", [False, True])
def test_recovery_completes_interrupted_commit(mbox, monkeypatch, where, mta_after_crash):
    with monkeypatch.context() as m:
        if where == "before-apply":
            m.setattr(mbox_journal, "apply", lambda journal, fd: (_ for _ in ()).throw(Crash()))
        elif where == "mid-apply":
            crash_in(m, "apply", partial=True)
        else:
            crash_in(m, "finish")
        md = MboxMaildrop.open(mbox)
        with pytest.raises(Crash):
            md.commit(frozenset({1, 5}), frozenset())
        md.close()
    assert os.path.exists(Sidecars.for_mbox(mbox).journal)
    appended = b""
    if mta_after_crash:  # the MTA broke our stale dotlock and delivered before we came back
        appended = entry(b"S: late\n\nlate\n", 42)
        with open(mbox, "ab") as f:
            f.write(appended)
    with MboxMaildrop.open(mbox) as md:
        assert read_all(md) == [m for i, m in enumerate(MSGS) if i not in (1, 5)] + (
            [b"S: late\n\nlate\n"] if appended else [])
    assert Path(mbox).read_bytes() == after({1, 5}, appended)
    assert not os.path.exists(Sidecars.for_mbox(mbox).journal)


def test_incomplete_journal_is_discarded(mbox, monkeypatch):
    journal = Sidecars.for_mbox(mbox).journal
    with monkeypatch.context() as m:
        m.setattr(mbox_journal, "apply", lambda journal, fd: (_ for _ in ()).throw(Crash()))
        md = MboxMaildrop.open(mbox)
        with pytest.raises(Crash):
            md.commit(frozenset({2}), frozenset())
        md.close()
    with open(journal, "r+b") as f:  # power loss before the payload reached the disk
        f.truncate(os.path.getsize(journal) - 10)
    with MboxMaildrop.open(mbox) as md:
        assert read_all(md) == MSGS
    assert not os.path.exists(journal)


def test_journal_for_another_inode_is_discarded(mbox, monkeypatch):
    journal = Sidecars.for_mbox(mbox).journal
    with monkeypatch.context() as m:
        m.setattr(mbox_journal, "apply", lambda journal, fd: (_ for _ in ()).throw(Crash()))
        md = MboxMaildrop.open(mbox)
        with pytest.raises(Crash):
            md.commit(frozenset({2}), frozenset())
        md.close()
    Path(mbox + ".new").write_bytes(build(MSGS))
    os.replace(mbox + ".new", mbox)
    with MboxMaildrop.open(mbox) as md:
        assert read_all(md) == MSGS
    assert not os.path.exists(journal)
