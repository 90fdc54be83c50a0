"""XTND XMIT: spool a message to disk and hand it to the mail submission command.

The message goes to an unnamed temporary file as it arrives (never into
memory), then the configured command (default ``/usr/sbin/sendmail -t -i``)
runs in a worker thread with that file as its standard input and
``-fUSER`` added, so the reactor keeps serving everyone else meanwhile.
"""

from __future__ import annotations

import subprocess
import tempfile
from typing import IO

from twisted.internet import defer, threads

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

    def run(self, sender: str) -> defer.Deferred[None]:
        """Submit in a worker thread; fails with :class:`SubmissionFailed`."""
        if self.error is not None:
            return defer.fail(SubmissionFailed(self.error, responses.SYS_TEMP))
        if self.spool is None:
            return defer.fail(SubmissionFailed("no message to send", None))
        return threads.deferToThread(self._run_blocking, sender)

    def _run_blocking(self, sender: str) -> None:
        spool = self.spool
        assert spool is not None
        argv = self.command(sender)
        try:
            spool.flush()
            spool.seek(0)
            proc = subprocess.run(argv, stdin=spool, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                  timeout=self.config.submit_timeout, close_fds=True, check=False)
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


def _reason(status: int, stderr: bytes) -> str:
    how = f"killed by signal {-status}" if status < 0 else f"exited with status {status}"
    lines = stderr.decode("utf-8", "replace").splitlines()
    first = next((line.strip() for line in lines if line.strip()), "")
    reason = f"message not sent: submission command {how}"
    return f"{reason}: {first[:MAX_REASON]}" if first else reason


def _code(status: int) -> str | None:
    if status == EX_TEMPFAIL or status < 0:
        return responses.SYS_TEMP
    if status in EX_SYSTEM:
        return responses.SYS_PERM
    return None
