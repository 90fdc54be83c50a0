"""The Twisted adapter against hostile input, in memory (no sockets, a fake clock).

Each test is named for the attack it stops.  The same behaviours are also
checked over real sockets in tests/integration/test_hostile_clients.py.
"""

from __future__ import annotations

import pytest
from twisted.cred.portal import Portal
from twisted.internet import defer, task
from twisted.internet.address import IPv4Address
from twisted.internet.testing import StringTransport

import pop3d.server.protocol as protocol_module
from pop3d.auth.portal import LoggedIn
from pop3d.auth.records import UserRecord
from pop3d.config.model import Config, Limits
from pop3d.core.connection import BATCH, OUTPUT_HIGH
from pop3d.core.messages import MessageInfo
from pop3d.maildrop import EmptyMaildrop
from pop3d.server.context import ServerContext, base_policy
from pop3d.server.limits import ConnectionLimiter
from pop3d.server.observers import ObserverSet, SessionObserver, SessionSummary
from pop3d.server.protocol import POP3Factory, POP3ServerProtocol

LIMITS = Limits(max_line=300, max_sasl_line=4000, max_bad_commands=5)


class TLSCapableTransport(StringTransport):
    """A StringTransport that records STLS's switch to TLS."""

    def __init__(self, host: str) -> None:
        super().__init__(peerAddress=IPv4Address("TCP", host, 40000))
        self.tls_started_with: object = None
        self.written_before_tls = b""

    def startTLS(self, options: object) -> None:  # noqa: N802 (Twisted's name)
        self.written_before_tls = self.value()
        self.tls_started_with = options
        self.TLS = True


def make_context(limits: Limits = LIMITS, tls: bool = False, **config: object) -> ServerContext:
    settings = dict(path="pop3d.yaml", hostname="pop3d.test", listen=(), timeout=60,
                    maildrop="mbox:/nonexistent/%u", mbox_format="mboxrd", users=(), limits=limits)
    settings.update(config)
    cfg = Config(**settings)  # type: ignore[arg-type]
    context = ServerContext(config=cfg, portal=Portal(None), policy=base_policy(cfg))
    if tls:
        context.tls_options = object()  # only passed through to startTLS here
    return context


class Conn:
    """One in-memory connection: feed bytes, read what the server wrote."""

    def __init__(self, context: ServerContext, host: str = "127.0.0.1", clock: task.Clock | None = None,
                 implicit_tls: bool = False) -> None:
        self.clock = clock or task.Clock()
        self.proto: POP3ServerProtocol = POP3Factory(context).buildProtocol(None)
        self.proto.callLater = self.clock.callLater  # type: ignore[method-assign]
        self.transport = TLSCapableTransport(host)
        if implicit_tls:  # as after the handshake on a tls: listener
            self.transport.TLS = True
        self.proto.makeConnection(self.transport)

    def take(self) -> list[bytes]:
        data = self.transport.value()
        self.transport.clear()
        return data.split(b"\r\n")[:-1]

    def send(self, data: bytes) -> list[bytes]:
        self.proto.dataReceived(data)
        return self.take()

    @property
    def closed(self) -> bool:
        return self.transport.disconnecting


@pytest.fixture
def conn() -> Conn:
    c = Conn(make_context())
    assert c.take()[0].startswith(b"+OK pop3d ")
    return c


# -- line lengths --------------------------------------------------------------


def test_line_without_end_is_refused_at_once_and_dropped_as_it_arrives(conn):
    chunk = b"A" * 65536
    assert conn.send(chunk) == [b"-ERR line too long"]  # not only once the CRLF comes
    for _ in range(14):  # under 1 MB in all: discarded, never buffered, never answered twice
        assert conn.send(chunk) == []
        assert conn.proto.conn.lines.pending == 0
    assert conn.send(b"\r\nCAPA\r\n")[0] == b"+OK capability list follows"
    assert not conn.closed


def test_line_past_the_discard_bound_closes_the_connection():
    c = Conn(make_context(limits=Limits(max_line=300, max_sasl_line=4000, max_line_discard=100_000)))
    c.take()
    assert c.send(b"USER " + b"A" * 65536) == [b"-ERR line too long"]
    assert not c.closed
    assert c.send(b"A" * 40000) == [b"-ERR line too long, closing"]
    assert c.closed
    assert c.proto.session.closed


def test_line_just_over_the_limit_is_refused_and_the_next_one_runs(conn):
    assert conn.send(b"NOOP " + b"x" * LIMITS.max_line + b"\r\nQUIT\r\n") == [
        b"-ERR line too long", b"+OK pop3d at pop3d.test signing off."]


def test_line_at_the_limit_is_read(conn):
    line = b"USER " + b"u" * (LIMITS.max_line - 5)
    assert len(line) == LIMITS.max_line
    assert conn.send(line + b"\r\n") == [b"-ERR invalid user name"]  # parsed, not "too long"


def test_sasl_response_may_be_longer_than_a_command_but_is_bounded_too(conn):
    assert conn.send(b"AUTH PLAIN\r\n") == [b"+ "]
    long_answer = b"A" * 2000  # over max_line, under max_sasl_line
    reply = conn.send(long_answer + b"\r\n")
    assert reply and reply[0] != b"-ERR line too long"
    assert conn.send(b"AUTH PLAIN\r\n") == [b"+ "]
    assert conn.send(b"A" * (LIMITS.max_sasl_line + 10) + b"\r\n") == [b"-ERR line too long"]
    # Back to commands: the larger bound no longer applies.
    assert conn.send(b"NOOP " + b"x" * 1000 + b"\r\n") == [b"-ERR line too long"]


def test_sasl_bound_holds_while_bytes_trickle_in(conn):
    assert conn.send(b"AUTH LOGIN\r\n")[0].startswith(b"+ ")
    answers = []
    for _ in range(100):
        answers += conn.send(b"B" * 1000)
        assert conn.proto.conn.lines.pending <= LIMITS.max_sasl_line + 1
    answers += conn.send(b"\r\n")
    assert answers == [b"-ERR line too long"]


# -- bad commands ----------------------------------------------------------------


def test_too_many_invalid_commands_in_a_row_closes_with_a_final_err(conn):
    out = conn.send(b"FOO\r\n" * (LIMITS.max_bad_commands - 1))
    assert out == [b"-ERR unknown command"] * (LIMITS.max_bad_commands - 1)
    assert not conn.closed
    assert conn.send(b"\x00\xff garbage\r\n") == [
        b"-ERR unknown command", b"-ERR too many invalid commands, closing"]
    assert conn.closed
    assert conn.send(b"CAPA\r\n") == []  # nothing more is read


def test_a_valid_command_resets_the_count_of_invalid_ones(conn):
    for _ in range(3):
        conn.send(b"FOO\r\n" * (LIMITS.max_bad_commands - 1))
        conn.send(b"CAPA\r\n")
    assert not conn.closed


def test_over_long_lines_count_as_invalid_commands(conn):
    conn.send((b"x" * 400 + b"\r\n") * LIMITS.max_bad_commands)
    assert conn.closed


# -- idle timeout -----------------------------------------------------------------


def test_slowloris_partial_line_still_times_out():
    clock = task.Clock()
    c = Conn(make_context(timeout=10), clock=clock)
    c.take()
    for byte in b"NOOP NOOP NOOP NOOP":  # one byte every 2 s: never a whole line
        c.send(bytes([byte]))
        clock.advance(2)
        if c.closed:
            break
    assert c.closed
    assert c.take() == [b"-ERR autologout; idle for too long"]


def test_whole_lines_keep_the_connection_alive():
    clock = task.Clock()
    c = Conn(make_context(timeout=10, limits=Limits(login_timeout=1000)), clock=clock)
    for _ in range(10):
        clock.advance(8)
        c.send(b"CAPA\r\n")
    assert not c.closed
    clock.advance(10)
    assert c.closed


def test_capa_every_few_seconds_cannot_hold_a_slot_past_the_login_timeout():
    clock = task.Clock()
    c = Conn(make_context(timeout=10, limits=Limits(login_timeout=30)), clock=clock)
    c.take()
    for _ in range(5):  # CAPA every 5 s resets the idle timer, not the login timer
        clock.advance(5)
        assert c.send(b"CAPA\r\n")[0] == b"+OK capability list follows"
    clock.advance(5)
    assert c.take() == [b"-ERR autologout; login not completed in time"]
    assert c.closed


def test_login_timer_stops_at_login():
    clock = task.Clock()
    c = Conn(make_context(timeout=100, limits=Limits(login_timeout=30)), clock=clock)
    session, maildrop = c.proto.session, RecordingMaildrop()
    session.authenticate("alice", object(), "USER")
    logged_in = LoggedIn(UserRecord("alice", None), maildrop)  # type: ignore[arg-type]
    c.proto.login_succeeded((None, logged_in, None))
    clock.advance(60)
    assert not c.closed


def test_commands_before_login_are_capped():
    c = Conn(make_context(limits=Limits(max_commands_before_login=3)))
    c.take()
    out = c.send(b"CAPA\r\nUSER a\r\nFOO\r\nNOOP\r\nCAPA\r\n")
    assert out[-2:] == [b"-ERR unknown command", b"-ERR too many commands before login, closing"]
    assert c.closed and c.proto.session.closed


def test_timeout_applies_while_a_sasl_exchange_waits():
    clock = task.Clock()
    c = Conn(make_context(timeout=10), clock=clock)
    c.send(b"AUTH PLAIN\r\n")
    clock.advance(10)
    assert c.closed


# -- STLS ---------------------------------------------------------------------------


def test_stls_discards_pipelined_lines_and_partial_input():
    c = Conn(make_context(tls=True))
    c.take()
    c.proto.dataReceived(b"STLS\r\nCAPA\r\nUSER mallory\r\nPAS")
    assert c.transport.tls_started_with is c.proto.context.tls_options
    assert c.transport.written_before_tls.endswith(b"+OK begin TLS negotiation\r\n")
    assert c.transport.value() == c.transport.written_before_tls  # nothing answered after
    assert c.proto.conn.lines.pending == 0
    assert c.proto.session is not None and c.proto.session.pending_user is None
    c.transport.clear()
    assert c.send(b"S secret\r\n") == [b"-ERR unknown command"]


def test_stls_while_reading_is_paused_resumes_reading():
    c = Conn(make_context(tls=True))
    c.take()
    c.proto.dataReceived(b"STLS\r\n" + b"CAPA\r\n" * 200)
    assert c.transport.tls_started_with is not None
    assert c.transport.producerState == "producing"


def test_stls_without_a_certificate_is_refused():
    c = Conn(make_context())
    c.take()
    assert c.send(b"STLS\r\n") == [b"-ERR STLS is not available on this server"]
    assert c.transport.tls_started_with is None


# -- connection limits ----------------------------------------------------------------


def test_per_address_limit_refuses_with_sys_temp_and_spares_others():
    context = make_context()
    context.limiter = ConnectionLimiter(max_total=3, max_per_address=2)
    a1, a2 = Conn(context, "192.0.2.1"), Conn(context, "192.0.2.1")
    a3 = Conn(context, "192.0.2.1")
    assert a3.take() == [b"-ERR [SYS/TEMP] too many connections from your address, try again later"]
    assert a3.closed and a3.proto.session is None
    b1 = Conn(context, "192.0.2.2")
    assert b1.take()[0].startswith(b"+OK")
    b2 = Conn(context, "192.0.2.3")
    assert b2.take() == [b"-ERR [SYS/TEMP] too many connections, try again later"]
    a3.proto.connectionLost()  # a refused connection frees nothing it never held
    assert context.limiter.total == 3
    for c in (a1, a2):
        assert not c.closed and c.send(b"CAPA\r\n")[0].startswith(b"+OK")
    a1.proto.connectionLost()
    assert Conn(context, "192.0.2.1").take()[0].startswith(b"+OK")


def test_plaintext_policy_follows_the_peer_address():
    context = make_context(plaintext_auth="loopback")
    remote = Conn(context, "192.0.2.9")
    remote.take()
    assert remote.send(b"USER alice\r\n")[0].startswith(b"-ERR [AUTH] plaintext authentication is disabled")
    local = Conn(context, "127.0.0.1")
    local.take()
    assert local.send(b"USER alice\r\n") == [b"+OK password required for alice"]


def test_implicit_tls_connection_is_known_to_the_policy():
    c = Conn(make_context(tls=True, plaintext_auth="never"), "192.0.2.9", implicit_tls=True)
    c.take()
    caps = c.send(b"CAPA\r\n")
    assert b"STLS" not in caps and b"USER" in caps
    assert c.send(b"USER alice\r\n") == [b"+OK password required for alice"]


def test_policy_for_a_context_without_tls():
    context = make_context()
    policy = context.policy_for(tls_active=False, peer_host="192.0.2.1")
    assert not policy.stls_available and not policy.plaintext_without_tls
    tls = make_context(tls=True)
    assert tls.policy_for(tls_active=False, peer_host="127.0.0.1").stls_available
    assert not tls.policy_for(tls_active=True, peer_host="127.0.0.1").stls_available


# -- disconnects ------------------------------------------------------------------------


class RecordingMaildrop(EmptyMaildrop):
    def __init__(self) -> None:
        self.closed = False

    def messages(self):
        return (MessageInfo(10, "u1", False), MessageInfo(20, "u2", False))

    def close(self) -> None:
        self.closed = True


def test_client_vanishing_during_the_commit_keeps_the_lock_until_it_ends(monkeypatch):
    commits: list[tuple[object, defer.Deferred[None]]] = []

    def defer_to_thread(f, *args):
        d: defer.Deferred[None] = defer.Deferred()
        commits.append((args, d))
        return d

    monkeypatch.setattr(protocol_module.threads, "deferToThread", defer_to_thread)
    context = make_context()
    summaries: list[SessionSummary] = []
    context.observers = ObserverSet([SummaryRecorder(summaries)])
    c = Conn(context)
    session = c.proto.session
    maildrop = RecordingMaildrop()
    session.authenticate("alice", object(), "USER")  # the portal is bypassed here
    c.proto.maildrop = maildrop
    c.proto.perform(session.login_succeeded("alice", maildrop.messages()))
    c.take()
    c.send(b"DELE 1\r\nQUIT\r\n")
    assert commits and commits[0][0] == (frozenset({0}), frozenset())
    c.proto.connectionLost()  # QUIT, then a reset before the answer
    assert not maildrop.closed, "the lock was released while the commit was still writing"
    assert summaries == [], "the session was reported before its UPDATE ended"
    commits[0][1].callback(None)
    assert maildrop.closed
    # The Stats line counts what the UPDATE deleted, though the client never saw the answer.
    assert summaries == [SessionSummary("alice", True, 1, 10, 1, 20)]


class SummaryRecorder(SessionObserver):
    def __init__(self, summaries: list[SessionSummary]) -> None:
        self.summaries = summaries

    def connection_closed(self, conn: object, summary: SessionSummary) -> None:
        self.summaries.append(summary)


def test_client_vanishing_in_transaction_releases_the_lock_at_once():
    c = Conn(make_context())
    session = c.proto.session
    maildrop = RecordingMaildrop()
    session.authenticate("alice", object(), "USER")  # the portal is bypassed here
    c.proto.maildrop = maildrop
    c.proto.perform(session.login_succeeded("alice", maildrop.messages()))
    c.send(b"DELE 1\r\n")
    c.proto.connectionLost()
    assert maildrop.closed


# -- pipelining ---------------------------------------------------------------------------


def logged_in(context: ServerContext | None = None) -> Conn:
    c = Conn(context or make_context())
    session = c.proto.session
    maildrop = RecordingMaildrop()
    session.authenticate("alice", object(), "USER")  # the portal is bypassed here
    c.proto.maildrop = maildrop
    c.proto.perform(c.proto.conn.session_answered(session.login_succeeded("alice", maildrop.messages())))
    c.take()
    return c


def next_turn(clock: task.Clock) -> None:
    """One reactor turn: run the calls due now, not those they schedule (task.Clock would)."""
    due = [call for call in clock.calls if call.getTime() <= clock.seconds()]
    for call in due:
        clock.calls.remove(call)
        call.called = 1
        call.func(*call.args, **call.kw)


def test_100000_pipelined_noops_run_a_small_batch_per_reactor_turn():
    c = logged_in()
    answered = c.send(b"NOOP\r\n" * 100_000)
    assert answered == [b"+OK"] * BATCH, "more than one batch of commands ran in one reactor turn"
    assert c.transport.producerState == "paused"  # and the rest waits unread
    turns = 1
    while len(answered) < 100_000:
        next_turn(c.clock)  # the next reactor turn: other clients have had theirs
        batch = c.take()
        assert 0 < len(batch) <= BATCH
        answered += batch
        turns += 1
    assert turns == 100_000 // BATCH
    assert c.transport.producerState == "producing"


def test_reading_pauses_while_a_client_leaves_its_answers_unread():
    c = logged_in()
    writer = c.proto.writer
    writer.pauseProducing()  # the transport's buffer is full: the client does not read
    c.send(b"LIST\r\n" * 12000)  # 540 KB of answers from 72 KB of commands
    for _ in range(1000):
        next_turn(c.clock)
    assert OUTPUT_HIGH < writer.held <= OUTPUT_HIGH + 1000, "answers piled up for a client that reads nothing"
    assert c.transport.producerState == "paused"
    held = len(c.take())
    writer.resumeProducing()  # the client read everything
    for _ in range(2000):
        next_turn(c.clock)
    assert held + len(c.take()) == 12000 * 4  # each LIST: status, two messages, "."


def test_client_that_never_takes_its_last_answers_is_cut_off():
    """loseConnection waits for the buffer to drain: a client that never reads held its lock forever."""
    c = logged_in()
    aborted = []
    c.transport.abortConnection = lambda: aborted.append(True)  # type: ignore[method-assign]
    c.proto.timeoutConnection()  # the idle timeout, say: the -ERR cannot be delivered
    assert c.closed and not aborted
    c.clock.advance(protocol_module.CLOSE_WAIT)
    assert aborted == [True]
