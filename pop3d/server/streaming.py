"""Stream one message to the client with backpressure.

A pull producer: the transport asks for the next chunk only when its write
buffer has drained, so a client reading a 50 MB message at a crawl holds one
chunk of memory, and the reactor keeps serving everyone else in between.
"""

from __future__ import annotations

from collections.abc import Callable

from twisted.internet import defer, interfaces
from zope.interface import implementer

from pop3d.core.wire import MessageEncoder
from pop3d.maildrop import MessageReader

CHUNK = 64 * 1024


@implementer(interfaces.IPullProducer)
class PullResponse:
    """A multi-line response written as the transport asks for more.

    Subclasses say what comes next with :meth:`next_piece` (None once the
    terminator has been produced).  Each turn gathers pieces up to ``budget``
    octets into one write: separate small writes for the status, the content
    and the ``.`` would each cost a TCP segment and a round trip.
    """

    budget = CHUNK

    def __init__(self, consumer: interfaces.IConsumer, status: bytes,
                 on_progress: Callable[[], object] | None = None) -> None:
        self.consumer = consumer
        self.on_progress = on_progress
        self.finished: defer.Deferred[None] = defer.Deferred()
        self._pending = status
        self._done = False

    def start(self) -> defer.Deferred[None]:
        self.consumer.registerProducer(self, False)
        return self.finished

    def next_piece(self) -> bytes | None:
        raise NotImplementedError

    def release(self) -> None:
        """Free what the response holds (called once, when it ends either way)."""

    def resumeProducing(self) -> None:  # noqa: N802 (Twisted's name)
        if self._done:
            return
        parts = [self._pending]
        size = len(self._pending)
        self._pending = b""
        while size < self.budget:
            piece = self.next_piece()
            if piece is None:
                self._end()
                break
            parts.append(piece)
            size += len(piece)
        if size:
            self.consumer.write(b"".join(parts))
        if self.on_progress is not None:
            self.on_progress()
        if self._done:
            self.consumer.unregisterProducer()
            self.finished.callback(None)

    def stopProducing(self) -> None:  # noqa: N802
        """The connection went away mid-response."""
        if not self._done:
            self._end()
            self.finished.errback(defer.CancelledError("connection lost during transfer"))

    def _end(self) -> None:
        self._done = True
        self.release()


class MessageProducer(PullResponse):
    """RETR and TOP: a stored message, encoded for the wire as it is read."""

    def __init__(self, consumer: interfaces.IConsumer, reader: MessageReader, status: bytes,
                 body_lines: int | None, on_progress: Callable[[], object] | None = None) -> None:
        super().__init__(consumer, status, on_progress)
        self.reader = reader
        self.encoder = MessageEncoder(body_lines)
        self._terminated = False

    def next_piece(self) -> bytes | None:
        if self._terminated:
            return None
        chunk = self.reader.read(CHUNK)
        if not chunk:
            self._terminated = True
            return self.encoder.finish()
        data = self.encoder.feed(chunk)
        if self.encoder.done:
            self._terminated = True
            data += self.encoder.finish()
        return data

    def release(self) -> None:
        self.reader.close()
