"""AUTHORIZATION state: USER, PASS, APOP; and QUIT, valid everywhere."""

from __future__ import annotations

from typing import TYPE_CHECKING

from twisted.cred.credentials import UsernamePassword

from pop3d.auth.credentials import APOPCredentials
from pop3d.core import responses
from pop3d.core.actions import Action, Send
from pop3d.core.registry import CommandError, command
from pop3d.core.states import State

if TYPE_CHECKING:
    from pop3d.core.session import Session

MAX_USERNAME = 255
AUTHZ = State.AUTHORIZATION


def parse_username(raw: bytes) -> str:
    """Validate a user name argument: 1-255 octets of UTF-8, no controls."""
    raw = raw.strip(b" ")
    if not raw or len(raw) > MAX_USERNAME or b" " in raw:
        raise CommandError("invalid user name", invalid=True)
    try:
        name = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise CommandError("invalid user name", invalid=True) from None
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        raise CommandError("invalid user name", invalid=True)
    return name


def require_plaintext_allowed(session: Session) -> None:
    if not session.plaintext_allowed():
        session.pending_user = None
        raise CommandError(
            "plaintext authentication is disabled on unencrypted connections; use STLS",
            responses.AUTH,
        )


@command("USER", AUTHZ, syntax="USER name")
def user(session: Session, args: bytes) -> list[Action]:
    require_plaintext_allowed(session)
    name = parse_username(args)
    session.pending_user = name
    # The same answer for every name: USER must not reveal which exist.
    return [Send(responses.ok(f"password required for {name}"))]


@command("PASS", AUTHZ, syntax="PASS string")
def pass_(session: Session, args: bytes) -> list[Action]:
    require_plaintext_allowed(session)
    if session.pending_user is None:
        raise CommandError("USER first", invalid=True)
    if not args:
        raise CommandError("PASS needs a password", invalid=True)
    name = session.pending_user
    # RFC 1939: the whole rest of the line is the password, spaces included.
    creds = UsernamePassword(name.encode("utf-8"), args)
    return session.authenticate(name, creds, "USER")


@command("APOP", AUTHZ, syntax="APOP name digest")
def apop(session: Session, args: bytes) -> list[Action]:
    parts = args.split()
    if len(parts) != 2:
        raise CommandError("usage: APOP name digest", invalid=True)
    if not session.apop_offered:
        # No timestamp was in the greeting: nothing to check, so no failure delay either.
        raise CommandError("APOP is not available on this connection", responses.AUTH)
    name = parse_username(parts[0])
    digest = parts[1]
    if len(digest) != 32 or not all(c in b"0123456789abcdefABCDEF" for c in digest):
        raise CommandError("invalid APOP digest", invalid=True)
    creds = APOPCredentials(name.encode("utf-8"), session.challenge.encode("ascii"), digest)
    return session.authenticate(name, creds, "APOP")


@command("QUIT", AUTHZ, State.TRANSACTION, syntax="QUIT")
def quit_(session: Session, args: bytes) -> list[Action]:
    return session.quit()
