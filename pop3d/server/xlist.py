"""XTND XLIST: stream one header line per message, reading only the headers.

A pull producer like the RETR one: each time the transport's buffer drains
it reads the headers of a few more messages (:data:`MESSAGES_PER_TURN`,
counted in messages read, since one header may be long and its answer line
short), so a 10,000-message maildrop is listed without holding the whole
answer in memory or the reactor for long.
"""

from __future__ import annotations

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


def header_lines(reader: MessageReader, limit: int = MAX_HEADER) -> Iterator[bytes]:
    """The lines of a message's header (without line ends), up to the blank line."""
    carry = b""
    consumed = 0
    while consumed < limit:
        chunk = reader.read(READ)
        if not chunk:
            break
        consumed += len(chunk)
        lines = (carry + chunk).split(b"\n")
        carry = lines.pop()
        for line in lines:
            line = line.removesuffix(b"\r")
            if not line:
                return
            yield line
    if carry and consumed < limit:
        yield carry.removesuffix(b"\r")


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
