"""Maildrops a local user has booby-trapped, against real files: each test names the attack.

The maildrop's owner can replace anything below its root: subfolders by
symlinks, message files by FIFOs or hard links to other people's files,
pop3d's own lock, cache and journal files by FIFOs or links.  None of that
may make pop3d read, rename, remove or truncate a file outside the
maildrop, nor block (see :mod:`pop3d.maildrop.safe_fs`).
"""

from __future__ import annotations

import os
import threading
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import pytest
from maildir_kit import deliver, make_maildir, opened
from mbox_kit import build

from pop3d.maildrop import CommitError, MaildropBusy, MaildropError
from pop3d.maildrop.maildir import LOCK_NAME, MaildirMaildrop
from pop3d.maildrop.maildir_commit import JOURNAL_NAME, MAILDIRSIZE
from pop3d.maildrop.maildir_sizes import CACHE_NAME
from pop3d.maildrop.mbox import MboxMaildrop, Sidecars

SECRET = b"Subject: root only\n\nthe secret\n"
#: A uid and gid no test account uses: "someone else".
OTHER = 54321


def needs_root() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to own files as another uid")


def foreign_folder(tmp_path: Path) -> Path:
    """A root-only folder holding a file named like a message."""
    target = tmp_path / "root-only"
    target.mkdir(mode=0o700)
    (target / "1700000009.M9P9.secret:2,").write_bytes(SECRET)
    (target / "1700000008.M8P8.secret").write_bytes(SECRET)
    return target


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir()}


def within(seconds: float, call: Callable[[], object], fifos: list[Path]) -> object:
    """``call()``'s result (or exception) if it returns within ``seconds``; fails otherwise.

    On a timeout the FIFOs are opened for writing, so the blocked call can
    finish and the test does not hang.
    """
    box: dict[str, object] = {}

    def run() -> None:
        try:
            box["result"] = call()
        except BaseException as exc:  # noqa: BLE001 (handed to the test)
            box["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    start = time.monotonic()
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        for fifo in fifos:
            fd = os.open(fifo, os.O_RDWR | os.O_NONBLOCK)
            os.close(fd)
        thread.join(10)
        pytest.fail(f"blocked for more than {seconds} s on a FIFO")
    assert time.monotonic() - start < seconds
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    return box.get("result")


# -- Maildir subfolders replaced by symlinks -----------------------------------------


@pytest.mark.parametrize("sub", ["cur", "new", "tmp"])
def test_subfolder_symlinked_to_a_root_only_folder_refuses_the_maildrop(tmp_path, sub):
    root = make_maildir(tmp_path / "Maildir")
    deliver(root, "1700000001.M1P1.mine", subdir="new" if sub != "new" else "cur")
    target = foreign_folder(tmp_path)
    before = snapshot(target)
    os.rmdir(root / sub)
    os.symlink(target, root / sub)
    with pytest.raises(MaildropError, match=rf"{root / sub} is a symbolic link"):
        MaildirMaildrop.open(str(root))
    assert snapshot(target) == before
    assert (root / LOCK_NAME).exists() and not (target / "pop3d-trash.1700000001.M1P1.mine").exists()


def test_cur_swapped_for_another_users_maildir_during_the_session_is_never_touched(tmp_path):
    root = make_maildir(tmp_path / "Maildir")
    name = "1700000001.M1P1.same:2,"
    deliver(root, "1700000001.M1P1.same", subdir="cur", flags="")
    other = make_maildir(tmp_path / "other")
    (other / "cur" / name).write_bytes(SECRET)  # the same file name in someone else's cur/
    with opened(root) as maildrop:
        assert len(maildrop.messages()) == 1
        os.rename(root / "cur", root / "cur.away")
        os.symlink(other / "cur", root / "cur")
        with pytest.raises(MaildropError, match="symbolic link"):
            maildrop.open_message(0)
        with pytest.raises(CommitError):
            maildrop.commit(frozenset({0}), frozenset())
    assert (other / "cur" / name).read_bytes() == SECRET
    assert os.listdir(other / "cur") == [name] and os.listdir(other / "tmp") == []


def test_maildir_root_symlinked_elsewhere_is_refused(tmp_path):
    target = make_maildir(tmp_path / "elsewhere")
    deliver(target, "1.a")
    os.symlink(target, tmp_path / "Maildir")
    with pytest.raises(MaildropError, match="symbolic link"):
        MaildirMaildrop.open(str(tmp_path / "Maildir"))
    assert not (target / LOCK_NAME).exists()


# -- message files that are not the owner's plain files --------------------------------


def test_hard_link_to_another_users_file_is_not_a_message(tmp_path):
    needs_root()
    root = make_maildir(tmp_path / "Maildir")
    deliver(root, "1700000001.M1P1.mine")
    foreign = tmp_path / "bob-mail"
    foreign.write_bytes(SECRET)
    os.chown(foreign, OTHER, OTHER)
    os.link(foreign, root / "new" / "1700000002.M2P2.linked")
    with opened(root) as maildrop:
        assert [m.uid for m in maildrop.messages()] == ["1700000001.M1P1.mine"]
        maildrop.commit(frozenset({0}), frozenset())
    assert foreign.read_bytes() == SECRET and os.stat(foreign).st_nlink == 2


def test_deliverers_files_in_a_maildir_root_made_by_root_are_messages(tmp_path):
    """Not an attack: an administrator made the (root-owned) Maildir, a deliverer its
    folders and messages; those are served (the deliverer could write them anyway)."""
    needs_root()
    root = tmp_path / "Maildir"
    root.mkdir()
    make_maildir(root)
    deliver(root, "1700000001.M1P1.a")
    for path in root.rglob("*"):
        os.chown(path, OTHER, OTHER)
    with opened(root) as maildrop:
        assert [m.uid for m in maildrop.messages()] == ["1700000001.M1P1.a"]
        maildrop.commit(frozenset(), frozenset({0}))
    assert os.listdir(root / "cur") == ["1700000001.M1P1.a:2,S"]


def test_message_replaced_by_a_fifo_after_list_is_refused_at_once(tmp_path):
    root = make_maildir(tmp_path / "Maildir")
    path = deliver(root, "1700000001.M1P1.fifo")
    with opened(root) as maildrop:
        os.unlink(path)
        os.mkfifo(path)
        with pytest.raises(MaildropError, match="not a regular file"):
            within(2, lambda: maildrop.open_message(0), [path])


def test_message_replaced_by_a_symlink_to_a_root_only_file_is_refused(tmp_path):
    root = make_maildir(tmp_path / "Maildir")
    path = deliver(root, "1700000001.M1P1.link")
    target = foreign_folder(tmp_path)
    with opened(root) as maildrop:
        os.unlink(path)
        os.symlink(target / "1700000008.M8P8.secret", path)
        with pytest.raises(MaildropError):
            maildrop.open_message(0)
        maildrop.commit(frozenset(), frozenset({0}))  # the link is not renamed into cur/
    assert os.path.islink(path)


# -- pop3d's own files in the Maildir --------------------------------------------------


@pytest.mark.parametrize("sidecar", [CACHE_NAME, JOURNAL_NAME])
def test_size_cache_or_journal_made_a_fifo_does_not_hang_the_login(tmp_path, sidecar):
    root = make_maildir(tmp_path / "Maildir")
    deliver(root, "1700000001.M1P1.a")
    os.mkfifo(root / sidecar)
    maildrop = within(3, lambda: MaildirMaildrop.open(str(root)), [root / sidecar])
    assert isinstance(maildrop, MaildirMaildrop)
    with maildrop:
        assert len(maildrop.messages()) == 1


def test_quota_file_made_a_fifo_does_not_hang_the_commit(tmp_path):
    root = make_maildir(tmp_path / "Maildir")
    deliver(root, "1700000001.M1P1.a")
    os.mkfifo(root / MAILDIRSIZE)
    with opened(root) as maildrop:
        within(3, lambda: maildrop.commit(frozenset({0}), frozenset()), [root / MAILDIRSIZE])
    assert os.listdir(root / "new") == []


def test_session_lock_hard_linked_to_a_foreign_file_is_neither_truncated_nor_used(tmp_path):
    needs_root()
    root = make_maildir(tmp_path / "Maildir")
    precious = tmp_path / "precious"
    precious.write_bytes(b"root:x:0:0:root:/root:/bin/bash\n")
    os.link(precious, root / LOCK_NAME)
    with pytest.raises(MaildropError, match="links"):
        MaildirMaildrop.open(str(root))
    assert precious.read_bytes() == b"root:x:0:0:root:/root:/bin/bash\n"


def test_session_lock_is_taken_without_truncating_the_file(tmp_path):
    root = make_maildir(tmp_path / "Maildir")
    (root / LOCK_NAME).write_bytes(b"left by someone\n")
    with opened(root):
        assert (root / LOCK_NAME).read_bytes() == b"left by someone\n"


def test_files_pop3d_creates_in_a_maildir_belong_to_its_owner(tmp_path):
    needs_root()
    root = make_maildir(tmp_path / "Maildir")
    deliver(root, "1700000001.M1P1.a")
    deliver(root, "1700000002.M2P2.b")
    for path in [root, *root.rglob("*")]:
        os.chown(path, OTHER, OTHER)
    os.chmod(root, 0o750)
    os.rmdir(root / "tmp")
    with opened(root) as maildrop:
        maildrop.commit(frozenset({0}), frozenset({1}))
    for name in (LOCK_NAME, CACHE_NAME, "tmp"):
        st = os.stat(root / name)
        assert (st.st_uid, st.st_gid) == (OTHER, OTHER), name
    assert os.stat(root / LOCK_NAME).st_mode & 0o777 == 0o660  # the group may read the maildrop too
    assert os.stat(root / "tmp").st_mode & 0o777 == 0o770


# -- mbox --------------------------------------------------------------------------------


@pytest.fixture
def mbox(tmp_path):
    path = tmp_path / "mbox"
    path.write_bytes(build([b"Subject: one\n\nfirst\n", b"Subject: two\n\nsecond\n"]))
    return path


@pytest.mark.parametrize("sidecar", ["index", "journal"])
def test_mbox_index_or_journal_made_a_fifo_does_not_hang_the_login(mbox, sidecar):
    fifo = Path(getattr(Sidecars.for_mbox(str(mbox)), sidecar))
    os.mkfifo(fifo)
    maildrop = within(3, lambda: MboxMaildrop.open(str(mbox)), [fifo])
    assert isinstance(maildrop, MboxMaildrop)
    with maildrop:
        assert len(maildrop.messages()) == 2


@pytest.mark.parametrize("trap", ["symlink", "fifo"])
def test_mbox_replaced_by_a_symlink_or_fifo_is_refused_without_blocking(tmp_path, trap):
    """(Refused before safe_fs too; kept here so that it stays so.)"""
    path = tmp_path / "mbox"
    if trap == "symlink":
        secret = tmp_path / "secret"
        secret.write_bytes(build([SECRET]))
        os.chmod(secret, 0o600)
        os.symlink(secret, path)
    else:
        os.mkfifo(path)
    with pytest.raises(MaildropError, match="symbolic link" if trap == "symlink" else "not a regular file"):
        within(3, lambda: MboxMaildrop.open(str(path)), [path] if trap == "fifo" else [])


def test_mbox_dotlock_made_a_fifo_does_not_hang_the_login(mbox):
    fifo = Path(str(mbox) + ".lock")
    os.mkfifo(fifo)
    with pytest.raises(MaildropBusy):
        within(5, lambda: MboxMaildrop.open(str(mbox), lock_timeout=0.5), [fifo])


def test_mbox_session_lock_hard_linked_to_a_foreign_file_is_not_truncated(mbox, tmp_path):
    needs_root()
    precious = tmp_path / "precious"
    precious.write_bytes(b"keep me\n")
    os.chown(precious, OTHER, OTHER)
    os.link(precious, Sidecars.for_mbox(str(mbox)).session_lock)
    with pytest.raises(MaildropError):
        MboxMaildrop.open(str(mbox))
    assert precious.read_bytes() == b"keep me\n"


@pytest.mark.parametrize("sidecar", ["index", "journal"])
def test_mbox_index_or_journal_symlinked_to_a_fifo_elsewhere_is_not_followed(mbox, tmp_path, sidecar):
    fifo = tmp_path / "root-only-fifo"
    os.mkfifo(fifo, 0o600)
    link = getattr(Sidecars.for_mbox(str(mbox)), sidecar)
    os.symlink(fifo, link)

    def login() -> int:
        with MboxMaildrop.open(str(mbox)) as maildrop:
            return len(maildrop.messages())

    assert within(3, login, [fifo]) == 2  # a cache or journal that is not ours is ignored
    assert not os.path.islink(link)


def test_files_pop3d_creates_beside_an_mbox_belong_to_its_owner(mbox):
    needs_root()
    os.chown(mbox, OTHER, OTHER)
    os.chmod(mbox, 0o660)
    with MboxMaildrop.open(str(mbox)) as maildrop:
        maildrop.commit(frozenset({0}), frozenset())
    sidecars = Sidecars.for_mbox(str(mbox))
    for path in (sidecars.session_lock, sidecars.index):
        st = os.stat(path)
        assert (st.st_uid, st.st_gid, st.st_mode & 0o777) == (OTHER, OTHER, 0o660), path


# -- huge lines ----------------------------------------------------------------------------

HUGE = 64 << 20


def measured(open_maildrop: Callable[[], object]) -> tuple[float, int]:
    """Seconds and peak traced memory (bytes) of one open."""
    tracemalloc.start()
    start = time.monotonic()
    try:
        maildrop = open_maildrop()
        elapsed = time.monotonic() - start
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    maildrop.close()  # type: ignore[attr-defined]
    return elapsed, peak


def test_message_without_newline_is_measured_in_linear_time_and_bounded_memory(tmp_path):
    root = make_maildir(tmp_path / "Maildir")
    deliver(root, "1700000001.M1P1.huge", b"x" * HUGE)
    elapsed, peak = measured(lambda: MaildirMaildrop.open(str(root)))
    assert elapsed < 5, f"sizing a 64 MB line took {elapsed:.1f} s"
    assert peak < 4 << 20, f"sizing a 64 MB line held {peak >> 20} MB"
    with opened(root) as maildrop:
        assert [m.size for m in maildrop.messages()] == [HUGE + 2]


def test_mbox_message_without_newline_is_measured_in_linear_time_and_bounded_memory(tmp_path):
    path = tmp_path / "mbox"
    with open(path, "wb") as f:
        f.write(b"From someone Thu Jan  1 00:00:00 2026\n")
        f.write(b"x" * HUGE)
    elapsed, peak = measured(lambda: MboxMaildrop.open(str(path)))
    assert elapsed < 5, f"sizing a 64 MB line took {elapsed:.1f} s"
    assert peak < 16 << 20, f"sizing a 64 MB line held {peak >> 20} MB"
    with MboxMaildrop.open(str(path)) as maildrop:
        assert [m.size for m in maildrop.messages()] == [HUGE + 2]
