"""Crash-safe in-place rewrite of an mbox: the journal ``.<name>.pop3d-journal``.

Deleting messages rewrites the file from ``d0`` (the first deleted message)
to its end: the kept messages after ``d0`` and the mail appended meanwhile
move down, then the file is truncated.  The mbox is rewritten in place,
never replaced, because an MTA may be waiting on its inode.

Protocol (the mailbox locks are held throughout):

1. Write the journal: a header (mbox device and inode, size before, ``d0``,
   new length, SHA-256 of the payload, two samples of old bytes, a SHA-256 of
   the header) and the payload, the new bytes from ``d0``.  fsync it and the
   directory.  Until this is complete the mbox has not been touched, so an
   incomplete or invalid journal is simply removed.
2. ``pwrite`` the payload at ``d0``, ``ftruncate`` to ``d0 + new length``,
   fsync the mbox.
3. Remove the journal and fsync the directory.

Redoing step 2 is idempotent, so :func:`recover` (run at every open, under
the locks) redoes any valid journal for this inode.  One complication: after
we die, an MTA may break our stale dotlock and append before recovery runs.
The *gap sample* (old bytes just past the new end, which step 2 never
overwrites before truncating) tells whether the truncate happened: if those
bytes are still there, the appended bytes start at the old size and are
added to the payload (through a new journal, swapped in atomically); if not,
they already follow the payload.  The *prefix sample* (bytes before ``d0``)
guards against applying a journal to a file someone else rewrote.
"""

from __future__ import annotations

import hashlib
import os
import struct
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from pop3d.fileio import pread_chunks
from pop3d.fileio import write_all as _write_all
from pop3d.maildrop.base import MaildropError
from pop3d.maildrop.safe_fs import Folder, UnsafeFile

MAGIC = b"POP3DJ01"
SAMPLE = 4096
_FIXED = struct.Struct(">8sQQQQQHH32s")


@dataclass(frozen=True, slots=True)
class Plan:
    """Where the payload goes: bytes ``[d0, orig_size)`` become ``new_len`` payload bytes."""

    dev: int
    ino: int
    orig_size: int
    d0: int
    new_len: int
    prefix: bytes  # old bytes [d0 - len(prefix), d0)
    gap: bytes  # old bytes [d0 + new_len, ...), at most SAMPLE of them

    @property
    def header_len(self) -> int:
        return _FIXED.size + 32 + len(self.prefix) + len(self.gap)

    def header(self, payload_sha: bytes) -> bytes:
        fixed = _FIXED.pack(MAGIC, self.dev, self.ino, self.orig_size, self.d0, self.new_len,
                            len(self.prefix), len(self.gap), payload_sha)
        body = fixed + self.prefix + self.gap
        return fixed + hashlib.sha256(body).digest() + self.prefix + self.gap


def sample_plan(fd: int, st: os.stat_result, d0: int, new_len: int) -> Plan:
    """A plan for the mbox open as ``fd``, with its samples read from the file."""
    lo = max(0, d0 - SAMPLE)
    end = d0 + new_len
    return Plan(st.st_dev, st.st_ino, st.st_size, d0, new_len, os.pread(fd, d0 - lo, lo),
                os.pread(fd, min(SAMPLE, st.st_size - end), end))


def write(folder: Folder, name: str, plan: Plan, payload: Iterable[bytes]) -> None:
    """Write and fsync a complete journal ``name`` in ``folder``, or remove it and re-raise."""
    folder.unlink(name)  # a leftover is recovered at open; anything else there is not ours
    fd = folder.create(name)
    try:
        _write_all(fd, bytes(plan.header_len), 0)
        digest = hashlib.sha256()
        offset = plan.header_len
        for chunk in payload:
            digest.update(chunk)
            _write_all(fd, chunk, offset)
            offset += len(chunk)
        if offset - plan.header_len != plan.new_len:
            raise MaildropError("journal payload has the wrong length")
        _write_all(fd, plan.header(digest.digest()), 0)
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        folder.unlink(name)
        raise
    os.close(fd)
    folder.fsync()


@dataclass(frozen=True, slots=True)
class Journal:
    folder: Folder
    name: str
    plan: Plan


def read(folder: Folder, name: str) -> Journal | None:
    """The journal ``name`` in ``folder`` if it is complete, valid and a plain file of ours, else None."""
    try:
        fd = folder.open(name, ours=True)
    except (FileNotFoundError, UnsafeFile):
        return None
    try:
        fixed = os.pread(fd, _FIXED.size, 0)
        if len(fixed) != _FIXED.size:
            return None
        magic, dev, ino, orig, d0, new_len, plen, glen, payload_sha = _FIXED.unpack(fixed)
        header_sha = os.pread(fd, 32, _FIXED.size)
        prefix = os.pread(fd, plen, _FIXED.size + 32)
        gap = os.pread(fd, glen, _FIXED.size + 32 + plen)
        if magic != MAGIC or hashlib.sha256(fixed + prefix + gap).digest() != header_sha \
                or len(gap) != glen:
            return None
        plan = Plan(dev, ino, orig, d0, new_len, prefix, gap)
        if os.fstat(fd).st_size != plan.header_len + new_len:
            return None
        digest = hashlib.sha256()
        for chunk in pread_chunks(fd, plan.header_len):
            digest.update(chunk)
        if digest.digest() != payload_sha:
            return None
    finally:
        os.close(fd)
    return Journal(folder, name, plan)


def payload_chunks(journal: Journal) -> Iterator[bytes]:
    fd = journal.folder.open(journal.name, ours=True)
    try:
        yield from pread_chunks(fd, journal.plan.header_len)
    finally:
        os.close(fd)


def apply(journal: Journal, mbox_fd: int) -> None:
    """Step 2: write the payload at ``d0``, truncate, fsync (idempotent)."""
    offset = journal.plan.d0
    for chunk in payload_chunks(journal):
        _write_all(mbox_fd, chunk, offset)
        offset += len(chunk)
    os.ftruncate(mbox_fd, journal.plan.d0 + journal.plan.new_len)
    os.fsync(mbox_fd)


def finish(folder: Folder, name: str) -> None:
    """Step 3: the rewrite is durable; forget the journal."""
    folder.unlink(name)
    folder.fsync()


def recover(folder: Folder, name: str, mbox_fd: int | None) -> str:
    """Complete or discard a journal left by a crash; return what was done.

    Call with the mailbox locks held, before scanning.  A journal that is
    not a plain file of ours (a FIFO, a link) is discarded unread.
    """
    folder.unlink(name + ".tmp")
    if folder.stat(name) is None:
        return "none"
    journal = read(folder, name)
    if mbox_fd is None or journal is None:
        finish(folder, name)
        return "discarded"
    plan = journal.plan
    st = os.fstat(mbox_fd)
    if (plan.dev, plan.ino) != (st.st_dev, st.st_ino):
        finish(folder, name)
        return "discarded"
    new_end = plan.d0 + plan.new_len
    if os.pread(mbox_fd, len(plan.prefix), plan.d0 - len(plan.prefix)) != plan.prefix:
        return _set_aside(folder, name)
    if st.st_size >= plan.orig_size and os.pread(mbox_fd, len(plan.gap), new_end) == plan.gap:
        if st.st_size > plan.orig_size:
            journal = _with_appended(journal, mbox_fd, st)
        apply(journal, mbox_fd)
    elif st.st_size < new_end:
        return _set_aside(folder, name)
    finish(folder, name)
    return "redone"


def _with_appended(journal: Journal, mbox_fd: int, st: os.stat_result) -> Journal:
    """Swap in a journal whose payload also carries bytes appended after the crash."""
    old = journal.plan
    extra = st.st_size - old.orig_size
    plan = sample_plan(mbox_fd, st, old.d0, old.new_len + extra)
    plan = Plan(plan.dev, plan.ino, plan.orig_size, plan.d0, plan.new_len, old.prefix, plan.gap)

    def chunks() -> Iterator[bytes]:
        yield from payload_chunks(journal)
        shrank = MaildropError("the mbox shrank during recovery")
        yield from pread_chunks(mbox_fd, old.orig_size, st.st_size, shrank)

    folder, tmp = journal.folder, journal.name + ".tmp"
    write(folder, tmp, plan, chunks())
    folder.rename(tmp, folder, journal.name)
    folder.fsync()
    return Journal(folder, journal.name, plan)


def _set_aside(folder: Folder, name: str) -> str:
    """Keep a journal that does not match the mbox for a human, out of the way."""
    folder.rename(name, folder, f"{name}.unmatched-{int(time.time())}")
    folder.fsync()
    return "set aside"
