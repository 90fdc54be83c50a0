"""Write to the client with backpressure: short answers, and messages streamed.

:class:`ResponseWriter` carries the session's short answers and holds them
back while the transport's buffer is full, reporting how much it holds, so the
connection stops running commands for a client that does not read.
:class:`MessageProducer` streams one message as a pull producer: the transport
asks for the next chunk only when its write buffer has drained, so a client
reading a 50 MB message at a crawl holds one chunk of memory, and the reactor
serves everyone else between chunks.
"""

from __future__ import annotations

from collections.abc import Callable

from twisted.internet import defer, interfaces
from zope.interface import implementer

from pop3d.core.wire import MessageEncoder
from pop3d.maildrop import MaildropError, MessageReader

CHUNK = 256 * 1024  # a big message in few turns: per-turn cost is Python, per-byte cost is C


class TransferStopped(Exception):
    """A message could not be read to its end (truncated or failing while sent)."""


@implementer(interfaces.IPushProducer)
class ResponseWriter:
    """Writes answers to ``transport``; holds them while the transport says its buffer is full.

    Between transfers it is the transport's streaming producer: the transport
    calls :meth:`pauseProducing` once its buffer passes its size and
    :meth:`resumeProducing` once it has drained.  ``on_held`` is told the
    octets held back each time that changes.
    """

    def __init__(self, transport: interfaces.ITransport, on_held: Callable[[int], object]) -> None:
        self.transport = transport
        self.on_held = on_held
        self._held: list[bytes] = []
        self.held = 0
        self.blocked = False
        self.attached = False

    def attach(self) -> None:
        """Become the transport's producer (again: after a transfer)."""
        if not self.attached:
            self.attached = True
            self.transport.registerProducer(self, True)  # type: ignore[attr-defined]

    def detach(self) -> None:
        """Hand everything held to the transport and step aside (for a transfer, or closing)."""
        if self.attached:
            self.attached = False
            self.transport.unregisterProducer()  # type: ignore[attr-defined]
        self.blocked = False
        self._release()

    def write(self, data: bytes) -> None:
        if self.blocked:
            self._held.append(data)
            self.held += len(data)
            self.on_held(self.held)
        else:
            self.transport.write(data)

    def pauseProducing(self) -> None:  # noqa: N802 (Twisted's name)
        self.blocked = True

    def resumeProducing(self) -> None:  # noqa: N802
        self.blocked = False
        self._release()

    def stopProducing(self) -> None:  # noqa: N802
        """The connection is gone: drop what is held."""
        self._held, self.held = [], 0

    def _release(self) -> None:
        if self._held:
            data, self._held, self.held = b"".join(self._held), [], 0
            self.transport.write(data)  # may pause this producer again at once
            self.on_held(0)


@implementer(interfaces.IPullProducer)
class PullResponse:
    """A multi-line response written as the transport asks for more.

    Subclasses say what comes next with :meth:`next_piece` and set
    ``complete`` once the piece with the terminator is out.  Each turn gathers
    pieces into one write (separate small writes for the status, the content
    and the ``.`` would each cost a TCP segment and a round trip), up to
    ``budget`` octets and at most ``pieces_per_turn`` pieces, so each turn's
    work is bounded by what is read, not by what happens to be written.
    """

    budget = CHUNK
    pieces_per_turn = 1

    def __init__(self, consumer: interfaces.IConsumer, status: bytes,
                 on_progress: Callable[[], object] | None = None) -> None:
        self.consumer = consumer
        self.on_progress = on_progress
        self.finished: defer.Deferred[None] = defer.Deferred()
        self._pending = status
        self._done = False
        self.complete = False

    def start(self) -> defer.Deferred[None]:
        self.consumer.registerProducer(self, False)
        return self.finished

    def next_piece(self) -> bytes:
        raise NotImplementedError

    def release(self) -> None:
        """Free what the response holds (called once, when it ends either way)."""

    def resumeProducing(self) -> None:  # noqa: N802 (Twisted's name)
        if self._done:
            return
        parts = [self._pending]
        size = len(self._pending)
        self._pending = b""
        pieces = 0
        while size < self.budget and pieces < self.pieces_per_turn:
            try:
                piece = self.next_piece()
            except (MaildropError, OSError) as exc:  # the file changed or failed under us
                self._abort(exc)
                return
            parts.append(piece)
            size += len(piece)
            pieces += 1
            if self.complete:
                self._end()
                break
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

    def _abort(self, exc: Exception) -> None:
        """Stop mid-response: the client gets no terminating ``.``, the connection closes."""
        self._end()
        self.consumer.unregisterProducer()
        self.finished.errback(TransferStopped(str(exc)))

    def _end(self) -> None:
        self._done = True
        self.release()


class MessageProducer(PullResponse):
    """RETR and TOP: a stored message, encoded for the wire as it is read.

    One chunk is read per turn, and the read that finds the end, so a small
    message goes out in one write and a big one never holds the reactor.
    """

    pieces_per_turn = 2

    def __init__(self, consumer: interfaces.IConsumer, reader: MessageReader, status: bytes,
                 body_lines: int | None, on_progress: Callable[[], object] | None = None) -> None:
        super().__init__(consumer, status, on_progress)
        self.reader = reader
        self.encoder = MessageEncoder(body_lines)

    def next_piece(self) -> bytes:
        chunk = self.reader.read(CHUNK)
        if not chunk:
            self.complete = True
            return self.encoder.finish()
        data = self.encoder.feed(chunk)
        if self.encoder.done:  # TOP has all it needs
            self.complete = True
            data += self.encoder.finish()
        return data

    def release(self) -> None:
        self.reader.close()
