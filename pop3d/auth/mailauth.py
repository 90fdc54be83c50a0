"""The mailauth database: APOP and CRAM-MD5 secrets, apart from login passwords.

As on classic pop3d, APOP (and CRAM-MD5) work only for users an administrator
added here with ``popauth``.  Both mechanisms need the secret itself, so it is
stored as given (base64, one user a line) in a file of mode 0600::

    # pop3d mailauth database (popauth(8)); do not edit while popauth runs
    alice:c2VjcmV0

Writers replace the file atomically (temporary file, fsync, rename) under a
lock file, so the server, which re-reads the file whenever it changes, sees
either the old or the new database, never half of one.
"""

from __future__ import annotations

import base64
import binascii
import errno
import os
import threading
from collections.abc import Mapping

from pop3d.auth.records import SourceUnavailable
from pop3d.fileio import locked, replace_file

__all__ = ["MailauthDatabase", "MailauthError", "locked", "read", "valid_name", "write"]

HEADER = "# pop3d mailauth database (popauth(8)); do not edit while popauth runs\n"
MODE = 0o600


class MailauthError(Exception):
    """The database file is malformed or cannot be written."""


def valid_name(name: str) -> bool:
    return bool(name) and len(name.encode("utf-8")) <= 255 and not any(
        c in ":/ \t" or ord(c) < 32 or ord(c) == 127 for c in name)


def parse(text: str, path: str) -> dict[str, bytes]:
    secrets: dict[str, bytes] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        name, sep, encoded = line.partition(":")
        if not sep or not valid_name(name):
            raise MailauthError(f"{path}: line {number}: expected NAME:BASE64-SECRET")
        try:
            secrets[name] = base64.b64decode(encoded.strip(), validate=True)
        except (binascii.Error, ValueError):
            raise MailauthError(f"{path}: line {number}: the secret is not valid base64") from None
    return secrets


def read(path: str) -> dict[str, bytes]:
    """All secrets in the database; a missing file is an empty database."""
    try:
        with open(path, encoding="utf-8") as f:
            return parse(f.read(), path)
    except FileNotFoundError:
        return {}
    except UnicodeDecodeError:
        raise MailauthError(f"{path}: is not a mailauth database (not UTF-8 text)") from None


def write(path: str, secrets: Mapping[str, bytes], group: int | None = None) -> None:
    """Replace the database atomically with ``secrets`` (mode 0600, owner kept; 0640 for ``group``)."""
    lines = [HEADER] + [f"{name}:{base64.b64encode(secrets[name]).decode('ascii')}\n"
                        for name in sorted(secrets)]
    replace_file(path, "".join(lines), MODE, group)


class MailauthDatabase:
    """The server's view of the database, re-read whenever the file changes."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._stamp: tuple[int, int, int] | None = None
        self._secrets: dict[str, bytes] | None = None

    def _current(self) -> dict[str, bytes]:
        try:
            st = os.stat(self.path)
        except OSError as exc:
            if exc.errno == errno.ENOENT:
                return {}
            return self._last_good(f"cannot read {self.path}: {exc.strerror}")
        stamp = (st.st_ino, st.st_size, st.st_mtime_ns)
        with self._lock:
            if stamp == self._stamp and self._secrets is not None:
                return self._secrets
        try:
            secrets = read(self.path)
        except OSError as exc:
            return self._last_good(f"cannot read {self.path}: {exc.strerror}")
        except MailauthError as exc:
            return self._last_good(str(exc))
        with self._lock:
            self._secrets, self._stamp = secrets, stamp
        return secrets

    def _last_good(self, problem: str) -> dict[str, bytes]:
        with self._lock:
            if self._secrets is not None:
                return self._secrets
        raise SourceUnavailable(problem)

    def secret(self, name: str) -> bytes | None:
        return self._current().get(name)
