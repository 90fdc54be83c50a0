"""Credentials the protocol core hands to the cred portal."""

from __future__ import annotations

import hashlib
import hmac

from twisted.cred.credentials import IUsernameHashedPassword
from zope.interface import implementer


@implementer(IUsernameHashedPassword)
class APOPCredentials:
    """An APOP answer: MD5 of the greeting timestamp followed by the secret."""

    def __init__(self, username: bytes, challenge: bytes, digest: bytes) -> None:
        self.username = username
        self.challenge = challenge
        self.digest = digest

    def checkPassword(self, password: bytes) -> bool:  # noqa: N802 (Twisted's name)
        expected = hashlib.md5(self.challenge + password).hexdigest().encode()
        return hmac.compare_digest(expected, self.digest.lower())

    def __repr__(self) -> str:  # never show the digest
        return f"APOPCredentials({self.username!r})"


@implementer(IUsernameHashedPassword)
class CramMD5Credentials:
    """A CRAM-MD5 answer (RFC 2195): HMAC-MD5 of our challenge keyed with the secret."""

    def __init__(self, username: bytes, challenge: bytes, digest: bytes) -> None:
        self.username = username
        self.challenge = challenge
        self.digest = digest

    def checkPassword(self, password: bytes) -> bool:  # noqa: N802 (Twisted's name)
        expected = hmac.new(password, self.challenge, hashlib.md5).hexdigest().encode()
        return hmac.compare_digest(expected, self.digest.lower())

    def __repr__(self) -> str:  # never show the digest
        return f"CramMD5Credentials({self.username!r})"
