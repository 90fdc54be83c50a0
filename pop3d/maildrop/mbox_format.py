"""The mbox file format: where messages are, and their bytes with quoting undone.

Separator rule
    A line starting with ``From `` starts a new message when it is the first
    line of the file or when the line before it is empty (``""`` or a lone
    CR).  Neither that empty line nor the ``From `` line is part of the
    message served.  A final empty line at the end of the file is dropped too,
    since writers put one after every message.  A ``From `` line that follows
    a non-empty line is message text.  Bytes before the first separator that
    are not just blank lines are served as a message of their own, so that
    nothing in the file is invisible to the user.

Regions
    A message's *region* runs from its ``From `` line to the next separator
    (or to the end of the scanned file).  Deleting a message removes exactly
    its region, and what remains is still a valid mbox because every region
    that is followed by another ends with the empty line the rule needs.

Quoting
    ``mboxrd`` writers turn a line ``>*From `` into ``>>*From ``; readers
    remove one ``>``.  ``mboxo`` writers only turn ``From `` into ``>From ``;
    readers remove the ``>`` of ``>From `` lines alone.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass

from pop3d.core.wire import WireSizer
from pop3d.fileio import pread_chunks
from pop3d.maildrop.base import MaildropError

FORMATS = ("mboxrd", "mboxo")
_QUOTED = {
    "mboxrd": re.compile(rb"(?m)^>(?=>*From )"),
    "mboxo": re.compile(rb"(?m)^>(?=From )"),
}
_PROBE = b">From "  # occurs in every quoted line of either format

#: Regions up to this size are read with one pread; larger ones are streamed.
WHOLE_READ_LIMIT = 1 << 20
#: Bytes of a message searched for its header block (for ``Status:``).
HEADER_LIMIT = 256 << 10
_BLOCK = 4 << 20


def _chunks(fd: int, start: int, end: int) -> Iterator[bytes]:
    """Bytes ``[start, end)`` of the mbox, in blocks; MaildropError if the file is shorter."""
    return pread_chunks(fd, start, end, MaildropError("the mbox shrank while it was being read"), _BLOCK)


def pread_exact(fd: int, size: int, offset: int) -> bytes:
    """Read exactly ``size`` bytes at ``offset`` or raise MaildropError."""
    return b"".join(_chunks(fd, offset, offset + size))


def unquote(block: bytes, fmt: str) -> bytes:
    """Undo ``From `` quoting in whole lines (``block`` starts at a line start)."""
    if _PROBE not in block:
        return block
    return _QUOTED[fmt].sub(b"", block)


def empty_line_before(buf: bytes, i: int, file_offset: int) -> bool:
    """Whether the line ending with the LF at ``buf[i]`` (file ``file_offset``) is empty."""
    if file_offset == 0:
        return True
    if buf[i - 1] == 0x0A:
        return True
    return buf[i - 1] == 0x0D and (file_offset == 1 or buf[i - 2] == 0x0A)


def find_separators(fd: int, start: int, end: int) -> list[int]:
    """Offsets in ``[start, end)`` of ``From `` lines that start a message."""
    seps: list[int] = []
    if start == 0 and end >= 5 and os.pread(fd, 5, 0) == b"From ":
        seps.append(0)
    back = min(start, 3)
    prev = os.pread(fd, back, start - back) if back else b""
    pos = start
    for data in _chunks(fd, start, end):
        buf = prev + data
        base = pos - len(prev)
        i = buf.find(b"\nFrom ")
        while i >= 0:
            sep = base + i + 1
            # Hits lying wholly inside ``prev`` were found in the previous block.
            if i + 6 > len(prev) and start <= sep and sep + 5 <= end \
                    and empty_line_before(buf, i, base + i):
                seps.append(sep)
            i = buf.find(b"\nFrom ", i + 1)
        prev = buf[-8:]
        pos += len(data)
    return seps


@dataclass(frozen=True, slots=True)
class Region:
    """Offsets of one message: ``[start, end)`` in the file, ``[body, stop)`` served."""

    start: int
    body: int
    stop: int
    end: int


def _trailing_empty_line(tail: bytes, tail_offset: int, body: int) -> int:
    """Length (0, 1 or 2) of an empty last line in ``tail``, which ends the content.

    ``tail`` holds the last bytes (up to 3) of the content starting at file
    offset ``tail_offset``; the content itself starts at ``body``.
    """
    end = tail_offset + len(tail)
    if not tail.endswith(b"\n"):
        return 0
    if end - 1 == body or tail[-2:-1] == b"\n":
        return 1
    if tail.endswith(b"\r\n") and (end - 2 == body or tail[-3:-2] == b"\n"):
        return 2
    return 0


def region_at(fd: int, start: int, end: int, has_from_line: bool = True) -> Region:
    """Locate the served content of the region ``[start, end)``."""
    body = start
    if has_from_line:
        body = end
        pos = start
        while pos < end:
            data = os.pread(fd, min(4096, end - pos), pos)
            if not data:
                raise MaildropError("the mbox shrank while it was being read")
            nl = data.find(b"\n")
            if nl >= 0:
                body = pos + nl + 1
                break
            pos += len(data)
    lo = max(body, end - 3)
    tail = os.pread(fd, end - lo, lo) if end > lo else b""
    return Region(start, body, end - _trailing_empty_line(tail, lo, body), end)


def region_bounds(fd: int, seps: list[int], start: int, end: int) -> list[tuple[int, int, bool]]:
    """``(start, end, has_from_line)`` of each region in ``[start, end)``, preamble included."""
    bounds = []
    first = seps[0] if seps else end
    if first > start and not _blank(fd, start, first):
        bounds.append((start, first, False))
    edges = seps + [end]
    bounds.extend((a, b, True) for a, b in zip(edges, edges[1:], strict=False))
    return bounds


def _blank(fd: int, start: int, end: int) -> bool:
    return not any(data.strip() for data in _chunks(fd, start, end))


@dataclass(frozen=True, slots=True)
class Stats:
    """What a scan learns about a message: wire size, read flag, region digest, X-UIDL."""

    size: int
    seen: bool
    digest: str
    x_uidl: str | None = None


#: ``(start, body, stop, end, size, seen, digest, x_uidl)`` of one message (see Region and Stats).
Described = tuple[int, int, int, int, int, bool, str, "str | None"]


def describe(fd: int, bounds: list[tuple[int, int, bool]], fmt: str,
             whole_limit: int = WHOLE_READ_LIMIT) -> list[Described]:
    """Locate and measure each region; small neighbours are read together in one pread."""
    out: list[Described] = []
    i = 0
    while i < len(bounds):
        start, end, has_from = bounds[i]
        if end - start > whole_limit:
            r = region_at(fd, start, end, has_from)
            stats = region_stats(fd, r, fmt)
            out.append((r.start, r.body, r.stop, r.end, stats.size, stats.seen, stats.digest,
                        stats.x_uidl))
            i += 1
            continue
        j = i + 1
        while j < len(bounds) and bounds[j][1] - start <= _BLOCK \
                and bounds[j][1] - bounds[j][0] <= whole_limit:
            j += 1
        buf = pread_exact(fd, bounds[j - 1][1] - start, start)
        out.extend(_describe_in(buf, start, a, b, hf, fmt) for a, b, hf in bounds[i:j])
        i = j
    return out


def region_digest(digest: hashlib._Hash, last_byte: bytes, has_empty_last_line: bool) -> str:
    """The hex digest (the UIDL's source) of a region whose bytes ``digest`` has seen.

    A last region written without the empty line that ends every other one
    is hashed as if it had it (``\n``, after a ``\n`` more if its last line
    is unfinished): the next delivery adds that line, and the message's UIDL
    must not change with it.
    """
    if not has_empty_last_line and last_byte:
        digest.update(b"\n" if last_byte == b"\n" else b"\n\n")
    return digest.hexdigest()


def _describe_in(buf: bytes, base: int, start: int, end: int, has_from: bool, fmt: str) -> Described:
    """Describe ``[start, end)``, whose bytes are in ``buf`` (which starts at file offset ``base``)."""
    lo, hi = start - base, end - base
    body = lo
    if has_from:
        nl = buf.find(b"\n", lo, hi)
        body = nl + 1 if nl >= 0 else hi
    tail_lo = max(body, hi - 3)
    stop = hi - _trailing_empty_line(buf[tail_lo:hi], tail_lo, body)
    if buf.find(_PROBE, body, stop) >= 0:
        size = wire_length(unquote(buf[body:stop], fmt), 0, None)
    else:
        size = wire_length(buf, body, stop)
    head = buf[body:min(stop, body + HEADER_LIMIT)]
    digest = region_digest(hashlib.sha256(memoryview(buf)[lo:hi]), buf[hi - 1:hi], stop < hi)
    return (start, base + body, base + stop, end, size, seen_in_header(head), digest, x_uidl_in_header(head))


def wire_length(buf: bytes, lo: int, hi: int | None) -> int:
    """Wire size of ``buf[lo:hi]`` by the rules of :mod:`pop3d.core.wire`, without copying."""
    hi = len(buf) if hi is None else hi
    lf = buf.count(b"\n", lo, hi)
    size = hi - lo - buf.count(b"\r\n", lo, hi) + lf
    if hi > lo and buf[hi - 1] != 0x0A:
        size += 1 if buf[hi - 1] == 0x0D else 2
    return size


def _header_block(content_head: bytes) -> bytes:
    """The header lines at the start of a message (up to its first empty line)."""
    if content_head.startswith((b"\n", b"\r\n")):
        return b""
    end = content_head.find(b"\n\n")
    crlf_end = content_head.find(b"\n\r\n", 0, end if end >= 0 else len(content_head))
    if crlf_end >= 0:
        end = crlf_end
    return content_head[: end + 1] if end >= 0 else content_head


def _field_values(header: bytes, name: bytes) -> list[bytes]:
    """The first line of every ``name:`` field (``name`` lower-case; any case in the header)."""
    lowered = header.lower()
    values = []
    pos = lowered.find(name)
    while pos >= 0:
        if pos == 0 or lowered[pos - 1] == 0x0A:
            line_end = header.find(b"\n", pos)
            values.append(header[pos + len(name): line_end if line_end >= 0 else len(header)])
        pos = lowered.find(name, pos + len(name))
    return values


def seen_in_header(content_head: bytes) -> bool:
    """Whether the header block has a ``Status:`` field (any case) whose value contains ``R``."""
    return any(b"R" in value for value in _field_values(_header_block(content_head), b"status:"))


def x_uidl_in_header(content_head: bytes) -> str | None:
    """The value of the first ``X-UIDL:`` field (as qpopper wrote them), if it is a valid UIDL."""
    for value in _field_values(_header_block(content_head), b"x-uidl:"):
        uidl = value.strip()
        if 1 <= len(uidl) <= 70 and all(0x21 <= c <= 0x7E for c in uidl):
            return uidl.decode("ascii")
        return None
    return None


def region_stats(fd: int, region: Region, fmt: str, chunk_size: int = 64 << 10) -> Stats:
    """Stats of a region of any size, streamed (for regions too big for one read)."""
    digest = hashlib.sha256()
    data = b""
    for data in _chunks(fd, region.start, region.end):
        digest.update(data)
    sizer = WireSizer()
    stream = MessageStream(fd, region.body, region.stop, fmt, chunk_size)
    while chunk := stream.read(chunk_size):
        sizer.feed(chunk)
    head = os.pread(fd, min(HEADER_LIMIT, region.stop - region.body), region.body)
    hexdigest = region_digest(digest, data[-1:], region.stop < region.end)
    return Stats(sizer.finish(), seen_in_header(head), hexdigest, x_uidl_in_header(head))


class MessageStream:
    """Stream the content ``[start, stop)`` of an mbox with quoting undone.

    Reads ``chunk_size`` bytes at a time with ``pread`` (the file offset is
    never moved, so several streams can share one descriptor).  Memory stays
    bounded by about two chunks, even for lines longer than a chunk.
    """

    def __init__(self, fd: int, start: int, stop: int, fmt: str, chunk_size: int = 64 << 10) -> None:
        if fmt not in FORMATS:
            raise ValueError(f"unknown mbox format {fmt!r}")
        self._fd = fd
        self._pos = start
        self._stop = stop
        self._fmt = fmt
        self._chunk = max(chunk_size, 8)
        self._carry = b""  # the last, incomplete line, not yet unquoted
        self._mid_line = False  # the carry continues a line whose start was emitted
        self._out = bytearray()
        self._closed = False

    def read(self, size: int = -1, /) -> bytes:
        if self._closed:
            raise ValueError("read from a closed message")
        while (size < 0 or len(self._out) < size) and self._pos < self._stop:
            self._fill()
        if size < 0 or size >= len(self._out):
            data = bytes(self._out)
            self._out.clear()
            return data
        data = bytes(self._out[:size])
        del self._out[:size]
        return data

    def close(self) -> None:
        self._closed = True
        self._out.clear()

    def _fill(self) -> None:
        try:
            data = os.pread(self._fd, min(self._chunk, self._stop - self._pos), self._pos)
        except OSError as exc:
            raise MaildropError(f"cannot read message: {exc.strerror}") from exc
        if not data:
            raise MaildropError("the message is no longer in the mbox")
        self._pos += len(data)
        buf = self._carry + data
        if self._pos >= self._stop:
            complete, self._carry = buf, b""
        else:
            cut = buf.rfind(b"\n") + 1
            complete, self._carry = buf[:cut], buf[cut:]
        self._out += self._unquote_lines(complete)
        if len(self._carry) >= self._chunk:
            self._flush_long_line()

    def _unquote_lines(self, block: bytes) -> bytes:
        if not self._mid_line:
            return unquote(block, self._fmt)
        nl = block.find(b"\n")
        if nl < 0:
            return block
        self._mid_line = False
        return block[: nl + 1] + unquote(block[nl + 1:], self._fmt)

    def _flush_long_line(self) -> None:
        """Emit most of a line longer than a chunk, keeping what quoting needs."""
        carry = self._carry
        if self._mid_line:
            self._out += carry
            self._carry = b""
            return
        run = len(carry) - len(carry.lstrip(b">"))
        if run == len(carry):
            if self._fmt == "mboxrd":
                # Only the count of '>' matters, so keep one back as the new line start.
                self._out += carry[:-1]
                self._carry = b">"
            else:
                self._out += carry
                self._carry = b""
                self._mid_line = True
        elif len(carry) - run >= 5:
            self._out += unquote(carry, self._fmt)
            self._carry = b""
            self._mid_line = True
