"""AUTH (RFC 5034): SASL PLAIN, LOGIN and CRAM-MD5 in the AUTHORIZATION state.

``AUTH`` alone lists the mechanisms on offer.  ``AUTH MECH [initial-response]``
runs an exchange: the server sends ``+ BASE64-CHALLENGE`` lines and takes the
client's base64 answers through :attr:`Session.continuation`.  A ``*`` line
cancels; malformed base64 or a mismatched authorization identity is answered
with ``-ERR`` and the session stays usable.  Verified credentials go to the
adapter exactly like USER/PASS and APOP, so failure delays and lock-out apply.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from typing import TYPE_CHECKING

from twisted.cred.credentials import UsernamePassword

from pop3d.auth.credentials import CramMD5Credentials
from pop3d.config.auth import SHARED_SECRET_MECHANISMS
from pop3d.core import responses
from pop3d.core.actions import Action, Send
from pop3d.core.challenge import make_challenge
from pop3d.core.commands.authorization import parse_username
from pop3d.core.registry import CommandError, command
from pop3d.core.states import State

if TYPE_CHECKING:
    from pop3d.core.session import Session

def offered_mechanisms(session: Session) -> list[str]:
    """The mechanisms this session may use now, for ``AUTH`` and CAPA's ``SASL`` line."""
    p = session.policy
    plaintext = session.plaintext_allowed()
    return [m for m in p.sasl_mechanisms
            if (plaintext or m not in p.plaintext_mechanisms)
            and (session.tls_active or not p.apop_requires_tls or m not in SHARED_SECRET_MECHANISMS)]


def challenge(data: bytes) -> list[Action]:
    return [Send(b"+ " + base64.b64encode(data) + b"\r\n")]


def decode(line: bytes, initial: bool = False) -> bytes:
    """A client's base64 answer; ``*`` cancels, and ``=`` is an empty initial response."""
    line = line.strip()
    if line == b"*" and not initial:
        raise CommandError("authentication cancelled")
    if initial and line == b"=":
        return b""
    try:
        if len(line) % 4:
            raise ValueError("not a whole number of base64 quanta")
        return base64.b64decode(line, validate=True)
    except (binascii.Error, ValueError):
        raise CommandError("malformed base64 in AUTH response", invalid=True) from None


def expect(session: Session, then: Callable[[bytes], list[Action]]) -> None:
    """Take the next line as the answer to the challenge just sent."""
    session.continuation = lambda line: then(decode(line))


def plain(session: Session, initial: bytes | None) -> list[Action]:
    def answer(data: bytes) -> list[Action]:
        parts = data.split(b"\0")
        if len(parts) != 3 or not parts[1] or not parts[2]:
            raise CommandError("malformed PLAIN response", invalid=True)
        authzid, authcid, password = parts
        name = parse_username(authcid)
        if authzid and authzid != authcid:
            raise CommandError("authorization identity must be empty or the user's own", responses.AUTH)
        return session.authenticate(name, UsernamePassword(name.encode("utf-8"), password), "PLAIN")

    if initial is None:
        expect(session, answer)
        return challenge(b"")
    return answer(decode(initial, initial=True))


def login(session: Session, initial: bytes | None) -> list[Action]:
    def got_user(data: bytes) -> list[Action]:
        name = parse_username(data)

        def got_password(password: bytes) -> list[Action]:
            if not password:
                raise CommandError("empty password", invalid=True)
            return session.authenticate(name, UsernamePassword(name.encode("utf-8"), password), "LOGIN")

        expect(session, got_password)
        return challenge(b"Password:")

    if initial is None:
        expect(session, got_user)
        return challenge(b"Username:")
    return got_user(decode(initial, initial=True))


def cram_md5(session: Session, initial: bytes | None) -> list[Action]:
    if initial is not None:
        raise CommandError("CRAM-MD5 takes no initial response", invalid=True)
    nonce = make_challenge(session.policy.hostname).encode("ascii")

    def answer(data: bytes) -> list[Action]:
        user, _, digest = data.rpartition(b" ")
        if len(digest) != 32 or not all(c in b"0123456789abcdefABCDEF" for c in digest):
            raise CommandError("malformed CRAM-MD5 response", invalid=True)
        name = parse_username(user)
        return session.authenticate(name, CramMD5Credentials(name.encode("utf-8"), nonce, digest),
                                    "CRAM-MD5")

    expect(session, answer)
    return challenge(nonce)


MECHANISMS: dict[str, Callable[[Session, bytes | None], list[Action]]] = {
    "PLAIN": plain,
    "LOGIN": login,
    "CRAM-MD5": cram_md5,
}


@command("AUTH", State.AUTHORIZATION, syntax="AUTH [mechanism [initial-response]]")
def auth(session: Session, args: bytes) -> list[Action]:
    session.pending_user = None
    parts = args.split()
    offered = offered_mechanisms(session)
    if not parts:
        return [Send(responses.multiline(responses.ok("SASL mechanisms follow"), offered))]
    if len(parts) > 2:
        raise CommandError("usage: AUTH mechanism [initial-response]", invalid=True)
    mechanism = parts[0].decode("ascii", "replace").upper()
    if mechanism not in offered:
        if mechanism in session.policy.sasl_mechanisms and mechanism in SHARED_SECRET_MECHANISMS:
            raise CommandError(f"{mechanism} is allowed only over TLS; use STLS", responses.AUTH)
        if mechanism in session.policy.sasl_mechanisms:
            raise CommandError("plaintext authentication is disabled on unencrypted connections; use STLS",
                               responses.AUTH)
        raise CommandError(f"unsupported authentication mechanism {mechanism}")
    return MECHANISMS[mechanism](session, parts[1] if len(parts) == 2 else None)
