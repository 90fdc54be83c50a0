"""The locks Debian's MTAs take on an mbox: a dotlock and an fcntl lock.

Postfix (``mailbox_delivery_lock = fcntl, dotlock``), exim and procmail each
take both, in their own order.  We never block on either: take the dotlock,
then try the fcntl lock; if that is busy, drop the dotlock, sleep a short
random time and start again, until a deadline.  Whatever order the other
program uses, nobody waits while holding a lock we want, so there is no
deadlock.

The dotlock is ``PATH.lock``, made the NFS-safe way: write our pid into a
uniquely named file in the same directory and ``link(2)`` it to the lock
name.  A dotlock left by a process that died is removed: one whose pid is not
running on this host (or is our own pid, which we are not holding), or one
without a readable pid that is older than ``stale_after`` seconds.

Both locks are held only briefly (while scanning at open, while committing).
The fcntl lock belongs to the process and is dropped when *any* descriptor
of the file is closed, so the backend reads the mbox through one descriptor.
The dotlock is made and examined relative to the mbox's folder descriptor
(:mod:`pop3d.maildrop.safe_fs`), never through a link and never blocking.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import random
import socket
import time

from pop3d.maildrop.base import MaildropBusy, MaildropError
from pop3d.maildrop.safe_fs import Folder, UnsafeFile

_BUSY = (errno.EAGAIN, errno.EACCES)


class MailboxLock:
    """Dotlock plus fcntl write lock on the mbox open as ``fd``."""

    def __init__(self, path: str, fd: int, timeout: float = 10.0, stale_after: float = 300.0,
                 folder: Folder | None = None) -> None:
        self.path = path
        self.lock_path = path + ".lock"
        #: The dotlock is made and examined relative to the mbox's folder.
        self.folder = folder
        self.lock_name = os.path.basename(self.lock_path)
        self.fd = fd
        self.timeout = timeout
        self.stale_after = stale_after
        self._dotlock_ino: int | None = None
        self._fcntl = False
        self._own_folder = False

    @property
    def held(self) -> bool:
        return self._fcntl

    def acquire(self) -> None:
        """Take both locks or raise MaildropBusy after ``timeout`` seconds."""
        if self.folder is None:  # a caller without the folder at hand (a test's MTA)
            self.folder = Folder.open_root(os.path.dirname(self.path) or ".", follow=True)
            if self.folder is None:
                raise MaildropError(f"the folder of {self.path} does not exist")
            self._own_folder = True
        deadline = time.monotonic() + self.timeout
        while True:
            if self._try_dotlock():
                if self._try_fcntl():
                    return
                self._drop_dotlock()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise MaildropBusy(f"{self.path} is locked by another program")
            time.sleep(min(remaining, random.uniform(0.01, 0.08)))

    def release(self) -> None:
        """Drop both locks (fcntl first, so no one holds only our dotlock)."""
        if self._fcntl:
            self._fcntl = False
            # If this fails the descriptor is going away, and the kernel drops the lock then.
            with contextlib.suppress(OSError):
                fcntl.lockf(self.fd, fcntl.LOCK_UN)
        self._drop_dotlock()
        if self._own_folder and self.folder is not None:
            self.folder.close()
            self.folder, self._own_folder = None, False

    def _try_fcntl(self) -> bool:
        try:
            fcntl.lockf(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno in _BUSY:
                return False
            raise MaildropError(f"cannot lock {self.path}: {exc.strerror}") from exc
        self._fcntl = True
        return True

    def _try_dotlock(self) -> bool:
        return self._link_dotlock() or (self._remove_if_stale() and self._link_dotlock())

    def _link_dotlock(self) -> bool:
        folder = self.folder
        assert folder is not None
        unique = f"{socket.gethostname()}.{os.getpid()}.{random.getrandbits(32):x}"
        tmp = f".{self.lock_name}.{unique}"
        try:
            fd = folder.create(tmp)
        except OSError as exc:
            raise MaildropError(f"cannot create a dotlock in {folder.path}: {exc.strerror} "
                                "(the server needs write access there, e.g. group mail)") from exc
        try:
            try:
                try:
                    os.write(fd, f"{os.getpid()}\n".encode())
                except OSError as exc:
                    # A full disk or quota: the lock is still good without the
                    # pid (then judged stale by age alone), and a user whose
                    # spool is full most needs to log in and delete mail.
                    if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
                        raise
                ino = os.fstat(fd).st_ino
            finally:
                os.close(fd)
            try:
                folder.link(tmp, self.lock_name)
                linked = True
            except FileExistsError:
                linked = False
            except OSError as exc:  # NFS may report failure for a link that was made
                st = folder.stat(tmp)
                if st is None or st.st_nlink != 2:
                    raise MaildropError(f"cannot create {self.lock_path}: {exc.strerror}") from exc
                linked = True
        finally:
            folder.unlink(tmp)
        if linked:
            self._dotlock_ino = ino
        return linked

    def _drop_dotlock(self) -> None:
        ino, self._dotlock_ino = self._dotlock_ino, None
        if ino is None:
            return
        assert self.folder is not None
        st = self.folder.stat(self.lock_name)
        if st is not None and st.st_ino == ino:  # still ours, not someone's who broke it
            self.folder.unlink(self.lock_name)

    def _remove_if_stale(self) -> bool:
        """Remove a dotlock whose owner is gone; True if it was removed (or vanished).

        The dotlock may be anyone's (the MTA's, the user's mail reader's), so
        it is not required to be the maildrop owner's; but it is opened without
        following links or blocking, and one that is not a regular file
        (a FIFO, say) carries no pid and is judged by its age.
        """
        folder = self.folder
        assert folder is not None
        st = folder.stat(self.lock_name)
        if st is None:
            return True
        content = b""
        try:
            fd = folder.open(self.lock_name, foreign_ok=True)
        except FileNotFoundError:
            return True
        except UnsafeFile:
            pass
        except OSError:
            return False
        else:
            try:
                st = os.fstat(fd)
                content = os.pread(fd, 64, 0)
            finally:
                os.close(fd)
        pid = _parse_pid(content)
        if pid is not None:
            stale = pid == os.getpid() or not _alive(pid)
        else:
            stale = time.time() - st.st_mtime > self.stale_after
        if not stale:
            return False
        now = folder.stat(self.lock_name)
        if now is not None and (now.st_ino, now.st_mtime_ns) == (st.st_ino, st.st_mtime_ns):
            folder.unlink(self.lock_name)
        return True


def _parse_pid(content: bytes) -> int | None:
    text = content.strip()
    if not text.isdigit():
        return None
    pid = int(text)
    return pid if pid > 0 else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
