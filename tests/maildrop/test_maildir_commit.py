"""Maildir UPDATE: atomic deletion, new/ to cur/, seen flags, failures and crash recovery."""

from __future__ import annotations

import json
import os
import signal

import pytest
from maildir_kit import deliver, files, make_maildir, opened, run_python, uids

from pop3d.maildrop import CommitError
from pop3d.maildrop.maildir_commit import JOURNAL_NAME, TRASH_PREFIX
from pop3d.maildrop.safe_fs import Folder


@pytest.fixture
def root(tmp_path):
    """Five messages: 1-3 in new/, 4-5 in cur/ (5 flagged R and F)."""
    root = make_maildir(tmp_path)
    for number in (1, 2, 3):
        deliver(root, f"{number}.m", b"message %d\n" % number)
    deliver(root, "4.m", b"message 4\n", subdir="cur", flags="")
    deliver(root, "5.m", b"message 5\n", subdir="cur", flags="FR")
    return root


def everything(root):
    return files(root, "new"), files(root, "cur"), files(root, "tmp"), sorted(os.listdir(root))


def commit(root, deleted=(), retrieved=()):
    with opened(root) as maildrop:
        maildrop.commit(frozenset(deleted), frozenset(retrieved))


def test_commit_deletes_exactly_the_chosen_messages(root):
    commit(root, deleted={0, 3})
    assert uids(root) == ["2.m", "3.m", "5.m"]
    assert files(root, "tmp") == []
    assert not (root / JOURNAL_NAME).exists()


def test_commit_moves_listed_new_messages_to_cur_and_flags_retrieved(root):
    commit(root, retrieved={1, 3, 4})
    assert files(root, "new") == []
    assert files(root, "cur") == ["1.m:2,", "2.m:2,S", "3.m:2,", "4.m:2,S", "5.m:2,FRS"]


def test_retrieved_and_deleted_is_just_deleted(root):
    commit(root, deleted={0}, retrieved={0, 1})
    assert files(root, "cur")[:1] == ["2.m:2,S"]
    assert "1.m" not in " ".join(files(root, "new") + files(root, "cur"))


def test_empty_commit_keeps_messages_and_their_uids(root):
    before = uids(root)
    commit(root)
    assert uids(root) == before
    assert files(root, "cur") == ["1.m:2,", "2.m:2,", "3.m:2,", "4.m:2,", "5.m:2,FR"]


def test_uids_are_stable_across_moves_and_deletions(root):
    before = uids(root)
    commit(root, deleted={1}, retrieved={0})
    assert uids(root) == [uid for i, uid in enumerate(before) if i != 1]


def test_mail_delivered_during_the_session_is_untouched(root):
    with opened(root) as maildrop:
        deliver(root, "0.late", b"late\n")  # sorts first, yet was not listed
        deliver(root, "9.late", b"late\n")
        maildrop.commit(frozenset({0, 1, 2, 3, 4}), frozenset())
    assert files(root, "new") == ["0.late", "9.late"]
    assert files(root, "cur") == []
    assert uids(root) == ["0.late", "9.late"]


def test_changes_by_another_client_during_the_session_are_respected(root):
    with opened(root) as maildrop:
        os.rename(root / "new" / "1.m", root / "cur" / "1.m:2,F")  # moved and flagged
        os.rename(root / "cur" / "5.m:2,FR", root / "cur" / "5.m:2,R")  # unflagged
        (root / "new" / "2.m").unlink()  # deleted elsewhere
        os.rename(root / "new" / "3.m", root / "cur" / "3.m:2,")
        maildrop.commit(frozenset({1, 2}), frozenset({0, 4}))
    assert files(root, "new") == []
    assert files(root, "cur") == ["1.m:2,FS", "4.m:2,", "5.m:2,RS"]


def test_commit_creates_cur_and_tmp_only_when_needed(tmp_path):
    (tmp_path / "new").mkdir()
    deliver(tmp_path, "1.a")
    deliver(tmp_path, "2.b")
    commit(tmp_path, deleted={0})
    assert files(tmp_path, "cur") == ["2.b:2,"]
    assert (tmp_path / "tmp").is_dir()


def test_failed_rename_in_phase_one_deletes_nothing(root, monkeypatch):
    uids(root)  # creates the lock file and the size cache
    before = everything(root)
    real_rename = os.rename
    calls = []

    def failing_second_rename(src, dst, **dir_fds):
        calls.append(src)
        if len(calls) == 2:
            raise OSError(5, "Input/output error")
        real_rename(src, dst, **dir_fds)

    with opened(root) as maildrop:
        monkeypatch.setattr(os, "rename", failing_second_rename)
        with pytest.raises(CommitError):
            maildrop.commit(frozenset({0, 2, 4}), frozenset({1}))
        monkeypatch.undo()
    assert len(calls) == 3  # two into the trash (the second failing), one back
    assert everything(root) == before
    assert len(uids(root)) == 5


def test_failed_journal_write_deletes_nothing(root, monkeypatch):
    uids(root)
    before = everything(root)

    def no_space(folder, name, data):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Folder, "replace", no_space)
    with opened(root) as maildrop, pytest.raises(CommitError):
        maildrop.commit(frozenset({0, 1, 2, 3, 4}), frozenset())
    assert everything(root) == before


def test_failure_after_the_commit_point_is_finished_at_next_open(root, monkeypatch):
    real_unlink = os.unlink

    def failing_unlink(path, *args, **kwargs):
        if os.fsdecode(path).endswith(TRASH_PREFIX + "2.m"):
            raise OSError(5, "Input/output error")
        real_unlink(path, *args, **kwargs)

    monkeypatch.setattr(os, "unlink", failing_unlink)
    commit(root, deleted={0, 1})  # committed: must not raise
    monkeypatch.undo()
    assert (root / JOURNAL_NAME).exists()
    assert uids(root) == ["3.m", "4.m", "5.m"]
    assert files(root, "tmp") == []
    assert not (root / JOURNAL_NAME).exists()


def test_recovery_without_journal_restores_trash(root):
    before = uids(root)
    os.rename(root / "new" / "2.m", root / "tmp" / (TRASH_PREFIX + "2.m"))
    os.rename(root / "cur" / "5.m:2,FR", root / "tmp" / (TRASH_PREFIX + "5.m:2,FR"))
    assert uids(root) == before
    assert files(root, "tmp") == []
    assert "5.m:2,FR" in files(root, "cur") and "2.m:2," in files(root, "cur")


def test_recovery_with_journal_finishes_the_deletion(root):
    os.rename(root / "new" / "2.m", root / "tmp" / (TRASH_PREFIX + "2.m"))
    os.rename(root / "cur" / "4.m:2,", root / "tmp" / (TRASH_PREFIX + "4.m:2,"))
    os.rename(root / "cur" / "5.m:2,FR", root / "tmp" / (TRASH_PREFIX + "5.m:2,FR"))
    # 5.m is not in the journal: it was never committed and comes back.
    journal = {"version": 1, "trash": [TRASH_PREFIX + "2.m", TRASH_PREFIX + "4.m:2,"]}
    (root / JOURNAL_NAME).write_text(json.dumps(journal))
    (root / f".{JOURNAL_NAME}.abc123").write_text("torn")
    assert uids(root) == ["1.m", "3.m", "5.m"]
    assert files(root, "tmp") == []
    assert not [n for n in os.listdir(root) if "journal" in n]


def test_corrupt_journal_restores_rather_than_deletes(root):
    os.rename(root / "new" / "2.m", root / "tmp" / (TRASH_PREFIX + "2.m"))
    (root / JOURNAL_NAME).write_text('{"trash": ["pop3d-trash.2')
    assert uids(root) == ["1.m", "2.m", "3.m", "4.m", "5.m"]
    assert not (root / JOURNAL_NAME).exists()


def test_other_files_in_tmp_are_left_alone(root):
    deliver(root, "7.inprogress", b"half a deliv", subdir="tmp")
    os.rename(root / "new" / "2.m", root / "tmp" / (TRASH_PREFIX + "2.m"))
    assert len(uids(root)) == 5
    assert files(root, "tmp") == ["7.inprogress"]


CRASH_AT = """
    import os, signal, sys
    from pop3d.maildrop import maildir_commit
    from pop3d.maildrop.maildir import MaildirMaildrop

    def crash(*args):
        os.kill(os.getpid(), signal.SIGKILL)

    setattr(maildir_commit.Deletion, sys.argv[2], crash)
    maildrop = MaildirMaildrop.open(sys.argv[1])
    maildrop.commit(frozenset({0, 2, 4}), frozenset())
"""


@pytest.mark.parametrize(("crash_at", "expected"), [
    ("commit_point", ["1.m", "2.m", "3.m", "4.m", "5.m"]),  # before the journal: roll back
    ("finish", ["2.m", "4.m"]),  # after the journal: roll forward
])
def test_server_killed_during_commit(root, crash_at, expected):
    child = run_python(CRASH_AT, str(root), crash_at)
    _, err = child.communicate(timeout=30)
    assert child.returncode == -signal.SIGKILL, err
    assert len(files(root, "tmp")) == 3  # the crash left trash behind
    assert uids(root) == expected
    assert files(root, "tmp") == []


def test_message_with_a_name_too_long_for_a_trash_prefix_is_deleted(root):
    long_unique = "6." + "x" * 245
    deliver(root, long_unique, subdir="cur", flags="S")
    commit(root, deleted={5})
    assert uids(root) == ["1.m", "2.m", "3.m", "4.m", "5.m"]


def test_restored_long_name_keeps_its_flags(root):
    (root / "tmp" / (TRASH_PREFIX + "pop3d-long-abc:2,FS")).write_bytes(b"kept\n")
    with opened(root) as maildrop:
        assert [m.seen for m in maildrop.messages()][-1] is True
    assert "pop3d-long-abc:2,FS" in files(root, "cur")


def test_deletions_are_recorded_in_the_maildir_plus_plus_quota_file(root):
    quota = os.path.join(root, "maildirsize")
    with open(quota, "w") as f:
        f.write("1000000S,100C\n50 5\n")
    sizes = [os.path.getsize(os.path.join(root, "new", name)) for name in ("1.m", "2.m")]
    commit(root, deleted={0, 1}, retrieved={2})
    with open(quota) as f:
        assert f.read() == f"1000000S,100C\n50 5\n{-sum(sizes)} -2\n"
    commit(root, retrieved={0})  # nothing deleted: nothing appended
    with open(quota) as f:
        assert f.read().count("\n") == 3


def test_no_quota_file_is_created(root):
    commit(root, deleted={0})
    assert not os.path.exists(os.path.join(root, "maildirsize"))


def test_quit_that_changed_nothing_opens_no_folder_per_message(tmp_path, monkeypatch):
    """A session on a large Maildir in cur/ that deleted nothing must not visit every message at QUIT."""
    root = make_maildir(tmp_path)
    for number in range(50):
        deliver(root, f"{number}.m", subdir="cur", flags="S")
    commit(root)  # writes the size cache and the lock file once
    before = everything(root), os.stat(root / "cur").st_mtime_ns
    opened_folders = []
    real_sub = Folder.sub
    monkeypatch.setattr(Folder, "sub", lambda self, name: opened_folders.append(name) or real_sub(self, name))
    with opened(root) as maildrop:
        opened_folders.clear()
        maildrop.commit(frozenset(), frozenset({0, 1}))
    assert len(opened_folders) <= 2
    assert (everything(root), os.stat(root / "cur").st_mtime_ns) == before
