"""XTND XMIT: spool a message to disk and hand it to the mail submission command.

The message goes to an unnamed temporary file as it arrives (never into
memory), then the configured command (default ``/usr/sbin/sendmail -t -i``)
runs in a worker thread with that file as its standard input and
``-fUSER@DOMAIN`` added, so the reactor keeps serving everyone else meanwhile.

The command never runs as root: a root server runs it as the UNIX user who
logged in, or for a virtual user as ``xtnd.run_as`` (else ``run_as``), and
refuses XMIT when there is no such identity.  :class:`SubmissionRate` caps
the messages one user submits per window.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from collections import deque
from collections.abc import Callable
from typing import IO

from twisted.internet import defer, threads

from pop3d.auth.privileges import Identity, PrivilegeError, resolve
from pop3d.auth.records import UserRecord
from pop3d.config.polling import XtndConfig
from pop3d.core import responses

#: sysexits(3) status of a temporary failure: the client may try again.
EX_TEMPFAIL = 75
#: sysexits(3) statuses that mean the mail system itself is broken.
EX_SYSTEM = frozenset({69, 70, 71, 72, 73, 74, 77, 78})
#: Bytes of the command's error output kept for the reason.
MAX_REASON = 200


class SubmissionFailed(Exception):
    """The message was not accepted; ``str()`` is the reason for the client."""

    def __init__(self, reason: str, code: str | None) -> None:
        super().__init__(reason)
        self.code = code


class Submission:
    """One XMIT message on its way from the client to the submission command."""

    def __init__(self, config: XtndConfig) -> None:
        self.config = config
        #: Why the message cannot be sent although the client sent it well (disk full).
        self.error: str | None = None
        self.spool: IO[bytes] | None = None
        try:
            self.spool = tempfile.TemporaryFile(prefix="pop3d-xmit-")  # noqa: SIM115 (closed by discard)
        except OSError as exc:
            self.error = f"cannot spool the message: {exc.strerror}"

    def write(self, data: bytes) -> None:
        if self.spool is None:
            return
        try:
            self.spool.write(data)
        except OSError as exc:
            self.error = f"cannot spool the message: {exc.strerror}"
            self.discard()

    def discard(self) -> None:
        spool, self.spool = self.spool, None
        if spool is not None:
            spool.close()

    def command(self, sender: str) -> list[str]:
        # One argument, so a sender starting with "-" cannot become an option.
        return [*self.config.submit, f"-f{sender}"]

    def run(self, sender: str, identity: Identity | None) -> defer.Deferred[None]:
        """Submit in a worker thread as ``identity`` (None: as this process, not root).

        Fails with :class:`SubmissionFailed`.
        """
        if self.error is not None:
            return defer.fail(SubmissionFailed(self.error, responses.SYS_TEMP))
        if self.spool is None:
            return defer.fail(SubmissionFailed("no message to send", None))
        return threads.deferToThread(self._run_blocking, sender, identity)

    def _run_blocking(self, sender: str, identity: Identity | None) -> None:
        spool = self.spool
        assert spool is not None
        argv = self.command(sender)
        as_user: dict[str, object] = {}
        if identity is not None:
            as_user = {"user": identity.uid, "group": identity.gid, "extra_groups": list(identity.groups)}
        try:
            spool.flush()
            spool.seek(0)
            proc = subprocess.run(argv, stdin=spool, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                  timeout=self.config.submit_timeout, close_fds=True, check=False,
                                  cwd="/", **as_user)  # type: ignore[call-overload]
        except FileNotFoundError:
            raise SubmissionFailed(f"mail submission is unavailable: {argv[0]} not found",
                                   responses.SYS_PERM) from None
        except PermissionError:
            raise SubmissionFailed(f"mail submission is unavailable: {argv[0]} cannot be run",
                                   responses.SYS_PERM) from None
        except subprocess.TimeoutExpired:
            raise SubmissionFailed("mail submission timed out; message not sent",
                                   responses.SYS_TEMP) from None
        except OSError as exc:
            raise SubmissionFailed(f"mail submission failed: {exc.strerror}", responses.SYS_TEMP) from None
        finally:
            self.discard()
        if proc.returncode != 0:
            raise SubmissionFailed(_reason(proc.returncode, proc.stderr), _code(proc.returncode))


def submitter(record: UserRecord, config: XtndConfig, run_as: str | None) -> Identity | None:
    """Whom the submission command runs as for ``record``: never root.

    None when this process is not root (the command runs as the process);
    a UNIX user is submitted for as that user, a virtual user as
    ``xtnd.run_as`` or ``run_as``; with neither, :class:`SubmissionFailed`.
    """
    if os.geteuid() != 0:
        return None
    if record.uid is not None and record.gid is not None:
        if record.uid == 0:
            raise SubmissionFailed("XTND XMIT is not available to root", responses.SYS_PERM)
        return Identity(record.name, record.uid, record.gid,
                        tuple(os.getgrouplist(record.name, record.gid)))
    name = config.run_as or run_as
    if name is None:
        raise SubmissionFailed("XTND XMIT is unavailable: no unprivileged user to submit as "
                               "(set xtnd.run_as)", responses.SYS_PERM)
    try:
        identity = resolve(name)
    except PrivilegeError as exc:
        raise SubmissionFailed(f"XTND XMIT is unavailable: {exc}", responses.SYS_PERM) from None
    if identity.uid == 0:
        raise SubmissionFailed("XTND XMIT is unavailable: it never runs as root", responses.SYS_PERM)
    return identity


class SubmissionRate:
    """At most ``max_messages`` submissions per user in any ``window`` seconds (one process)."""

    #: Users remembered before the idle ones are forgotten.
    MAX_USERS = 1024

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.sent: dict[str, deque[float]] = {}

    def admit(self, user: str, max_messages: int, window: float) -> float:
        """Record a submission by ``user`` and return 0, or the seconds until one is allowed."""
        now = self.clock()
        if len(self.sent) > self.MAX_USERS:
            self.sent = {u: t for u, t in self.sent.items() if t and t[-1] > now - window}
        times = self.sent.setdefault(user, deque())
        while times and times[0] <= now - window:
            times.popleft()
        if len(times) >= max_messages:
            return times[0] + window - now
        times.append(now)
        return 0.0


def _reason(status: int, stderr: bytes) -> str:
    how = f"killed by signal {-status}" if status < 0 else f"exited with status {status}"
    lines = stderr.decode("utf-8", "replace").splitlines()
    # The last line: warnings come first, the error that stopped the command last.
    last = next((line.strip() for line in reversed(lines) if line.strip()), "")
    reason = f"message not sent: submission command {how}"
    return f"{reason}: {last[:MAX_REASON]}" if last else reason


def _code(status: int) -> str | None:
    if status == EX_TEMPFAIL or status < 0:
        return responses.SYS_TEMP
    if status in EX_SYSTEM:
        return responses.SYS_PERM
    return None
