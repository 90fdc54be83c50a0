"""Dovecot's ``dovecot-uidlist``: the IMAP UIDs (and saved POP3 UIDLs) of a Maildir's messages.

Version 3 (Dovecot 1.0 and later)::

    3 V1796172891 N4 G0f3a...           header: UIDVALIDITY, next UID, mailbox GUID
    1 W51 :1700000000.M1P1.host          UID, extension fields, ':' and the base file name
    2 P1a2b3c O1 W32 :1700000100.M2P1.host,S=30

Extension fields are one capital letter and a value up to the next space:
``P`` a POP3 UIDL saved by ``pop3_save_uidl`` or a migration (empty: the
base file name), ``O`` the POP3 order (lower first, messages without one
after), ``G`` the message GUID, ``S``/``W`` sizes.  Version 1 is ``1
UIDVALIDITY NEXTUID`` then ``UID FILENAME`` lines.  The base name is the
file name up to the ``:2,`` flags.  A file Dovecot cannot read it rebuilds
(new UIDVALIDITY), so a damaged file here is treated as absent.
"""

from __future__ import annotations

from dataclasses import dataclass, field

NAME = "dovecot-uidlist"
#: Larger than any real uidlist (about 60 bytes per message); bounds what a user's file can cost.
MAX_SIZE = 64 << 20


@dataclass(frozen=True)
class Record:
    uid: int
    #: Saved POP3 UIDL: None when there is none, "" for "the base file name".
    pop3_uidl: str | None = None
    pop3_order: int | None = None
    guid: str | None = None


@dataclass(frozen=True)
class UidList:
    uid_validity: int
    next_uid: int
    #: base file name -> record
    records: dict[str, Record] = field(default_factory=dict)


def _header(version: str, rest: list[str]) -> tuple[int, int] | None:
    if version == "1":
        if len(rest) < 2 or not (rest[0].isdigit() and rest[1].isdigit()):
            return None
        return int(rest[0]), int(rest[1])
    values = {word[0]: word[1:] for word in rest if word}
    validity, next_uid = values.get("V", ""), values.get("N", "")
    if not (validity.isdigit() and next_uid.isdigit()):
        return None
    return int(validity), int(next_uid)


def _record(line: str, version: str) -> tuple[str, Record] | None:
    uid_text, sep, rest = line.partition(" ")
    if not sep or not uid_text.isdigit() or int(uid_text) == 0:
        return None
    if version == "1":
        return (rest, Record(int(uid_text))) if rest and "/" not in rest else None
    extensions, colon, name = rest.partition(":")
    if not colon or not name or "/" in name:
        return None
    ext = {word[0]: word[1:] for word in extensions.split() if word[0].isupper()}
    order = ext.get("O", "")
    return name, Record(int(uid_text), ext.get("P"), int(order) if order.isdigit() else None,
                        ext.get("G") or None)


def parse(data: bytes) -> UidList | None:
    """The uidlist in ``data``; None when it is not one Dovecot would use."""
    lines = data.decode("utf-8", "surrogateescape").split("\n")
    head = lines[0].split(" ")
    if head[0] not in ("1", "3"):
        return None
    numbers = _header(head[0], head[1:])
    if numbers is None or 0 in numbers:
        return None
    records: dict[str, Record] = {}
    last = 0
    for line in lines[1:]:
        if not line:
            continue
        parsed = _record(line, head[0])
        if parsed is None or parsed[1].uid <= last:
            return None  # Dovecot calls the file corrupted and rebuilds it
        last = parsed[1].uid
        name, record = parsed
        records[name] = record
    return UidList(numbers[0], numbers[1], records)
