"""Maildrop backends (Maildir, mbox) behind one interface; see base.py."""

from __future__ import annotations

from pop3d.maildrop.base import (
    CommitError,
    EmptyMaildrop,
    Maildrop,
    MaildropBusy,
    MaildropError,
    MessageReader,
)
from pop3d.maildrop.location import Location

__all__ = [
    "CommitError",
    "EmptyMaildrop",
    "Location",
    "Maildrop",
    "MaildropBusy",
    "MaildropError",
    "MessageReader",
    "open_maildrop",
]


def open_maildrop(location: Location) -> Maildrop:
    """Open and lock the maildrop at ``location`` (blocking I/O: call from a thread)."""
    if location.kind == "maildir":
        from pop3d.maildrop.maildir import MaildirMaildrop

        return MaildirMaildrop.open(location.path)
    if location.kind == "mbox":
        from pop3d.maildrop.mbox import MboxMaildrop

        return MboxMaildrop.open(location.path)
    raise MaildropError(f"unknown maildrop kind {location.kind!r}")
