"""A maildrop seen with other UIDLs, in another order, with some messages hidden.

Hidden messages (an mbox's folder-data pseudo message) are never listed,
opened or deleted.  Deletions and retrievals are mapped back to the
messages of the maildrop underneath.
"""

from __future__ import annotations

from collections.abc import Sequence

from pop3d.core.messages import MessageInfo
from pop3d.maildrop import Maildrop, MaildropError, MessageReader


class RemappedMaildrop(Maildrop):
    """``inner``'s messages ``order[0]``, ``order[1]``... with UIDLs ``uids``."""

    def __init__(self, inner: Maildrop, order: Sequence[int], uids: Sequence[str]) -> None:
        listed = inner.messages()
        self.inner = inner
        self._order = tuple(order)
        self._messages = tuple(MessageInfo(listed[i].size, uid, listed[i].seen)
                               for i, uid in zip(self._order, uids, strict=True))

    def messages(self) -> Sequence[MessageInfo]:
        return self._messages

    def open_message(self, index: int) -> MessageReader:
        if not 0 <= index < len(self._order):
            raise MaildropError("no such message")
        return self.inner.open_message(self._order[index])

    def commit(self, deleted: frozenset[int], retrieved: frozenset[int]) -> None:
        self.inner.commit(frozenset(self._order[i] for i in deleted),
                          frozenset(self._order[i] for i in retrieved))

    def close(self) -> None:
        self.inner.close()
