"""Virtual users: a YAML file of names, password hashes and maildrops.

::

    alice:
      password: "$6$rounds=...$..."     # any passlib hash: argon2, bcrypt, sha512_crypt
      maildrop: maildir:/srv/mail/alice  # optional; default from the config
      login_delay: 900                   # optional RFC 2449 LOGIN-DELAY seconds

The file is re-read when it changes, so users can be added while the server
runs.  Plain-text passwords are refused unless the source allows them.
"""

from __future__ import annotations

import contextlib
import functools
import hmac
import os
import threading
from dataclasses import dataclass

from passlib.context import CryptContext
from passlib.exc import MissingBackendError
from twisted.logger import Logger

from pop3d.auth import crypt
from pop3d.auth.records import UserRecord
from pop3d.auth.timing import representative
from pop3d.config.errors import ConfigError
from pop3d.config.loader import read_yaml, template
from pop3d.config.reader import Section
from pop3d.maildrop.location import expand

log = Logger()

HASH_SCHEMES = ["argon2", "bcrypt", "sha512_crypt", "sha256_crypt"]
CONTEXT = CryptContext(schemes=HASH_SCHEMES)
#: Hashes libcrypt checks as passlib would, only in C (passlib's own sha512_crypt is pure Python).
LIBCRYPT_PREFIXES = ("$5$", "$6$", "$2a$", "$2b$", "$2y$")
#: Marks a plain-text password in memory (only with ``allow_plaintext``).
PLAIN = "plain:"


#: What sets a passlib hash's cost, besides its scheme.
COST_ATTRIBUTES = ("rounds", "memory_cost", "parallelism", "type", "ident")


def load_hash_backends() -> None:
    """Load every scheme's backend now (passlib loads them, and their metadata, on first use)."""
    for scheme in CONTEXT.schemes():
        handler = CONTEXT.handler(scheme)
        if hasattr(handler, "get_backend"):
            with contextlib.suppress(MissingBackendError):  # a scheme without a backend here stays unusable
                handler.get_backend()


def cost_class(password_hash: str) -> tuple[object, ...] | None:
    """The scheme and cost parameters of a hash: hashes of one class take as long to check."""
    if password_hash.startswith(PLAIN):
        return (PLAIN,)
    handler = CONTEXT.identify(password_hash, resolve=True, unconfigured=True)
    if handler is None:
        return None
    try:
        parsed = handler.from_string(password_hash)
    except ValueError:
        return None
    return (handler.name, *(getattr(parsed, name, None) for name in COST_ATTRIBUTES))


def timing_hash(hashes: list[str]) -> str:
    """The hash unknown names are checked against (see :mod:`pop3d.auth.timing`)."""
    return representative(hashes, cost_class) or _dummy_hash()


@functools.cache
def _dummy_hash() -> str:
    """Verified against when the user is unknown, so timing does not tell.

    Only for a file without hashed users.  Made on first use (at start), not
    at import: a full-strength hash takes a second, which popauth need not pay.
    """
    return CONTEXT.handler("sha512_crypt").hash("pop3d-dummy-password")


@dataclass(frozen=True)
class VirtualUser:
    name: str
    password_hash: str
    maildrop: str | None
    #: RFC 2449 LOGIN-DELAY seconds for this user (None: the configured value).
    login_delay: int | None = None


def parse_users(path: str, allow_plaintext: bool) -> dict[str, VirtualUser]:
    top = Section(path, read_yaml(path))
    users: dict[str, VirtualUser] = {}
    for name in list(top.data):
        if not isinstance(name, str) or not name or "/" in name or " " in name:
            raise ConfigError(path, str(name), "is not a valid user name")
        entry = top.section(name, required=True)
        password = entry.str("password")
        if CONTEXT.identify(password) is None:
            if not allow_plaintext:
                raise entry.error("password", "is not a recognised hash (argon2, bcrypt, sha512_crypt); "
                                  "plain text needs allow_plaintext: true")
            password = PLAIN + password
        users[name] = VirtualUser(name, password, template(entry, "maildrop"),
                                  entry.int("login_delay", None, minimum=0))
        entry.finish()
    return users


class VirtualUsers:
    """A :class:`UserSource` backed by a YAML users file."""

    def __init__(self, path: str, default_maildrop: str, allow_plaintext: bool = False) -> None:
        self.path = path
        self.default_maildrop = default_maildrop
        self.allow_plaintext = allow_plaintext
        self._lock = threading.Lock()
        self._stamp: tuple[int, int, int] | None = None
        self._users: dict[str, VirtualUser] = {}
        #: The problem of the last failed re-read, logged once (None: the last read worked).
        self._failing: str | None = None
        self.reload()

    def reload(self) -> None:
        """Read the file if it changed; a broken file keeps the old users."""
        st = os.stat(self.path)
        stamp = (st.st_ino, st.st_size, st.st_mtime_ns)
        if stamp == self._stamp:
            return
        users = parse_users(self.path, self.allow_plaintext)
        dummy = timing_hash([u.password_hash for u in users.values()])
        with self._lock:
            self._users, self._stamp, self._timing_hash = users, stamp, dummy

    def _current(self) -> tuple[dict[str, VirtualUser], str]:
        try:
            self.reload()
        except (OSError, ConfigError) as exc:  # keep serving the users we have, and say so once
            problem = str(exc) if isinstance(exc, ConfigError) else f"cannot read {self.path}: {exc.strerror}"
            if problem != self._failing:
                self._failing = problem
                log.warn("{problem}; new and changed passwords are not seen until it can be read "
                         "(popauth(8): files the run_as group can read)", problem=problem)
        else:
            self._failing = None
        with self._lock:
            return self._users, self._timing_hash

    def lookup(self, name: str) -> UserRecord | None:
        user = self._current()[0].get(name)
        if user is None:
            return None
        return UserRecord(name, expand(user.maildrop or self.default_maildrop, name),
                          login_delay=user.login_delay)

    def verify_password(self, record: UserRecord | None, password: bytes) -> bool:
        users, dummy = self._current()
        user = users.get(record.name) if record else None
        if user is None:
            # Check against a hash of the users' scheme and cost and discard the
            # result, so an unknown name costs what a known one does.
            matches(password, dummy)
            return False
        return matches(password, user.password_hash)

    def apop_secret(self, record: UserRecord) -> bytes | None:
        return None


def matches(password: bytes, stored: str) -> bool:
    """Check a password against a stored hash (or plain text, where allowed).

    A password passlib refuses to hash (over 4 KB, say) simply does not match.
    """
    if stored.startswith(PLAIN):
        return hmac.compare_digest(stored[len(PLAIN):].encode(), password)
    if stored.startswith(LIBCRYPT_PREFIXES):
        # In C, without the GIL, so the reactor thread runs on; over 512 octets never match.
        return crypt.verify(password, stored)
    try:
        return CONTEXT.verify(password, stored)
    except ValueError:
        return False
