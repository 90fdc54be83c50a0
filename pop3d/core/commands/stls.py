"""STLS (RFC 2595): switch the connection to TLS before authenticating.

Only in AUTHORIZATION, only where the server has a certificate, and only
once.  The ``+OK`` goes out in the clear; the :class:`StartTLS` action tells
the adapter to start the handshake and to throw away whatever the client
sent after the command, so nothing pipelined in the clear is executed inside
TLS (the STARTTLS command-injection class of bugs).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pop3d.core import responses
from pop3d.core.actions import Action, Send, StartTLS
from pop3d.core.registry import CommandError, command
from pop3d.core.states import State

if TYPE_CHECKING:
    from pop3d.core.session import Session


@command("STLS", State.AUTHORIZATION, syntax="STLS")
def stls(session: Session, args: bytes) -> list[Action]:
    if args.strip():
        raise CommandError("STLS takes no arguments", invalid=True)
    if session.tls_active:
        raise CommandError("TLS is already active")
    if not session.policy.stls_available:
        raise CommandError("STLS is not available on this server")
    # A USER given in the clear does not carry over into the TLS session.
    session.pending_user = None
    return [Send(responses.ok("begin TLS negotiation")), StartTLS()]
