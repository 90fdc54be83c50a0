"""POP3 wire encoding of stored messages: CRLF line ends and dot-stuffing.

A stored message may use LF or CRLF line ends and may lack a final newline.
On the wire every line ends in CRLF, a line starting with ``.`` gets one more
``.`` (RFC 1939 section 3), and a final ``.`` line ends the response.

The size a server reports (STAT, LIST, RETR's status line) is the number of
octets of the CRLF form *before* dot-stuffing, including the CRLF added to a
last line that had none.  :class:`WireSizer` and :class:`MessageEncoder` use
one rule for line ends so that the two always agree: a line is what precedes
an LF; one CR directly before that LF belongs to the line end.
"""

from __future__ import annotations

from collections.abc import Iterable

TERMINATOR = b".\r\n"


class _Joiner:
    """Holds back a chunk's last CR (it may belong to an LF in the next chunk).

    Each chunk is worked on whole, with bytes operations that run in C, and
    nothing but that one CR is carried over: a line of any length costs
    linear time and bounded memory.
    """

    def __init__(self) -> None:
        self.cr = False
        #: The next octet starts a line.
        self.at_line_start = True

    def take(self, chunk: bytes) -> bytes:
        """The chunk with last time's CR before it and its own final CR held back."""
        if self.cr:
            chunk = b"\r" + chunk
        self.cr = chunk.endswith(b"\r")
        return chunk[:-1] if self.cr else chunk

    def passed(self, data: bytes) -> None:
        if data:
            self.at_line_start = data.endswith(b"\n")

    @property
    def partial_line(self) -> bool:
        """A last line without its LF is pending (it gets a CRLF at the end)."""
        return self.cr or not self.at_line_start


class WireSizer:
    """Count the wire size of a message fed in chunks of any size.

    Linear time and constant memory whatever the line lengths: only whether
    the last byte seen was a CR (and whether a line is open) is carried from
    one chunk to the next, never the partial line itself.
    """

    def __init__(self) -> None:
        self._open_line = False  # bytes seen since the last LF
        self._after_cr = False  # the last byte seen was a CR
        self.size = 0
        self.lines = 0

    def feed(self, chunk: bytes) -> None:
        if not chunk:
            return
        lf = chunk.count(b"\n")
        crlf = chunk.count(b"\r\n") + (self._after_cr and chunk[0] == 0x0A)
        # Every byte counts, every line end becomes CRLF: an LF gains a CR, a CRLF stays.
        self.size += len(chunk) + lf - crlf
        self.lines += lf
        self._open_line = chunk[-1] != 0x0A
        self._after_cr = chunk[-1] == 0x0D

    def finish(self) -> int:
        """Account for a final line without newline; return the total size."""
        if self._open_line:
            self.size += 1 if self._after_cr else 2  # a final lone CR becomes the CRLF
            self.lines += 1
            self._open_line = self._after_cr = False
        return self.size


def wire_size(chunks: Iterable[bytes]) -> int:
    """Wire size of a message given as an iterable of byte chunks."""
    sizer = WireSizer()
    for chunk in chunks:
        sizer.feed(chunk)
    return sizer.finish()


class MessageEncoder:
    """Encode a stored message, fed in chunks, into dot-stuffed wire bytes.

    With ``body_lines`` set, behave as TOP: send the header, the blank line
    that ends it, and at most that many body lines; ``done`` turns true once
    nothing more will be produced, so the caller can stop reading.
    The terminating ``.`` line comes from :meth:`finish`.  Whatever the line
    lengths, each chunk costs time linear in its size and nothing is kept
    between chunks but one CR.
    """

    def __init__(self, body_lines: int | None = None) -> None:
        self._joiner = _Joiner()
        self._body_lines = body_lines
        self._in_header = True
        self.done = False

    def feed(self, chunk: bytes) -> bytes:
        if self.done:
            return b""
        # In LF form a line is what precedes an LF; its CR (if any) is back at the end.
        lf = self._joiner.take(chunk)
        if b"\r" in lf:  # a search is cheaper than a copy; most stored mail has LF ends
            lf = lf.replace(b"\r\n", b"\n")
        if self._body_lines is not None:
            lf = self._cut(lf)
        return self._stuff(lf)

    def finish(self) -> bytes:
        """End a final line without newline and return it with the terminator."""
        tail = b"\r\n" if self._joiner.partial_line and not self.done else b""
        self._joiner = _Joiner()
        self.done = True
        return tail + TERMINATOR

    def _stuff(self, lf: bytes) -> bytes:
        """Dot-stuff LF-form text and give every line a CRLF end."""
        if not lf:
            return b""
        out = lf.replace(b"\n.", b"\n..") if b"\n." in lf else lf
        if self._joiner.at_line_start and out.startswith(b"."):
            out = b"." + out
        self._joiner.passed(lf)
        return out.replace(b"\n", b"\r\n")

    def _cut(self, lf: bytes) -> bytes:
        """TOP: what of ``lf`` lies before the end of the body lines asked for."""
        start = 0
        if self._in_header:
            if self._joiner.at_line_start and lf.startswith(b"\n"):
                start = 1
            else:
                blank = lf.find(b"\n\n")
                if blank < 0:
                    return lf
                start = blank + 2
            self._in_header = False
        remaining = self._body_lines
        assert remaining is not None
        end = start
        while remaining > 0:
            found = lf.find(b"\n", end)
            if found < 0:
                self._body_lines = remaining
                return lf
            end = found + 1
            remaining -= 1
        self._body_lines = 0
        self.done = True
        return lf[:end]


def encode_message(chunks: Iterable[bytes], body_lines: int | None = None) -> bytes:
    """Encode a whole message (for tests and small messages), terminator included."""
    encoder = MessageEncoder(body_lines)
    parts = []
    for chunk in chunks:
        parts.append(encoder.feed(chunk))
        if encoder.done:
            break
    parts.append(encoder.finish())
    return b"".join(parts)


def unstuff_lines(lines: Iterable[bytes]) -> Iterable[bytes]:
    """Undo dot-stuffing of received lines (without line ends) up to ``.``."""
    for line in lines:
        if line == b".":
            return
        yield line[1:] if line.startswith(b".") else line
