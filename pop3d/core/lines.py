"""Bounded splitting of a byte stream into command lines.

A hostile peer must not be able to grow memory by sending a line without
an end: once the line at the head of the buffer passes its limit, a single
:data:`TOO_LONG` marker stands for it at once, and the rest of it is dropped
as it arrives, up to its LF.  Lines are taken out one at a time, so the
limit of each (a command, or a longer SASL answer) is chosen when it is read.
"""

from __future__ import annotations

from typing import Final


class _TooLong:
    def __repr__(self) -> str:
        return "TOO_LONG"


TOO_LONG: Final = _TooLong()


class LineBuffer:
    """Feed bytes in, take complete lines (without CRLF/LF) out, one at a time."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        #: The head line was reported TOO_LONG: drop bytes up to its LF.
        self.discarding = False
        #: Bytes of that over-long line dropped so far.
        self.discarded = 0

    def feed(self, data: bytes) -> bool:
        """Take received bytes; True if they end at least one line (activity)."""
        if self.discarding:
            end = data.find(b"\n")
            if end < 0:
                self.discarded += len(data)
                return False
            self.discarding = False
            self.discarded += end
            data = data[end + 1:]
            self._buffer += data
            return True
        self._buffer += data
        return b"\n" in data

    def next_line(self, max_length: int) -> bytes | _TooLong | None:
        """The next line, TOO_LONG for one over ``max_length``, or None until more arrives."""
        buffer = self._buffer
        end = buffer.find(b"\n")
        if end < 0:
            # +1 leaves room for the CR of a CRLF split across reads.
            if len(buffer) > max_length + 1:
                self.discarding = True
                self.discarded = len(buffer)
                buffer.clear()
                return TOO_LONG
            return None
        line = bytes(buffer[:end - 1 if end and buffer[end - 1] == 13 else end])
        del buffer[:end + 1]  # O(1) at the front of a bytearray
        return TOO_LONG if len(line) > max_length else line

    def has_line(self, max_length: int) -> bool:
        """True if :meth:`next_line` would return a line or TOO_LONG now."""
        return b"\n" in self._buffer or len(self._buffer) > max_length + 1

    def clear(self) -> None:
        """Drop everything buffered (used after STLS)."""
        self._buffer.clear()
        self.discarding = False
        self.discarded = 0

    @property
    def pending(self) -> int:
        """Bytes held in memory, complete lines and a partial one."""
        return len(self._buffer)
