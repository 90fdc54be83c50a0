"""The thin Twisted protocol that drives a sans-IO :class:`Session`.

It splits bytes into bounded lines, feeds them to the session one at a time
(strictly in order, holding pipelined lines while the session or a message
transfer is busy), and carries out the actions the session returns.
"""

from __future__ import annotations

import contextlib
import time
from collections import deque

from twisted.cred import error as cred_error
from twisted.internet import defer, protocol, threads
from twisted.internet.interfaces import IDelayedCall, IHandshakeListener
from twisted.logger import Logger
from twisted.protocols.policies import TimeoutMixin
from twisted.protocols.tls import TLSMemoryBIOProtocol
from twisted.python.failure import Failure
from zope.interface import implementer

from pop3d.auth.admission import LoginTooSoon
from pop3d.auth.portal import IMaildrop, LoggedIn
from pop3d.auth.records import SourceUnavailable
from pop3d.core import responses
from pop3d.core.actions import Action, Authenticate, Close, Commit, Send, SendMessage, StartTLS
from pop3d.core.challenge import make_challenge
from pop3d.core.lines import TOO_LONG, LineBuffer
from pop3d.core.session import Session
from pop3d.core.states import State
from pop3d.maildrop import Maildrop, MaildropBusy, MaildropError
from pop3d.server.context import ServerContext
from pop3d.server.streaming import MessageProducer
from pop3d.server.submission import Submission
from pop3d.server.tls import transport_is_tls
from pop3d.server.watch import ConnectionWatch
from pop3d.server.xlist import HeaderListProducer
from pop3d.server.xtnd_adapter import XTND_ACTIONS, XtndAdapter

log = Logger()

#: Pipelined lines held before we stop reading from the socket.
MAX_QUEUED_LINES = 100
#: After closing a TLS connection, seconds to wait for the client's close_notify
#: before closing the TCP connection under it anyway (POP3 expects no reply).
TLS_CLOSE_WAIT = 1.0


@implementer(IHandshakeListener)
class POP3ServerProtocol(protocol.Protocol, TimeoutMixin):
    def __init__(self, context: ServerContext) -> None:
        self.context = context
        limits = context.config.limits
        self.max_line = limits.max_line
        self.max_sasl_line = limits.max_sasl_line
        # pump() raises the bound only while a SASL continuation is awaited.
        self.lines = LineBuffer(self.max_line)
        self.queue: deque[bytes | object] = deque()
        self.session: Session | None = None
        self.maildrop: Maildrop | None = None
        self.logged_in: LoggedIn | None = None
        #: A response in progress (RETR, XLIST) or an XMIT submission: lines wait.
        self.transfer: MessageProducer | HeaderListProducer | Submission | None = None
        self.xtnd = XtndAdapter(self)
        self.closing = False
        #: connectionLost has run: the client is gone.
        self.lost = False
        self.paused = False
        #: The client's address, once the connection limits admitted it.
        self.admitted: str | None = None
        #: Reports this connection's events to the context's observers (logs, trace).
        self.watch: ConnectionWatch | None = None
        #: When the credentials being checked arrived, and a refusal held back (failure delay).
        self.auth_started = 0.0
        self.held_refusal: IDelayedCall | None = None
        self.tls_close_timer: IDelayedCall | None = None

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
        self.watch = ConnectionWatch(self.context.observers, self.transport)
        self.perform(self.session.greeting())

    def factory_is_tls(self) -> bool:
        return False

    def handshakeCompleted(self) -> None:  # noqa: N802 (Twisted's name)
        if self.watch is not None:
            self.watch.tls_established(self.transport)

    def say(self, data: bytes) -> None:
        """Write what the server sends on its own, not as the session's answer; trace it too."""
        if self.watch is not None:
            self.watch.sent(data)
        self.transport.write(data)

    def connectionLost(self, reason: Failure = protocol.connectionDone) -> None:  # noqa: N802
        if self.watch is not None:
            self.watch.connection_lost(reason)
        self.setTimeout(None)
        self.context.connections.discard(self)
        if self.held_refusal is not None and self.held_refusal.active():
            self.held_refusal.cancel()
        if self.tls_close_timer is not None and self.tls_close_timer.active():
            self.tls_close_timer.cancel()
        if self.admitted is not None:
            self.context.limiter.release(self.admitted)
            self.admitted = None
        self.closing = True
        self.lost = True
        self.queue.clear()
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
            watch.closed(self.session)

    def timeoutConnection(self) -> None:  # noqa: N802
        if self.transport is None:
            return
        self.say(responses.err("autologout; idle for too long"))
        self.close()

    # -- input -------------------------------------------------------------

    def dataReceived(self, data: bytes) -> None:  # noqa: N802
        if self.closing:
            return
        lines = self.lines.feed(data)
        if lines:
            # Only complete lines count as activity: a client dribbling a
            # partial line (slowloris) still times out.
            self.resetTimeout()
            self.queue.extend(lines)
        self.pump()

    def pump(self) -> None:
        """Feed queued lines to the session while nothing is in progress."""
        session = self.session
        assert session is not None
        while self.queue and not self.closing and not session.busy and self.transfer is None:
            line = self.queue.popleft()
            try:
                if line is TOO_LONG or len(line) > self.line_limit():  # type: ignore[arg-type]
                    if self.watch is not None:
                        self.watch.line(session, None)
                    actions = session.line_too_long()
                else:
                    assert isinstance(line, bytes)
                    if self.watch is not None:
                        self.watch.line(session, line)
                    actions = session.receive_line(line)
                self.perform(actions)
            except Exception:
                self.internal_error()
        # Bytes arriving now belong to the next line the session will read.
        self.lines.max_length = self.max_line if self.queue else self.line_limit()
        self.flow_control()

    def line_limit(self) -> int:
        """The longest line the session accepts next: a command or a SASL response."""
        awaiting_sasl = self.session is not None and self.session.continuation is not None
        return self.max_sasl_line if awaiting_sasl else self.max_line

    def flow_control(self) -> None:
        """Stop reading while too many pipelined lines wait."""
        if self.transport is None:
            return
        if len(self.queue) > MAX_QUEUED_LINES and not self.paused:
            self.paused = True
            self.transport.pauseProducing()
        elif self.paused and len(self.queue) <= MAX_QUEUED_LINES // 2:
            self.paused = False
            self.transport.resumeProducing()

    # -- actions -----------------------------------------------------------

    def perform(self, actions: list[Action]) -> None:
        if self.watch is not None and self.session is not None:
            self.watch.performing(self.session, actions)
        for action in actions:
            if isinstance(action, Send):
                self.transport.write(action.data)
            elif isinstance(action, SendMessage):
                self.send_message(action)
            elif isinstance(action, Authenticate):
                self.authenticate(action)
            elif isinstance(action, Commit):
                self.commit(action)
            elif isinstance(action, StartTLS):
                self.start_tls()
            elif isinstance(action, Close):
                self.close()
            elif isinstance(action, XTND_ACTIONS):
                self.xtnd.perform(action)
            else:  # pragma: no cover - a new action type without a handler
                raise TypeError(f"no handler for {action!r}")

    def send_message(self, action: SendMessage) -> None:
        assert self.maildrop is not None
        try:
            reader = self.maildrop.open_message(action.index)
        except MaildropError as exc:
            log.warn("cannot open message {n}: {exc}", n=action.index + 1, exc=exc)
            self.transport.write(responses.err("message is no longer available", responses.SYS_TEMP))
            return
        self.transfer = MessageProducer(self.transport, reader, action.status, action.body_lines,
                                        on_progress=self.resetTimeout)
        d = self.transfer.start()

        def done(result: object) -> None:
            self.transfer = None
            if isinstance(result, Failure) and not result.check(defer.CancelledError):
                log.failure("message transfer failed", result)
                self.close()
            if not self.closing:
                self.pump()

        d.addBoth(done)

    def authenticate(self, action: Authenticate) -> None:
        self.auth_started = time.monotonic()
        d = self.context.portal.login(action.credentials, None, IMaildrop)
        d.addCallbacks(self.login_succeeded, self.login_failed)
        d.addErrback(self.unexpected)

    def login_succeeded(self, result: tuple[object, LoggedIn, object]) -> None:
        _, logged_in, _ = result
        if self.closing:  # the client left while we were opening the maildrop
            logged_in.maildrop.close()
            return
        self.logged_in = logged_in
        self.maildrop = logged_in.maildrop
        assert self.session is not None
        self.perform(self.session.login_succeeded(logged_in.record.name, self.maildrop.messages(),
                                                  logged_in.login_delay, monitor=logged_in.monitor,
                                                  poll=logged_in.poll, expired=logged_in.expired))
        self.pump()

    def login_failed(self, failure: Failure) -> None:
        if self.closing:
            return
        assert self.session is not None
        if failure.check(cred_error.UnauthorizedLogin, cred_error.UnhandledCredentials):
            self.refuse_after_delay()
            return
        if failure.check(SourceUnavailable):
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
        self.perform(actions)
        self.pump()

    def refuse_after_delay(self) -> None:
        """Answer bad credentials only once the failure delay is over, blocking no one."""
        throttle = self.context.throttle
        if throttle is None:
            self.refuse_now()
            return
        peer = getattr(self.transport.getPeer(), "host", None)
        if throttle.blocking:  # counted in the shared database: off the reactor thread
            d = threads.deferToThread(throttle.record_failure, peer)
            d.addCallback(self.refuse_in)
            d.addErrback(self.unexpected)
        else:
            self.refuse_in(throttle.record_failure(peer))

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
        self.perform(self.session.login_failed("invalid user name or password", responses.AUTH))
        self.pump()

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
                    self.perform(self.session.commit_finished(error))

        d.addBoth(finished)
        d.addErrback(self.unexpected)

    def start_tls(self) -> None:
        """Begin the TLS handshake after STLS's ``+OK`` (already written in the clear).

        Everything the client sent after STLS, queued lines and a partial line
        alike, is thrown away: it was sent in the clear, so it must never be
        executed as if it came over TLS.
        """
        assert self.session is not None and self.context.tls_options is not None
        self.queue.clear()
        self.lines.clear()
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

    def close(self) -> None:
        self.closing = True
        self.queue.clear()
        if self.transport is not None:
            self.transport.loseConnection()
            if transport_is_tls(self.transport) and self.tls_close_timer is None:
                self.tls_close_timer = self.callLater(TLS_CLOSE_WAIT, self.close_under_tls)

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
    def __init__(self, context: ServerContext) -> None:
        self.context = context

    def buildProtocol(self, addr: object) -> POP3ServerProtocol:  # noqa: N802
        proto = POP3ServerProtocol(self.context)
        proto.factory = self
        return proto
