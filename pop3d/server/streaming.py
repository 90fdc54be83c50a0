"""Stream one message to the client with backpressure.

A pull producer: the transport asks for the next chunk only when its write
buffer has drained, so a client reading a 50 MB message at a crawl holds one
chunk of memory, and the reactor keeps serving everyone else in between.
"""

from __future__ import annotations

from twisted.internet import defer, interfaces
from zope.interface import implementer

from pop3d.core.wire import MessageEncoder
from pop3d.maildrop import MessageReader

CHUNK = 64 * 1024


@implementer(interfaces.IPullProducer)
class MessageProducer:
    def __init__(self, consumer: interfaces.IConsumer, reader: MessageReader, status: bytes,
                 body_lines: int | None, on_progress: object = None) -> None:
        self.consumer = consumer
        self.reader = reader
        self.encoder = MessageEncoder(body_lines)
        self.on_progress = on_progress
        self.finished: defer.Deferred[None] = defer.Deferred()
        self._pending = status
        self._done = False

    def start(self) -> defer.Deferred[None]:
        self.consumer.registerProducer(self, False)
        return self.finished

    def resumeProducing(self) -> None:  # noqa: N802 (Twisted's name)
        if self._done:
            return
        # Gather up to a chunk (or the whole of a small message, terminator
        # included) into one write: separate small writes for the status,
        # body and "." would each cost a TCP segment and round trip.
        parts = [self._pending]
        size = len(self._pending)
        self._pending = b""
        while size < CHUNK and not self._done:
            chunk = self.reader.read(CHUNK)
            if chunk:
                data = self.encoder.feed(chunk)
                if self.encoder.done:
                    data += self.encoder.finish()
                    self._finish()
            else:
                data = self.encoder.finish()
                self._finish()
            parts.append(data)
            size += len(data)
        if size:
            self.consumer.write(b"".join(parts))
        if callable(self.on_progress):
            self.on_progress()
        if self._done:
            self.consumer.unregisterProducer()
            self.finished.callback(None)

    def stopProducing(self) -> None:  # noqa: N802
        """The connection went away mid-message."""
        if not self._done:
            self._finish()
            self.finished.errback(defer.CancelledError("connection lost during transfer"))

    def _finish(self) -> None:
        self._done = True
        self.reader.close()
