"""The PROXY-header wrapper in memory: the wrapped protocol starts only after the header."""

from __future__ import annotations

from twisted.internet import protocol, task
from twisted.internet.address import IPv4Address
from twisted.internet.testing import StringTransport

from pop3d.server.proxy import HeaderFirstWrappingFactory


class Recorder(protocol.Protocol):
    def __init__(self) -> None:
        self.peer = None
        self.data = b""
        self.lost = False

    def connectionMade(self) -> None:  # noqa: N802
        self.peer = self.transport.getPeer()
        self.transport.write(b"+OK greeting\r\n")

    def dataReceived(self, data: bytes) -> None:  # noqa: N802
        self.data += data

    def connectionLost(self, reason: object = None) -> None:  # noqa: N802
        self.lost = True


class Abortable(StringTransport):
    aborted = False

    def abortConnection(self) -> None:  # noqa: N802
        self.aborted = True
        self.loseConnection()


def connect(timeout: float = 10.0):  # type: ignore[no-untyped-def]
    inner = protocol.Factory.forProtocol(Recorder)
    factory = HeaderFirstWrappingFactory(inner)
    factory.header_timeout = timeout
    clock = task.Clock()
    wrapper = factory.buildProtocol(IPv4Address("TCP", "127.0.0.1", 5000))
    wrapper.callLater = clock.callLater
    transport = Abortable(peerAddress=IPv4Address("TCP", "10.0.0.5", 5000))
    wrapper.makeConnection(transport)
    return wrapper, transport, clock


def test_the_session_starts_after_the_header_with_the_clients_address():
    wrapper, transport, _ = connect()
    recorder = wrapper.wrappedProtocol
    assert recorder.peer is None and transport.value() == b""  # no greeting before the header
    wrapper.dataReceived(b"PROXY TCP4 192.0.2.7 127.0.0.1 40000 110\r\nCAPA\r\n")
    assert recorder.peer == IPv4Address("TCP", "192.0.2.7", 40000)
    assert transport.value() == b"+OK greeting\r\n"
    assert recorder.data == b"CAPA\r\n"  # what came with the header is not lost
    wrapper.dataReceived(b"QUIT\r\n")
    assert recorder.data == b"CAPA\r\nQUIT\r\n"


def test_a_connection_without_a_header_is_dropped_unstarted():
    wrapper, transport, _ = connect()
    wrapper.dataReceived(b"CAPA\r\nUSER alice\r\n")
    assert transport.disconnecting and transport.value() == b""
    wrapper.connectionLost(None)
    assert wrapper.wrappedProtocol.peer is None and not wrapper.wrappedProtocol.lost


def test_a_connection_that_sends_nothing_is_aborted_after_the_header_timeout():
    wrapper, transport, clock = connect(timeout=10)
    clock.advance(9.9)
    assert not transport.aborted
    clock.advance(0.2)
    assert transport.aborted and transport.value() == b""


def test_the_header_timeout_ends_once_the_session_started():
    wrapper, transport, clock = connect(timeout=10)
    wrapper.dataReceived(b"PROXY TCP4 192.0.2.7 127.0.0.1 40000 110\r\n")
    clock.advance(60)
    assert not transport.aborted
