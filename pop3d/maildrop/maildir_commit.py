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
import errno
import hashlib
import json
import os
import stat

from twisted.logger import Logger

from pop3d.maildrop.base import MaildropError
from pop3d.maildrop.maildir_names import MaildirName
from pop3d.maildrop.safe_fs import Folder, UnsafeFile

TRASH_PREFIX = "pop3d-trash."
JOURNAL_NAME = "pop3d-journal"
#: Prefixes of pop3d's temporary files in the Maildir root (see Folder.replace).
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
#: A longer journal is not one pop3d wrote (it lists trash names, 255 bytes at most each).
_MAX_JOURNAL = 256 << 20


def check_message(folder: Folder, name: str) -> os.stat_result:
    """lstat ``name``: a regular file of the maildrop's owner, else UnsafeFile (never moved)."""
    st = folder.stat(name)
    if st is None:
        raise FileNotFoundError(errno.ENOENT, "message moved", folder.join(name))
    if not stat.S_ISREG(st.st_mode) or not folder.may_hold(st):
        raise UnsafeFile(f"{folder.join(name)} is no longer a regular file of the maildrop's owner")
    return st


class Deletion:
    """One UPDATE's deletions: phase 1, commit point, phase 2."""

    def __init__(self, root: Folder) -> None:
        self.root = root
        self._tmp: Folder | None = None
        self._folders: dict[str, Folder] = {}
        #: (subfolder, original name, trash name) of each file moved to the trash so far.
        self.moved: list[tuple[str, str, str]] = []
        #: Bytes on disk of the files moved (for the Maildir++ quota file).
        self.octets = 0

    @property
    def tmp(self) -> Folder:
        if self._tmp is None:
            self._tmp = self.root.make_sub("tmp")  # the only folder a commit may need to create
        return self._tmp

    def move_to_trash(self, folder: Folder, subdir: str, name: str) -> None:
        """Phase 1 for one file; raises OSError (FileNotFoundError if it moved)."""
        st = check_message(folder, name)
        trash = trash_name(name)
        folder.rename(name, self.tmp, trash)
        if subdir not in self._folders:  # one descriptor per folder, whatever the count
            self._folders[subdir] = Folder(os.dup(folder.fd), folder.path, folder.owner)
        self.moved.append((subdir, name, trash))
        self.octets += st.st_size

    def roll_back(self) -> None:
        """Undo phase 1.  A file that cannot be moved back stays in the trash
        without a journal, so the next open restores it."""
        for subdir, name, trash in reversed(self.moved):
            try:
                self.tmp.rename(trash, self._folders[subdir], name)
            except OSError as exc:
                log.error("cannot restore {name} in {tmp}: {err}", name=trash, tmp=self.tmp.path, err=exc)
        self.moved.clear()
        self.octets = 0
        with contextlib.suppress(OSError):
            self._fsync_touched()

    def commit_point(self) -> None:
        """Make phase 1 durable, then write the journal: from here on, the deletion holds."""
        self._fsync_touched()
        journal = {"version": 1, "trash": [trash for _, _, trash in self.moved]}
        self.root.replace(JOURNAL_NAME, json.dumps(journal).encode())

    def _fsync_touched(self) -> None:
        for folder in [self.tmp, *self._folders.values()]:
            folder.fsync()

    def finish(self) -> None:
        """Phase 2: unlink the trash, then drop the journal.  On OSError the
        journal stays, and the next open finishes the job."""
        for _, _, trash in self.moved:
            self.tmp.unlink(trash)
        self.tmp.fsync()
        self.root.unlink(JOURNAL_NAME)
        self.root.fsync()

    def close(self) -> None:
        for folder in [*self._folders.values(), *([self._tmp] if self._tmp else [])]:
            folder.close()


def record_in_quota(root: Folder, octets: int, count: int) -> None:
    """Maildir++ quota: tell ``maildirsize`` (if the maildrop has one) what was deleted.

    As Courier and Dovecot do, by appending one line of negative figures
    with a single O_APPEND write; whoever finds the file grown past 5120
    bytes recalculates it.  Best effort: the quota file is only a cache.
    """
    if count <= 0:
        return
    try:
        fd = root.open(MAILDIRSIZE, os.O_WRONLY | os.O_APPEND)
    except FileNotFoundError:
        return  # no quota on this maildrop
    try:
        os.write(fd, f"{-octets} {-count}\n".encode())
    finally:
        os.close(fd)


def _read_journal(root: Folder) -> set[str] | None:
    """Trash names listed in the journal; None without one; empty if unreadable."""
    path = root.join(JOURNAL_NAME)
    try:
        raw = root.read(JOURNAL_NAME, _MAX_JOURNAL)
        if raw is None:
            return None
        data = json.loads(raw)
        names = data["trash"]
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise ValueError("trash is not a list of names")
    except (OSError, MaildropError, ValueError, KeyError, TypeError) as exc:
        # Never roll forward on a journal we cannot read: restoring mail is safe.
        log.error("ignoring unreadable journal {path}: {err}", path=path, err=exc)
        return set()
    return set(names)


def recover(root: Folder) -> tuple[int, int]:
    """Finish or undo an interrupted commit; return (unlinked, restored) counts."""
    listed = _read_journal(root)
    tmp = root.sub("tmp")
    try:
        trash = [name for name in tmp.names() if name.startswith(TRASH_PREFIX)] if tmp else []
        temps = [name for name in root.names() if name.startswith(TEMP_PREFIXES)]
        if not trash and listed is None and not temps:
            return 0, 0
        unlinked = restored = 0
        if trash:
            assert tmp is not None
            cur = None
            try:
                for name in trash:
                    if listed is not None and name in listed:
                        tmp.unlink(name)
                        unlinked += 1
                        continue
                    if cur is None:
                        cur = root.make_sub("cur")
                    original = MaildirName.parse(name[len(TRASH_PREFIX):])
                    tmp.rename(name, cur, original.with_flags())
                    restored += 1
                tmp.fsync()
                if cur is not None:
                    cur.fsync()
            finally:
                if cur is not None:
                    cur.close()
        for name in temps:
            root.unlink(name)
        if listed is not None:
            root.unlink(JOURNAL_NAME)
        root.fsync()
    finally:
        if tmp is not None:
            tmp.close()
    if trash:
        log.info("recovered {root}: {unlinked} deleted, {restored} restored",
                 root=root.path, unlinked=unlinked, restored=restored)
    return unlinked, restored
