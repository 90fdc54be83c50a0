"""The twisted.cred seam: checkers over the user directory, and the realm.

The protocol engine knows only "authenticated as USER with this maildrop" or
a reason for refusal; everything about where users come from lives here.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from twisted.cred import error
from twisted.cred.checkers import ICredentialsChecker
from twisted.cred.credentials import IUsernameHashedPassword, IUsernamePassword
from twisted.cred.portal import IRealm, Portal
from twisted.internet import defer, threads
from zope.interface import Interface, implementer

from pop3d.auth.admission import Admission, Kind, LoginGate, open_admitted
from pop3d.auth.check_pool import CheckPool
from pop3d.auth.client_key import DEFAULT_IPV6_PREFIX, UNKNOWN, client_key
from pop3d.auth.directory import UserDirectory
from pop3d.auth.privileges import Identity, become_session_user, maildrop_opener
from pop3d.auth.records import UserRecord
from pop3d.config.auth import AuthConfig
from pop3d.maildrop import DEFAULT_OPTIONS, Maildrop, MaildropOptions
from pop3d.maildrop.expiry import ExpiringMaildrop, RetrievalLog
from pop3d.uidl.opener import open_with_styles
from pop3d.uidl.styles import UidlStyle
from pop3d.workarounds import apply_workarounds


class IMaildrop(Interface):
    """The avatar: an open, locked :class:`pop3d.maildrop.Maildrop`."""


class LoggedIn:
    """What a successful login yields: the user and the open maildrop.

    ``monitor`` marks a health-check account's session (for the Stats log);
    ``poll`` a login sooner than LOGIN-DELAY served an empty maildrop;
    ``login_delay`` is the user's LOGIN-DELAY for CAPA.
    """

    def __init__(self, record: UserRecord, maildrop: Maildrop, admission: Admission | None = None) -> None:
        self.record = record
        self.maildrop = maildrop
        self.admission = admission or Admission(Kind.NORMAL)

    @property
    def monitor(self) -> bool:
        return self.admission.kind is Kind.MONITOR

    @property
    def poll(self) -> bool:
        return self.admission.kind is Kind.POLL

    @property
    def login_delay(self) -> int | None:
        return self.admission.login_delay

    @property
    def expired(self) -> frozenset[int]:
        """Messages past the EXPIRE period, deleted at UPDATE (see pop3d.maildrop.expiry)."""
        return self.maildrop.expired if isinstance(self.maildrop, ExpiringMaildrop) else frozenset()


class NoSecret(error.UnauthorizedLogin):
    """APOP or CRAM-MD5 for a user without a secret for it (or unknown): no password was tried.

    Answered at once and not counted as a failed password: mail clients try
    these mechanisms first and fall back to the password (issue 12).
    """


@dataclass(frozen=True)
class LoginClient:
    """The ``mind`` the adapter logs in with: who is asking, for fair scheduling of checks."""

    host: str | None


class PooledChecker:
    """A checker whose blocking part runs in the password-check pool, in the client's turn."""

    def __init__(self, directory: UserDirectory, pool: CheckPool) -> None:
        self.directory = directory
        self.pool = pool

    def requestAvatarId(self, credentials: Any) -> defer.Deferred[bytes]:  # noqa: N802 (Twisted's name)
        return self.check(credentials, UNKNOWN)

    def check(self, credentials: Any, client: str) -> defer.Deferred[bytes]:
        raise NotImplementedError


@implementer(ICredentialsChecker)
class DirectoryChecker(PooledChecker):
    """Checks passwords (USER/PASS, SASL PLAIN/LOGIN) against the directory.

    A password longer than ``max_secret_length`` fails like a wrong one,
    known user or not, without being hashed: hashing cost grows with its
    length (sha512-crypt: seconds for 4 KB).
    """

    credentialInterfaces = (IUsernamePassword,)  # noqa: N815 (Twisted's name)

    def __init__(self, directory: UserDirectory, pool: CheckPool, max_secret_length: int) -> None:
        super().__init__(directory, pool)
        self.max_secret_length = max_secret_length

    def check(self, credentials: Any, client: str) -> defer.Deferred[bytes]:
        name = credentials.username.decode("utf-8")
        if len(credentials.password) > self.max_secret_length:
            return defer.fail(error.UnauthorizedLogin("invalid user name or password"))
        d = self.pool.run(client, self.directory.verify_password, name, credentials.password)

        def verdict(record: UserRecord | None) -> bytes:
            if record is None:
                raise error.UnauthorizedLogin("invalid user name or password")
            return record.name.encode("utf-8")

        return d.addCallback(verdict)


@implementer(ICredentialsChecker)
class SharedSecretChecker(PooledChecker):
    """Checks APOP (and CRAM-MD5) answers against users' shared secrets."""

    credentialInterfaces = (IUsernameHashedPassword,)  # noqa: N815

    def check(self, credentials: Any, client: str) -> defer.Deferred[bytes]:
        name = credentials.username.decode("utf-8")

        def check() -> bytes:
            secret = self.directory.apop_secret(name)  # file and NSS look-ups: in a thread
            if secret is None:  # unknown users alike, so this tells nothing about who exists
                raise NoSecret("no shared secret for this user")
            if not credentials.checkPassword(secret):
                raise error.UnauthorizedLogin("invalid user name or password")
            return name.encode("utf-8")

        return self.pool.run(client, check)


class ClientPortal(Portal):
    """A Portal whose checkers learn which client asks (a :class:`LoginClient` as ``mind``)."""

    def __init__(self, realm: IRealm, checkers: list[PooledChecker],
                 ipv6_prefix: int = DEFAULT_IPV6_PREFIX) -> None:
        super().__init__(realm, checkers)
        self.ipv6_prefix = ipv6_prefix

    def login(self, credentials: Any, mind: object, *interfaces: Any) -> defer.Deferred[Any]:
        host = mind.host if isinstance(mind, LoginClient) else None
        for interface, checker in self.checkers.items():
            if interface.providedBy(credentials) and isinstance(checker, PooledChecker):
                d = checker.check(credentials, client_key(host, self.ipv6_prefix))
                return d.addCallback(self.realm.requestAvatar, mind, *interfaces)
        return super().login(credentials, mind, *interfaces)


@implementer(IRealm)
class MaildropRealm:
    """Opens (and locks) the user's maildrop in a worker thread."""

    def __init__(self, directory: UserDirectory, gate: LoginGate | None = None,
                 switch_user: bool = False, options: MaildropOptions = DEFAULT_OPTIONS,
                 retrievals: RetrievalLog | None = None,
                 uidl_styles: Mapping[str, UidlStyle] | None = None,
                 workarounds: tuple[str, ...] = (),
                 virtual_identity: Identity | None = None) -> None:
        self.directory = directory
        #: Client workarounds (pop3d.workarounds) applied to every maildrop.
        self.workarounds = workarounds
        self.options = options
        #: Whose UIDLs each maildrop type shows (pop3d.uidl): a migration's old server.
        self.uidl_styles = uidl_styles
        self.gate = gate
        #: First-retrieval times, when EXPIRE is a number of days.
        self.retrievals = retrievals
        #: One process per connection (inetd): become the session's user before opening.
        self.switch_user = switch_user
        #: Whom virtual users' sessions run as then (``run_as``).
        self.virtual_identity = virtual_identity

    def requestAvatar(self, avatar_id: bytes, mind: object, *interfaces: Any):  # noqa: N802
        if IMaildrop not in interfaces:
            raise NotImplementedError("pop3d only provides IMaildrop avatars")
        _, record = self.directory.find(avatar_id.decode("utf-8"))
        if record is None:
            return defer.fail(error.UnauthorizedLogin("user vanished"))
        # Monitors and early polls (LOGIN-DELAY) get an empty maildrop, no lock.
        opener = maildrop_opener(record, functools.partial(open_with_styles, options=self.options,
                                                           styles=self.uidl_styles),
                                 self.switch_user)
        d = threads.deferToThread(self.open_for_session, record, opener)

        def opened(result: tuple[Maildrop, Admission]) -> tuple[Any, LoggedIn, Any]:
            maildrop, admission = result
            return IMaildrop, LoggedIn(record, maildrop, admission), maildrop.close

        return d.addCallback(opened)

    def open_for_session(self, record: UserRecord, opener: Any) -> tuple[Maildrop, Admission]:
        """Admit and open (blocking: in a worker thread); track retrievals for EXPIRE."""
        if self.switch_user:
            become_session_user(record, self.virtual_identity)
        maildrop, admission = open_admitted(self.gate, record, opener, record.location)
        maildrop = apply_workarounds(maildrop, self.workarounds)
        if self.retrievals is not None and admission.kind is Kind.NORMAL:
            try:
                maildrop = ExpiringMaildrop(maildrop, record.name, self.retrievals)
            except BaseException:
                maildrop.close()
                raise
        return maildrop, admission


def build_portal(directory: UserDirectory, pool: CheckPool, auth: AuthConfig,
                 gate: LoginGate | None = None, switch_user: bool = False,
                 options: MaildropOptions = DEFAULT_OPTIONS,
                 retrievals: RetrievalLog | None = None,
                 uidl_styles: Mapping[str, UidlStyle] | None = None,
                 workarounds: tuple[str, ...] = (),
                 virtual_identity: Identity | None = None) -> ClientPortal:
    checkers = [DirectoryChecker(directory, pool, auth.max_secret_length),
                SharedSecretChecker(directory, pool)]
    realm = MaildropRealm(directory, gate, switch_user, options, retrievals, uidl_styles, workarounds,
                          virtual_identity)
    return ClientPortal(realm, checkers, auth.ipv6_prefix)
