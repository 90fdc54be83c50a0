"""The one small interface every maildrop backend implements.

A backend opens a maildrop, takes the session lock, and lists its messages
without reading bodies into memory.  The adapter streams single messages
with :meth:`Maildrop.open_message` and, after QUIT, calls
:meth:`Maildrop.commit` from a worker thread.  Nothing is ever deleted
anywhere else.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from typing import Protocol

from pop3d.core.messages import MessageInfo


class MaildropError(Exception):
    """The maildrop cannot be used now (answered with ``[SYS/TEMP]``)."""


class MaildropBusy(MaildropError):
    """Another session holds the maildrop (answered with ``[IN-USE]``)."""


class CommitError(MaildropError):
    """UPDATE failed; every message is still there."""


class MessageReader(Protocol):
    """A message's stored bytes (LF or CRLF line ends, mbox quoting undone)."""

    def read(self, size: int = -1, /) -> bytes: ...

    def close(self) -> None: ...


class Maildrop(abc.ABC):
    """An open maildrop, locked against other POP3 sessions."""

    @abc.abstractmethod
    def messages(self) -> Sequence[MessageInfo]:
        """The messages present at login, in order; message n is index n-1."""

    @abc.abstractmethod
    def open_message(self, index: int) -> MessageReader:
        """Open message ``index`` for streaming; raise MaildropError if gone."""

    @abc.abstractmethod
    def commit(self, deleted: frozenset[int], retrieved: frozenset[int]) -> None:
        """UPDATE: delete ``deleted``, mark ``retrieved`` seen, atomically.

        Mail that arrived during the session is kept.  On failure raise
        :class:`CommitError` with every message left in place.
        """

    @abc.abstractmethod
    def close(self) -> None:
        """Release the lock without committing anything.  Idempotent."""

    def __enter__(self) -> Maildrop:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class EmptyMaildrop(Maildrop):
    """A maildrop with no messages and no lock (monitors, LOGIN-DELAY polls)."""

    def messages(self) -> Sequence[MessageInfo]:
        return ()

    def open_message(self, index: int) -> MessageReader:
        raise MaildropError("no such message")

    def commit(self, deleted: frozenset[int], retrieved: frozenset[int]) -> None:
        return None

    def close(self) -> None:
        return None
