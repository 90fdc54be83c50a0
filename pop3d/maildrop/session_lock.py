"""The exclusive per-maildrop lock held for a whole POP3 session.

RFC 1939 asks for exclusive access from PASS to UPDATE.  We take an
``flock(2)`` lock on a small lock file next to the maildrop.  The kernel drops
it when the holder dies, so a killed server never leaves a stale lock behind,
even one that crashed before writing anything; the file itself is harmless
and reused (``lslocks`` shows who holds it).  This lock excludes other POP3
sessions only: deliveries use the mailbox's own locks (see the backends), so
mail keeps arriving meanwhile.

The file lies where the user can write, so it is opened through the
maildrop's :class:`~pop3d.maildrop.safe_fs.Folder`: never through a symlink,
never blocking, only if it is a regular file of the maildrop's owner (or
pop3d's) with a single link, and never written to: an existing file is
locked as it is, not truncated.  A new one belongs to the maildrop's owner.
"""

from __future__ import annotations

import fcntl
import os

from pop3d.maildrop.base import MaildropBusy, MaildropError
from pop3d.maildrop.safe_fs import Folder


class SessionLock:
    def __init__(self, folder: Folder, name: str) -> None:
        self.folder = folder
        self.name = name
        self.path = folder.join(name)
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock without waiting; raise MaildropBusy if it is held."""
        try:
            fd = self.folder.open_or_create(self.name)
        except OSError as exc:
            raise MaildropError(f"cannot open lock file {self.path}: {exc.strerror}") from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise MaildropBusy("maildrop is locked by another session") from None
        except OSError as exc:
            os.close(fd)
            raise MaildropError(f"cannot lock {self.path}: {exc.strerror}") from exc
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            try:
                fcntl.flock(fd, fcntl.LOCK_UN)
            finally:
                os.close(fd)

    @property
    def held(self) -> bool:
        return self._fd is not None
