"""What a source of users says about one user."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from pop3d.maildrop.location import Location


@dataclass(frozen=True)
class UserRecord:
    name: str
    location: Location
    home: str | None = None
    #: UNIX identity to run as when opening the maildrop (inetd mode).
    uid: int | None = None
    gid: int | None = None
    #: The user's own RFC 2449 LOGIN-DELAY in seconds (None: the configured one).
    login_delay: int | None = None


class UserSource(Protocol):
    """A place users are defined: a users file, the system's accounts, ..."""

    def lookup(self, name: str) -> UserRecord | None:
        """The user's record, or None if this source does not know the name."""

    def verify_password(self, record: UserRecord | None, password: bytes) -> bool:
        """Check a password; with ``record`` None, spend the same time and fail."""

    def apop_secret(self, record: UserRecord) -> bytes | None:
        """The shared secret for APOP/CRAM-MD5, if this user has one."""


class SourceUnavailable(Exception):
    """A source of users cannot answer now (file unreadable, service down): ``[SYS/TEMP]``."""
