"""Giving up root: once for a standalone server, per user for one-process-per-connection.

Standalone, the server binds its ports as root, then :func:`drop_privileges`
to the configured ``run_as`` user and groups (for example ``mail``, which
may read and write /var/mail).  Started by inetd, one process serves one
connection and :func:`become_session_user` switches it, once a login is
accepted and before anything of the user's is touched, to the UNIX user, as
classic pop3d does, or for a virtual user to ``run_as``.  From then on the
process accepts no login under another name, even if that first login then
failed (say, ``[IN-USE]``).  The realm does this when built with
``switch_user=True``.

Either way a maildrop of a UNIX user is opened only if that user owns it, so
the server never reads a file with more rights than the mailbox's owner has.
A standalone server still running as root does the maildrop's I/O with the
user's filesystem rights (:mod:`pop3d.maildrop.fs_identity`); for a virtual
user, with the rights of the maildrop's owner unless that is root, so a
virtual maildrop a UNIX user owns is no more than that user could read.
"""

from __future__ import annotations

import grp
import importlib
import os
import pwd
import stat
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from pop3d.auth.records import UserRecord
from pop3d.auth.virtual import load_hash_backends
from pop3d.maildrop import Location, Maildrop, MaildropError, fs_identity, safe_fs


class PrivilegeError(Exception):
    """The process cannot take on the requested identity."""


@dataclass(frozen=True)
class Identity:
    name: str
    uid: int
    gid: int
    groups: tuple[int, ...]
    #: A group kept as saved gid only, to be taken on briefly (mail_privileged_group); None: none.
    saved_gid: int | None = None


def resolve(user: str, group: str | None = None, groups: Sequence[str] = ()) -> Identity:
    """Look up a user and groups by name (or number); ``group`` defaults to the user's own."""
    try:
        pw = pwd.getpwnam(user) if not user.isdigit() else pwd.getpwuid(int(user))
    except KeyError:
        raise PrivilegeError(f"no such user: {user}") from None
    gids = [_gid(name) for name in ([group] if group else [])]
    gid = gids[0] if gids else pw.pw_gid
    extra = tuple(dict.fromkeys(_gid(name) for name in groups))
    return Identity(pw.pw_name, pw.pw_uid, gid, extra)


def _gid(name: str) -> int:
    try:
        return int(name) if name.isdigit() else grp.getgrnam(name).gr_gid
    except KeyError:
        raise PrivilegeError(f"no such group: {name}") from None


#: Modules imported only when first needed; load them while we can still read any file
#: (the interpreter's own library may sit where the new identity cannot look).
LAZY_MODULES = ("pop3d.maildrop.maildir", "pop3d.maildrop.mbox", "pop3d.uidl.maildir_view")


def preload() -> None:
    """Import what is otherwise loaded on first use, before root is given up for good or for a thread.

    After that, an install the new identity cannot read (a root-only venv) would turn
    the first login with a new hash scheme, or the first Maildir, into a failure.
    """
    for name in LAZY_MODULES:
        importlib.import_module(name)
    load_hash_backends()


def switch_to(identity: Identity) -> None:
    """Become ``identity`` for good: real, effective and saved ids, and only its groups."""
    saved_gid = identity.gid if identity.saved_gid is None else identity.saved_gid
    if (os.getresuid(), os.getresgid()) == ((identity.uid,) * 3, (identity.gid, identity.gid, saved_gid)):
        return
    if os.geteuid() != 0:
        raise PrivilegeError(f"cannot switch to user {identity.name}: not running as root")
    preload()
    os.setgroups(list(dict.fromkeys((identity.gid, *identity.groups))))
    os.setresgid(identity.gid, identity.gid, saved_gid)
    os.setresuid(identity.uid, identity.uid, identity.uid)
    if identity.uid != 0:
        try:
            os.setuid(0)
        except PermissionError:
            return
        raise PrivilegeError("could regain root after dropping privileges")


def drop_privileges(user: str, group: str | None = None, groups: Sequence[str] = ()) -> Identity:
    """Standalone mode, after binding: run as ``user``:``group`` with ``groups`` from now on."""
    identity = resolve(user, group, groups)
    switch_to(identity)
    return identity


#: inetd: the spool's group (mail_privileged_group) a UNIX user's process keeps as its saved gid.
_mail_group: int | None = None


def set_mail_privileged_group(gid: int | None) -> None:
    """inetd: UNIX users' processes keep ``gid`` to create and remove pop3d's files beside their mbox.

    As Dovecot's mail_privileged_group: the group is only the saved gid, taken
    on as effective gid around those calls in the spool folder (see
    :class:`pop3d.maildrop.safe_fs.Folder`), never while a file is read.
    """
    global _mail_group
    _mail_group = gid
    safe_fs.set_privileged_group(gid)


def become_user(record: UserRecord) -> None:
    """Per-connection mode: become the authenticated UNIX user, with its login groups."""
    if record.uid is None or record.gid is None:
        raise MaildropError(f"{record.name} is not a UNIX account; cannot switch to it")
    if record.uid == 0:
        raise MaildropError("refusing to serve root's maildrop")
    if os.geteuid() != 0 and os.geteuid() != record.uid:
        raise MaildropError("this process already serves another user")
    groups = tuple(os.getgrouplist(record.name, record.gid)) if os.geteuid() == 0 else ()
    try:
        switch_to(Identity(record.name, record.uid, record.gid, groups, _mail_group))
    except (OSError, PrivilegeError) as exc:
        raise MaildropError(f"cannot switch to user {record.name}: {exc}") from None


#: inetd: the user name this process switched identity for (at most one per process).
_serving: str | None = None


def become_session_user(record: UserRecord, virtual_identity: Identity | None) -> None:
    """inetd: take on the identity of ``record``'s session for good; refuse any other name afterwards.

    A UNIX user's session runs as that user, a virtual user's as
    ``virtual_identity`` (``run_as``); a root process with no ``run_as``
    refuses virtual users rather than serve them as root (Dovecot refuses
    uid 0 likewise).  A process that is not root keeps its identity.
    """
    global _serving
    if _serving is not None and _serving != record.name:
        raise MaildropError(f"this process already serves {_serving}; refusing a login as {record.name} "
                            "on the same connection")
    _serving = record.name  # before switching: a half-done switch serves nobody else either
    if record.uid is not None:
        become_user(record)
    elif os.geteuid() == 0:
        if virtual_identity is None:
            raise MaildropError(f"virtual user {record.name}: pop3d never serves a virtual user's "
                                "session as root; set run_as")
        try:
            switch_to(virtual_identity)
        except (OSError, PrivilegeError) as exc:
            raise MaildropError(f"cannot switch to user {virtual_identity.name}: {exc}") from None


def check_owner(record: UserRecord, location: Location) -> None:
    """Refuse a UNIX user's maildrop that the user does not own (or that is a symlink)."""
    if record.uid is None or os.geteuid() == record.uid:
        return  # virtual users have no owner; as the user, the kernel checks for us
    try:
        st = os.lstat(location.path)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise MaildropError(f"cannot examine {location.path}: {exc.strerror}") from None
    if stat.S_ISLNK(st.st_mode):
        raise MaildropError(f"{location.path} is a symbolic link; not opened for {record.name}")
    if st.st_uid != record.uid:
        raise MaildropError(f"{location.path} is not owned by {record.name}; not opened")


def maildrop_opener(record: UserRecord, open_maildrop: Callable[[Location], Maildrop],
                    switch_user: bool) -> Callable[[Location], Maildrop]:
    """Wrap ``open_maildrop`` so it checks the maildrop's owner first and, standalone, runs with its rights.

    (inetd, ``switch_user``: the realm has made the process the user already,
    see :func:`become_session_user`.)
    """

    def open_as_owner(location: Location) -> Maildrop:
        check_owner(record, location)
        if not switch_user and fs_identity.supported():
            # Standalone as root: the user's (a virtual user's: the maildrop owner's) rights on
            # files, in the threads doing the maildrop's I/O.
            if record.uid and record.gid is not None:
                identity = fs_identity.for_user(record.name, record.uid, record.gid, location)
            else:
                identity = None if record.uid == 0 else fs_identity.for_owner(location)
            if identity is not None:
                return fs_identity.open_as(identity, open_maildrop, location)
        return open_maildrop(location)

    return open_as_owner
