"""The last listing of a Maildir, reused while ``new/`` and ``cur/`` have not changed.

Opening a large Maildir whose folders nobody touched since the last session
need not ``lstat`` every message: ``pop3d-listing`` in the Maildir keeps the
previous session's result (order, wire sizes, UIDLs), stamped with each
folder's mtime (ns) and a digest of its names as ``listdir`` returns them.
It is used only when both still match exactly: any delivery, deletion,
rename or flag change, or a hard link or FIFO put in, changes the folder's
mtime or its names (a change in the same clock tick as the stamp keeps the
mtime but not the names).  The stamps are taken before the listing they
describe, so a change while listing makes the snapshot stale, never wrong;
a listing saves a snapshot only when each folder's mtime is over a second
old (so an edit of a message file right after a change is measured again
too).  A commit that renamed or deleted messages saves the listing it
leaves behind, after checking that the folders hold exactly those names.

What a matching snapshot does not re-check is a message edited in place
(same name); Maildir messages are never edited in place, and the size cache
(:mod:`pop3d.maildrop.maildir_sizes`) catches it at the next change of the
folder.  Every message is still opened through
:meth:`~pop3d.maildrop.safe_fs.Folder.open` (owner, type, no links) when it
is read.  Like the size cache, the snapshot is an optimisation: a missing,
foreign or corrupt one is ignored.
"""

from __future__ import annotations

import hashlib
import os
import sys
from dataclasses import dataclass

from twisted.logger import Logger

from pop3d.core.messages import MessageInfo
from pop3d.maildrop.base import MaildropError
from pop3d.maildrop.safe_fs import Folder

SNAPSHOT_NAME = "pop3d-listing"
_HEADER = b"pop3d-listing 1 "
_MAX_SNAPSHOT = 256 << 20
_SETTLED_NS = 1_000_000_000
_FS_ENCODING = sys.getfilesystemencoding()
_SUBDIRS = ("new", "cur")

log = Logger()


@dataclass(frozen=True, slots=True)
class Listing:
    """The listed messages as columns (cheap to build for 100,000): file name, subfolder, what the
    session is told."""

    names: list[str]
    in_cur: list[bool]
    infos: tuple[MessageInfo, ...]

    def subdir(self, index: int) -> str:
        return "cur" if self.in_cur[index] else "new"

    def unique(self, index: int) -> str:
        return unique_part(self.names[index])

    def __len__(self) -> int:
        return len(self.names)


def unique_part(name: str) -> str:
    """A message file name without its ``:2,`` flags."""
    unique, sep, _ = name.rpartition(":2,")
    return unique if sep else name


def stamps(root: Folder) -> str:
    """The stamps of ``new/`` and ``cur/`` now: each one's mtime and a digest of its names."""
    return _read(root)[0]


def settled(stamps: str, taken_ns: int) -> bool:
    """Whether each folder's mtime was over a second old at ``taken_ns`` (wall clock), so that a
    later change, even one keeping every name, gets a different mtime."""
    return all(s == "-" or int(s.split(":")[0]) <= taken_ns - _SETTLED_NS for s in stamps.split())


def _read(root: Folder) -> tuple[str, dict[str, list[str]]]:
    """(stamps, names by subfolder) of ``new/`` and ``cur/``, from one ``listdir`` each."""
    out, names = [], {}
    for subdir in _SUBDIRS:
        folder = root.sub(subdir)
        if folder is None:
            out.append("-")
            names[subdir] = []
            continue
        with folder:
            mtime = os.fstat(folder.fd).st_mtime_ns
            names[subdir] = folder.names()
        joined = "\0".join(names[subdir]).encode(_FS_ENCODING, "surrogateescape")
        out.append(f"{mtime}:{hashlib.blake2b(joined, digest_size=16).hexdigest()}")
    return " ".join(out), names


def save_after_commit(root: Folder, listing: Listing) -> None:
    """Save ``listing`` (what a commit left) if ``new/`` and ``cur/`` hold exactly its messages."""
    taken, names = _read(root)
    for subdir, cur in zip(_SUBDIRS, (False, True), strict=True):
        expected = {name for name, in_cur in zip(listing.names, listing.in_cur, strict=True) if in_cur is cur}
        if {name for name in names[subdir] if not name.startswith(".")} != expected:
            return  # delivered, moved or added meanwhile: the next open lists anew
    save(root, taken, listing)


def load(root: Folder, stamps: str) -> Listing | None:
    """The snapshot's listing if it was taken with exactly ``stamps``; else None."""
    try:
        data = root.read(SNAPSHOT_NAME, _MAX_SNAPSHOT)
    except (OSError, MaildropError) as exc:
        log.warn("ignoring listing snapshot {path}: {err}", path=root.join(SNAPSHOT_NAME), err=exc)
        return None
    header = _HEADER + stamps.encode() + b"\n"
    if data is None or not data.startswith(header):
        return None
    try:
        return _parse(data[len(header):].decode(_FS_ENCODING, "surrogateescape"))
    except (ValueError, KeyError, IndexError):
        return None


def _parse(text: str) -> Listing:
    where, sizes, uids, names = text.split("\n")
    infos = tuple(map(MessageInfo, map(int, sizes.split()), uids.split("\0"), map(str.isupper, where)))
    names_list = names.split("\0")
    if not len(infos) == len(names_list) == len(where):
        raise ValueError("columns of different lengths")
    return Listing(names_list, [c in "cC" for c in where], infos)


def save(root: Folder, stamps: str, listing: Listing) -> None:
    """Keep ``listing``, listed after ``stamps`` were taken."""
    if any("\n" in name or "\0" in name for name in listing.names) or not listing.names:
        root.unlink(SNAPSHOT_NAME)
        return
    where = "".join(("c" if cur else "n").upper() if info.seen else ("c" if cur else "n")
                    for cur, info in zip(listing.in_cur, listing.infos, strict=True))
    text = "\n".join((where, " ".join(str(info.size) for info in listing.infos),
                      "\0".join(info.uid for info in listing.infos), "\0".join(listing.names)))
    data = _HEADER + stamps.encode() + b"\n" + text.encode(_FS_ENCODING, "surrogateescape")
    root.replace(SNAPSHOT_NAME, data)
