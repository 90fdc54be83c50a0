"""The thin Twisted protocol that carries out what a sans-IO :class:`Connection` asks.

It feeds the bytes it reads to the connection (which splits lines, bounds
them, paces the pipeline and drives the :class:`Session`) and performs the
actions that come back: writing answers, streaming messages, checking
credentials, committing, starting TLS, pausing and resuming reading,
yielding to the reactor between batches of commands, and closing.  Actions
reported while others are being carried out (a small message streamed at
once, say) are queued, never nested, so a long pipeline runs in constant
stack depth.
"""

from __future__ import annotations

import contextlib
import time
from collections import deque
from collections.abc import Callable

from twisted.cred import error as cred_error
from twisted.internet import defer, protocol, threads
from twisted.internet.interfaces import IDelayedCall, IHandshakeListener
from twisted.logger import Logger
from twisted.protocols.policies import TimeoutMixin
from twisted.protocols.tls import TLSMemoryBIOProtocol
from twisted.python.failure import Failure
from zope.interface import implementer

from pop3d.auth.admission import LoginTooSoon
from pop3d.auth.portal import IMaildrop, LoggedIn, LoginClient, NoSecret
from pop3d.auth.records import SourceUnavailable
from pop3d.core import responses
from pop3d.core.actions import Action, Authenticate, Close, Commit, Send, SendMessage, StartTLS
from pop3d.core.challenge import make_challenge
from pop3d.core.connection import (
    Connection,
    LineLimits,
    LinesArrived,
    PauseReading,
    ResumeReading,
    RunLater,
    StreamAction,
)
from pop3d.core.session import Session
from pop3d.core.states import State
from pop3d.maildrop import Maildrop, MaildropBusy, MaildropError
from pop3d.server.context import ServerContext
from pop3d.server.streaming import MessageProducer, ResponseWriter, TransferStopped
from pop3d.server.submission import Submission
from pop3d.server.tls import transport_is_tls
from pop3d.server.watch import ConnectionWatch
from pop3d.server.xlist import HeaderListProducer
from pop3d.server.xtnd_adapter import XTND_ACTIONS, XtndAdapter

log = Logger()

#: After closing a TLS connection, seconds to wait for the client's close_notify
#: before closing the TCP connection under it anyway (POP3 expects no reply).
TLS_CLOSE_WAIT = 1.0
#: After closing, seconds a client that does not read may keep the connection (and its slot).
CLOSE_WAIT = 10.0

#: Something that streams an answer (or runs XMIT's submission) while lines wait.
Transfer = MessageProducer | HeaderListProducer | Submission


@implementer(IHandshakeListener)
class POP3ServerProtocol(protocol.Protocol, TimeoutMixin):
    def __init__(self, context: ServerContext) -> None:
        self.context = context
        self.session: Session | None = None
        #: Framing, pipelining and flow control for the session (see pop3d.core.connection).
        self.conn: Connection | None = None
        self.writer: ResponseWriter | None = None
        self.maildrop: Maildrop | None = None
        self.logged_in: LoggedIn | None = None
        #: A response in progress (RETR, XLIST) or an XMIT submission: lines wait.
        self.transfer: Transfer | None = None
        self.xtnd = XtndAdapter(self)
        self.closing = False
        #: connectionLost has run: the client is gone.
        self.lost = False
        #: Actions waiting to be carried out, in order (see perform).
        self.pending: deque[Action | StreamAction] = deque()
        self.performing = False
        self.run_later: IDelayedCall | None = None
        #: The client's address, once the connection limits admitted it.
        self.admitted: str | None = None
        #: Reports this connection's events to the context's observers (logs, trace).
        self.watch: ConnectionWatch | None = None
        #: When the credentials being checked arrived, for whom, and a refusal held back (failure delay).
        self.auth_started = 0.0
        self.auth_user: str | None = None
        self.held_refusal: IDelayedCall | None = None
        self.tls_close_timer: IDelayedCall | None = None
        self.close_timer: IDelayedCall | None = None
        #: Ends a connection that has not logged in within limits.login_timeout, busy or not.
        self.login_timer: IDelayedCall | None = None
        self.handlers: dict[type, Callable[[object], None]] = {
            Send: lambda action: self.write(action.data),  # type: ignore[attr-defined]
            SendMessage: self.send_message,  # type: ignore[dict-item]
            Authenticate: self.authenticate,  # type: ignore[dict-item]
            Commit: self.commit,  # type: ignore[dict-item]
            StartTLS: lambda action: self.start_tls(),
            Close: lambda action: self.close(),
            LinesArrived: lambda action: self.resetTimeout(),
            PauseReading: lambda action: self.transport.pauseProducing(),
            ResumeReading: lambda action: self.transport.resumeProducing(),
            RunLater: lambda action: self.yield_then_run(),
            **{kind: self.xtnd.perform for kind in XTND_ACTIONS},  # type: ignore[dict-item]
        }

    # -- connection life ---------------------------------------------------

    def connectionMade(self) -> None:  # noqa: N802 (Twisted's name)
        peer_host = getattr(self.transport.getPeer(), "host", None)
        refusal = self.context.limiter.acquire(str(peer_host))
        if refusal is not None:
            self.transport.write(responses.err(refusal, responses.SYS_TEMP))
            self.close()
            return
        self.admitted = str(peer_host)
        self.context.connections.add(self)
        # Responses are written whole; do not let Nagle hold them back.
        if hasattr(self.transport, "setTcpNoDelay"):
            with contextlib.suppress(OSError):
                self.transport.setTcpNoDelay(True)
        tls = transport_is_tls(self.transport) or self.factory_is_tls()
        policy = self.context.policy_for(tls_active=tls, peer_host=peer_host)
        self.session = Session(policy, make_challenge(policy.hostname))
        self.setTimeout(self.context.config.timeout)
        self.login_timer = self.callLater(self.context.config.limits.login_timeout, self.login_timed_out)
        self.watch = ConnectionWatch(self.context.observers, self.transport)
        limits = self.context.config.limits
        self.conn = Connection(self.session, LineLimits(limits.max_line, limits.max_sasl_line,
                                                        limits.max_line_discard), self.watch)
        self.writer = ResponseWriter(self.transport, self.output_held)
        self.writer.attach()
        self.perform(self.conn.start())

    def factory_is_tls(self) -> bool:
        return False

    def handshakeCompleted(self) -> None:  # noqa: N802 (Twisted's name)
        if self.watch is not None:
            self.watch.tls_established(self.transport)

    def say(self, data: bytes) -> None:
        """Write what the server sends on its own, not as the session's answer; trace it too."""
        if self.watch is not None:
            self.watch.sent(data)
        self.write(data)

    def connectionLost(self, reason: Failure = protocol.connectionDone) -> None:  # noqa: N802
        if self.watch is not None:
            self.watch.connection_lost(reason)
        self.setTimeout(None)
        self.context.connections.discard(self)
        for timer in (self.held_refusal, self.tls_close_timer, self.close_timer, self.run_later,
                      self.login_timer):
            if timer is not None and timer.active():
                timer.cancel()
        if self.admitted is not None:
            self.context.limiter.release(self.admitted)
            self.admitted = None
        self.closing = True
        self.lost = True
        self.pending.clear()
        if self.conn is not None:
            self.conn.close()
        # A dropped connection commits nothing: just release the lock.  But a
        # commit already running after QUIT keeps it until it ends (commit()),
        # and the session is reported (Stats) once it is known what it deleted.
        self.xtnd.connection_lost()
        if self.session is None or self.session.state is not State.UPDATE:
            self.release_maildrop()
            self.report_closed()

    def report_closed(self) -> None:
        if self.watch is not None:
            self.watch, watch = None, self.watch
            if self.conn is not None:
                self.conn.watch = None
            watch.closed(self.session)

    def timeoutConnection(self) -> None:  # noqa: N802
        if self.transport is None:
            return
        self.say(responses.err("autologout; idle for too long"))
        self.close()

    def login_timed_out(self) -> None:
        """No login yet: commands do not buy time, so idle slots cannot be held before login."""
        self.login_timer = None
        if self.transport is None or self.closing:
            return
        self.say(responses.err("autologout; login not completed in time"))
        self.close()

    # -- input -------------------------------------------------------------

    def dataReceived(self, data: bytes) -> None:  # noqa: N802
        if self.closing or self.conn is None:
            return
        self.carry_out(self.conn.receive_data, data)

    def carry_out(self, call: Callable[..., list[Action | StreamAction]], *args: object) -> None:
        """Ask the connection for its next actions and perform them; a bug hangs up."""
        if self.conn is None:
            return
        try:
            actions = call(*args)
        except Exception:
            self.internal_error()
            return
        self.perform(actions)

    def yield_then_run(self) -> None:
        """Let every other connection have its turn before the next batch of commands."""
        assert self.conn is not None
        self.run_later = self.callLater(0, self.run_batch)

    def run_batch(self) -> None:
        self.run_later = None
        if not self.closing and self.conn is not None:
            self.carry_out(self.conn.run)

    def output_held(self, octets: int) -> None:
        """The writer holds ``octets`` the client has not taken: the connection may pause."""
        if not self.closing and self.conn is not None:
            self.carry_out(self.conn.output_buffered, octets)

    # -- actions -----------------------------------------------------------

    def perform(self, actions: list[Action | StreamAction]) -> None:
        """Carry out ``actions`` in order; those reported meanwhile wait their turn, never nest."""
        self.pending.extend(actions)
        if self.performing:
            return
        self.performing = True
        try:
            while self.pending:
                action = self.pending.popleft()
                if self.lost and not isinstance(action, Close):
                    continue
                try:
                    self.handlers[type(action)](action)
                except Exception:
                    self.pending.clear()
                    self.internal_error()
        finally:
            self.performing = False

    def write(self, data: bytes) -> None:
        if self.writer is not None and self.transfer is None:
            self.writer.write(data)
        elif self.transport is not None:
            self.transport.write(data)

    def send_message(self, action: SendMessage) -> None:
        assert self.maildrop is not None
        try:
            reader = self.maildrop.open_message(action.index)
        except MaildropError as exc:
            log.warn("cannot open message {n}: {exc}", n=action.index + 1, exc=exc)
            self.write(responses.err("message is no longer available", responses.SYS_TEMP))
            self.transfer_done(None, "")
            return
        self.stream(MessageProducer(self.transport, reader, action.status, action.body_lines,
                                    on_progress=self.resetTimeout), "message transfer")

    def stream(self, producer: MessageProducer | HeaderListProducer, what: str) -> None:
        """Stream a multi-line answer; the writer steps aside while the producer is registered."""
        assert self.writer is not None
        self.writer.detach()
        self.run_transfer(producer, producer.start(), what)

    def run_transfer(self, transfer: Transfer, d: defer.Deferred, what: str) -> None:  # type: ignore[type-arg]
        """Lines wait until ``d`` fires: RETR, TOP, XLIST and XMIT end here."""
        self.transfer = transfer
        d.addBoth(self.transfer_done, what)

    def transfer_done(self, result: object, what: str) -> object:
        self.transfer = None
        if isinstance(result, Failure):
            if result.check(TransferStopped):
                log.warn("{what} stopped, connection closed: {err}", what=what, err=result.value)
                self.close()
            elif not result.check(defer.CancelledError):
                log.failure(what + " failed", result)
                self.close()
            return None
        if not self.closing and self.writer is not None and self.conn is not None:
            self.writer.attach()
            # XMIT's outcome is the session's answer to it; a streamed answer has none.
            self.carry_out(self.conn.transfer_finished, result if isinstance(result, list) else [])
        return None

    def peer_host(self) -> str | None:
        return getattr(self.transport.getPeer(), "host", None)

    def authenticate(self, action: Authenticate) -> None:
        self.auth_started = time.monotonic()
        self.auth_user = action.username
        d = self.context.portal.login(action.credentials, LoginClient(self.peer_host()), IMaildrop)
        d.addCallbacks(self.login_succeeded, self.login_failed)
        d.addErrback(self.unexpected)

    def login_succeeded(self, result: tuple[object, LoggedIn, object]) -> None:
        _, logged_in, _ = result
        if self.closing:  # the client left while we were opening the maildrop
            logged_in.maildrop.close()
            return
        self.logged_in = logged_in
        self.maildrop = logged_in.maildrop
        if self.login_timer is not None and self.login_timer.active():
            self.login_timer.cancel()
        self.login_timer = None
        assert self.session is not None and self.conn is not None
        if self.context.throttle is not None:  # this name's failures from here are forgiven
            self.context.throttle.succeeded(self.peer_host(), logged_in.record.name).addErrback(
                lambda failure: log.failure("clearing failure counts failed", failure))
        self.perform(self.conn.session_answered(self.session.login_succeeded(
            logged_in.record.name, self.maildrop.messages(), logged_in.login_delay,
            monitor=logged_in.monitor, poll=logged_in.poll, expired=logged_in.expired)))

    def login_failed(self, failure: Failure) -> None:
        if self.closing:
            return
        assert self.session is not None
        if failure.check(NoSecret):  # no password was tried: at once, and not counted
            actions = self.session.login_failed("no shared secret for this mechanism; use your password",
                                                responses.AUTH, counted=False)
        elif failure.check(cred_error.UnauthorizedLogin, cred_error.UnhandledCredentials):
            self.refuse_after_delay()
            return
        elif failure.check(SourceUnavailable):
            log.warn("user database unavailable: {exc}", exc=failure.value)
            actions = self.session.login_failed("cannot check passwords now, try later", responses.SYS_TEMP)
        elif failure.check(LoginTooSoon):
            actions = self.session.login_failed(str(failure.value), responses.LOGIN_DELAY)
        elif failure.check(MaildropBusy):
            actions = self.session.login_failed("maildrop is locked by another session", responses.IN_USE)
        elif failure.check(MaildropError):
            log.warn("maildrop unavailable: {exc}", exc=failure.value)
            actions = self.session.login_failed("maildrop is unavailable, try later", responses.SYS_TEMP)
        else:
            log.failure("login failed unexpectedly", failure)
            actions = self.session.login_failed("temporary failure, try later", responses.SYS_TEMP)
        self.answered(actions)

    def refuse_after_delay(self) -> None:
        """Answer bad credentials only once the failure delay is over, blocking no one."""
        throttle = self.context.throttle
        if throttle is None:
            self.refuse_now()
            return
        d = throttle.failed(self.peer_host(), self.auth_user)
        d.addCallback(self.refuse_in)
        d.addErrback(self.unexpected)

    def refuse_in(self, delay: float) -> None:
        """Answer the refusal ``delay`` seconds after the credentials arrived."""
        if self.closing or self.session is None:
            return
        wait = delay - (time.monotonic() - self.auth_started)
        if wait > 0:
            self.held_refusal = self.callLater(wait, self.refuse_now)
        else:
            self.refuse_now()

    def refuse_now(self) -> None:
        self.held_refusal = None
        if self.closing or self.session is None:
            return
        self.answered(self.session.login_failed("invalid user name or password", responses.AUTH))

    def commit(self, action: Commit) -> None:
        maildrop = self.maildrop
        if maildrop is None:
            d: defer.Deferred[None] = defer.succeed(None)
        else:
            d = threads.deferToThread(maildrop.commit, action.deleted, action.retrieved)

        def finished(result: object) -> None:
            error = None
            if isinstance(result, Failure):
                if result.check(MaildropError):
                    log.warn("commit failed: {exc}", exc=result.value)
                else:
                    log.failure("commit failed", result)
                error = "could not update the maildrop"
            # Release the lock before answering, so an immediate reconnect finds it free.
            self.release_maildrop()
            if self.session is not None:
                if self.lost:  # the client left during UPDATE: nothing to answer
                    self.session.commit_finished(error)
                    if self.watch is not None:
                        self.watch.performing(self.session, [])
                    self.report_closed()
                else:
                    self.answered(self.session.commit_finished(error))

        d.addBoth(finished)
        d.addErrback(self.unexpected)

    def start_tls(self) -> None:
        """Begin the TLS handshake after STLS's ``+OK`` (already written in the clear).

        Everything the client sent after STLS, queued lines and a partial line
        alike, is thrown away: it was sent in the clear, so it must never be
        executed as if it came over TLS.
        """
        assert self.session is not None and self.context.tls_options is not None
        self.transport.startTLS(self.context.tls_options)
        self.session.tls_started()

    def shut_down(self) -> bool:
        """Server shutdown: hang up now, committing nothing; False while a commit runs.

        A session in UPDATE (after QUIT) is left to finish its commit.  The
        client is told why, unless a message is streaming (the line would
        land inside it).
        """
        if self.session is not None and self.session.state is State.UPDATE:
            return False
        if self.transport is not None and self.transfer is None and not self.closing:
            self.say(responses.err("server shutting down; no messages were deleted", responses.SYS_TEMP))
        self.close()
        return True

    def answered(self, actions: list[Action]) -> None:
        """Carry out the session's answer to an outcome, then go on with the waiting lines."""
        if self.conn is not None:
            self.carry_out(self.conn.session_answered, actions)

    def close(self) -> None:
        """Close once what was written is sent; abort a client that will not take it."""
        first = not self.closing
        self.closing = True
        self.pending.clear()
        if self.conn is not None:
            self.conn.close()
        if self.writer is not None and self.transfer is None:
            self.writer.detach()  # hands over what it held; a registered producer would delay the close
        if self.transport is not None:
            self.transport.loseConnection()
            if transport_is_tls(self.transport) and self.tls_close_timer is None:
                self.tls_close_timer = self.callLater(TLS_CLOSE_WAIT, self.close_under_tls)
            if first and not self.lost:
                self.close_timer = self.callLater(CLOSE_WAIT, self.abort)

    def abort(self) -> None:
        """The client did not take the last answers in time: drop the connection (and the lock)."""
        self.close_timer = None
        if not self.lost and self.transport is not None:
            self.transport.abortConnection()

    def close_under_tls(self) -> None:
        """Twisted's TLS waits for the peer's close_notify; a POP3 server need not."""
        self.tls_close_timer = None
        if self.lost:
            return
        tls = self.transport if isinstance(self.transport, TLSMemoryBIOProtocol) else \
            getattr(self.transport, "protocol", None)  # STLS: the TLS layer of a TCP transport
        lower = getattr(tls, "transport", None)
        if lower is not None:
            lower.loseConnection()  # sends what is still buffered, then closes

    # -- failures ----------------------------------------------------------

    def release_maildrop(self) -> None:
        maildrop, self.maildrop = self.maildrop, None
        if maildrop is not None:
            try:
                maildrop.close()
            except Exception:
                log.failure("releasing the maildrop failed")

    def internal_error(self) -> None:
        """A bug: log it, tell the client without details, and hang up."""
        log.failure("internal error")
        if self.transport is not None:
            self.say(responses.err("internal server error", responses.SYS_TEMP))
        self.close()

    def unexpected(self, failure: Failure) -> None:
        log.failure("internal error", failure)
        self.internal_error_no_log()

    def internal_error_no_log(self) -> None:
        if self.transport is not None and not self.closing:
            self.say(responses.err("internal server error", responses.SYS_TEMP))
            self.close()


class POP3Factory(protocol.ServerFactory):
    #: No "Starting factory" lines: pop3d logs its listeners itself.
    noisy = False

    def __init__(self, context: ServerContext) -> None:
        self.context = context

    def buildProtocol(self, addr: object) -> POP3ServerProtocol:  # noqa: N802
        proto = POP3ServerProtocol(self.context)
        proto.factory = self
        return proto
