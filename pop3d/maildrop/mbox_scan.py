"""Describe an mbox's messages, reusing the sidecar index when it still fits.

Called with the mailbox locks held.  The index is reused when it is for
the same inode and format, the file is not shorter than what it covers, and
sampled separator offsets (up to 32, and the last) are still ``From ``
lines after an empty line.  Then only the last indexed message (whose
region may have grown) and the bytes after it are scanned.  Otherwise the
whole file is scanned and UIDs are carried over by digest.

The sampled check catches the usual rewrites (a mail reader expunging or
adding ``Status:`` headers shifts offsets), not a rewrite that keeps every
sampled offset; that is why :meth:`MboxMaildrop.commit` verifies the digest
of every byte range it moves or deletes before touching the file.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from pop3d.maildrop import mbox_format as fmtmod
from pop3d.maildrop.mbox_index import Entry, Index, assign_uids, uid_pool

SAMPLES = 32


def scan(fd: int, st: os.stat_result, fmt: str, index: Index | None,
         reuse_x_uidl: bool = False) -> tuple[Index, bool]:
    """Return an index covering the whole file and whether it differs from ``index``.

    ``reuse_x_uidl``: a new message with a valid ``X-UIDL:`` header (as qpopper
    wrote them) gets that as its UID, unless another message has it.
    """
    size = st.st_size
    if index is not None and _reusable(fd, st, fmt, index):
        if size == index.size == index.covered and st.st_mtime_ns == index.mtime_ns:
            return index, False
        kept = index.entries[:-1]
        redo = index.entries[-1:]
        start = redo[0].start if redo else 0
        if start == 0:
            kept = []
        entries = kept + _scan_range(fd, start, size, fmt, redo, {e.uid for e in kept}, reuse_x_uidl)
    else:
        entries = _scan_range(fd, 0, size, fmt, index.entries if index else [], set(), reuse_x_uidl)
    return Index(st.st_dev, st.st_ino, fmt, size, size, st.st_mtime_ns, entries), True


def _reusable(fd: int, st: os.stat_result, fmt: str, index: Index) -> bool:
    if (index.dev, index.ino, index.fmt) != (st.st_dev, st.st_ino, fmt) or st.st_size < index.covered:
        return False
    entries = index.entries
    if not entries:
        return index.covered == 0
    step = max(1, len(entries) // SAMPLES)
    return all(_is_separator(fd, e) for e in entries[::step] + entries[-1:])


def _is_separator(fd: int, entry: Entry) -> bool:
    if entry.body == entry.start:  # a preamble without From line
        return entry.start == 0
    lo = max(0, entry.start - 3)
    data = os.pread(fd, entry.start - lo + 5, lo)
    i = entry.start - lo
    if data[i:] != b"From ":
        return False
    if entry.start == 0:
        return True
    return data[i - 1] == 0x0A and fmtmod.empty_line_before(data, i - 1, entry.start - 1)


def _scan_range(fd: int, start: int, end: int, fmt: str, prior: Iterable[Entry],
                taken: set[str], reuse_x_uidl: bool = False) -> list[Entry]:
    """Scan ``[start, end)`` (``start`` is 0 or a separator); UIDs/seen come from ``prior``."""
    prior = list(prior)
    seps = fmtmod.find_separators(fd, start, end)
    described = fmtmod.describe(fd, fmtmod.region_bounds(fd, seps, start, end), fmt)
    preferred = [d[7] for d in described] if reuse_x_uidl else None
    uids = assign_uids((d[6] for d in described), uid_pool(prior), taken, preferred)
    seen_before = {e.digest for e in prior if e.seen}
    return [
        Entry(start, body, stop, end_, size, seen or digest in seen_before, digest, uid)
        for (start, body, stop, end_, size, seen, digest, _), uid in zip(described, uids, strict=True)
    ]
