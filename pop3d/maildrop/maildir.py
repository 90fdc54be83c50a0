"""The Maildir backend: ``new/``, ``cur/``, ``tmp/`` as deliverers and IMAP servers use them.

Lifecycle of a session:

* :meth:`MaildirMaildrop.open` takes the session lock
  (``pop3d-session.lock`` in the Maildir), finishes or undoes a commit a
  crash interrupted (:func:`~pop3d.maildrop.maildir_commit.recover`), and
  lists the messages (:mod:`pop3d.maildrop.maildir_listing`).  A Maildir
  that does not exist is an empty maildrop; nothing is created for it.
* :meth:`open_message` finds a message by its unique part, wherever another
  client has moved or re-flagged it since.
* :meth:`commit` deletes atomically (:mod:`pop3d.maildrop.maildir_commit`),
  then moves the listed messages still in ``new/`` to ``cur/`` and adds the
  ``S`` flag to those retrieved.  Those renames keep the unique part, so
  UIDLs do not change, and a crash between them loses nothing but a flag.
  Mail delivered during the session was not listed and is not touched.

The only directories pop3d ever creates are ``tmp/`` and ``cur/``, and only
when a commit or a recovery has a file to put there.  Every file and folder
is reached through :mod:`pop3d.maildrop.safe_fs` (no symlinks, no FIFOs,
only the owner's files).
"""

from __future__ import annotations

import contextlib
import errno
import functools
import os
from collections.abc import Callable, Iterable, Sequence
from typing import TypeVar

from twisted.logger import Logger

from pop3d.core.messages import MessageInfo
from pop3d.maildrop.base import CommitError, EmptyMaildrop, Maildrop, MaildropError, MessageReader
from pop3d.maildrop.maildir_commit import Deletion, check_message, record_in_quota, recover
from pop3d.maildrop.maildir_listing import Locations, list_messages, scan
from pop3d.maildrop.maildir_names import MaildirName
from pop3d.maildrop.maildir_snapshot import Listing, save_after_commit, unique_part
from pop3d.maildrop.safe_fs import Folder
from pop3d.maildrop.session_lock import SessionLock

LOCK_NAME = "pop3d-session.lock"
_ATTEMPTS = 3

T = TypeVar("T")
log = Logger()


class _Locator:
    """Where each listed message is now: where it was listed until a file has moved, then a rescan."""

    def __init__(self, root: Folder, listing: Listing) -> None:
        self.root = root
        self._listing = listing
        self._rescanned: Locations | None = None
        self._folders: dict[str, Folder] = {}  # new/ and cur/, opened once per session

    def _folder(self, subdir: str) -> Folder:
        folder = self._folders.get(subdir)
        if folder is None:
            folder = self.root.sub(subdir)
            if folder is None:
                raise FileNotFoundError(errno.ENOENT, "folder vanished", self.root.join(subdir))
            self._folders[subdir] = folder
        return folder

    def close(self) -> None:
        for folder in self._folders.values():
            folder.close()
        self._folders.clear()

    def _where(self, index: int) -> tuple[str, str] | None:
        if self._rescanned is None:
            return self._listing.subdir(index), self._listing.names[index]
        return self._rescanned.get(self._listing.unique(index))

    def moved(self) -> bool:
        """Whether a message was found elsewhere than listed (another client moved it)."""
        return self._rescanned is not None

    def apply(self, index: int, op: Callable[[Folder, str, str], T]) -> T | None:
        """Run ``op(folder, subfolder name, file name)`` where message ``index`` is now; None if it
        is gone.

        Raises FileNotFoundError if the file kept moving under us.
        """
        for _ in range(_ATTEMPTS):
            where = self._where(index)
            if where is None:
                return None
            subdir, name = where
            try:
                return op(self._folder(subdir), subdir, name)
            except FileNotFoundError:
                self.close()  # a folder may have been replaced too: open them afresh
                self._rescanned = scan(self.root)
        raise FileNotFoundError(f"message {self._listing.unique(index)} keeps moving")


class _MessageFile:
    """A message file read up to the size it had when opened: one its owner keeps
    appending to while RETR sends it is cut there, so the transfer ends."""

    def __init__(self, fd: int) -> None:
        self._file = os.fdopen(fd, "rb")
        self._left = os.fstat(fd).st_size

    def read(self, size: int = -1, /) -> bytes:
        data = self._file.read(self._left if size < 0 else min(size, self._left))
        self._left -= len(data)
        return data

    def close(self) -> None:
        self._file.close()


def _open_file(folder: Folder, subdir: str, name: str) -> MessageReader:
    return _MessageFile(folder.open(name))


class _Settler:
    """Moves kept messages into ``cur/`` with added flags (creating ``cur/`` once if needed)."""

    def __init__(self, root: Folder) -> None:
        self.root = root
        self.cur: Folder | None = None

    def settle(self, add: tuple[str, ...], folder: Folder, subdir: str, filename: str) -> bool:
        """Rename the file into ``cur/`` with flags ``add`` added; False if nothing to do."""
        name = MaildirName.parse(filename)
        if subdir == "cur" and set(add) <= set(name.flags):
            return False
        check_message(folder, filename)
        if self.cur is None:
            self.cur = self.root.make_sub("cur")
        folder.rename(filename, self.cur, name.with_flags(*add))
        return True

    def close(self) -> None:
        if self.cur is not None:
            self.cur.close()


class MaildirMaildrop(Maildrop):
    """An open, locked Maildir; its root folder stays open for the session."""

    def __init__(self, root: Folder, lock: SessionLock, listing: Listing) -> None:
        self.folder = root
        self.root = root.path
        self._lock = lock
        self._listed = listing
        self._locator = _Locator(root, listing)

    @classmethod
    def open(cls, path: str) -> Maildrop:
        """Lock, recover and list the Maildir at ``path``.

        Raises UnsafeMaildrop (a MaildropError) when ``path`` or one of its
        subfolders is a symlink or not a folder: nothing is read or changed.
        """
        try:
            root = Folder.open_root(path)
        except OSError as exc:
            raise MaildropError(f"cannot open maildir {path}: {exc.strerror}") from exc
        if root is None:
            return EmptyMaildrop()
        lock = SessionLock(root, LOCK_NAME)
        opened = False
        try:
            lock.acquire()
            recover(root)
            maildrop = cls(root, lock, list_messages(root))
            opened = True
            return maildrop
        except OSError as exc:
            raise MaildropError(f"cannot read maildir {path}: {exc.strerror}") from exc
        finally:
            if not opened:
                lock.release()
                root.close()

    def unique_names(self) -> Sequence[str]:
        """Each listed message's file name up to its ``:2,`` flags (what Dovecot and Courier key by)."""
        return tuple(map(unique_part, self._listed.names))

    def messages(self) -> Sequence[MessageInfo]:
        return self._listed.infos

    def open_message(self, index: int) -> MessageReader:
        self._check_open()
        if not 0 <= index < len(self._listed.names):
            raise MaildropError("no such message")
        try:
            reader = self._locator.apply(index, _open_file)
        except OSError as exc:
            raise MaildropError(f"cannot open message: {exc.strerror or exc}") from exc
        if reader is None:
            raise MaildropError("message was removed by another client")
        return reader

    def commit(self, deleted: frozenset[int], retrieved: frozenset[int]) -> None:
        self._check_open()
        deletion = Deletion(self.folder)
        try:
            self._delete(deletion, deleted)
        finally:
            deletion.close()
        unsettled = self._unsettled(deleted, retrieved)
        self._settle(unsettled, retrieved)
        if deleted or unsettled:
            self._save_snapshot(deleted, unsettled, retrieved)

    def _unsettled(self, deleted: frozenset[int], retrieved: frozenset[int]) -> list[int]:
        """Kept messages listed in ``new/``, or retrieved without the ``S`` flag: the only ones a
        commit renames (a session that retrieved and deleted nothing in ``cur/`` touches nothing)."""
        listing = self._listed
        return [i for i, (cur, info) in enumerate(zip(listing.in_cur, listing.infos, strict=True))
                if i not in deleted and (not cur or (i in retrieved and not info.seen))]

    def _save_snapshot(self, deleted: frozenset[int], settled: list[int], retrieved: frozenset[int]) -> None:
        """Leave the listing this commit made for the next session (see :mod:`maildir_snapshot`)."""
        if self._locator.moved():
            return  # another client moved messages: the next open lists anew
        listing, renamed = self._listed, set(settled)
        names, infos = [], []
        for i, (name, info) in enumerate(zip(listing.names, listing.infos, strict=True)):
            if i in deleted:
                continue
            if i in renamed:
                name = MaildirName.parse(name).with_flags(*(("S",) if i in retrieved else ()))
                info = MessageInfo(info.size, info.uid, info.seen or i in retrieved)
            names.append(name)
            infos.append(info)
        try:
            save_after_commit(self.folder, Listing(names, [True] * len(names), tuple(infos)))
        except (OSError, MaildropError) as exc:
            log.warn("cannot write listing snapshot in {root}: {err}", root=self.root, err=exc)

    def _delete(self, deletion: Deletion, deleted: frozenset[int]) -> None:
        try:
            for index in sorted(deleted):
                # None: already deleted by another client, which is what was asked.
                self._locator.apply(index, deletion.move_to_trash)
            if deletion.moved:
                deletion.commit_point()
        except (OSError, MaildropError) as exc:
            deletion.roll_back()
            raise CommitError(f"cannot delete messages: {getattr(exc, 'strerror', None) or exc}") from exc
        if not deletion.moved:
            return
        try:
            deletion.finish()
        except OSError as exc:  # committed: the journal lets the next open finish
            log.error("deletion in {root} left for recovery: {err}", root=self.root, err=exc)
        try:
            record_in_quota(self.folder, deletion.octets, len(deletion.moved))
        except (OSError, MaildropError) as exc:
            log.warn("cannot update the quota file of {root}: {err}", root=self.root, err=exc)

    def _settle(self, kept: Iterable[int], retrieved: frozenset[int]) -> None:
        """Move kept messages from new/ to cur/ and flag retrieved ones seen (best effort)."""
        settler = _Settler(self.folder)
        moved = False
        try:
            for index in kept:
                op = functools.partial(settler.settle, ("S",) if index in retrieved else ())
                try:
                    moved = bool(self._locator.apply(index, op)) or moved
                except (OSError, MaildropError) as exc:  # the message is intact; its flag or place is off
                    log.warn("cannot update {root} message {i}: {err}", root=self.root, i=index, err=exc)
            if moved:
                for subdir in ("cur", "new"):
                    with contextlib.suppress(OSError, MaildropError):
                        folder = self.folder.sub(subdir)
                        if folder is not None:
                            with folder:
                                folder.fsync()
        finally:
            settler.close()

    def close(self) -> None:
        self._locator.close()
        self._lock.release()
        self.folder.close()

    def _check_open(self) -> None:
        if not self._lock.held:
            raise MaildropError("maildrop is closed")
