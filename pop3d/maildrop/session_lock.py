"""The exclusive per-maildrop lock held for a whole POP3 session.

RFC 1939 asks for exclusive access from PASS to UPDATE.  We take an
``flock(2)`` lock on a small lock file next to the maildrop.  The kernel drops
it when the holder dies, so a killed server never leaves a stale lock behind,
even one that crashed before writing anything; the file itself is harmless
and reused.  This lock excludes other POP3 sessions only: deliveries use the
mailbox's own locks (see the backends), so mail keeps arriving meanwhile.
"""

from __future__ import annotations

import fcntl
import os

from pop3d.maildrop.base import MaildropBusy, MaildropError


class SessionLock:
    def __init__(self, path: str) -> None:
        self.path = path
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock without waiting; raise MaildropBusy if it is held."""
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
        except OSError as exc:
            raise MaildropError(f"cannot open lock file: {exc.strerror}") from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise MaildropBusy("maildrop is locked by another session") from None
        except OSError as exc:
            os.close(fd)
            raise MaildropError(f"cannot lock maildrop: {exc.strerror}") from exc
        # For people looking at the file: who holds it (the lock itself is flock).
        try:
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
        except OSError:
            pass
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
