"""inetd mode: serve the one connection on standard input, then exit.

inetd (or xinetd, or systemd with ``Accept=yes``) accepts the connection and
starts ``pop3d -i`` with the socket as file descriptors 0, 1 and 2.  The
socket is adopted into the reactor as a real TCP transport, so the peer's
address is known, and 0, 1 and 2 are pointed at /dev/null so that nothing
printed by accident can reach the client.
"""

from __future__ import annotations

import os
import socket
import stat

from twisted.internet import defer
from twisted.internet.protocol import Factory
from twisted.python.failure import Failure

from pop3d.server.context import ServerContext
from pop3d.server.protocol import POP3Factory, POP3ServerProtocol
from pop3d.server.tls import tls_factory


class NotASocket(Exception):
    """``-i`` was given but standard input is not a connected stream socket."""


def connected_stream_socket(fd: int = 0) -> socket.socket | None:
    """A duplicate of ``fd`` if it is a connected stream socket, else None."""
    if not _is_socket(fd):
        return None
    sock = socket.socket(fileno=os.dup(fd))
    try:
        if sock.type != socket.SOCK_STREAM:
            return None
        sock.getpeername()
    except OSError:
        sock.close()
        return None
    return sock


def started_by_inetd() -> bool:
    """Standard input is a TCP connection: we were started by inetd (auto-detection)."""
    sock = connected_stream_socket(0)
    if sock is None:
        return False
    with sock:
        return sock.family in (socket.AF_INET, socket.AF_INET6)


class _OnlyConnection(POP3ServerProtocol):
    """The one connection of an inetd process; its end ends the process."""

    factory: _OneConnectionFactory

    def connectionLost(self, reason: Failure) -> None:  # noqa: N802 (Twisted's name)
        try:
            super().connectionLost(reason)
        finally:
            if not self.factory.finished.called:
                self.factory.finished.callback(None)


class _OneConnectionFactory(POP3Factory):
    def __init__(self, context: ServerContext) -> None:
        super().__init__(context)
        self.finished: defer.Deferred[None] = defer.Deferred()

    def buildProtocol(self, addr: object) -> POP3ServerProtocol:  # noqa: N802
        proto = _OnlyConnection(self.context)
        proto.factory = self
        return proto


def adopt_stdin(reactor: object, context: ServerContext, implicit_tls: bool = False) -> defer.Deferred[None]:
    """Serve the connection on fd 0; the Deferred fires when it has closed.

    ``implicit_tls``: the connection is POP3S (``pop3d -i --implicit-tls``
    on port 995), encrypted from its first byte with the configured certificate.
    """
    sock = connected_stream_socket(0)
    if sock is None:
        raise NotASocket("standard input is not a connected socket; -i is for inetd")
    factory = _OneConnectionFactory(context)
    serving: Factory = factory
    if implicit_tls:
        assert context.tls_options is not None
        serving = tls_factory(context.tls_options, factory)
    with sock:
        reactor.adoptStreamConnection(sock.fileno(), sock.family, serving)  # type: ignore[attr-defined]
    _detach_standard_fds()
    return factory.finished


def _detach_standard_fds() -> None:
    """Point 0, 1 (and 2 if it is the socket too) at /dev/null; the reactor holds its own copy."""
    null = os.open(os.devnull, os.O_RDWR)
    try:
        for fd in (0, 1, 2):
            if fd < 2 or _is_socket(fd):
                os.dup2(null, fd)
    finally:
        os.close(null)


def _is_socket(fd: int) -> bool:
    try:
        return stat.S_ISSOCK(os.fstat(fd).st_mode)
    except OSError:
        return False
