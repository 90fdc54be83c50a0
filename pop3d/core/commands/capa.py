"""CAPA (RFC 2449): the capabilities in force for this session right now."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pop3d.core import responses
from pop3d.core.actions import Action, Send
from pop3d.core.commands.sasl import offered_mechanisms
from pop3d.core.registry import command
from pop3d.core.states import State

if TYPE_CHECKING:
    from pop3d.core.session import Session


def capabilities(session: Session) -> list[str]:
    p = session.policy
    caps = ["TOP", "UIDL", "RESP-CODES", "AUTH-RESP-CODE", "PIPELINING"]
    in_authz = session.state is State.AUTHORIZATION
    plaintext = session.plaintext_allowed()
    if in_authz and plaintext:
        caps.insert(1, "USER")
    if in_authz and p.stls_available and not session.tls_active:
        caps.append("STLS")
    mechanisms = offered_mechanisms(session)
    if in_authz and mechanisms:
        caps.append("SASL " + " ".join(mechanisms))
    delay = p.login_delay if in_authz else session.user_login_delay
    if delay is not None:
        caps.append(f"LOGIN-DELAY {delay}" + (" USER" if in_authz and p.login_delay_per_user else ""))
    if p.expire is not None:
        caps.append(f"EXPIRE {p.expire}")
    if p.xtnd:
        caps.append("XTND")
    caps.extend(p.extra_capabilities)
    caps.append(f"IMPLEMENTATION pop3d-{p.version}")
    return caps


@command("CAPA", State.AUTHORIZATION, State.TRANSACTION, syntax="CAPA")
def capa(session: Session, args: bytes) -> list[Action]:
    return [Send(responses.multiline(responses.ok("capability list follows"), capabilities(session)))]
