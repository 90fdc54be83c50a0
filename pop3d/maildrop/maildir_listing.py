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
from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple

from twisted.logger import Logger

from pop3d.core.messages import MessageInfo
from pop3d.maildrop.maildir_names import MaildirName, assign_uids
from pop3d.maildrop.maildir_sizes import SizeCache, measure

SUBDIRS = ("new", "cur")
_WORKERS = 8
_PARALLEL_FROM = 256

log = Logger()

#: unique part -> (subdirectory, file name)
Locations = dict[str, tuple[str, str]]


class Listed(NamedTuple):
    """Where a listed message was found, and what the session is told about it."""

    unique: str
    subdir: str
    name: str
    info: MessageInfo


def _candidates(root: str) -> dict[str, tuple[str, os.DirEntry[str], MaildirName]]:
    """Message files by unique part, with their directory entries.

    ``new/`` is read before ``cur/`` and ``cur/`` wins a duplicate: a message
    moved from new/ to cur/ by another client while we read is then seen
    once, where it landed, rather than missed.
    """
    found = {}
    for subdir in SUBDIRS:
        try:
            entries = os.scandir(os.path.join(root, subdir))
        except FileNotFoundError:
            continue
        with entries:
            for entry in entries:
                if not entry.name.startswith(".") and entry.is_file(follow_symlinks=False):
                    name = MaildirName.parse(entry.name)
                    found[name.unique] = (subdir, entry, name)
    return found


def scan(root: str) -> Locations:
    """Where each message file is now, by unique part."""
    return {unique: (subdir, entry.name) for unique, (subdir, entry, _) in _candidates(root).items()}


def _measure_file(path: str, name: MaildirName) -> tuple[int, int, int] | None:
    """(file size, mtime ns, wire size) of one message; None if the file went away."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
    except FileNotFoundError:
        return None
    try:
        st = os.fstat(fd)  # the cache key describes exactly the bytes we measure
        return st.st_size, st.st_mtime_ns, measure(fd, name, st.st_size)
    finally:
        os.close(fd)


def _measure_files(files: list[tuple[str, MaildirName]]) -> list[tuple[int, int, int] | None]:
    """Measure many files, in a few threads when there are many (a cold cache):
    the reads release the GIL, so the disk sees several requests at once."""
    if len(files) < _PARALLEL_FROM:
        return [_measure_file(path, name) for path, name in files]
    step = -(-len(files) // _WORKERS)
    slices = [files[i:i + step] for i in range(0, len(files), step)]
    with ThreadPoolExecutor(max_workers=len(slices), thread_name_prefix="maildir-sizes") as pool:
        parts = pool.map(lambda part: [_measure_file(path, name) for path, name in part], slices)
        return [result for part in parts for result in part]


def list_messages(root: str) -> list[Listed]:
    """The messages of the Maildir at ``root`` in delivery order.

    A file that disappears while we list it (deleted, or renamed by an IMAP
    client at that instant) is left out; it shows up in the next session.
    """
    cache = SizeCache.load(root)
    # [delivery time, unique, subdir, file name, wire size, seen]; the first two order them.
    rows: list[list] = []
    misses: list[list] = []
    for unique, (subdir, entry, name) in _candidates(root).items():
        try:
            st = entry.stat(follow_symlinks=False)
        except FileNotFoundError:
            continue
        if not stat.S_ISREG(st.st_mode):
            continue
        row = [*name.delivery_key(st.st_mtime), subdir, entry.name, None, name.seen]
        row[4] = cache.get(unique, st.st_size, st.st_mtime_ns)
        if row[4] is None:
            misses.append(row)
        rows.append(row)
    if misses:
        results = _measure_files([(os.path.join(root, r[2], r[3]), MaildirName.parse(r[3])) for r in misses])
        for row, result in zip(misses, results, strict=True):
            if result is not None:
                cache.put(row[1], *result)
                row[4] = result[2]
        rows = [row for row in rows if row[4] is not None]
    rows.sort()
    uids = assign_uids(row[1] for row in rows)
    listed = [
        Listed(unique, subdir, filename, MessageInfo(size, uid, seen))
        for (_, unique, subdir, filename, size, seen), uid in zip(rows, uids, strict=True)
    ]
    try:
        cache.save(item.unique for item in listed)
    except OSError as exc:  # the cache is an optimisation; a read-only maildir still works
        log.warn("cannot write size cache {path}: {err}", path=cache.path, err=exc)
    return listed
