"""The PROXY protocol (HAProxy v1 and v2) in front of POP3: ``haproxy:`` listeners.

A load balancer in TCP mode sends a PROXY header with the client's address
before the client's first byte.  Twisted's wrapper parses it, but starts the
wrapped protocol at once, so the session would be set up (plaintext policy,
per-address limits, logs) with the balancer's address.  This wrapper starts
the wrapped protocol (POP3, or TLS then POP3) only once the header has been
read, so everything sees the real client.  A connection without a valid
header, or without a whole one within ``HEADER_TIMEOUT`` seconds, is closed
without a greeting.

Twisted exports only ``proxyEndpoint``; the wrapper built on here lives in
its private ``_wrapper`` module, so tests/server/test_proxy_header.py and
tests/integration/test_proxy_protocol.py pin the behaviour relied on.
"""

from __future__ import annotations

from twisted.internet.interfaces import IProtocol
from twisted.internet.protocol import Factory, Protocol
from twisted.protocols.haproxy._wrapper import HAProxyProtocolWrapper, HAProxyWrappingFactory
from twisted.protocols.policies import TimeoutMixin
from twisted.python.failure import Failure
from zope.interface import directlyProvides, providedBy

from pop3d.config.tls import tcp_shorthand

#: A listen entry starting with this expects a PROXY header on every connection.
PROXY_PREFIX = "haproxy:"
#: Seconds a connection may take to send its PROXY header (balancers send it at once).
HEADER_TIMEOUT = 10.0


class _Held(Protocol):
    """Collects data that arrived with the header, until the real protocol starts."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []

    def dataReceived(self, data: bytes) -> None:  # noqa: N802 (Twisted's name)
        self.chunks.append(data)


class HeaderFirstWrapper(HAProxyProtocolWrapper, TimeoutMixin):
    """Starts the wrapped protocol once the PROXY header gave the client's address."""

    started = False

    def makeConnection(self, transport: object) -> None:  # noqa: N802
        # ProtocolWrapper.makeConnection, except that the wrapped protocol waits.
        directlyProvides(self, providedBy(transport))
        Protocol.makeConnection(self, transport)  # type: ignore[arg-type]
        self.factory.registerProtocol(self)
        self.setTimeout(self.factory.header_timeout)

    def timeoutConnection(self) -> None:  # noqa: N802
        if not self.started:
            self.transport.abortConnection()  # type: ignore[union-attr]

    def dataReceived(self, data: bytes) -> None:  # noqa: N802
        if self.started:
            self.wrappedProtocol.dataReceived(data)
            return
        wrapped: IProtocol = self.wrappedProtocol
        held = _Held()
        self.wrappedProtocol = held
        try:
            super().dataReceived(data)
        finally:
            self.wrappedProtocol = wrapped
        if self._proxyInfo is None or self.disconnecting:
            return
        self.setTimeout(None)  # from here on, the wrapped protocol's own timeout applies
        self.started = True
        wrapped.makeConnection(self)
        for chunk in held.chunks:
            wrapped.dataReceived(chunk)

    def connectionLost(self, reason: Failure) -> None:  # noqa: N802
        self.setTimeout(None)
        if self.started:
            super().connectionLost(reason)
        else:  # the wrapped protocol never started: nothing to tell it
            self.factory.unregisterProtocol(self)


class HeaderFirstWrappingFactory(HAProxyWrappingFactory):
    protocol = HeaderFirstWrapper
    header_timeout = HEADER_TIMEOUT


def proxy_factory(factory: Factory) -> Factory:
    """``factory``'s connections, each preceded by a PROXY header."""
    return HeaderFirstWrappingFactory(factory)


def strip_proxy(description: str) -> tuple[str, bool]:
    """(the endpoint, True) for ``haproxy:ENDPOINT``; ``haproxy:110`` is ``tcp:110``."""
    if not description.startswith(PROXY_PREFIX):
        return description, False
    return tcp_shorthand(description[len(PROXY_PREFIX):]), True
