"""Build the configured sources of users, and the APOP secrets store."""

from __future__ import annotations

from pop3d.auth.mailauth import MailauthDatabase
from pop3d.auth.records import UserSource
from pop3d.auth.unix import UnixUsers
from pop3d.auth.virtual import VirtualUsers
from pop3d.config.model import Config


def build_sources(config: Config) -> list[UserSource]:
    """One :class:`UserSource` per ``users`` entry, in the configured order."""
    sources: list[UserSource] = []
    for src in config.users:
        maildrop = src.maildrop or config.maildrop
        if src.type == "virtual":
            assert src.file is not None
            sources.append(VirtualUsers(src.file, maildrop, bool(src.options.get("allow_plaintext"))))
        elif src.type == "unix":
            sources.append(UnixUsers(maildrop, min_uid=int(src.options.get("min_uid", 1000))))
        elif src.type == "pam":
            from pop3d.auth.pam import PamUsers  # libpam is loaded only when PAM is configured

            sources.append(PamUsers(maildrop, min_uid=int(src.options.get("min_uid", 1000)),
                                    service=str(src.options.get("service", "pop3d"))))
        else:  # the loader accepts only the types above
            raise ValueError(f"unknown source of users {src.type!r}")
    return sources


def build_secrets(config: Config) -> MailauthDatabase | None:
    """The mailauth database for APOP and CRAM-MD5, if one is configured."""
    path = config.auth.apop_database
    return MailauthDatabase(path) if path else None
