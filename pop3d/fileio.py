"""File I/O written once: positional read and write loops, atomic replace, a writers' lock.

The maildrop backends reach their files through
:mod:`pop3d.maildrop.safe_fs`, which builds on these; the user and secret
databases (``popauth``) use :func:`replace_file` and :func:`locked` directly.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import secrets
from collections.abc import Callable, Iterable, Iterator

#: Bytes read per ``pread`` by default.
BLOCK = 1 << 20


def pread_chunks(fd: int, start: int, end: int | None = None, short: Exception | None = None,
                 block: int = BLOCK) -> Iterator[bytes]:
    """The bytes of ``fd`` from ``start`` to ``end`` (or end of file), ``block`` at a time.

    The file offset is never moved.  If the file ends before ``end``, raise
    ``short`` (or just stop when it is None).
    """
    pos = start
    while end is None or pos < end:
        data = os.pread(fd, block if end is None else min(block, end - pos), pos)
        if not data:
            if short is not None and end is not None:
                raise short
            return
        yield data
        pos += len(data)


def write_all(fd: int, data: bytes, offset: int) -> None:
    """``pwrite`` all of ``data`` at ``offset``."""
    view = memoryview(data)
    while view:
        n = os.pwrite(fd, view, offset)
        view = view[n:]
        offset += n


def replace_at(dir_fd: int, name: str, data: bytes | Iterable[bytes], create: Callable[[str], int]) -> None:
    """Replace ``name`` in the folder open as ``dir_fd`` atomically.

    A temporary ``.NAME.XXXX`` file is made by ``create(temp name)`` (which
    sets its owner and mode), written, fsynced and renamed over ``name``;
    then the folder is fsynced.  A reader (or a crash) sees the old file or
    the new one, never a torn one; the leading dot keeps Maildir readers
    away from the temporary.
    """
    temp = f".{name}.{secrets.token_hex(6)}"
    fd = create(temp)
    renamed = False
    try:
        try:
            offset = 0
            for chunk in [data] if isinstance(data, bytes) else data:
                write_all(fd, chunk, offset)
                offset += len(chunk)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.rename(temp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
        renamed = True
    finally:
        if not renamed:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp, dir_fd=dir_fd)
    os.fsync(dir_fd)


def replace_file(path: str, text: str, mode: int = 0o600, group: int | None = None) -> None:
    """Replace a small file of the administrator's (a database the server re-reads) with ``text``.

    The new file gets ``mode``; if ``path`` existed and we are root, it keeps
    its owner and group (the server may run as that user and must still
    read it).  ``group`` (root only): the file belongs to that group, which
    may read it (popauth: the server's ``run_as`` group).
    """
    dir_fd = os.open(os.path.dirname(os.path.abspath(path)), os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        name = os.path.basename(path)
        try:
            old = os.stat(name, dir_fd=dir_fd)
        except FileNotFoundError:
            old = None

        def create(temp: str) -> int:
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, mode,
                         dir_fd=dir_fd)
            try:
                os.fchmod(fd, mode)
                if old is not None and os.geteuid() == 0:
                    os.fchown(fd, old.st_uid, old.st_gid)
                if group is not None and os.geteuid() == 0:
                    os.fchown(fd, -1, group)
                    os.fchmod(fd, mode | 0o040)
            except BaseException:
                os.close(fd)
                raise
            return fd

        replace_at(dir_fd, name, text.encode("utf-8"), create)
    finally:
        os.close(dir_fd)


@contextlib.contextmanager
def locked(path: str) -> Iterator[None]:
    """Hold ``path``.lock, so concurrent writers do not lose each other's updates."""
    fd = os.open(path + ".lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
