"""UNIX accounts checked through PAM: whatever the system's login stack says.

Names, homes and uids come from NSS, as for ``type: unix``; the password
and the account's standing (locked, expired, not allowed here) are asked of
PAM with the configured service (default ``pop3d``, whose stack lives in
/etc/pam.d/pop3d, as conf/pam.d/pop3d ships it): pam_authenticate, then
pam_acct_mgmt.  So LDAP or SSSD accounts, pam_faillock and site rules work
as they do for logins.  The modules need their usual rights: pam_unix reads
the shadow file, so a server that gave up root keeps the ``shadow`` group
(``run_as.groups``), as for ``type: unix``.

Uses ``pamela`` (JupyterHub's ctypes binding to libpam).  Blocking, and
modules may sleep on a failure: call from a worker thread, which the
portal does.
"""

from __future__ import annotations

import pamela

from pop3d.auth.records import SourceUnavailable, UserRecord
from pop3d.auth.unix import UnixUsers

DEFAULT_SERVICE = "pop3d"
#: Linux-PAM return codes meaning PAM itself cannot work, not that the password was wrong:
#: PAM_OPEN_ERR, PAM_SYMBOL_ERR, PAM_SERVICE_ERR, PAM_SYSTEM_ERR, PAM_BUF_ERR, PAM_ABORT.
BROKEN = frozenset({1, 2, 3, 4, 5, 26})
#: Asked when the name is unknown, so that unknown users cost what a real check costs.
NOBODY = "pop3d-no-such-user"


class PamUsers(UnixUsers):
    """A :class:`UserSource` over the system's accounts, passwords checked by PAM."""

    def __init__(self, default_maildrop: str, min_uid: int = 1000, service: str = DEFAULT_SERVICE) -> None:
        self.default_maildrop = default_maildrop
        self.min_uid = min_uid
        self.service = service

    def verify_password(self, record: UserRecord | None, password: bytes) -> bool:
        name = record.name if record is not None else NOBODY
        try:
            # latin-1 both ways: PAM gets exactly the bytes the client sent.
            pamela.authenticate(name.encode("utf-8").decode("latin-1"), password.decode("latin-1"),
                                service=self.service, encoding="latin-1", resetcred=0, check=True)
        except pamela.PAMError as exc:
            if _service_broken(exc):
                raise SourceUnavailable(f"PAM service {self.service}: {exc}") from None
            return False
        return record is not None


def _service_broken(exc: pamela.PAMError) -> bool:
    """PAM itself cannot work (answered ``[SYS/TEMP]``), as opposed to a refused login."""
    return exc.errno in BROKEN
