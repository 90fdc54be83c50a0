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


def _split_complete(carry: bytes, chunk: bytes) -> tuple[bytes, bytes]:
    """Join ``carry`` and ``chunk``; return (complete lines, new partial line)."""
    data = carry + chunk if carry else chunk
    cut = data.rfind(b"\n") + 1
    return data[:cut], data[cut:]


def _strip_cr(line: bytes) -> bytes:
    return line[:-1] if line.endswith(b"\r") else line


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
    The terminating ``.`` line comes from :meth:`finish`.
    """

    def __init__(self, body_lines: int | None = None) -> None:
        self._carry = b""
        self._body_lines = body_lines
        self._in_header = True
        self.done = False

    def feed(self, chunk: bytes) -> bytes:
        if self.done:
            return b""
        complete, self._carry = _split_complete(self._carry, chunk)
        if not complete:
            return b""
        if self._body_lines is None:
            return self._encode_block(complete)
        return self._encode_limited(complete)

    def finish(self) -> bytes:
        """Flush a final line without newline and return it with the terminator."""
        tail = b""
        if self._carry and not self.done:
            tail = self._encode_limited(self._carry + b"\n") if self._body_lines is not None \
                else self._encode_block(self._carry + b"\n")
        self._carry = b""
        self.done = True
        return tail + TERMINATOR

    @staticmethod
    def _encode_block(complete: bytes) -> bytes:
        """Encode whole lines at once (fast path for RETR)."""
        lf = complete.replace(b"\r\n", b"\n")
        lf = lf.replace(b"\n.", b"\n..")
        if lf.startswith(b"."):
            lf = b"." + lf
        return lf.replace(b"\n", b"\r\n")

    def _encode_limited(self, complete: bytes) -> bytes:
        """Encode line by line, counting body lines for TOP."""
        out = []
        for raw in complete.split(b"\n")[:-1]:
            line = _strip_cr(raw)
            if self._in_header:
                if not line:
                    self._in_header = False
            else:
                assert self._body_lines is not None
                if self._body_lines <= 0:
                    self.done = True
                    break
                self._body_lines -= 1
            if line.startswith(b"."):
                line = b"." + line
            out.append(line + b"\r\n")
        if not self._in_header and self._body_lines is not None and self._body_lines <= 0:
            self.done = True
        return b"".join(out)


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
