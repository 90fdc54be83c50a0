"""The mbox backend: Debian's ``/var/mail/USER`` files, shared with the MTA.

Three locks, three scopes:

* :class:`SessionLock` on ``.<name>.pop3d-lock`` for the whole session,
  against other POP3 sessions;
* the MTA's own locks (:class:`MailboxLock`: dotlock and fcntl) only while
  scanning at open and while committing, so mail keeps arriving meanwhile.

Sidecar files next to the mbox: ``.<name>.pop3d-index`` (UIDs and a scan
cache, :mod:`mbox_index`) and ``.<name>.pop3d-journal`` (crash recovery,
:mod:`mbox_journal`).  The format rules are in :mod:`mbox_format`.  The mbox,
its locks and sidecars are reached through the mbox folder's descriptor
(:mod:`pop3d.maildrop.safe_fs`): never through a link, never blocking, and
the files pop3d makes belong to the mbox's owner.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from operator import attrgetter

from pop3d.core.messages import MessageInfo
from pop3d.fileio import pread_chunks
from pop3d.maildrop import mbox_index, mbox_journal
from pop3d.maildrop.base import CommitError, Maildrop, MaildropBusy, MaildropError, MessageReader
from pop3d.maildrop.mbox_format import FORMATS, MessageStream, region_digest
from pop3d.maildrop.mbox_index import Entry, Index
from pop3d.maildrop.mbox_lock import MailboxLock
from pop3d.maildrop.mbox_scan import scan
from pop3d.maildrop.safe_fs import Folder, Owner, UnsafeFile
from pop3d.maildrop.session_lock import SessionLock


@dataclass(frozen=True, slots=True)
class Sidecars:
    """The files pop3d keeps next to an mbox: names in its folder, or paths (``for_mbox``)."""

    session_lock: str
    index: str
    journal: str

    @classmethod
    def named(cls, mbox_name: str) -> Sidecars:
        base = f".{mbox_name}.pop3d-"
        return cls(base + "lock", base + "index", base + "journal")

    @classmethod
    def for_mbox(cls, path: str) -> Sidecars:
        directory, name = os.path.split(path)
        names = cls.named(name)
        return cls(*(os.path.join(directory, n) for n in (names.session_lock, names.index, names.journal)))


class MboxMaildrop(Maildrop):
    """An open mbox: the messages present at login, streamed from disk."""

    def __init__(self, path: str, fmt: str, folder: Folder, session: SessionLock, fd: int | None,
                 index: Index | None, lock_timeout: float, stale_after: float) -> None:
        self.path = path
        self.fmt = fmt
        self.folder = folder
        self.name = os.path.basename(path)
        self.sidecars = Sidecars.named(self.name)
        self._session = session
        self._fd = fd
        self._index = index
        self._entries: list[Entry] = list(index.entries) if index else []
        self._lock_timeout = lock_timeout
        self._stale_after = stale_after
        entries = self._entries  # columns through attrgetter: no Python work per message
        self._infos = tuple(map(MessageInfo, map(attrgetter("size"), entries),
                                map(attrgetter("uid"), entries), map(attrgetter("seen"), entries)))
        self._committed = False

    @classmethod
    def open(cls, path: str, fmt: str = "mboxrd", lock_timeout: float = 10.0,
             stale_after: float = 300.0, reuse_x_uidl: bool = False) -> MboxMaildrop:
        """Lock the maildrop for a session, recover a crashed commit, list the messages.

        Raise MaildropBusy if another session holds it or the MTA's locks stay
        busy for ``lock_timeout`` seconds, MaildropError if it cannot be read
        (UnsafeFile if it or a sidecar is a link, a FIFO or not ours).
        A missing mbox is an empty maildrop (the file is not created).
        """
        if fmt not in FORMATS:
            raise ValueError(f"mbox format must be one of {FORMATS}, not {fmt!r}")
        directory, name = os.path.split(path)
        try:
            folder = Folder.open_root(directory or ".", follow=True)
        except OSError as exc:
            raise MaildropError(f"cannot open the folder of {path}: {exc.strerror}") from exc
        if folder is None:
            raise MaildropError(f"the folder of {path} does not exist")
        folder.spool = True  # such as /var/mail: see mail_privileged_group
        sidecars = Sidecars.named(name)
        fd: int | None = None
        session = SessionLock(folder, sidecars.session_lock)
        try:
            fd = _open_mbox(folder, name)
            if fd is not None:  # the files pop3d makes beside it are the mbox owner's
                folder.owner = Owner.of(os.fstat(fd))
            session.acquire()
            if fd is None:
                mbox_journal.recover(folder, sidecars.journal, None)
                return cls(path, fmt, folder, session, None, None, lock_timeout, stale_after)
            lock = MailboxLock(path, fd, lock_timeout, stale_after, folder)
            lock.acquire()
            try:
                mbox_journal.recover(folder, sidecars.journal, fd)
                old = mbox_index.load(folder, sidecars.index)
                index, changed = scan(fd, os.fstat(fd), fmt, old, reuse_x_uidl)
            finally:
                lock.release()
            if changed:
                _save_index(folder, sidecars.index, index)
            return cls(path, fmt, folder, session, fd, index, lock_timeout, stale_after)
        except BaseException as exc:
            if fd is not None:
                os.close(fd)
            session.release()
            folder.close()
            if isinstance(exc, OSError):
                raise MaildropError(f"cannot read {path}: {exc.strerror}") from exc
            raise

    # -- Maildrop interface -------------------------------------------------

    def messages(self) -> Sequence[MessageInfo]:
        return self._infos

    def open_message(self, index: int) -> MessageReader:
        if self._fd is None or self._committed or not 0 <= index < len(self._entries):
            raise MaildropError("no such message")
        entry = self._entries[index]
        return MessageStream(self._fd, entry.body, entry.stop, self.fmt)

    def commit(self, deleted: frozenset[int], retrieved: frozenset[int]) -> None:
        if self._committed:
            raise CommitError("this maildrop was already committed")
        if any(not 0 <= i < len(self._entries) for i in deleted | retrieved):
            raise CommitError("no such message")
        self._committed = True
        if not deleted:
            self._remember_seen(retrieved)
            return
        assert self._fd is not None and self._index is not None
        lock = MailboxLock(self.path, self._fd, self._lock_timeout, self._stale_after, self.folder)
        try:
            lock.acquire()
        except MaildropBusy as exc:
            raise CommitError(str(exc)) from exc
        try:
            self._rewrite(sorted(deleted), retrieved)
        except OSError as exc:
            raise CommitError(f"cannot update {self.path}: {exc.strerror}") from exc
        finally:
            lock.release()

    def close(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)
        self._session.release()
        self.folder.close()

    # -- UPDATE ---------------------------------------------------------------

    def _rewrite(self, deleted: list[int], retrieved: frozenset[int]) -> None:
        """Delete ``deleted`` in place through the journal (mailbox locks held)."""
        assert self._fd is not None and self._index is not None
        fd, scanned = self._fd, self._index.covered
        st = os.fstat(fd)
        now = self.folder.stat(self.name)
        same_file = now is not None and now.st_ino == st.st_ino and st.st_nlink > 0
        if not same_file or (st.st_dev, st.st_ino) != (self._index.dev, self._index.ino) \
                or st.st_size < scanned:
            raise CommitError(f"{self.path} was replaced or rewritten by another program; nothing deleted")
        gone = set(deleted)
        first = deleted[0]
        d0 = self._entries[first].start
        moved = [e for i, e in enumerate(self._entries[first:], first) if i not in gone]
        new_len = sum(e.end - e.start for e in moved) + st.st_size - scanned
        plan = mbox_journal.sample_plan(fd, st, d0, new_len)
        journal = self.sidecars.journal
        try:
            mbox_journal.write(self.folder, journal, plan, self._payload(first, gone, scanned, st.st_size))
        except OSError as exc:
            raise CommitError(f"cannot write {self.folder.join(journal)}: {exc.strerror}; "
                              "nothing deleted") from exc
        written = mbox_journal.read(self.folder, journal)
        if written is None:
            raise CommitError(f"{self.folder.join(journal)} did not read back; nothing deleted")
        mbox_journal.apply(written, fd)
        mbox_journal.finish(self.folder, journal)
        self._reindex(gone, retrieved, os.fstat(fd))

    def _payload(self, first: int, gone: set[int], scanned: int, size: int) -> Iterator[bytes]:
        """New bytes from the first deleted message on, checking each region's digest."""
        assert self._fd is not None
        for i in range(first, len(self._entries)):
            entry = self._entries[i]
            digest = hashlib.sha256()
            chunk = b""
            for chunk in _read_range(self._fd, entry.start, entry.end):
                digest.update(chunk)
                if i not in gone:
                    yield chunk
            if region_digest(digest, chunk[-1:], entry.stop < entry.end) != entry.digest:
                raise CommitError(f"{self.path} changed under us (message {i + 1}); nothing deleted")
        yield from _read_range(self._fd, scanned, size)

    def _reindex(self, gone: set[int], retrieved: frozenset[int], st: os.stat_result) -> None:
        """Record the survivors' new offsets so they keep their UIDs cheaply."""
        assert self._index is not None
        entries, shift = [], 0
        for i, e in enumerate(self._entries):
            if i in gone:
                shift += e.end - e.start
                continue
            entries.append(Entry(e.start - shift, e.body - shift, e.stop - shift, e.end - shift,
                                 e.size, e.seen or i in retrieved, e.digest, e.uid))
        covered = self._index.covered - shift
        index = Index(st.st_dev, st.st_ino, self.fmt, covered, st.st_size, st.st_mtime_ns, entries)
        _save_index(self.folder, self.sidecars.index, index)

    def _remember_seen(self, retrieved: frozenset[int]) -> None:
        """Keep retrieved messages' seen flag in the index (the mbox is not written)."""
        if self._index is None or not any(not self._entries[i].seen for i in retrieved):
            return
        for i in retrieved:
            self._index.entries[i].seen = True
        _save_index(self.folder, self.sidecars.index, self._index)


def _open_mbox(folder: Folder, name: str) -> int | None:
    """Open the mbox ``name`` read-write (never through a link, never blocking); None if missing.

    Its owner is checked by the realm (see :func:`pop3d.auth.privileges.check_owner`):
    it is the one that defines the maildrop's owner.  An mbox with more than one link
    is refused: in a world-writable spool it may be a hard link to anybody's file, and a
    virtual user's mbox has no owner to check.
    """
    try:
        fd = folder.open(name, os.O_RDWR, foreign_ok=True)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno in (errno.EACCES, errno.EPERM):
            raise MaildropError(f"permission denied opening {folder.join(name)} for reading and writing") \
                from exc
        raise
    links = os.fstat(fd).st_nlink
    if links != 1:
        os.close(fd)
        raise UnsafeFile(f"{folder.join(name)} has {links} links (a hard link to another file?); not used")
    return fd


def _read_range(fd: int, start: int, end: int) -> Iterator[bytes]:
    return pread_chunks(fd, start, end, CommitError("the mbox shrank during UPDATE; nothing deleted"))


def _save_index(folder: Folder, name: str, index: Index) -> None:
    """Write the index; failing to is not fatal (UIDs are derived the same way)."""
    with contextlib.suppress(OSError):
        mbox_index.save(folder, name, index)
