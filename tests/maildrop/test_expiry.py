"""EXPIRE n: the first-retrieval log and the maildrop wrapper that keeps it."""

from __future__ import annotations

import multiprocessing

import pytest

from pop3d.core.messages import MessageInfo
from pop3d.maildrop import EmptyMaildrop
from pop3d.maildrop.expiry import DAY, ExpiringMaildrop, RetrievalLog

T0 = 1_700_000_000.0


def msgs(*specs: tuple[str, int, bool]) -> list[MessageInfo]:
    return [MessageInfo(size, uid, seen) for uid, size, seen in specs]


def test_a_message_expires_days_after_its_first_retrieval(tmp_path):
    log = RetrievalLog(str(tmp_path), days=3)
    session1 = msgs(("a", 10, False), ("b", 20, False))
    log.record("alice", session1, deleted=frozenset(), retrieved=frozenset({0}), now=T0)
    later = msgs(("a", 10, True), ("b", 20, False))
    assert log.expired("alice", later, now=T0 + 3 * DAY - 1) == frozenset()
    assert log.expired("alice", later, now=T0 + 3 * DAY) == frozenset({0})
    # Retrieving again does not restart the clock: the first retrieval counts.
    log.record("alice", later, deleted=frozenset(), retrieved=frozenset({0, 1}), now=T0 + 2 * DAY)
    assert log.first_retrieved("alice") == {"a": T0, "b": T0 + 2 * DAY}
    assert log.expired("alice", msgs(("a", 10, True), ("b", 20, True)), now=T0 + 4 * DAY) == {0}


def test_never_retrieved_or_changed_messages_never_expire(tmp_path):
    log = RetrievalLog(str(tmp_path), days=1)
    log.record("alice", msgs(("a", 10, False), ("b", 20, False)), frozenset(), frozenset({0, 1}), now=T0)
    now = T0 + 10 * DAY
    # Not seen in the maildrop (flag lost, or another message now has the UID): kept.
    assert log.expired("alice", msgs(("a", 10, False), ("b", 20, True)), now=now) == {1}
    # Same UID, other size: a different message, kept.
    assert log.expired("alice", msgs(("a", 11, True), ("b", 20, True)), now=now) == {1}
    # Another user's messages with the same UIDs are not alice's.
    assert log.expired("bob", msgs(("a", 10, True), ("b", 20, True)), now=now) == frozenset()


def test_a_reused_uid_with_another_size_starts_afresh(tmp_path):
    log = RetrievalLog(str(tmp_path), days=1)
    log.record("alice", msgs(("a", 10, False)), frozenset(), frozenset({0}), now=T0)
    log.record("alice", msgs(("a", 99, False)), frozenset(), frozenset({0}), now=T0 + 5 * DAY)
    assert log.first_retrieved("alice") == {"a": T0 + 5 * DAY}


def test_records_of_gone_messages_are_dropped(tmp_path):
    log = RetrievalLog(str(tmp_path), days=1)
    three = msgs(("a", 1, False), ("b", 2, False), ("c", 3, False))
    log.record("alice", three, frozenset(), frozenset({0, 1, 2}), now=T0)
    log.record("bob", three, frozenset(), frozenset({0}), now=T0)
    # Next session: b was deleted by the client, c vanished (another program deleted it).
    log.record("alice", msgs(("a", 1, True), ("b", 2, True)), frozenset({1}), frozenset(), now=T0 + 1)
    assert log.first_retrieved("alice") == {"a": T0}
    assert log.first_retrieved("bob") == {"a": T0}


def test_deleted_messages_are_not_recorded(tmp_path):
    log = RetrievalLog(str(tmp_path), days=1)
    log.record("alice", msgs(("a", 1, False), ("b", 2, False)), frozenset({0}), frozenset({0, 1}), now=T0)
    assert log.first_retrieved("alice") == {"b": T0}


def test_survives_reopening(tmp_path):
    RetrievalLog(str(tmp_path), days=1).record("alice", msgs(("a", 1, False)), frozenset(), frozenset({0}),
                                               now=T0)
    assert RetrievalLog(str(tmp_path), days=1).expired("alice", msgs(("a", 1, True)), now=T0 + DAY) == {0}


def _record_many(state_dir: str, user: str) -> None:
    log = RetrievalLog(state_dir, days=1)
    for n in range(30):
        messages = msgs(*[(f"m{i}", i + 1, False) for i in range(n + 1)])
        log.record(user, messages, frozenset(), frozenset({n}), now=T0 + n)


def test_concurrent_processes(tmp_path):
    procs = [multiprocessing.get_context("spawn").Process(target=_record_many, args=(str(tmp_path), u))
             for u in ("alice", "bob", "carol")]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    log = RetrievalLog(str(tmp_path), days=1)
    for user in ("alice", "bob", "carol"):
        assert log.first_retrieved(user) == {f"m{i}": T0 + i for i in range(30)}


class FakeMaildrop(EmptyMaildrop):
    def __init__(self, messages: list[MessageInfo], fail: bool = False) -> None:
        self._messages = messages
        self.fail = fail
        self.committed: tuple[frozenset[int], frozenset[int]] | None = None

    def messages(self):
        return self._messages

    def commit(self, deleted, retrieved):
        if self.fail:
            raise OSError("disk full")
        self.committed = (deleted, retrieved)


def test_wrapper_reports_expired_and_records_after_commit(tmp_path):
    log = RetrievalLog(str(tmp_path), days=2)
    log.record("alice", msgs(("a", 1, False)), frozenset(), frozenset({0}), now=T0)
    inner = FakeMaildrop(msgs(("a", 1, True), ("b", 2, False)))
    wrapped = ExpiringMaildrop(inner, "alice", log)
    assert wrapped.expired == {0} and wrapped.messages() == inner.messages()
    wrapped.commit(frozenset({0}), frozenset({1}))
    assert inner.committed == ({0}, {1})
    assert set(log.first_retrieved("alice")) == {"b"}


def test_a_failed_commit_records_nothing(tmp_path):
    log = RetrievalLog(str(tmp_path), days=2)
    wrapped = ExpiringMaildrop(FakeMaildrop(msgs(("a", 1, False)), fail=True), "alice", log)
    with pytest.raises(OSError):
        wrapped.commit(frozenset(), frozenset({0}))
    assert log.first_retrieved("alice") == {}


def test_an_unwritable_log_never_fails_the_update(tmp_path):
    log = RetrievalLog(str(tmp_path), days=2)
    log.db.close()  # every later use fails
    inner = FakeMaildrop(msgs(("a", 1, True)))
    wrapped = ExpiringMaildrop(inner, "alice", log)
    assert wrapped.expired == frozenset()
    wrapped.commit(frozenset(), frozenset({0}))
    assert inner.committed == (frozenset(), {0})
