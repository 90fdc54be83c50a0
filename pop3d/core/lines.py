"""Bounded splitting of a byte stream into command lines.

A hostile peer must not be able to grow memory by sending a line without
an end: once a line passes the limit, its bytes are dropped as they arrive
and a single :data:`TOO_LONG` marker stands for the whole line.
"""

from __future__ import annotations

from typing import Final


class _TooLong:
    def __repr__(self) -> str:
        return "TOO_LONG"


TOO_LONG: Final = _TooLong()


class LineBuffer:
    """Feed bytes in, take complete lines (without CRLF/LF) out."""

    def __init__(self, max_length: int) -> None:
        self.max_length = max_length
        self._buffer = bytearray()
        self._discarding = False

    def feed(self, data: bytes) -> list[bytes | _TooLong]:
        lines: list[bytes | _TooLong] = []
        start = 0
        while True:
            end = data.find(b"\n", start)
            if end < 0:
                break
            piece = data[start:end]
            start = end + 1
            if self._discarding:
                self._discarding = False
                lines.append(TOO_LONG)
                continue
            line = bytes(self._buffer) + piece
            self._buffer.clear()
            if line.endswith(b"\r"):
                line = line[:-1]
            lines.append(TOO_LONG if len(line) > self.max_length else line)
        rest = data[start:]
        if not self._discarding:
            self._buffer += rest
            # +1 leaves room for the CR of a CRLF split across reads.
            if len(self._buffer) > self.max_length + 1:
                self._buffer.clear()
                self._discarding = True
        return lines

    def clear(self) -> None:
        """Drop everything buffered (used after STLS)."""
        self._buffer.clear()
        self._discarding = False

    @property
    def pending(self) -> int:
        """Bytes of an incomplete line held in memory."""
        return len(self._buffer)
