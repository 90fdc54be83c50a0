"""XTND XLIST paces itself by messages read, not by the octets it writes."""

from __future__ import annotations

import io

from twisted.internet.testing import StringTransport

from pop3d.core.messages import MessageInfo
from pop3d.maildrop import EmptyMaildrop
from pop3d.server.xlist import MESSAGES_PER_TURN, HeaderListProducer


class HugeHeaders(EmptyMaildrop):
    """Messages whose 200 KB header lacks the field asked for: costly to read, short to answer."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.opened = 0

    def messages(self):
        return tuple(MessageInfo(200_000, f"u{i}", False) for i in range(self.count))

    def open_message(self, index: int) -> io.BytesIO:
        self.opened += 1
        return io.BytesIO(b"X-Filler: " + b"f" * 200_000 + b"\n\nbody\n")


def test_xlist_over_messages_with_huge_headers_reads_a_few_per_turn():
    """64 KB of output per turn meant reading the headers of thousands of messages in one go."""
    maildrop = HugeHeaders(200)
    transport = StringTransport()
    producer = HeaderListProducer(transport, maildrop, "Subject", tuple(range(200)), b"+OK\r\n")
    producer.start()
    turns = 0
    while transport.producer is not None:  # each time the transport's buffer has drained
        producer.resumeProducing()
        turns += 1
        assert maildrop.opened <= turns * MESSAGES_PER_TURN
    lines = transport.value().split(b"\r\n")
    assert lines[0] == b"+OK" and lines[1:3] == [b"1", b"2"] and lines[-2:] == [b".", b""]
    assert maildrop.opened == 200
