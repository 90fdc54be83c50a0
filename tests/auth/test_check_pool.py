"""The password-check pool: its own threads, a fair turn for every client (issue 10)."""

from __future__ import annotations

import queue
import threading
import time

from pop3d.auth.check_pool import CheckPool


class QueueReactor:
    """callFromThread queues the call for the test's thread, which plays the reactor's."""

    def __init__(self) -> None:
        self.calls: queue.Queue = queue.Queue()

    def callFromThread(self, f, *args, **kwargs):  # noqa: N802 (Twisted's name)
        self.calls.put((f, args, kwargs))

    def addSystemEventTrigger(self, *args):  # noqa: N802
        pass

    def run_until(self, condition) -> None:
        while not condition():
            f, args, kwargs = self.calls.get(timeout=10)
            f(*args, **kwargs)


def test_a_client_with_many_checks_waiting_does_not_keep_another_from_the_next_turn():
    reactor = QueueReactor()
    pool = CheckPool(2, reactor)
    order: list[str] = []
    gate = threading.Event()

    def check(label: str) -> str:
        order.append(label)  # the order the checks started in
        gate.wait(10)
        return label

    results = [pool.run("attacker", check, f"attack{i}") for i in range(5)]
    results.append(pool.run("victim", check, "victim"))
    try:
        assert pool.running == 2 and len(pool.waiting["attacker"]) == 3 and len(pool.waiting["victim"]) == 1
        deadline = time.monotonic() + 10
        while len(order) < 2:  # both threads are inside their checks
            assert time.monotonic() < deadline
            time.sleep(0.01)
        gate.set()
        reactor.run_until(lambda: all(d.called for d in results))
        # The first thread set free is the victim's (its check may start just after the attacker's
        # next one, in the other thread set free at the same moment); first come, first served: last.
        assert order.index("victim") in (2, 3), order
        assert [d.result for d in results] == [f"attack{i}" for i in range(5)] + ["victim"]
    finally:
        pool.pool.stop()


def test_checks_run_in_the_pools_own_threads_and_failures_reach_the_caller():
    reactor = QueueReactor()
    pool = CheckPool(2, reactor)
    d = pool.run("c", lambda: threading.current_thread().name)
    failed = pool.run("c", lambda: 1 / 0)
    errors = []
    failed.addErrback(lambda f: errors.append(f.type))
    try:
        reactor.run_until(lambda: d.called and failed.called)
        assert "pop3d-password-checks" in d.result
        assert errors == [ZeroDivisionError] and pool.running == 0
    finally:
        pool.pool.stop()
