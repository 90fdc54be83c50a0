"""qpopper's XTND extensions, in TRANSACTION: XLIST (a header of each message) and XMIT.

``XTND XLIST header [msg]`` answers with one line per message not marked
deleted (or for ``msg`` alone): the message number, a space and the header
line, unfolded (``3 Subject: hello``); a message without that header gets
its number alone (``4``), so the numbering stays clear.

``XTND XMIT`` answers ``+OK``; the client then sends a message, dot-stuffed
and ended by a ``.`` line, which goes to the mail submission command with
the user's address as sender.  The size limit, and the header checks of
:mod:`pop3d.core.xmit_headers` (``Sender:``/``From:``, the recipient cap),
are applied while reading: once a message fails one, the rest is read and
dropped, never kept.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pop3d.core import responses
from pop3d.core.actions import (
    Action,
    DropSubmission,
    Send,
    SendHeaderList,
    SpoolSubmission,
    StartSubmission,
    Submit,
)
from pop3d.core.registry import CommandError, command
from pop3d.core.states import State
from pop3d.core.xmit_headers import HeaderGuard, HeaderProblem

if TYPE_CHECKING:
    from pop3d.core.session import Session

#: Longest header name XLIST accepts.
MAX_HEADER_NAME = 76


def header_name(raw: bytes) -> str:
    """An RFC 5322 field name: printable ASCII except ``:``."""
    if not raw or len(raw) > MAX_HEADER_NAME or any(b < 33 or b > 126 or b == 0x3A for b in raw):
        raise CommandError("invalid header name", invalid=True)
    return raw.decode("ascii")


def xlist(session: Session, args: bytes) -> list[Action]:
    parts = args.split()
    if not 1 <= len(parts) <= 2:
        raise CommandError("usage: XTND XLIST header [msg]", invalid=True)
    name = header_name(parts[0])
    if len(parts) == 2:
        indices: tuple[int, ...] = (session.message_index(parts[1]),)
    else:
        indices = tuple(i for i in range(len(session.messages)) if i not in session.deleted)
    return [SendHeaderList(name, indices, responses.ok(f"{name} header list follows"))]


class MessageReader:
    """Reads the lines of an XMIT message; the session's continuation until ``.``.

    It counts the message's octets as they arrive (CRLF line ends, after
    unstuffing); past ``limit`` it tells the adapter to drop what it spooled
    and discards the rest.  A line over the session's line limit spoils the
    message the same way, without losing track of where it ends.
    """

    def __init__(self, session: Session, limit: int) -> None:
        self.session = session
        self.limit = limit
        self.size = 0
        self.problem: str | None = None
        policy = session.policy
        assert session.username is not None
        self.address = user_address(session.username, policy.xmit_mail_domain)
        self.headers = HeaderGuard(self.address, policy.xmit_from_policy, policy.xmit_max_recipients)

    def __call__(self, line: bytes) -> list[Action]:
        if line == b".":
            return self.finish()
        self.session.continuation = self
        if line.startswith(b"."):
            line = line[1:]
        self.size += len(line) + 2
        if self.problem is not None:
            return []
        if self.size > self.limit:
            return self.spoil(f"message exceeds {self.limit} octets; discarded")
        try:
            lines = self.headers.line(line)
        except HeaderProblem as exc:
            return self.spoil(str(exc))
        return [SpoolSubmission(b"".join(out + b"\n" for out in lines))] if lines else []

    def line_too_long(self) -> list[Action]:
        self.session.continuation = self
        if self.problem is not None:
            return []
        return self.spoil("message has a line over the length limit; discarded")

    def spoil(self, problem: str) -> list[Action]:
        self.problem = problem
        return [DropSubmission()]

    def finish(self) -> list[Action]:
        if self.problem is not None:
            return [Send(responses.err(self.problem))]
        if self.size == 0:
            return [DropSubmission(), Send(responses.err("empty message; nothing sent"))]
        try:
            added = self.headers.finish()  # a message of headers only
        except HeaderProblem as exc:
            return [DropSubmission(), Send(responses.err(str(exc)))]
        assert self.session.username is not None
        spool = [SpoolSubmission(b"".join(line + b"\n" for line in added))] if added else []
        return [*spool, Submit(self.address, self.session.username)]


def user_address(user: str, domain: str | None) -> str:
    """The user's mail address: the login if it has a domain, else ``user@domain``."""
    return user if "@" in user or not domain else f"{user}@{domain}"


def xmit(session: Session, args: bytes) -> list[Action]:
    if args.strip():
        raise CommandError("XTND XMIT takes no arguments", invalid=True)
    session.continuation = MessageReader(session, session.policy.xmit_max_message)
    return [StartSubmission(), Send(responses.ok("start sending message; end with a line holding only '.'"))]


SUBCOMMANDS = {b"XLIST": xlist, b"XMIT": xmit}


@command("XTND", State.TRANSACTION, syntax="XTND subcommand [arguments]")
def xtnd(session: Session, args: bytes) -> list[Action]:
    if not session.policy.xtnd:
        raise CommandError("unknown command", invalid=True)
    sub, _, rest = args.strip().partition(b" ")
    handler = SUBCOMMANDS.get(sub.upper())
    if handler is None:
        raise CommandError("unknown XTND subcommand; try XLIST or XMIT", invalid=True)
    return handler(session, rest)
