"""TRANSACTION state: STAT, LIST, RETR, DELE, NOOP, RSET, TOP, UIDL, LAST."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pop3d.core import responses
from pop3d.core.actions import Action, Send, SendMessage
from pop3d.core.registry import CommandError, command
from pop3d.core.states import State

if TYPE_CHECKING:
    from pop3d.core.session import Session

TRANS = State.TRANSACTION


def _no_args(args: bytes, name: str) -> None:
    if args.strip():
        raise CommandError(f"{name} takes no arguments", invalid=True)


def _live(session: Session) -> list[int]:
    return [i for i in range(len(session.messages)) if i not in session.deleted]


@command("STAT", TRANS, syntax="STAT")
def stat(session: Session, args: bytes) -> list[Action]:
    _no_args(args, "STAT")
    count, octets = session.totals()
    return [Send(responses.ok(f"{count} {octets}"))]


@command("LIST", TRANS, syntax="LIST [msg]")
def list_(session: Session, args: bytes) -> list[Action]:
    if args.strip():
        i = session.message_index(args)
        return [Send(responses.ok(f"{i + 1} {session.messages[i].size}"))]
    count, octets = session.totals()
    lines = [f"{i + 1} {session.messages[i].size}" for i in _live(session)]
    return [Send(responses.multiline(responses.ok(f"{count} messages ({octets} octets)"), lines))]


@command("UIDL", TRANS, syntax="UIDL [msg]")
def uidl(session: Session, args: bytes) -> list[Action]:
    if args.strip():
        i = session.message_index(args)
        return [Send(responses.ok(f"{i + 1} {session.messages[i].uid}"))]
    lines = [f"{i + 1} {session.messages[i].uid}" for i in _live(session)]
    return [Send(responses.multiline(responses.ok("unique-id listing follows"), lines))]


@command("RETR", TRANS, syntax="RETR msg")
def retr(session: Session, args: bytes) -> list[Action]:
    if not args.strip():
        raise CommandError("usage: RETR msg", invalid=True)
    i = session.message_index(args)
    session.retrieved.add(i)
    session.last_accessed = max(session.last_accessed, i + 1)
    status = responses.ok(f"{session.messages[i].size} octets")
    return [SendMessage(i, status)]


@command("TOP", TRANS, syntax="TOP msg n")
def top(session: Session, args: bytes) -> list[Action]:
    parts = args.split()
    if len(parts) != 2:
        raise CommandError("usage: TOP msg n", invalid=True)
    i = session.message_index(parts[0])
    if not parts[1].isdigit():
        raise CommandError("invalid number of lines", invalid=True)
    # int() refuses over 4300 digits; more lines than any message has means all of it.
    digits = parts[1].lstrip(b"0") or b"0"
    lines = int(digits) if len(digits) <= 18 else 10**18
    if lines >= session.messages[i].size:
        # No message has more lines than octets, so this TOP sends all of it: a retrieval for
        # EXPIRE and LAST, as a RETR would be (fetchmail fetches with ``TOP n 99999999``).
        session.retrieved.add(i)
        session.last_accessed = max(session.last_accessed, i + 1)
    return [SendMessage(i, responses.ok("top of message follows"), body_lines=lines)]


@command("DELE", TRANS, syntax="DELE msg")
def dele(session: Session, args: bytes) -> list[Action]:
    if not args.strip():
        raise CommandError("usage: DELE msg", invalid=True)
    i = session.message_index(args)
    session.deleted.add(i)
    return [Send(responses.ok(f"message {i + 1} deleted"))]


@command("NOOP", TRANS, State.AUTHORIZATION, syntax="NOOP")
def noop(session: Session, args: bytes) -> list[Action]:
    """+OK, in TRANSACTION and also before login: Mail::POP3Client tests a connection with
    NOOP after a refused APOP and gives up on an -ERR instead of trying USER/PASS."""
    _no_args(args, "NOOP")
    return [Send(responses.ok())]


@command("RSET", TRANS, syntax="RSET")
def rset(session: Session, args: bytes) -> list[Action]:
    _no_args(args, "RSET")
    session.deleted.clear()
    session.last_accessed = session.initial_last
    count, octets = session.totals()
    return [Send(responses.ok(f"maildrop has {count} messages ({octets} octets)"))]


@command("LAST", TRANS, syntax="LAST")
def last(session: Session, args: bytes) -> list[Action]:
    """RFC 1460's LAST: the highest message number accessed (0 if none)."""
    _no_args(args, "LAST")
    highest = session.last_accessed
    # A deleted message no longer counts as accessed (RFC 1460).
    while highest and (highest - 1) in session.deleted:
        highest -= 1
    return [Send(responses.ok(str(highest)))]
