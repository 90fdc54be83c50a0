"""A maildrop's files as hostile input: folder descriptors, no symlinks, no FIFOs, checked owners.

Every backend reaches its files through one :class:`Folder`, an open
directory descriptor; names are always resolved relative to it, never as
paths, so a folder a user swaps for a symbolic link between two calls is
never followed:

* The maildrop's root is opened ``O_DIRECTORY|O_NOFOLLOW`` (an mbox's folder
  is the administrator's, e.g. ``/var/mail``, and may be reached through a
  link); subfolders (``cur``, ``new``, ``tmp``) are opened relative to it with
  ``O_NOFOLLOW``.  A subfolder that is a link or not a folder raises
  :class:`UnsafeMaildrop`: the whole maildrop is refused, nothing in it is
  read, renamed or removed.
* Every file is opened ``O_NONBLOCK|O_NOFOLLOW|O_CLOEXEC`` (a FIFO cannot
  block the open) and checked with ``fstat`` before a byte is read: a regular
  file owned by the maildrop's owner and, for the files pop3d writes itself
  (locks, caches, journals), with a single link.  A file failing that raises
  :class:`UnsafeFile`.
* Files and folders pop3d creates belong to the maildrop's owner and group
  (``fchown`` when running as root) with the maildrop's own permission bits
  (at most ``rw`` for owner and group), so a standalone server as root, one
  running as ``run_as`` in the maildrop's group, and an inetd process running
  as the user can all use them next time.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from pop3d.fileio import pread_chunks, replace_at
from pop3d.maildrop.base import MaildropError

_OPEN = os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC
_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC
_NOT_PLAIN = (errno.ELOOP, errno.ENOTDIR, errno.EMLINK)


_acting = threading.local()


def acting_uid() -> int:
    """The uid whose rights this thread has on files (see :mod:`pop3d.maildrop.fs_identity`)."""
    uid = getattr(_acting, "uid", None)
    return os.geteuid() if uid is None else uid


def set_acting_uid(uid: int | None) -> None:
    _acting.uid = uid


#: inetd: the group a process serving one UNIX user may take on, and only to create and remove
#: its files in an mbox's spool folder such as /var/mail (``mail_privileged_group``).
_privileged_gid: int | None = None


def set_privileged_group(gid: int | None) -> None:
    global _privileged_gid
    _privileged_gid = gid


class UnsafeMaildrop(MaildropError):
    """A folder of the maildrop is a symlink, not a folder, or someone else's: nothing is used."""


class UnsafeFile(MaildropError):
    """A file in the maildrop is not a plain file of its owner: it is not read."""


@dataclass(frozen=True, slots=True)
class Owner:
    """Whose maildrop this is: the files pop3d creates get these ids and permission bits."""

    uid: int
    gid: int
    mode: int

    @classmethod
    def of(cls, st: os.stat_result) -> Owner:
        return cls(st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode))

    @property
    def file_mode(self) -> int:
        """Read-write for whoever of owner and group may read the maildrop (0600 at least)."""
        return 0o600 | (0o060 if self.mode & 0o050 else 0)

    @property
    def folder_mode(self) -> int:
        return 0o700 | (0o070 if self.mode & 0o050 else 0)


def _describe(dir_fd: int | None, name: str) -> str:
    """Why ``name`` could not be opened as a plain file or folder."""
    try:
        st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except OSError:
        return "cannot be examined"
    if stat.S_ISLNK(st.st_mode):
        return "is a symbolic link"
    if stat.S_ISFIFO(st.st_mode):
        return "is a FIFO"
    if stat.S_ISDIR(st.st_mode):
        return "is a folder"
    return "is not a regular file" if not stat.S_ISREG(st.st_mode) else "is not a folder"


class Folder:
    """An open folder of a maildrop; every operation is relative to its descriptor.

    ``owner`` is the maildrop's; ``uid`` the folder's own owner, who may put
    files in it too (a deliverer's folder in a Maildir an administrator made).
    """

    def __init__(self, fd: int, path: str, owner: Owner) -> None:
        self.fd = fd
        self.path = path
        self.owner = owner
        self.uid = os.fstat(fd).st_uid
        #: An mbox's spool folder: entries are made and removed with the privileged group.
        self.spool = False

    @contextlib.contextmanager
    def _changing(self, *others: Folder) -> Iterator[None]:
        """Create or remove entries here with the privileged group as effective group, if this
        process kept it (its saved gid, see :func:`pop3d.auth.privileges.become_user`)."""
        gid = _privileged_gid
        if gid is None or not any(f.spool for f in (self, *others)) or os.getegid() == gid \
                or gid not in os.getresgid():
            yield
            return
        previous = os.getegid()
        os.setegid(gid)
        try:
            yield
        finally:
            os.setegid(previous)

    def may_hold(self, st: os.stat_result) -> bool:
        """Whether a file with ``st`` is one of this maildrop's: its owner's or this folder's owner's."""
        return st.st_uid in (self.owner.uid, self.uid)

    # -- opening folders -------------------------------------------------------

    @classmethod
    def open_root(cls, path: str, follow: bool = False) -> Folder | None:
        """The folder at ``path`` (None if it does not exist); its owner owns the maildrop.

        ``follow``: the last component may be a symlink (an mbox's spool folder).
        """
        try:
            fd = os.open(path, _DIR | (0 if follow else os.O_NOFOLLOW))
        except FileNotFoundError:
            return None
        except OSError as exc:
            if exc.errno in _NOT_PLAIN:
                raise UnsafeMaildrop(f"{path} {_describe(None, path)}; maildrop not opened") from None
            raise
        return cls(fd, path, Owner.of(os.fstat(fd)))

    def join(self, name: str) -> str:
        return os.path.join(self.path, name)

    def sub(self, name: str) -> Folder | None:
        """Subfolder ``name`` (None if missing); UnsafeMaildrop if it is a link, not a folder,
        or owned by anyone but the maildrop's owner, root or pop3d (any owner will do in a
        maildrop root's own, which no user controls)."""
        try:
            fd = os.open(name, _DIR | os.O_NOFOLLOW, dir_fd=self.fd)
        except FileNotFoundError:
            return None
        except OSError as exc:
            if exc.errno in _NOT_PLAIN:
                why = _describe(self.fd, name)
                raise UnsafeMaildrop(f"{self.join(name)} {why}; maildrop not used") from None
            raise
        st = os.fstat(fd)
        if st.st_uid not in (self.owner.uid, acting_uid(), 0) and self.owner.uid != 0:
            os.close(fd)
            raise UnsafeMaildrop(f"{self.join(name)} belongs to uid {st.st_uid}, not to the maildrop's "
                                 f"owner (uid {self.owner.uid}); maildrop not used")
        return Folder(fd, self.join(name), self.owner)

    def make_sub(self, name: str) -> Folder:
        """Subfolder ``name``, created (for the maildrop's owner) if missing."""
        folder = self.sub(name)
        if folder is not None:
            return folder
        created = True
        try:
            os.mkdir(name, self.owner.folder_mode, dir_fd=self.fd)
        except FileExistsError:
            created = False
        folder = self.sub(name)
        if folder is None:
            raise FileNotFoundError(errno.ENOENT, "folder vanished after mkdir", self.join(name))
        if created:
            try:
                os.fchmod(folder.fd, self.owner.folder_mode)  # whatever the umask
                if acting_uid() == 0:
                    os.fchown(folder.fd, self.owner.uid, self.owner.gid)
            except BaseException:
                folder.close()
                raise
        return folder

    # -- opening files ---------------------------------------------------------

    def check(self, fd: int, name: str, ours: bool = False, foreign_ok: bool = False) -> os.stat_result:
        """``fstat`` the open ``name``: a regular file of the owner (``ours``: or of pop3d,
        with one link); ``foreign_ok`` drops the owner check (an MTA's dotlock)."""
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise UnsafeFile(f"{self.join(name)} is not a regular file; not used")
        if not foreign_ok and not self.may_hold(st) and not (ours and self._made_by_pop3d(st)):
            raise UnsafeFile(f"{self.join(name)} belongs to uid {st.st_uid}, not to the maildrop's "
                             f"owner (uid {self.owner.uid}); not used")
        if ours and st.st_nlink != 1:
            raise UnsafeFile(f"{self.join(name)} has {st.st_nlink} links; not used")
        return st

    def _made_by_pop3d(self, st: os.stat_result) -> bool:
        """Whether pop3d may have made this file: as root, as this process, or as a member of
        the maildrop's group (a ``run_as`` server in the spool's group)."""
        return st.st_uid in (acting_uid(), 0) or st.st_gid == self.owner.gid

    def open(self, name: str, flags: int = os.O_RDONLY, *, ours: bool = False,
             foreign_ok: bool = False) -> int:
        """Open and check file ``name`` (see :meth:`check`); FileNotFoundError if missing."""
        try:
            fd = os.open(name, flags | _OPEN, dir_fd=self.fd)
        except OSError as exc:
            if exc.errno in _NOT_PLAIN:
                raise UnsafeFile(f"{self.join(name)} {_describe(self.fd, name)}; not used") from None
            raise
        try:
            self.check(fd, name, ours, foreign_ok)
        except BaseException:
            os.close(fd)
            raise
        return fd

    def open_or_create(self, name: str) -> int:
        """Open pop3d's own file ``name`` read-write, creating it for the owner; never truncated."""
        while True:
            try:
                return self.create(name)
            except FileExistsError:
                pass
            try:
                fd = self.open(name, os.O_RDWR, ours=True)
            except FileNotFoundError:
                continue  # removed between the two opens: create it after all
            self.adopt(fd)
            return fd

    def create(self, name: str) -> int:
        """Create ``name`` (it must not exist) for the maildrop's owner; open for writing."""
        with self._changing():
            fd = os.open(name, os.O_RDWR | os.O_CREAT | os.O_EXCL | _OPEN, self.owner.file_mode,
                         dir_fd=self.fd)
        try:
            os.fchmod(fd, self.owner.file_mode)  # whatever the umask
            self.adopt(fd)
        except BaseException:
            os.close(fd)
            raise
        return fd

    def adopt(self, fd: int) -> None:
        """Give a file pop3d made (now or in an older version) to the maildrop's owner, when root."""
        if acting_uid() != 0:
            return
        st = os.fstat(fd)
        if (st.st_uid, st.st_gid) != (self.owner.uid, self.owner.gid):
            os.fchown(fd, self.owner.uid, self.owner.gid)
            os.fchmod(fd, self.owner.file_mode)

    def read(self, name: str, limit: int, *, ours: bool = True) -> bytes | None:
        """The content of a small file (a sidecar); None if it does not exist.

        Raises UnsafeFile if it is not a plain file (see :meth:`check`) or is
        larger than ``limit`` bytes.
        """
        try:
            fd = self.open(name, ours=ours)
        except FileNotFoundError:
            return None
        try:
            size = os.fstat(fd).st_size
            if size > limit:
                raise UnsafeFile(f"{self.join(name)} is larger than {limit} bytes; not used")
            return b"".join(pread_chunks(fd, 0, limit + 1))
        finally:
            os.close(fd)

    def stat(self, name: str) -> os.stat_result | None:
        """``lstat`` of ``name``; None if it does not exist."""
        try:
            return os.stat(name, dir_fd=self.fd, follow_symlinks=False)
        except FileNotFoundError:
            return None

    # -- changing the folder ---------------------------------------------------

    def replace(self, name: str, data: bytes | Iterable[bytes]) -> None:
        """Replace ``name`` atomically with a new file of the owner's (see :func:`fileio.replace_at`)."""
        with self._changing():
            replace_at(self.fd, name, data, self.create)

    def rename(self, name: str, dest: Folder, new_name: str) -> None:
        with self._changing(dest):
            os.rename(name, new_name, src_dir_fd=self.fd, dst_dir_fd=dest.fd)

    def link(self, name: str, new_name: str) -> None:
        with self._changing():
            os.link(name, new_name, src_dir_fd=self.fd, dst_dir_fd=self.fd, follow_symlinks=False)

    def unlink(self, name: str) -> bool:
        """Remove ``name``; False if it was already gone."""
        try:
            with self._changing():
                os.unlink(name, dir_fd=self.fd)
        except FileNotFoundError:
            return False
        return True

    def fsync(self) -> None:
        """Make renames and unlinks in this folder durable."""
        os.fsync(self.fd)

    def entries(self) -> Iterator[os.DirEntry[str]]:
        """The folder's entries (``entry.stat(follow_symlinks=False)`` is relative to it)."""
        with os.scandir(self.fd) as it:
            yield from it

    def names(self) -> list[str]:
        return os.listdir(self.fd)

    def close(self) -> None:
        if self.fd >= 0:
            fd, self.fd = self.fd, -1
            os.close(fd)

    def __enter__(self) -> Folder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
