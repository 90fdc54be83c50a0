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

import contextlib
import hashlib
import os
import struct
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from pop3d.maildrop.base import MaildropError

MAGIC = b"POP3DJ01"
SAMPLE = 4096
_FIXED = struct.Struct(">8sQQQQQHH32s")
_COPY = 1 << 20


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


def write(path: str, plan: Plan, payload: Iterable[bytes]) -> None:
    """Write and fsync a complete journal, or remove it and re-raise."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
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
        _unlink(path)
        raise
    os.close(fd)
    fsync_dir(path)


@dataclass(frozen=True, slots=True)
class Journal:
    path: str
    plan: Plan


def read(path: str) -> Journal | None:
    """The journal at ``path`` if it is complete and valid, else None."""
    try:
        with open(path, "rb") as f:
            fixed = f.read(_FIXED.size)
            if len(fixed) != _FIXED.size:
                return None
            magic, dev, ino, orig, d0, new_len, plen, glen, payload_sha = _FIXED.unpack(fixed)
            header_sha = f.read(32)
            prefix, gap = f.read(plen), f.read(glen)
            if magic != MAGIC or hashlib.sha256(fixed + prefix + gap).digest() != header_sha \
                    or len(gap) != glen:
                return None
            plan = Plan(dev, ino, orig, d0, new_len, prefix, gap)
            if os.fstat(f.fileno()).st_size != plan.header_len + new_len:
                return None
            digest = hashlib.sha256()
            while chunk := f.read(_COPY):
                digest.update(chunk)
            if digest.digest() != payload_sha:
                return None
    except FileNotFoundError:
        return None
    return Journal(path, plan)


def payload_chunks(journal: Journal) -> Iterator[bytes]:
    with open(journal.path, "rb") as f:
        f.seek(journal.plan.header_len)
        while chunk := f.read(_COPY):
            yield chunk


def apply(journal: Journal, mbox_fd: int) -> None:
    """Step 2: write the payload at ``d0``, truncate, fsync (idempotent)."""
    offset = journal.plan.d0
    for chunk in payload_chunks(journal):
        _write_all(mbox_fd, chunk, offset)
        offset += len(chunk)
    os.ftruncate(mbox_fd, journal.plan.d0 + journal.plan.new_len)
    os.fsync(mbox_fd)


def finish(path: str) -> None:
    """Step 3: the rewrite is durable; forget the journal."""
    _unlink(path)
    fsync_dir(path)


def recover(path: str, mbox_fd: int | None) -> str:
    """Complete or discard a journal left by a crash; return what was done.

    Call with the mailbox locks held, before scanning.
    """
    _unlink(path + ".tmp")
    if not os.path.lexists(path):
        return "none"
    journal = read(path)
    if mbox_fd is None or journal is None:
        finish(path)
        return "discarded"
    plan = journal.plan
    st = os.fstat(mbox_fd)
    if (plan.dev, plan.ino) != (st.st_dev, st.st_ino):
        finish(path)
        return "discarded"
    new_end = plan.d0 + plan.new_len
    if os.pread(mbox_fd, len(plan.prefix), plan.d0 - len(plan.prefix)) != plan.prefix:
        return _set_aside(path)
    if st.st_size >= plan.orig_size and os.pread(mbox_fd, len(plan.gap), new_end) == plan.gap:
        if st.st_size > plan.orig_size:
            journal = _with_appended(journal, mbox_fd, st)
        apply(journal, mbox_fd)
    elif st.st_size < new_end:
        return _set_aside(path)
    finish(path)
    return "redone"


def _with_appended(journal: Journal, mbox_fd: int, st: os.stat_result) -> Journal:
    """Swap in a journal whose payload also carries bytes appended after the crash."""
    old = journal.plan
    extra = st.st_size - old.orig_size
    plan = sample_plan(mbox_fd, st, old.d0, old.new_len + extra)
    plan = Plan(plan.dev, plan.ino, plan.orig_size, plan.d0, plan.new_len, old.prefix, plan.gap)

    def chunks() -> Iterator[bytes]:
        yield from payload_chunks(journal)
        pos = old.orig_size
        while pos < st.st_size:
            data = os.pread(mbox_fd, min(_COPY, st.st_size - pos), pos)
            if not data:
                raise MaildropError("the mbox shrank during recovery")
            yield data
            pos += len(data)

    tmp = journal.path + ".tmp"
    write(tmp, plan, chunks())
    os.replace(tmp, journal.path)
    fsync_dir(journal.path)
    return Journal(journal.path, plan)


def _set_aside(path: str) -> str:
    """Keep a journal that does not match the mbox for a human, out of the way."""
    os.replace(path, f"{path}.unmatched-{int(time.time())}")
    fsync_dir(path)
    return "set aside"


def _write_all(fd: int, data: bytes, offset: int) -> None:
    view = memoryview(data)
    while view:
        n = os.pwrite(fd, view, offset)
        view = view[n:]
        offset += n


def _unlink(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def fsync_dir(path: str) -> None:
    fd = os.open(os.path.dirname(path) or ".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
