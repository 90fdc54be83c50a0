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
when a commit or a recovery has a file to put there.
"""

from __future__ import annotations

import contextlib
import functools
import os
import stat
from collections.abc import Callable, Iterable, Sequence
from typing import TypeVar

from twisted.logger import Logger

from pop3d.core.messages import MessageInfo
from pop3d.maildrop.base import CommitError, EmptyMaildrop, Maildrop, MaildropError, MessageReader
from pop3d.maildrop.maildir_commit import Deletion, record_in_quota, recover
from pop3d.maildrop.maildir_fs import fsync_dir
from pop3d.maildrop.maildir_listing import Listed, Locations, list_messages, scan
from pop3d.maildrop.maildir_names import MaildirName
from pop3d.maildrop.session_lock import SessionLock

LOCK_NAME = "pop3d-session.lock"
_ATTEMPTS = 3

T = TypeVar("T")
log = Logger()


class _Locator:
    """Where each listed message is now: rescans the Maildir when a file has moved."""

    def __init__(self, root: str, locations: Locations) -> None:
        self.root = root
        self._locations = locations

    def apply(self, unique: str, op: Callable[[str], T]) -> T | None:
        """Run ``op`` on the message's current path; None if the message is gone.

        Raises FileNotFoundError if the file kept moving under us.
        """
        for _ in range(_ATTEMPTS):
            where = self._locations.get(unique)
            if where is None:
                return None
            try:
                return op(os.path.join(self.root, *where))
            except FileNotFoundError:
                self._locations = scan(self.root)
        raise FileNotFoundError(f"message {unique} keeps moving")


def _open_file(path: str) -> MessageReader:
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
    return os.fdopen(fd, "rb")


def _settle_file(cur: str, add: tuple[str, ...], path: str) -> bool:
    """Rename ``path`` into ``cur/`` with flags ``add`` added; False if nothing to do."""
    name = MaildirName.parse(os.path.basename(path))
    in_cur = os.path.basename(os.path.dirname(path)) == "cur"
    if in_cur and set(add) <= set(name.flags):
        return False
    if not os.path.isdir(cur):
        os.mkdir(cur, 0o700)
    os.rename(path, os.path.join(cur, name.with_flags(*add)))
    return True


class MaildirMaildrop(Maildrop):
    """An open, locked Maildir."""

    def __init__(self, root: str, lock: SessionLock, listed: list[Listed]) -> None:
        self.root = root
        self._lock = lock
        self._listed = listed
        self._messages = tuple(item.info for item in listed)
        self._locator = _Locator(root, {item.unique: (item.subdir, item.name) for item in listed})

    @classmethod
    def open(cls, path: str) -> Maildrop:
        """Lock, recover and list the Maildir at ``path``."""
        try:
            st = os.stat(path)
        except FileNotFoundError:
            return EmptyMaildrop()
        except OSError as exc:
            raise MaildropError(f"cannot open maildir: {exc.strerror}") from exc
        if not stat.S_ISDIR(st.st_mode):
            raise MaildropError("maildir path is not a directory")
        lock = SessionLock(os.path.join(path, LOCK_NAME))
        lock.acquire()
        opened = False
        try:
            recover(path)
            maildrop = cls(path, lock, list_messages(path))
            opened = True
            return maildrop
        except OSError as exc:
            raise MaildropError(f"cannot read maildir: {exc.strerror}") from exc
        finally:
            if not opened:
                lock.release()

    def messages(self) -> Sequence[MessageInfo]:
        return self._messages

    def open_message(self, index: int) -> MessageReader:
        self._check_open()
        if not 0 <= index < len(self._listed):
            raise MaildropError("no such message")
        try:
            reader = self._locator.apply(self._listed[index].unique, _open_file)
        except OSError as exc:
            raise MaildropError(f"cannot open message: {exc.strerror or exc}") from exc
        if reader is None:
            raise MaildropError("message was removed by another client")
        return reader

    def commit(self, deleted: frozenset[int], retrieved: frozenset[int]) -> None:
        self._check_open()
        deletion = Deletion(self.root)
        try:
            for index in sorted(deleted):
                # None: already deleted by another client, which is what was asked.
                self._locator.apply(self._listed[index].unique, deletion.move_to_trash)
            if deletion.moved:
                deletion.commit_point()
        except OSError as exc:
            deletion.roll_back()
            raise CommitError(f"cannot delete messages: {exc.strerror or exc}") from exc
        if deletion.moved:
            try:
                deletion.finish()
            except OSError as exc:  # committed: the journal lets the next open finish
                log.error("deletion in {root} left for recovery: {err}", root=self.root, err=exc)
            try:
                record_in_quota(self.root, deletion.octets, len(deletion.moved))
            except OSError as exc:
                log.warn("cannot update the quota file of {root}: {err}", root=self.root, err=exc)
        kept = (i for i in range(len(self._listed)) if i not in deleted)
        self._settle(kept, retrieved)

    def _settle(self, kept: Iterable[int], retrieved: frozenset[int]) -> None:
        """Move kept messages from new/ to cur/ and flag retrieved ones seen (best effort)."""
        cur = os.path.join(self.root, "cur")
        moved = False
        for index in kept:
            op = functools.partial(_settle_file, cur, ("S",) if index in retrieved else ())
            try:
                moved = bool(self._locator.apply(self._listed[index].unique, op)) or moved
            except OSError as exc:  # the message is intact; only its flag or place is off
                log.warn("cannot update {root} message {i}: {err}", root=self.root, i=index, err=exc)
        if moved:
            for subdir in ("cur", "new"):
                with contextlib.suppress(OSError):
                    fsync_dir(os.path.join(self.root, subdir))

    def close(self) -> None:
        self._lock.release()

    def _check_open(self) -> None:
        if not self._lock.held:
            raise MaildropError("maildrop is closed")
