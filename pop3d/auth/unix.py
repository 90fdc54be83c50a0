"""UNIX accounts: the machine's own users, checked as the system checks them.

Names and homes come from the passwd database (NSS); password hashes from
the shadow file, verified with crypt(3) from libcrypt, so every hash the
system writes works (yescrypt, sha512-crypt, md5-crypt, ...).  Locked
(``!``/``*``), password-less and expired accounts are refused, as are
system accounts below ``min_uid``.  Reading the shadow file needs root or
the ``shadow`` group (see ``run_as.groups`` in the configuration).
"""

from __future__ import annotations

import os
import pwd
import threading
import time
from dataclasses import dataclass

from pop3d.auth import crypt
from pop3d.auth.records import SourceUnavailable, UserRecord
from pop3d.auth.timing import representative
from pop3d.maildrop.location import expand

SHADOW = "/etc/shadow"


@dataclass(frozen=True)
class ShadowEntry:
    """One line of shadow(5); day counts are days since 1970-01-01, None when empty."""

    name: str
    hash: str
    last_change: int | None = None
    max_days: int | None = None
    inactive_days: int | None = None
    expire_day: int | None = None

    @classmethod
    def parse(cls, line: str) -> ShadowEntry | None:
        fields = line.rstrip("\n").split(":")
        if len(fields) < 2 or not fields[0]:
            return None
        fields += [""] * (9 - len(fields))

        def day(text: str) -> int | None:
            try:
                return int(text) if text.strip() else None
            except ValueError:
                return None

        return cls(fields[0], fields[1], day(fields[2]), day(fields[4]), day(fields[6]), day(fields[7]))

    def refusal(self, today: int) -> str | None:
        """Why this account may not log in today, or None if it may."""
        if not self.hash:
            return "has no password"
        if self.hash[0] in "!*":
            return "is locked"
        if self.expire_day is not None and self.expire_day >= 0 and today >= self.expire_day:
            return "has expired"
        if self.last_change == 0:
            return "must change its password first"
        if (self.last_change is not None and self.max_days is not None and self.max_days >= 0
                and today - self.last_change > self.max_days):
            return "has an expired password"
        return None


def today() -> int:
    return int(time.time() // 86400)


#: crypt(3) methods whose third ``$`` field is a cost parameter (yescrypt's ``j9T``, bcrypt's ``12``).
COST_FIELD_METHODS = ("y", "gy", "7", "2a", "2b", "2y")


def crypt_cost_class(hashed: str) -> tuple[str, str] | None:
    """A crypt(3) hash's method and cost (``('6', 'rounds=5000')``); None for a locked or empty one."""
    if not hashed or hashed[0] in "!*":
        return None
    if not hashed.startswith("$"):
        return ("des", "") if len(hashed) == 13 else None
    fields = hashed.split("$")
    if len(fields) < 4:
        return None
    method, params = fields[1], fields[2]
    if method in COST_FIELD_METHODS or params.startswith("rounds="):
        return (method, params)
    return (method, "")


class UnixUsers:
    """A :class:`UserSource` over the system's accounts."""

    def __init__(self, default_maildrop: str, min_uid: int = 1000, shadow_path: str = SHADOW) -> None:
        self.default_maildrop = default_maildrop
        self.min_uid = min_uid
        self.shadow_path = shadow_path
        # Checked for unknown, locked and expired users when no user's hash can serve.
        self._dummy_hash = crypt.crypt(b"pop3d-dummy-password", crypt.gensalt()) or ""
        self._timing_lock = threading.Lock()
        self._timing: tuple[tuple[int, int, int] | None, str] = (None, self._dummy_hash)

    def lookup(self, name: str) -> UserRecord | None:
        try:
            pw = pwd.getpwnam(name)
        except (KeyError, ValueError):
            return None
        if pw.pw_uid < self.min_uid or pw.pw_name != name:
            return None
        try:
            location = expand(self.default_maildrop, name, pw.pw_dir or None)
        except ValueError:
            return None
        return UserRecord(name, location, home=pw.pw_dir or None, uid=pw.pw_uid, gid=pw.pw_gid)

    def shadow_entry(self, name: str) -> ShadowEntry | None:
        """The user's hash: from the shadow file, or from passwd if it holds one."""
        try:
            pw_hash = pwd.getpwnam(name).pw_passwd
        except KeyError:
            return None
        if pw_hash not in ("x", "*x"):
            return ShadowEntry(name, pw_hash)
        try:
            with open(self.shadow_path, encoding="utf-8", errors="replace") as f:
                for line in f:
                    if line.startswith(name + ":"):
                        return ShadowEntry.parse(line)
        except OSError as exc:
            raise SourceUnavailable(f"cannot read {self.shadow_path}: {exc.strerror}") from None
        return None

    def verify_password(self, record: UserRecord | None, password: bytes) -> bool:
        entry = self.shadow_entry(record.name) if record is not None else None
        if entry is None or entry.refusal(today()) is not None:
            crypt.verify(password, self.timing_hash())
            return False
        return crypt.verify(password, entry.hash)

    def timing_hash(self) -> str:
        """A hash of the method and cost most users' hashes share (see :mod:`pop3d.auth.timing`).

        Found in the shadow file among accounts this source serves, again
        whenever the file changes; the fresh dummy if none can serve.
        """
        try:
            st = os.stat(self.shadow_path)
        except OSError:
            return self._dummy_hash
        stamp = (st.st_ino, st.st_size, st.st_mtime_ns)
        with self._timing_lock:
            if self._timing[0] == stamp:
                return self._timing[1]
        try:
            with open(self.shadow_path, encoding="utf-8", errors="replace") as f:
                entries = [e for line in f if (e := ShadowEntry.parse(line)) is not None]
        except OSError:
            return self._dummy_hash
        day = today()
        hashes = [e.hash for e in entries if e.refusal(day) is None and self.lookup(e.name) is not None]
        chosen = representative(hashes, crypt_cost_class) or self._dummy_hash
        with self._timing_lock:
            self._timing = (stamp, chosen)
        return chosen

    def apop_secret(self, record: UserRecord) -> bytes | None:
        return None  # APOP secrets live in the mailauth database, never in shadow
