"""All configured sources of users, asked in order."""

from __future__ import annotations

from collections.abc import Sequence

from pop3d.auth.mailauth import MailauthDatabase
from pop3d.auth.records import UserRecord, UserSource
from pop3d.auth.sources import build_secrets, build_sources
from pop3d.config.model import Config


class UserDirectory:
    """The first source that knows a name owns it, for login and maildrop alike."""

    def __init__(self, sources: Sequence[UserSource], secrets: MailauthDatabase | None = None) -> None:
        self.sources = list(sources)
        #: APOP/CRAM-MD5 secrets, kept apart from login passwords (None: none configured).
        self.secrets = secrets

    def find(self, name: str) -> tuple[UserSource | None, UserRecord | None]:
        for source in self.sources:
            record = source.lookup(name)
            if record is not None:
                return source, record
        return None, None

    def verify_password(self, name: str, password: bytes) -> UserRecord | None:
        source, record = self.find(name)
        if source is None:
            # Unknown user: spend the time a real check costs, then refuse.
            if self.sources:
                self.sources[0].verify_password(None, password)
            return None
        return record if source.verify_password(record, password) else None

    def apop_secret(self, name: str) -> bytes | None:
        """The APOP/CRAM-MD5 secret of a known user: from the mailauth database, else its source."""
        source, record = self.find(name)
        secret = self.secrets.secret(name) if self.secrets is not None else None
        if source is None or record is None:
            return None
        return secret if secret is not None else source.apop_secret(record)


def build_directory(config: Config) -> UserDirectory:
    return UserDirectory(build_sources(config), build_secrets(config))
