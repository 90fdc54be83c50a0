"""The UID headers IMAP servers write into an mbox, read from a message's header block.

* ``X-IMAPbase: UIDVALIDITY UIDLAST [keywords]`` in the first message
  (Dovecot, UW imapd), or ``X-IMAP:`` with the same values in a first
  "pseudo" message that holds only folder data (UW imapd; Dovecot too for
  an mbox that was otherwise empty).  Neither server shows the pseudo
  message to POP3 clients, so pop3d hides it too.
* ``X-UID: UID`` in each message (Dovecot pads it with spaces).
* Dovecot's ``%m``/``%g`` for mboxes: the "apop3d" MD5 of the values of
  the first ``Received:`` header, ``Delivered-To:``, ``X-Delivery-ID:``, and
  ``Date:`` and ``Message-ID:`` when they come before any ``Received:``
  (Dovecot src/lib-storage/index/mbox/mbox-md5-apop3d.c).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

#: Bytes of a message read to find its header block.
HEAD_LIMIT = 256 << 10


@dataclass(frozen=True)
class HeaderFacts:
    uid: int | None = None
    #: (UIDVALIDITY, UIDLAST) from X-IMAPbase or X-IMAP.
    base: tuple[int, int] | None = None
    #: The header had X-IMAP: a pseudo message when it is the first one.
    pseudo: bool = False
    md5: str = ""
    x_uidl: str | None = None


def _lines(head: bytes) -> list[bytes]:
    """The physical header lines, without line ends, up to the empty line."""
    out = []
    for line in head.split(b"\n"):
        line = line.removesuffix(b"\r")
        if not line:
            break
        out.append(line)
    return out


def _numbers(value: bytes, count: int) -> tuple[int, ...] | None:
    words = value.split()
    if len(words) < count or not all(w.isdigit() for w in words[:count]):
        return None
    return tuple(int(w) for w in words[:count])


class _Apop3dDigest:
    """Dovecot's "apop3d" header MD5, fed one physical header line at a time."""

    def __init__(self) -> None:
        self._md5 = hashlib.md5()
        self._seen_received = False

    def feed(self, key: bytes, value: bytes, continues: bool) -> None:
        if key == b"received":
            if not self._seen_received:
                self._md5.update(value)
                self._seen_received = not continues
        elif key in (b"delivered-to", b"x-delivery-id") or (
                key in (b"date", b"message-id") and not self._seen_received):
            self._md5.update(value)

    def hexdigest(self) -> str:
        return self._md5.hexdigest()


def _fields(head: bytes) -> list[tuple[bytes, bytes, bool]]:
    """(lower-case name, value, continues) per physical line; a continuation's value is the whole line,
    a first line's what follows the colon and one blank (as Dovecot's header parser gives them)."""
    out: list[tuple[bytes, bytes, bool]] = []
    for line in _lines(head):
        if line[:1] in (b" ", b"\t"):
            if out:
                key = out[-1][0]
                out[-1] = (key, out[-1][1], True)
                out.append((key, line, False))
            continue
        name, colon, value = line.partition(b":")
        if colon:
            value = value[1:] if value[:1] in (b" ", b"\t") else value
            out.append((name.rstrip(b" \t").lower(), value, False))
    return out


def parse_head(head: bytes) -> HeaderFacts:
    """What the header block at the start of ``head`` says (``head``: the message's first bytes)."""
    uid = base = x_uidl = None
    pseudo = False
    digest = _Apop3dDigest()
    for key, value, continues in _fields(head):
        digest.feed(key, value, continues)
        if key == b"x-uid" and uid is None:
            numbers = _numbers(value, 1)
            uid = numbers[0] if numbers else None
        elif key in (b"x-imapbase", b"x-imap") and base is None:
            numbers = _numbers(value, 2)
            base = (numbers[0], numbers[1]) if numbers else None
            pseudo = key == b"x-imap"
        elif key == b"x-uidl" and x_uidl is None:
            text = value.strip()
            if 1 <= len(text) <= 70 and all(0x21 <= c <= 0x7E for c in text):
                x_uidl = text.decode("ascii")
    return HeaderFacts(uid, base, pseudo, digest.hexdigest(), x_uidl)
