"""A UNIX user's rights on files, taken by one thread around its maildrop calls (Linux).

A standalone server running as root serves every user from one process, so
the checks of :mod:`pop3d.maildrop.safe_fs` are all that stands between a
user's maildrop and the rest of the disk.  Better still, the calls that touch
a UNIX user's maildrop (open, RETR's open, UPDATE, close) run with that
user's filesystem rights: ``setfsuid``/``setfsgid`` and the user's groups.
Linux keeps credentials per thread, so the calling thread (a pool worker, or
the reactor for the instant of an open) takes the user's identity and gives
it back afterwards while every other thread keeps root's.  The groups are
set with the raw ``setgroups`` system call: glibc's wrapper would change
every thread of the process.  With a non-zero fsuid the kernel also drops
the capabilities that override file permissions, so a link planted past the
checks leads to a file the user could not read anyway, and what pop3d
creates belongs to the user.

Why not a helper process per session: it would cost a fork and a pipe per
login and a second implementation of the maildrop interface over that pipe;
the per-thread switch is a few system calls and changes nothing else.  It is
used only where it can work (Linux, running as root, a known architecture);
elsewhere the checks of :mod:`~pop3d.maildrop.safe_fs` stand alone.

A user's mbox usually lives in a spool folder that only group ``mail`` may
write (Debian's ``/var/mail``, mode 2775): there the identity also carries
that folder's group, as Dovecot's ``mail_privileged_group`` does, so the
dotlock and pop3d's files beside the mbox can still be made.
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib
import os
import platform
import pwd
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from pop3d.core.messages import MessageInfo
from pop3d.maildrop.base import Maildrop, MaildropError, MessageReader
from pop3d.maildrop.location import Location
from pop3d.maildrop.safe_fs import set_acting_uid

#: ``setgroups`` system call numbers (the per-thread one, not glibc's broadcast).
_SETGROUPS = {"x86_64": 116, "aarch64": 159}
_UNCHANGED = 0xFFFFFFFF  # (uid_t) -1: an invalid id, so the call only reports the current one


@dataclass(frozen=True, slots=True)
class FsIdentity:
    uid: int
    gid: int
    groups: tuple[int, ...]


def _libc() -> ctypes.CDLL | None:
    if sys.platform != "linux" or platform.machine() not in _SETGROUPS:
        return None
    try:
        return ctypes.CDLL(None, use_errno=True)
    except OSError:  # pragma: no cover - no C library to call
        return None


_LIBC = _libc()


def supported() -> bool:
    """Whether this process can take users' filesystem rights per thread."""
    return _LIBC is not None and os.geteuid() == 0


def for_user(name: str, uid: int, gid: int, location: Location) -> FsIdentity:
    """The rights of user ``name`` on its maildrop, plus its spool folder's group (see above)."""
    groups = list(os.getgrouplist(name, gid))
    if location.kind == "mbox":
        with contextlib.suppress(OSError):
            spool = os.stat(os.path.dirname(location.path) or ".")
            if spool.st_uid != uid and spool.st_gid not in groups:
                groups.append(spool.st_gid)
    return FsIdentity(uid, gid, tuple(groups))


def for_owner(location: Location) -> FsIdentity | None:
    """The rights of whoever owns the maildrop at ``location`` (a virtual user's has no UNIX
    account of its own); None when root owns it or it does not exist yet."""
    try:
        st = os.lstat(location.path)
    except OSError:
        return None
    if st.st_uid == 0:
        return None
    try:
        name = pwd.getpwuid(st.st_uid).pw_name
    except KeyError:  # an owner without an account: its own ids, and the spool's group
        return FsIdentity(st.st_uid, st.st_gid, (st.st_gid,))
    return for_user(name, st.st_uid, pwd.getpwnam(name).pw_gid, location)


def _set_groups(groups: Sequence[int]) -> None:
    assert _LIBC is not None
    array = (ctypes.c_uint32 * max(1, len(groups)))(*groups)
    if _LIBC.syscall(ctypes.c_long(_SETGROUPS[platform.machine()]), ctypes.c_size_t(len(groups)), array) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


def _set_fs_ids(uid: int, gid: int) -> None:
    assert _LIBC is not None
    _LIBC.setfsgid(ctypes.c_uint32(gid))
    _LIBC.setfsuid(ctypes.c_uint32(uid))
    now = (_LIBC.setfsuid(ctypes.c_uint32(_UNCHANGED)), _LIBC.setfsgid(ctypes.c_uint32(_UNCHANGED)))
    if now != (uid, gid):
        raise OSError(f"filesystem ids are {now}, not {(uid, gid)}")


@contextlib.contextmanager
def acting_as(identity: FsIdentity) -> Iterator[None]:
    """Run the body with ``identity``'s rights on files, in this thread only."""
    if not supported():
        raise MaildropError("cannot take a user's filesystem rights here")
    groups = os.getgroups()
    uid, gid = os.geteuid(), os.getegid()
    try:
        _set_groups(identity.groups)
        _set_fs_ids(identity.uid, identity.gid)
    except OSError as exc:
        _restore(uid, gid, groups)
        raise MaildropError(f"cannot take the filesystem rights of uid {identity.uid}: {exc}") from None
    set_acting_uid(identity.uid)
    try:
        yield
    finally:
        set_acting_uid(None)
        _restore(uid, gid, groups)


def _restore(uid: int, gid: int, groups: Sequence[int]) -> None:
    _set_fs_ids(uid, gid)
    _set_groups(groups)


class OwnerRights(Maildrop):
    """A maildrop whose every file operation runs with its owner's filesystem rights."""

    def __init__(self, inner: Maildrop, identity: FsIdentity) -> None:
        self.inner = inner
        self.identity = identity

    def messages(self) -> Sequence[MessageInfo]:
        return self.inner.messages()

    def open_message(self, index: int) -> MessageReader:
        with acting_as(self.identity):
            return self.inner.open_message(index)

    def commit(self, deleted: frozenset[int], retrieved: frozenset[int]) -> None:
        with acting_as(self.identity):
            self.inner.commit(deleted, retrieved)

    def close(self) -> None:
        self.inner.close()  # unlocking and closing descriptors needs no rights on files


#: Modules the backends import lazily: loaded while the thread may still read any file
#: (the interpreter's own library may be where the user cannot look).
_BACKENDS = ("pop3d.maildrop.maildir", "pop3d.maildrop.mbox", "concurrent.futures.thread")


def open_as(identity: FsIdentity, open_maildrop: Callable[[Location], Maildrop],
            location: Location) -> Maildrop:
    """Open the maildrop at ``location`` with ``identity``'s rights, and keep using them."""
    for name in _BACKENDS:
        importlib.import_module(name)
    with acting_as(identity):
        maildrop = open_maildrop(location)
    return OwnerRights(maildrop, identity)
