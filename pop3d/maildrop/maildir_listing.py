"""Listing a Maildir: which files are messages, their order, UIDLs and sizes.

Messages are the regular files in ``new/`` and ``cur/`` whose names do not
start with a dot.  ``tmp/`` (deliveries in progress, our trash), Maildir++
subfolders (``.Sent``) and symlinks are not messages.  A missing ``new/``
or ``cur/`` is simply empty.  The listing never reads a message body when
the size cache knows it (see :mod:`pop3d.maildrop.maildir_sizes`).
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass

from twisted.logger import Logger

from pop3d.core.messages import MessageInfo
from pop3d.maildrop.maildir_names import MaildirName, assign_uids
from pop3d.maildrop.maildir_sizes import SizeCache, measure

SUBDIRS = ("new", "cur")

log = Logger()

#: unique part -> (subdirectory, file name)
Locations = dict[str, tuple[str, str]]


@dataclass(frozen=True, slots=True)
class Listed:
    """Where a listed message was found, and what the session is told about it."""

    unique: str
    subdir: str
    name: str
    info: MessageInfo


def scan(root: str) -> Locations:
    """Where each message file is now, by unique part.

    ``new/`` is read before ``cur/`` and ``cur/`` wins a duplicate: a message
    moved from new/ to cur/ by another client while we read is then seen
    once, where it landed, rather than missed.
    """
    found: Locations = {}
    for subdir in SUBDIRS:
        try:
            entries = os.scandir(os.path.join(root, subdir))
        except FileNotFoundError:
            continue
        with entries:
            for entry in entries:
                if not entry.name.startswith(".") and entry.is_file(follow_symlinks=False):
                    found[MaildirName.parse(entry.name).unique] = (subdir, entry.name)
    return found


def _open_nofollow(path: str) -> int:
    return os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)


def _wire_size(path: str, name: MaildirName, cache: SizeCache, st: os.stat_result) -> int | None:
    """Wire size from the cache, else measured and cached; None if the file went away."""
    size = cache.get(name.unique, st.st_size, st.st_mtime_ns)
    if size is not None:
        return size
    try:
        fd = _open_nofollow(path)
    except FileNotFoundError:
        return None
    with os.fdopen(fd, "rb") as f:
        fst = os.fstat(fd)  # the key describes exactly the bytes we measure
        size = measure(f, name, fst.st_size)
    cache.put(name.unique, fst.st_size, fst.st_mtime_ns, size)
    return size


def list_messages(root: str) -> list[Listed]:
    """The messages of the Maildir at ``root`` in delivery order.

    A file that disappears while we list it (deleted, or renamed by an IMAP
    client at that instant) is left out; it shows up in the next session.
    """
    cache = SizeCache.load(root)
    rows = []
    for unique, (subdir, filename) in scan(root).items():
        path = os.path.join(root, subdir, filename)
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            continue
        if not stat.S_ISREG(st.st_mode):
            continue
        name = MaildirName.parse(filename)
        size = _wire_size(path, name, cache, st)
        if size is not None:
            rows.append((name.delivery_key(st.st_mtime), unique, subdir, filename, size, name.seen))
    rows.sort()
    uids = assign_uids(row[1] for row in rows)
    listed = [
        Listed(unique, subdir, filename, MessageInfo(size=size, uid=uid, seen=seen))
        for (_, unique, subdir, filename, size, seen), uid in zip(rows, uids, strict=True)
    ]
    try:
        cache.save(item.unique for item in listed)
    except OSError as exc:  # the cache is an optimisation; a read-only maildir still works
        log.warn("cannot write size cache {path}: {err}", path=cache.path, err=exc)
    return listed
