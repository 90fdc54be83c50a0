"""XTND XLIST: stream one header line per message, reading only the headers.

A pull producer like the RETR one: each time the transport's buffer drains
it reads the headers of a few more messages (:data:`MESSAGES_PER_TURN`,
counted in messages read, since one header may be long and its answer line
short), so a 10,000-message maildrop is listed without holding the whole
answer in memory or the reactor for long.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence

from twisted.internet import interfaces
from twisted.logger import Logger

from pop3d.core.wire import TERMINATOR
from pop3d.maildrop import Maildrop, MaildropError, MessageReader
from pop3d.server.streaming import PullResponse

log = Logger()

#: Header bytes read per message at most; a header beyond this is not found.
MAX_HEADER = 256 * 1024
#: Output gathered before it is handed to the transport.
BATCH = 64 * 1024
#: Messages whose headers are read in one turn.
MESSAGES_PER_TURN = 16
READ = 8192


#: The blank line that ends a header: at the very start, or right after a line's LF.
_BLANK_LINE = re.compile(rb"(?:^|\n)\r?\n")


def header_lines(reader: MessageReader, limit: int = MAX_HEADER) -> Iterator[bytes]:
    """The lines of a message's header (without line ends), up to the blank line.

    Read up to ``limit`` octets and split once: linear in the header's size,
    whatever its line lengths.  A last line cut off by ``limit`` is left out.
    """
    head = bytearray()
    end = None
    at_end = False
    while len(head) < limit:
        chunk = reader.read(READ)
        if not chunk:
            at_end = True
            break
        searched = max(0, len(head) - 2)  # a blank line may straddle two reads
        head += chunk
        if (blank := _BLANK_LINE.search(head, searched)) is not None:
            end = blank.start()
            break
    if end is not None:
        lines = head[:end].split(b"\n") if end else []
    else:
        lines = head.split(b"\n")
        last = lines.pop()
        if last and at_end:
            lines.append(last)
    for line in lines:
        yield bytes(line).removesuffix(b"\r")


def find_header(lines: Iterator[bytes], name: str) -> bytes | None:
    """The first ``name:`` field, unfolded (the CRLF before each WSP removed)."""
    wanted = name.lower().encode("ascii")
    found: bytes | None = None
    for line in lines:
        if found is not None:
            if line[:1] in (b" ", b"\t"):
                found += line
                continue
            return found
        field, colon, _ = line.partition(b":")
        if colon and field.rstrip(b" \t").lower() == wanted:
            found = line
    return found


def header_line(maildrop: Maildrop, index: int, name: str) -> bytes:
    """``N Name: value`` for message ``index``, or ``N`` alone without that header."""
    number = b"%d" % (index + 1)
    try:
        reader = maildrop.open_message(index)
    except MaildropError as exc:
        log.warn("XLIST cannot open message {n}: {exc}", n=index + 1, exc=exc)
        return number
    try:
        value = find_header(header_lines(reader), name)
    finally:
        reader.close()
    if value is None:
        return number
    # A CR or NUL inside a stored header must not break the response framing.
    return number + b" " + value.replace(b"\r", b" ").replace(b"\0", b" ")


class HeaderListProducer(PullResponse):
    """XTND XLIST: one header line per message, then the terminator."""

    budget = BATCH
    pieces_per_turn = MESSAGES_PER_TURN

    def __init__(self, consumer: interfaces.IConsumer, maildrop: Maildrop, name: str,
                 indices: Sequence[int], status: bytes,
                 on_progress: Callable[[], object] | None = None) -> None:
        super().__init__(consumer, status, on_progress)
        self.maildrop = maildrop
        self.name = name
        self.remaining = iter(indices)

    def next_piece(self) -> bytes:
        index = next(self.remaining, None)
        if index is None:
            self.complete = True
            return TERMINATOR
        return header_line(self.maildrop, index, self.name) + b"\r\n"
