"""Maildir file names: unique part, flags, delivery order and UIDLs.

A message file is named ``UNIQUE`` in ``new/`` and ``UNIQUE:2,FLAGS`` in
``cur/`` (flags are single ASCII letters in ASCII order).  Dovecot and
Courier append ``,S=<file size>`` and ``,W=<CRLF size>`` to the unique part.
The unique part never changes when a message moves or gains flags, so the
UIDL and the size cache are keyed by it.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass

INFO_SEP = ":2,"
UID_MAX = 70

_LEADING_NUMBER = re.compile(r"\d+")
_SIZE_FIELD = re.compile(r",([SW])=(\d+)(?=,|$)")


@dataclass(frozen=True, slots=True)
class MaildirName:
    """A parsed message file name."""

    unique: str
    flags: str
    has_info: bool

    @classmethod
    def parse(cls, name: str) -> MaildirName:
        unique, sep, flags = name.rpartition(INFO_SEP)
        if not sep:
            return cls(name, "", False)
        return cls(unique, flags, True)

    @property
    def seen(self) -> bool:
        return "S" in self.flags

    def with_flags(self, *added: str) -> str:
        """The ``cur/`` name with ``added`` flags, flags kept sorted and unique."""
        return f"{self.unique}{INFO_SEP}{''.join(sorted(set(self.flags).union(added)))}"

    def size_fields(self) -> dict[str, int]:
        """Dovecot/Courier ``,S=`` (file size) and ``,W=`` (CRLF size) fields, if any."""
        return {key: int(value) for key, value in _SIZE_FIELD.findall(self.unique)}

    def delivery_key(self, mtime: float) -> tuple[int, str]:
        """Sort key: delivery time from the leading number, else ``mtime``; then the name."""
        match = _LEADING_NUMBER.match(self.unique)
        return (int(match.group()) if match else int(mtime), self.unique)


_VALID_UID = re.compile(rf"[\x21-\x7e]{{1,{UID_MAX}}}")


def _hashed_uid(unique: str, attempt: int) -> str:
    """A deterministic valid UIDL for a unique part that cannot be used as is."""
    data = os.fsencode(unique) + (b"\0%d" % attempt if attempt else b"")
    return "h-" + hashlib.sha256(data).hexdigest()[:40]


def uid_base(unique: str) -> str:
    """The unique part without ``,S=``/``,W=`` fields, which tools add or drop."""
    return _SIZE_FIELD.sub("", unique) or unique


def assign_uids(uniques: Iterable[str]) -> list[str]:
    """Map unique parts (in listing order) to distinct valid UIDLs.

    A unique part that is already a valid UIDL (after dropping the size
    fields) is used as is; any other is hashed.  On the (pathological)
    collision of two messages, the later one in listing order is hashed
    again with a counter, so the result stays deterministic.
    """
    used: set[str] = set()
    result = []
    for unique in uniques:
        base = uid_base(unique)
        uid = base if _VALID_UID.fullmatch(base) else _hashed_uid(unique, 0)
        attempt = 0
        while uid in used:
            attempt += 1
            uid = _hashed_uid(unique, attempt)
        used.add(uid)
        result.append(uid)
    return result
