"""Client workarounds (``client_workarounds``, off unless named), as Dovecot's pop3_client_workarounds.

* ``outlook-no-nuls``: some Outlook and Outlook Express versions hang on a
  NUL byte in a message; each NUL is sent as 0x80 instead (one octet for
  one, so every size stays right).
* ``oe-ns-eoh``: Outlook Express and Netscape Mail break on a message whose
  header is not ended by an empty line (a message with no body); one is
  added, and LIST, STAT and RETR count its two octets.  Finding those
  messages means reading each message's header at login.

Every message already ends with CRLF before the final ``.`` (pop3d.core.wire
adds it to a last line that has none), which other servers need a
workaround for.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from pop3d.core.messages import MessageInfo
from pop3d.maildrop import Maildrop, MaildropError, MessageReader

NAMES = ("outlook-no-nuls", "oe-ns-eoh")
_CHUNK = 64 << 10


class _BlankLineFinder:
    """Whether bytes fed in chunks (LF or CRLF line ends) contain an empty line."""

    def __init__(self) -> None:
        self._tail = b"\n"  # the start of the message counts as a line start
        self.found = False

    def feed(self, chunk: bytes) -> None:
        if self.found or not chunk:
            return
        data = self._tail + chunk
        self.found = b"\n\n" in data or b"\n\r\n" in data
        self._tail = data[-2:]


def lacks_end_of_header(maildrop: Maildrop, index: int) -> bool:
    """Whether message ``index`` has no empty line at all (read up to its first one)."""
    reader = maildrop.open_message(index)
    finder = _BlankLineFinder()
    try:
        while not finder.found and (chunk := reader.read(_CHUNK)):
            finder.feed(chunk)
    finally:
        reader.close()
    return not finder.found


class _FixedReader:
    """A message's bytes with the workarounds applied as they are read."""

    def __init__(self, inner: MessageReader, no_nuls: bool, add_end_of_header: bool) -> None:
        self._inner = inner
        self._no_nuls = no_nuls
        self._add = add_end_of_header
        self._last = b"\n"

    def read(self, size: int = -1, /) -> bytes:
        data = self._inner.read(size)
        if data:
            self._last = data[-1:]
            return data.replace(b"\0", b"\x80") if self._no_nuls else data
        if self._add:
            self._add = False
            # End an unfinished last line (the encoder would have), then the empty line.
            return b"\n" if self._last == b"\n" else b"\n\n"
        return b""

    def close(self) -> None:
        self._inner.close()


class WorkaroundMaildrop(Maildrop):
    """``inner`` as the named workarounds show it to clients."""

    def __init__(self, inner: Maildrop, names: Iterable[str]) -> None:
        chosen = set(names)
        self.inner = inner
        self._no_nuls = "outlook-no-nuls" in chosen
        listed = inner.messages()
        self._eoh = frozenset(i for i in range(len(listed)) if "oe-ns-eoh" in chosen
                              and lacks_end_of_header(inner, i))
        self._messages = tuple(MessageInfo(m.size + 2, m.uid, m.seen) if i in self._eoh else m
                               for i, m in enumerate(listed))

    def messages(self) -> Sequence[MessageInfo]:
        return self._messages

    def open_message(self, index: int) -> MessageReader:
        if not 0 <= index < len(self._messages):
            raise MaildropError("no such message")
        return _FixedReader(self.inner.open_message(index), self._no_nuls, index in self._eoh)

    def commit(self, deleted: frozenset[int], retrieved: frozenset[int]) -> None:
        self.inner.commit(deleted, retrieved)

    def close(self) -> None:
        self.inner.close()


def apply_workarounds(maildrop: Maildrop, names: Iterable[str]) -> Maildrop:
    """``maildrop`` with the workarounds ``names``; itself when there are none."""
    names = tuple(names)
    if not names:
        return maildrop
    try:
        return WorkaroundMaildrop(maildrop, names)
    except BaseException:
        maildrop.close()
        raise
