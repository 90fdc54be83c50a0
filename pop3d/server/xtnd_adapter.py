"""Carries out the XTND actions for one connection: XLIST streaming, XMIT spooling and submission.

An XLIST answer streams, and a submission runs, as the protocol's transfer:
the session reads no further line until it is complete.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from twisted.internet import defer
from twisted.logger import Logger
from twisted.python.failure import Failure

from pop3d.core import responses
from pop3d.core.actions import (
    Action,
    DropSubmission,
    SendHeaderList,
    SpoolSubmission,
    StartSubmission,
    Submit,
)
from pop3d.server.submission import Submission, SubmissionFailed, submitter
from pop3d.server.xlist import HeaderListProducer

if TYPE_CHECKING:
    from pop3d.server.protocol import POP3ServerProtocol

log = Logger()

XTND_ACTIONS = (SendHeaderList, StartSubmission, SpoolSubmission, DropSubmission, Submit)


class XtndAdapter:
    def __init__(self, proto: POP3ServerProtocol) -> None:
        self.proto = proto
        self.submission: Submission | None = None

    def perform(self, action: Action) -> None:
        if isinstance(action, SendHeaderList):
            self.send_header_list(action)
        elif isinstance(action, StartSubmission):
            self.discard()
            self.submission = Submission(self.proto.context.config.xtnd)
        elif isinstance(action, SpoolSubmission):
            if self.submission is not None:
                self.submission.write(action.data)
        elif isinstance(action, DropSubmission):
            self.discard()
        elif isinstance(action, Submit):
            self.submit(action)
        else:  # pragma: no cover - XTND_ACTIONS and this method disagree
            raise TypeError(f"no handler for {action!r}")

    def discard(self) -> None:
        submission, self.submission = self.submission, None
        if submission is not None:
            submission.discard()

    def send_header_list(self, action: SendHeaderList) -> None:
        proto = self.proto
        assert proto.maildrop is not None
        producer = HeaderListProducer(proto.transport, proto.maildrop, action.header, action.indices,
                                      action.status, on_progress=proto.resetTimeout)
        proto.stream(producer, "XLIST")

    def submit(self, action: Submit) -> None:
        proto = self.proto
        submission, self.submission = self.submission, None
        if submission is None:
            submission = Submission(proto.context.config.xtnd)
            submission.discard()

        def done(result: object) -> list[Action]:
            error: str | None = None
            code: str | None = None
            if isinstance(result, Failure):
                if result.check(SubmissionFailed):
                    error, code = str(result.value), result.value.code
                    log.warn("XTND XMIT from {user} not sent: {error}", user=action.user, error=error)
                else:
                    log.failure("XTND XMIT failed", result)
                    error, code = "mail submission failed", responses.SYS_TEMP
            else:
                log.info("XTND XMIT from {user} handed to the submission command", user=action.user)
            assert proto.session is not None
            return proto.session.submission_finished(error, code)

        proto.run_transfer(submission, self.start_submission(submission, action).addBoth(done), "XTND XMIT")

    def start_submission(self, submission: Submission, action: Submit) -> defer.Deferred[None]:
        """Run the command as a non-root identity, within the user's rate; else fail."""
        context = self.proto.context
        config = context.config
        logged_in = self.proto.logged_in
        try:
            if logged_in is None:
                raise SubmissionFailed("no user to submit for", responses.SYS_PERM)
            run_as = config.run_as.user if config.run_as is not None else None
            identity = submitter(logged_in.record, config.xtnd, run_as)
            wait = context.xmit_rate.admit(action.user, config.xtnd.max_messages, config.xtnd.rate_window)
            if wait > 0:
                raise SubmissionFailed(
                    f"too many messages: at most {config.xtnd.max_messages} per "
                    f"{config.xtnd.rate_window:g} s; try again in {int(wait) + 1} s; message not sent",
                    responses.SYS_TEMP)
        except SubmissionFailed as exc:
            submission.discard()
            return defer.fail(exc)
        return submission.run(action.sender, identity)

    def connection_lost(self) -> None:
        self.discard()
