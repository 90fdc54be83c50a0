"""Atomic deletion of Maildir messages: trash, journal, unlink; and crash recovery.

POP3 UPDATE must delete every chosen message or none.  Unlinking files one
by one is not atomic, so deletion runs in two phases around a commit point:

1. Each file is renamed to ``tmp/pop3d-trash.<its name>``.  A rename within
   one file system is atomic, and ``tmp/`` is invisible to Maildir readers,
   so the message disappears from the maildrop but its bytes stay.  If a
   rename fails, the ones already done are renamed back and the commit is
   refused: nothing was deleted.
2. After fsyncing the directories, the journal ``pop3d-journal`` listing
   the trash names is written to a temporary file, fsynced and renamed into
   place: the commit point.  Only then are the trash files unlinked, and the
   journal removed.

Recovery (at the next open, under the session lock) decides by the journal
alone: a trash file listed in it was committed and is unlinked (roll
forward); any other trash file is renamed back to ``cur/`` with its name and
flags (roll back).  So a crash at any step leaves either all or none of the
deletions in effect, and a message is only ever unlinked after the journal
naming it is durable.  A lost or corrupt journal can only bring mail back,
never lose it.  Recovery is idempotent, so a crash during it is harmless.

Deliverers and IMAP servers clean ``tmp/`` of files older than 36 hours
(judged by atime/ctime; a rename refreshes ctime), so trash left by a crash
is safe as long as pop3d opens the maildrop again within that time.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os

from twisted.logger import Logger

from pop3d.maildrop.maildir_fs import fsync_dir, write_atomic
from pop3d.maildrop.maildir_names import MaildirName

TRASH_PREFIX = "pop3d-trash."
JOURNAL_NAME = "pop3d-journal"
#: Prefixes of pop3d's temporary files in the Maildir root (see write_atomic).
TEMP_PREFIXES = (f".{JOURNAL_NAME}.", ".pop3d-sizes.")
_NAME_MAX = 255

log = Logger()


def trash_name(basename: str) -> str:
    """The name in ``tmp/`` of a message file being deleted.

    It keeps the original name (so a roll back restores UIDL and flags) unless
    that would exceed NAME_MAX; then the unique part is replaced by a hash.
    """
    name = TRASH_PREFIX + basename
    if len(os.fsencode(name)) <= _NAME_MAX:
        return name
    parsed = MaildirName.parse(basename)
    digest = hashlib.sha256(os.fsencode(parsed.unique)).hexdigest()[:40]
    return f"{TRASH_PREFIX}pop3d-long-{digest}:2,{parsed.flags}"


#: The Maildir++ quota file in the maildrop's root.
MAILDIRSIZE = "maildirsize"


class Deletion:
    """One UPDATE's deletions: phase 1, commit point, phase 2."""

    def __init__(self, root: str) -> None:
        self.root = root
        self.tmp = os.path.join(root, "tmp")
        #: (original path, trash name) of each file moved to the trash so far.
        self.moved: list[tuple[str, str]] = []
        #: Bytes on disk of the files moved (for the Maildir++ quota file).
        self.octets = 0

    def move_to_trash(self, path: str) -> None:
        """Phase 1 for one file; raises OSError (FileNotFoundError if it moved)."""
        if not self.moved and not os.path.isdir(self.tmp):
            os.mkdir(self.tmp, 0o700)  # the only directory a commit may need to create
        name = trash_name(os.path.basename(path))
        trash = os.path.join(self.tmp, name)
        os.rename(path, trash)
        self.moved.append((path, name))
        with contextlib.suppress(OSError):
            self.octets += os.lstat(trash).st_size

    def roll_back(self) -> None:
        """Undo phase 1.  A file that cannot be moved back stays in the trash
        without a journal, so the next open restores it."""
        dirs = self._touched_dirs()
        for path, name in reversed(self.moved):
            try:
                os.rename(os.path.join(self.tmp, name), path)
            except OSError as exc:
                log.error("cannot restore {name} in {tmp}: {err}", name=name, tmp=self.tmp, err=exc)
        self.moved.clear()
        self.octets = 0
        with contextlib.suppress(OSError):
            _fsync_dirs(dirs)

    def commit_point(self) -> None:
        """Make phase 1 durable, then write the journal: from here on, the deletion holds."""
        _fsync_dirs(self._touched_dirs())
        journal = {"version": 1, "trash": [name for _, name in self.moved]}
        write_atomic(os.path.join(self.root, JOURNAL_NAME), json.dumps(journal).encode())
        fsync_dir(self.root)

    def _touched_dirs(self) -> set[str]:
        return {self.tmp, *(os.path.dirname(path) for path, _ in self.moved)}

    def finish(self) -> None:
        """Phase 2: unlink the trash, then drop the journal.  On OSError the
        journal stays, and the next open finishes the job."""
        for _, name in self.moved:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(os.path.join(self.tmp, name))
        fsync_dir(self.tmp)
        os.unlink(os.path.join(self.root, JOURNAL_NAME))
        fsync_dir(self.root)


def record_in_quota(root: str, octets: int, count: int) -> None:
    """Maildir++ quota: tell ``maildirsize`` (if the maildrop has one) what was deleted.

    As Courier and Dovecot do, by appending one line of negative figures
    with a single O_APPEND write; whoever finds the file grown past 5120
    bytes recalculates it.  Best effort: the quota file is only a cache.
    """
    path = os.path.join(root, MAILDIRSIZE)
    if count <= 0:
        return
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_NOFOLLOW)
    except FileNotFoundError:
        return  # no quota on this maildrop
    try:
        os.write(fd, f"{-octets} {-count}\n".encode())
    finally:
        os.close(fd)


def _fsync_dirs(paths: set[str]) -> None:
    for path in sorted(paths):
        fsync_dir(path)


def _read_journal(path: str) -> set[str] | None:
    """Trash names listed in the journal; None without one; empty if unreadable."""
    try:
        with open(path, "rb") as f:
            data = json.loads(f.read())
        names = data["trash"]
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise ValueError("trash is not a list of names")
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        # Never roll forward on a journal we cannot read: restoring mail is safe.
        log.error("ignoring unreadable journal {path}: {err}", path=path, err=exc)
        return set()
    return set(names)


def recover(root: str) -> tuple[int, int]:
    """Finish or undo an interrupted commit; return (unlinked, restored) counts."""
    tmp = os.path.join(root, "tmp")
    cur = os.path.join(root, "cur")
    journal_path = os.path.join(root, JOURNAL_NAME)
    listed = _read_journal(journal_path)
    try:
        trash = [name for name in os.listdir(tmp) if name.startswith(TRASH_PREFIX)]
    except FileNotFoundError:
        trash = []
    temps = [name for name in os.listdir(root) if name.startswith(TEMP_PREFIXES)]
    if not trash and listed is None and not temps:
        return 0, 0
    unlinked = restored = 0
    for name in trash:
        if listed is not None and name in listed:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(os.path.join(tmp, name))
            unlinked += 1
            continue
        if not os.path.isdir(cur):
            os.mkdir(cur, 0o700)
        original = MaildirName.parse(name[len(TRASH_PREFIX):])
        os.rename(os.path.join(tmp, name), os.path.join(cur, original.with_flags()))
        restored += 1
    if trash:
        _fsync_dirs({tmp, cur} if restored else {tmp})
    for name in temps:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(os.path.join(root, name))
    if listed is not None:
        os.unlink(journal_path)
    fsync_dir(root)
    if trash:
        log.info("recovered {root}: {unlinked} deleted, {restored} restored",
                 root=root, unlinked=unlinked, restored=restored)
    return unlinked, restored
