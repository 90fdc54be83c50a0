"""All configured sources of users, asked in order."""

from __future__ import annotations

from collections.abc import Sequence

from pop3d.auth.records import UserRecord, UserSource
from pop3d.auth.virtual import VirtualUsers
from pop3d.config.model import Config


class UserDirectory:
    """The first source that knows a name owns it, for login and maildrop alike."""

    def __init__(self, sources: Sequence[UserSource]) -> None:
        self.sources = list(sources)

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


def build_directory(config: Config) -> UserDirectory:
    sources: list[UserSource] = []
    for src in config.users:
        if src.type == "virtual":
            assert src.file is not None
            sources.append(VirtualUsers(src.file, src.maildrop or config.maildrop,
                                        bool(src.options.get("allow_plaintext"))))
    return UserDirectory(sources)
