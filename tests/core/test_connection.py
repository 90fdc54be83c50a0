"""The sans-IO connection (pop3d.core.connection), in memory: no sockets, no reactor."""

from __future__ import annotations

from pop3d.core.actions import Send, SendMessage, StartTLS
from pop3d.core.connection import (
    BATCH,
    INPUT_HIGH,
    OUTPUT_HIGH,
    Connection,
    LineLimits,
    LinesArrived,
    PauseReading,
    ResumeReading,
    RunLater,
)
from pop3d.core.messages import MessageInfo
from pop3d.core.policy import SessionPolicy
from pop3d.core.session import Session


class Watch:
    """Records what a ConnectionWatch would be told, with the session's state at that moment."""

    def __init__(self) -> None:
        self.lines: list[tuple[bytes | None, bool]] = []

    def line(self, session: Session, line: bytes | None) -> None:
        self.lines.append((line, session.continuation is not None))

    def performing(self, session: Session, actions) -> None:
        pass


def connection(stls: bool = False, **limits: int) -> tuple[Connection, Watch]:
    watch = Watch()
    session = Session(SessionPolicy(hostname="t", stls_available=stls, sasl_mechanisms=("PLAIN",)), "<c>")
    conn = Connection(session, LineLimits(**limits), watch)
    conn.start()
    return conn, watch


def logged_in() -> Connection:
    conn, _ = connection()
    conn.session.authenticate("a", object(), "USER")
    conn.session_answered(conn.session.login_succeeded("a", [MessageInfo(10, "u1", False)] * 3))
    return conn


def sent(actions) -> list[bytes]:
    return [a.data for a in actions if isinstance(a, Send)]


def test_a_flood_runs_one_batch_then_asks_to_yield():
    conn = logged_in()
    actions = conn.receive_data(b"NOOP\r\n" * 1000)
    assert isinstance(actions[0], LinesArrived)
    assert sent(actions) == [b"+OK\r\n"] * BATCH
    assert actions.count(RunLater()) == 1
    more = conn.receive_data(b"NOOP\r\n")
    assert sent(more) == [] and RunLater() not in more  # the batch waits for its turn; one RunLater at most
    assert len(sent(conn.run())) == BATCH


def test_reading_pauses_past_the_input_bound_and_resumes_once_drained():
    conn = logged_in()
    actions = conn.receive_data(b"NOOP\r\n" * (INPUT_HIGH // 6 + 100))
    assert PauseReading() in actions
    resumed = False
    while not resumed:
        actions = conn.run()
        resumed = ResumeReading() in actions
        assert sent(actions)


def test_no_command_runs_while_the_clients_answers_pile_up_unread():
    conn = logged_in()
    assert PauseReading() in conn.output_buffered(OUTPUT_HIGH + 1)
    assert sent(conn.receive_data(b"STAT\r\n")) == []
    actions = conn.output_buffered(0)
    assert ResumeReading() in actions and sent(actions) == [b"+OK 3 30\r\n"]


def test_lines_wait_while_a_message_streams():
    conn = logged_in()
    actions = conn.receive_data(b"RETR 1\r\nSTAT\r\n")
    assert [type(a) for a in actions if not isinstance(a, LinesArrived)] == [SendMessage]
    assert sent(conn.transfer_finished()) == [b"+OK 3 30\r\n"]


def test_stls_drops_what_was_pipelined_after_it():
    conn, _ = connection(stls=True)
    actions = conn.receive_data(b"STLS\r\nUSER mallory\r\nPAS")
    assert StartTLS() in actions and len(sent(actions)) == 1
    assert conn.lines.pending == 0
    assert sent(conn.receive_data(b"S x\r\n")) == [b"-ERR unknown command\r\n"]


def test_a_pipelined_sasl_answer_is_watched_as_secret():
    """The watch is told of each line as the session is about to read it, not after the batch."""
    conn, watch = connection()
    conn.receive_data(b"AUTH PLAIN\r\nAGEAc2VjcmV0\r\n")
    assert watch.lines == [(b"AUTH PLAIN", False), (b"AGEAc2VjcmV0", True)]


def test_over_long_line_is_answered_once_then_the_connection_gives_up_past_the_bound():
    conn, watch = connection(max_line=300, max_sasl_line=300, max_line_discard=10_000)
    assert sent(conn.receive_data(b"x" * 1000)) == [b"-ERR line too long\r\n"]
    assert watch.lines == [(None, False)]
    assert sent(conn.receive_data(b"x" * 5000)) == []
    assert sent(conn.receive_data(b"x" * 5000)) == [b"-ERR line too long, closing\r\n"]
    assert conn.closing and conn.session.closed
    assert conn.receive_data(b"\r\nCAPA\r\n") == []
