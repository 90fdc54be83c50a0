"""What a verified login gets: its maildrop, an empty one, or a LOGIN-DELAY refusal.

Asked by the realm only after a checker accepted the credentials, so nothing
here tells an outsider which accounts exist.  Monitor accounts and logins
sooner than the user's LOGIN-DELAY (under the ``empty`` policy) get an empty
maildrop: no lock is taken and the maildrop is never read, so a frequent
poll or health check costs almost nothing and never locks the real user out.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable
from dataclasses import dataclass

from twisted.logger import Logger

from pop3d.auth.last_login import Claim, LastLoginStore, StoreError
from pop3d.auth.records import UserRecord
from pop3d.config.errors import ConfigError
from pop3d.config.model import Config
from pop3d.config.polling import LoginDelayConfig
from pop3d.maildrop import EmptyMaildrop, Maildrop

log = Logger()


class Kind(enum.Enum):
    #: Open the user's maildrop as usual.
    NORMAL = "normal"
    #: A health-check account: empty maildrop, no lock, no LOGIN-DELAY.
    MONITOR = "monitor"
    #: Sooner than LOGIN-DELAY allows, policy ``empty``: empty maildrop.
    POLL = "poll"


class LoginTooSoon(Exception):
    """Sooner than LOGIN-DELAY allows, policy ``reject`` (``-ERR [LOGIN-DELAY]``)."""

    def __init__(self, delay: int, wait: float) -> None:
        super().__init__(f"minimum interval between logins is {delay} seconds; "
                         f"try again in {math.ceil(wait)} seconds")
        self.delay = delay
        self.wait = wait


@dataclass(frozen=True)
class Admission:
    kind: Kind
    #: The user's LOGIN-DELAY (advertised by CAPA after login); None: none.
    login_delay: int | None = None
    #: The slot taken in the store, to give back if the maildrop fails to open.
    claim: Claim | None = None


class LoginGate:
    """Applies monitors and LOGIN-DELAY to verified users (blocking: use a thread)."""

    def __init__(self, config: LoginDelayConfig, monitors: frozenset[str],
                 store: LastLoginStore | None = None) -> None:
        self.config = config
        self.monitors = monitors
        if store is None and config.enabled:
            store = LastLoginStore(config.state_dir)
        self.store = store

    def user_delay(self, record: UserRecord) -> int | None:
        """The user's interval: users file, then config ``users``, then global."""
        own = record.login_delay
        if own is not None:
            return own
        return self.config.users.get(record.name, self.config.seconds)

    def admit(self, record: UserRecord) -> Admission:
        if record.name in self.monitors:
            return Admission(Kind.MONITOR)
        delay = self.user_delay(record)
        if delay is None or self.store is None:
            return Admission(Kind.NORMAL, delay)
        try:
            claim = self.store.claim(record.name, delay)
        except StoreError as exc:
            # A broken store must not lock users out: serve them, and say so.
            log.warn("LOGIN-DELAY not enforced: {exc}", exc=exc)
            return Admission(Kind.NORMAL, delay)
        if claim.granted:
            return Admission(Kind.NORMAL, delay, claim)
        if self.config.policy == "reject":
            raise LoginTooSoon(delay, claim.wait)
        return Admission(Kind.POLL, delay)

    def release(self, record: UserRecord, admission: Admission) -> None:
        """The maildrop could not be opened: the login does not count."""
        claim = admission.claim
        if claim is None or self.store is None:
            return
        try:
            self.store.undo(record.name, claim.at, claim.previous)
        except StoreError as exc:
            log.warn("could not undo a LOGIN-DELAY claim: {exc}", exc=exc)


def open_admitted(gate: LoginGate | None, record: UserRecord,
                  opener: Callable[..., Maildrop], *args: object) -> tuple[Maildrop, Admission]:
    """Admit ``record`` and open its maildrop with ``opener(*args)`` unless admitted empty.

    Blocking: runs in the realm's worker thread.
    """
    admission = gate.admit(record) if gate is not None else Admission(Kind.NORMAL)
    if admission.kind is not Kind.NORMAL:
        return EmptyMaildrop(), admission
    try:
        return opener(*args), admission
    except BaseException:
        if gate is not None:
            gate.release(record, admission)
        raise


def build_gate(config: Config) -> LoginGate:
    """The gate for a configuration; an unusable state folder is a config error."""
    try:
        return LoginGate(config.login_delay, config.monitors)
    except StoreError as exc:
        raise ConfigError(config.path, "login_delay.state_dir", str(exc)) from None
