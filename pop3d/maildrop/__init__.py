"""Maildrop backends (Maildir, mbox) behind one interface; see base.py."""

from __future__ import annotations

from dataclasses import dataclass

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
    "DEFAULT_OPTIONS",
    "CommitError",
    "EmptyMaildrop",
    "Location",
    "Maildrop",
    "MaildropBusy",
    "MaildropError",
    "MaildropOptions",
    "MessageReader",
    "open_maildrop",
]


@dataclass(frozen=True)
class MaildropOptions:
    """Site settings that apply to every maildrop of a kind."""

    #: How ``>From `` quoting is undone in mbox files: "mboxrd" or "mboxo".
    mbox_format: str = "mboxrd"
    #: Seconds to wait for an mbox's locks held by an MTA or MUA.
    lock_timeout: float = 10.0
    #: mbox: a message's X-UIDL header (qpopper's) is its UIDL (see mbox_scan.scan).
    reuse_x_uidl: bool = False


DEFAULT_OPTIONS = MaildropOptions()


def open_maildrop(location: Location, options: MaildropOptions = DEFAULT_OPTIONS) -> Maildrop:
    """Open and lock the maildrop at ``location`` (blocking I/O: call from a thread)."""
    if location.kind == "maildir":
        from pop3d.maildrop.maildir import MaildirMaildrop

        return MaildirMaildrop.open(location.path)
    if location.kind == "mbox":
        from pop3d.maildrop.mbox import MboxMaildrop

        return MboxMaildrop.open(location.path, fmt=options.mbox_format, lock_timeout=options.lock_timeout,
                                 reuse_x_uidl=options.reuse_x_uidl)
    raise MaildropError(f"unknown maildrop kind {location.kind!r}")
