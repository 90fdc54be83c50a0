"""Actions the session asks its adapter to carry out.

The session never touches sockets, files or the reactor.  Each call into it
returns a list of these small immutable values, which the adapter performs in
order.  Actions that need an answer (``Authenticate``, ``Commit``) leave the
session busy until the adapter reports back.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Send:
    """Write these bytes (one or more complete CRLF-terminated lines)."""

    data: bytes


@dataclass(frozen=True)
class SendMessage:
    """Stream message ``index`` (0-based) as a multi-line response.

    ``status`` is the ``+OK`` line to send once the message is open;
    ``body_lines`` limits the body as for TOP (``None`` sends all).  If the
    message cannot be opened the adapter sends ``-ERR [SYS/TEMP]`` instead.
    """

    index: int
    status: bytes
    body_lines: int | None = None


@dataclass(frozen=True)
class Authenticate:
    """Verify ``credentials`` (a twisted.cred credentials object) for ``username``.

    The adapter answers with ``Session.login_succeeded`` or
    ``Session.login_failed``.
    """

    username: str
    credentials: object
    mechanism: str


@dataclass(frozen=True)
class StartTLS:
    """Start TLS now; discard any bytes the client sent after the command."""


@dataclass(frozen=True)
class Commit:
    """Enter UPDATE: delete ``deleted`` and mark ``retrieved`` as seen.

    Indices are 0-based.  The adapter answers with ``Session.commit_finished``.
    """

    deleted: frozenset[int]
    retrieved: frozenset[int]


@dataclass(frozen=True)
class Close:
    """Close the connection once everything queued has been written."""


@dataclass(frozen=True)
class SendHeaderList:
    """XTND XLIST: send ``status``, then one line per message in ``indices``.

    Each line is the message number and the message's first ``header`` line
    (name matched case-insensitively, folded lines unfolded), or the number
    alone when the message has no such header; then the ``.`` line.
    """

    header: str
    indices: tuple[int, ...]
    status: bytes


@dataclass(frozen=True)
class StartSubmission:
    """XTND XMIT: open a spool for a message the client is about to send."""


@dataclass(frozen=True)
class SpoolSubmission:
    """Append ``data`` (one unstuffed line with its LF) to the spooled message."""

    data: bytes


@dataclass(frozen=True)
class DropSubmission:
    """Discard the spooled message (too large or malformed)."""


@dataclass(frozen=True)
class Submit:
    """Hand the spooled message to the mail submission command as ``sender``.

    ``sender`` is the envelope address (``user@mail_domain``), ``user`` the
    login (for the rate limit and the identity the command runs as).  The
    adapter answers with ``Session.submission_finished``; no further line is
    handled until then.
    """

    sender: str
    user: str


Action = (Send | SendMessage | Authenticate | StartTLS | Commit | Close | SendHeaderList
          | StartSubmission | SpoolSubmission | DropSubmission | Submit)
