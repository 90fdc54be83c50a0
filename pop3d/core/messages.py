"""What the session knows about each message: pure data, no file handles."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class MessageInfo:
    """One message of a maildrop as listed at login.

    ``size`` is the wire size in octets (see :mod:`pop3d.core.wire`);
    ``uid`` the unique-id listing value (1-70 printable ASCII, 0x21-0x7E);
    ``seen`` whether an earlier session already retrieved it (for LAST).
    """

    size: int
    uid: str
    seen: bool = False
