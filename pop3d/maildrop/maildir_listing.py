"""Listing a Maildir: which files are messages, their order, UIDLs and sizes.

Messages are the regular files in ``new/`` and ``cur/`` whose names do not
start with a dot and that belong to the maildrop's owner.  ``tmp/``
(deliveries in progress, our trash), Maildir++ subfolders (``.Sent``) and
symlinks are not messages.  Everything is reached through the maildrop's
:class:`~pop3d.maildrop.safe_fs.Folder`.  A missing ``new/``
or ``cur/`` is simply empty.  The listing never reads a message body when
the size cache knows it (see :mod:`pop3d.maildrop.maildir_sizes`).
"""

from __future__ import annotations

import os
import stat
import time
from concurrent.futures import ThreadPoolExecutor

from twisted.logger import Logger

from pop3d.core.messages import MessageInfo
from pop3d.maildrop import maildir_snapshot as snapshot
from pop3d.maildrop.base import MaildropError
from pop3d.maildrop.maildir_names import MaildirName, assign_uids
from pop3d.maildrop.maildir_sizes import SizeCache, measure
from pop3d.maildrop.maildir_snapshot import Listing
from pop3d.maildrop.safe_fs import Folder

SUBDIRS = ("new", "cur")
_WORKERS = 8
_PARALLEL_FROM = 256

log = Logger()

#: unique part -> (subdirectory, file name)
Locations = dict[str, tuple[str, str]]


def _candidates(root: Folder) -> dict[str, tuple[str, str, MaildirName]]:
    """Message files by unique part: (subfolder, file name, parsed name).

    ``new/`` is read before ``cur/`` and ``cur/`` wins a duplicate: a message
    moved from new/ to cur/ by another client while we read is then seen
    once, where it landed, rather than missed.  A subfolder that is a link or
    not a folder refuses the whole maildrop (UnsafeMaildrop).
    """
    found = {}
    for subdir in SUBDIRS:
        folder = root.sub(subdir)
        if folder is None:
            continue
        with folder:
            for entry in folder.entries():
                if not entry.name.startswith(".") and entry.is_file(follow_symlinks=False):
                    name = MaildirName.parse(entry.name)
                    found[name.unique] = (subdir, entry.name, name)
    return found


def scan(root: Folder) -> Locations:
    """Where each message file is now, by unique part."""
    return {unique: (subdir, filename) for unique, (subdir, filename, _) in _candidates(root).items()}


def _stat_candidates(root: Folder) -> list[tuple[str, str, MaildirName, os.stat_result]]:
    """The candidates that are regular files of the maildrop's owner, with their lstat."""
    out = []
    folders: dict[str, Folder | None] = {}
    try:
        for subdir, filename, name in _candidates(root).values():
            if subdir not in folders:
                folders[subdir] = root.sub(subdir)
            folder = folders[subdir]
            st = folder.stat(filename) if folder is not None else None
            if st is None or not stat.S_ISREG(st.st_mode):
                continue  # gone, or replaced by something else since the listing
            if not folder.may_hold(st):
                log.warn("not listing {path}: it belongs to uid {uid}, not to the maildrop's owner",
                         path=os.path.join(root.path, subdir, filename), uid=st.st_uid)
                continue
            out.append((subdir, filename, name, st))
    finally:
        for folder in folders.values():
            if folder is not None:
                folder.close()
    return out


def _measure_file(folder: Folder, filename: str, name: MaildirName) -> tuple[int, int, int] | None:
    """(file size, mtime ns, wire size) of one message; None if it went away or is unusable."""
    try:
        fd = folder.open(filename)
    except FileNotFoundError:
        return None
    except (OSError, MaildropError) as exc:
        log.warn("not listing {path}: {err}", path=folder.join(filename), err=exc)
        return None
    try:
        st = os.fstat(fd)  # the cache key describes exactly the bytes we measure
        return st.st_size, st.st_mtime_ns, measure(fd, name, st.st_size)
    finally:
        os.close(fd)


def _measure_files(root: Folder, files: list[tuple[str, str]]) -> list[tuple[int, int, int] | None]:
    """Measure many (subfolder, file name) pairs, in a few threads when there are many (a
    cold cache): the reads release the GIL, so the disk sees several requests at once."""
    folders = {subdir: root.sub(subdir) for subdir in {subdir for subdir, _ in files}}

    def measure_part(part: list[tuple[str, str]]) -> list[tuple[int, int, int] | None]:
        out = []
        for subdir, filename in part:
            folder = folders[subdir]
            name = MaildirName.parse(filename)
            out.append(None if folder is None else _measure_file(folder, filename, name))
        return out

    try:
        if len(files) < _PARALLEL_FROM:
            return measure_part(files)
        step = -(-len(files) // _WORKERS)
        slices = [files[i:i + step] for i in range(0, len(files), step)]
        with ThreadPoolExecutor(max_workers=len(slices), thread_name_prefix="maildir-sizes") as pool:
            return [result for part in pool.map(measure_part, slices) for result in part]
    finally:
        for folder in folders.values():
            if folder is not None:
                folder.close()


def list_messages(root: Folder) -> Listing:
    """The messages of the Maildir open as ``root``, in delivery order.

    A file that disappears while we list it (deleted, or renamed by an IMAP
    client at that instant) is left out; it shows up in the next session.
    So is a file that is not a regular file of the maildrop's owner (a hard
    link to someone else's file, a FIFO), with a warning in the log.
    The previous listing is reused while ``new/`` and ``cur/`` are unchanged
    (see :mod:`pop3d.maildrop.maildir_snapshot`).
    """
    taken = time.time_ns()
    stamps = snapshot.stamps(root)
    listed = snapshot.load(root, stamps)
    if listed is None:
        listed = _list_anew(root)
        try:
            if snapshot.settled(stamps, taken):
                snapshot.save(root, stamps, listed)
        except OSError as exc:
            log.warn("cannot write listing snapshot {path}: {err}", path=root.join(snapshot.SNAPSHOT_NAME),
                     err=exc)
    return listed


def _list_anew(root: Folder) -> Listing:
    """List every file, sizes from the size cache or measured."""
    cache = SizeCache.load(root)
    # [delivery time, unique, subdir, file name, wire size, seen]; the first two order them.
    rows: list[list] = []
    misses: list[list] = []
    for subdir, filename, name, st in _stat_candidates(root):
        row = [*name.delivery_key(st.st_mtime), subdir, filename, None, name.seen]
        row[4] = cache.get(name.unique, st.st_size, st.st_mtime_ns)
        if row[4] is None:
            misses.append(row)
        rows.append(row)
    if misses:
        results = _measure_files(root, [(r[2], r[3]) for r in misses])
        for row, result in zip(misses, results, strict=True):
            if result is not None:
                cache.put(row[1], *result)
                row[4] = result[2]
        rows = [row for row in rows if row[4] is not None]
    rows.sort()
    uids = assign_uids(row[1] for row in rows)
    listed = Listing([row[3] for row in rows], [row[2] == "cur" for row in rows],
                     tuple(MessageInfo(row[4], uid, row[5]) for row, uid in zip(rows, uids, strict=True)))
    try:
        cache.save(row[1] for row in rows)
    except OSError as exc:  # the cache is an optimisation; a read-only maildir still works
        log.warn("cannot write size cache {path}: {err}", path=cache.path, err=exc)
    return listed
