"""The UID sidecar of an mbox: ``.<name>.pop3d-index`` next to the mbox.

It records, for the file's inode and the byte range it describes, every
message's offsets, wire size, seen flag, the SHA-256 of its raw region, and
its UID.  Two jobs:

* UIDs stay stable without ever writing into the mbox: a message keeps the
  UID stored for its digest, even after other messages were deleted or the
  file was rewritten by another program.  Without an index, UIDs are derived
  from the digest (plus ``.2``, ``.3``... for identical copies), so losing the
  index loses nothing in the usual case.
* Re-opening a large mbox is fast: when the described prefix is unchanged,
  only the bytes appended since are scanned.

The file is only a cache of facts that can be recomputed: a damaged or
foreign index is ignored, never trusted blindly (see :mod:`mbox_scan`).
It is written atomically (temporary file, fsync, rename) and read only if it
is a plain file of ours (see :mod:`pop3d.maildrop.safe_fs`).
"""

from __future__ import annotations

import json
import operator
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from itertools import repeat
from operator import attrgetter

from pop3d.maildrop.base import MaildropError
from pop3d.maildrop.safe_fs import Folder

VERSION = 1
UID_HASH_CHARS = 24
#: A bigger index is not one pop3d wrote (about 150 bytes per message).
_MAX_INDEX = 1 << 30


@dataclass(slots=True)
class Entry:
    """One message: region offsets (see :class:`mbox_format.Region`) and what we know."""

    start: int
    body: int
    stop: int
    end: int
    size: int
    seen: bool
    digest: str
    uid: str

    def to_row(self) -> list[object]:
        return [self.start, self.body, self.stop, self.end, self.size, int(self.seen), self.digest, self.uid]

    @classmethod
    def from_rows(cls, rows: list[list[object]]) -> list[Entry]:
        """Entries from the index's rows, checked column by column (in C, not per row in Python)."""
        if not isinstance(rows, list) or not all(map(isinstance, rows, repeat(list))):
            raise ValueError("bad index rows")
        if not rows:
            return []
        if set(map(len, rows)) != {8}:
            raise ValueError("bad index row")
        starts, bodies, stops, ends, sizes, seens, digests, uids = zip(*rows, strict=True)
        if not (set(map(type, starts + bodies + stops + ends + sizes)) == {int}
                and set(map(type, digests)) == {str} and set(map(type, uids)) == {str}
                and _UIDS.fullmatch("\n".join(uids)) is not None  # type: ignore[arg-type]
                and min(starts) >= 0  # type: ignore[type-var]
                and all(map(operator.le, starts, bodies)) and all(map(operator.le, bodies, stops))
                and all(map(operator.le, stops, ends))):
            raise ValueError("bad index row")
        return list(map(cls, starts, bodies, stops, ends, sizes, map(bool, seens), digests, uids))


@dataclass(slots=True)
class Index:
    """What the sidecar says about bytes ``[0, covered)`` of one mbox inode."""

    dev: int
    ino: int
    fmt: str
    covered: int
    size: int  # file size when written
    mtime_ns: int  # file mtime when written
    entries: list[Entry] = field(default_factory=list)


_UID = re.compile(r"[\x21-\x7e]{1,70}")
_UIDS = re.compile(r"[\x21-\x7e]{1,70}(?:\n[\x21-\x7e]{1,70})*")  # valid UIDs, one a line


def valid_uid(uid: str) -> bool:
    return _UID.fullmatch(uid) is not None


def load(folder: Folder, name: str) -> Index | None:
    """Read the index ``name`` in ``folder``; None when it is missing, unreadable, malformed
    or not a plain file of ours."""
    try:
        data = folder.read(name, _MAX_INDEX)
        if data is None:
            return None
        doc = json.loads(data)
        if doc.get("version") != VERSION:
            return None
        index = Index(int(doc["dev"]), int(doc["ino"]), str(doc["fmt"]), int(doc["covered"]),
                      int(doc["size"]), int(doc["mtime_ns"]),
                      Entry.from_rows(doc["messages"]))
    except (OSError, MaildropError, ValueError, KeyError, TypeError, AttributeError):
        return None
    ends = list(map(attrgetter("end"), index.entries))
    starts = list(map(attrgetter("start"), index.entries))
    if any(map(operator.gt, ends[:-1], starts[1:])) or (ends and ends[-1] > index.covered):
        return None
    return index


def save(folder: Folder, name: str, index: Index) -> None:
    """Write ``index`` atomically; an OSError leaves the old file in place."""
    doc = {
        "version": VERSION, "dev": index.dev, "ino": index.ino, "fmt": index.fmt,
        "covered": index.covered, "size": index.size, "mtime_ns": index.mtime_ns,
        "messages": [e.to_row() for e in index.entries],
    }
    folder.replace(name, json.dumps(doc, separators=(",", ":")).encode())


def assign_uids(digests: Iterable[str], pool: dict[str, list[str]], taken: set[str],
                preferred: Sequence[str | None] | None = None) -> list[str]:
    """UIDs for messages with ``digests``, reusing ``pool`` (digest -> stored UIDs, in order).

    ``taken`` holds UIDs already used by other messages of the maildrop; it is
    updated.  A message without a stored UID gets its ``preferred`` UID (an
    X-UIDL header) if that is free, else ``digest[:24]``, or with a ``.N``
    suffix when that is taken (identical copies), so that the result is the
    same whether or not an index existed.
    """
    digests = list(digests)
    uids: list[str | None] = []
    for digest in digests:
        stored = pool.get(digest)
        uid = None
        while stored:
            candidate = stored.pop(0)
            if candidate not in taken:
                uid = candidate
                taken.add(uid)
                break
        uids.append(uid)
    if preferred is not None:
        for i, wanted in enumerate(preferred):
            if uids[i] is None and wanted is not None and wanted not in taken:
                uids[i] = wanted
                taken.add(wanted)
    for i, digest in enumerate(digests):
        if uids[i] is None:
            base = digest[:UID_HASH_CHARS]
            uid, n = base, 1
            while uid in taken:
                n += 1
                uid = f"{base}.{n}"
            taken.add(uid)
            uids[i] = uid
    return [u for u in uids if u is not None]


def uid_pool(entries: Iterable[Entry]) -> dict[str, list[str]]:
    pool: dict[str, list[str]] = {}
    for e in entries:
        pool.setdefault(e.digest, []).append(e.uid)
    return pool
