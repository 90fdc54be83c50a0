"""The twisted.cred seam: checkers over the user directory, and the realm.

The protocol engine knows only "authenticated as USER with this maildrop" or
a reason for refusal; everything about where users come from lives here.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from twisted.cred import error
from twisted.cred.checkers import ICredentialsChecker
from twisted.cred.credentials import IUsernameHashedPassword, IUsernamePassword
from twisted.cred.portal import IRealm, Portal
from twisted.internet import defer, threads
from zope.interface import Interface, implementer

from pop3d.auth.admission import Admission, Kind, LoginGate, open_admitted
from pop3d.auth.directory import UserDirectory
from pop3d.auth.privileges import maildrop_opener
from pop3d.auth.records import UserRecord
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


@implementer(ICredentialsChecker)
class DirectoryChecker:
    """Checks passwords (USER/PASS, SASL PLAIN/LOGIN) against the directory."""

    credentialInterfaces = (IUsernamePassword,)  # noqa: N815 (Twisted's name)

    def __init__(self, directory: UserDirectory) -> None:
        self.directory = directory

    def requestAvatarId(self, credentials: Any) -> defer.Deferred[bytes]:  # noqa: N802
        name = credentials.username.decode("utf-8")
        d = threads.deferToThread(self.directory.verify_password, name, credentials.password)

        def verdict(record: UserRecord | None) -> bytes:
            if record is None:
                raise error.UnauthorizedLogin("invalid user name or password")
            return record.name.encode("utf-8")

        return d.addCallback(verdict)


@implementer(ICredentialsChecker)
class SharedSecretChecker:
    """Checks APOP (and CRAM-MD5) answers against users' shared secrets."""

    credentialInterfaces = (IUsernameHashedPassword,)  # noqa: N815

    def __init__(self, directory: UserDirectory) -> None:
        self.directory = directory

    def requestAvatarId(self, credentials: Any) -> defer.Deferred[bytes]:  # noqa: N802
        name = credentials.username.decode("utf-8")

        def check() -> bytes:
            secret = self.directory.apop_secret(name)  # file and NSS look-ups: in a thread
            # Check even without a secret, so unknown users cost the same.
            ok = credentials.checkPassword(secret if secret is not None else b"\0unknown")
            if secret is None or not ok:
                raise error.UnauthorizedLogin("invalid user name or password")
            return name.encode("utf-8")

        return threads.deferToThread(check)


@implementer(IRealm)
class MaildropRealm:
    """Opens (and locks) the user's maildrop in a worker thread."""

    def __init__(self, directory: UserDirectory, gate: LoginGate | None = None,
                 switch_user: bool = False, options: MaildropOptions = DEFAULT_OPTIONS,
                 retrievals: RetrievalLog | None = None,
                 uidl_styles: Mapping[str, UidlStyle] | None = None,
                 workarounds: tuple[str, ...] = ()) -> None:
        self.directory = directory
        #: Client workarounds (pop3d.workarounds) applied to every maildrop.
        self.workarounds = workarounds
        self.options = options
        #: Whose UIDLs each maildrop type shows (pop3d.uidl): a migration's old server.
        self.uidl_styles = uidl_styles
        self.gate = gate
        #: First-retrieval times, when EXPIRE is a number of days.
        self.retrievals = retrievals
        #: One process per connection (inetd): become the UNIX user before opening.
        self.switch_user = switch_user

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
        maildrop, admission = open_admitted(self.gate, record, opener, record.location)
        maildrop = apply_workarounds(maildrop, self.workarounds)
        if self.retrievals is not None and admission.kind is Kind.NORMAL:
            try:
                maildrop = ExpiringMaildrop(maildrop, record.name, self.retrievals)
            except BaseException:
                maildrop.close()
                raise
        return maildrop, admission


def build_portal(directory: UserDirectory, gate: LoginGate | None = None,
                 switch_user: bool = False, options: MaildropOptions = DEFAULT_OPTIONS,
                 retrievals: RetrievalLog | None = None,
                 uidl_styles: Mapping[str, UidlStyle] | None = None,
                 workarounds: tuple[str, ...] = ()) -> Portal:
    checkers = [DirectoryChecker(directory), SharedSecretChecker(directory)]
    realm = MaildropRealm(directory, gate, switch_user, options, retrievals, uidl_styles, workarounds)
    return Portal(realm, checkers)
