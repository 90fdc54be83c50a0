"""The threads that check passwords: a small pool of their own, shared fairly between clients.

Hashing a password (crypt, passlib) and asking PAM are slow on purpose.
They get their own few threads, apart from Twisted's reactor pool that opens
and commits maildrops, so a flood of password checks can never hold up the
maildrop work of logged-in users, nor the other way round.  Checks wait in
one queue per client (see :mod:`pop3d.auth.client_key`), so a client with
many connections waiting cannot make another client wait for more than the
checks already running: the next free thread goes to the waiting client with
the fewest checks running (the longest waiting of those first).
"""

from __future__ import annotations

import functools
import threading
from collections import Counter, OrderedDict, deque
from collections.abc import Callable
from typing import Any, TypeVar

from twisted.internet import defer, threads
from twisted.python.threadpool import ThreadPool

T = TypeVar("T")


class CheckPool:
    """Runs blocking checks in ``size`` threads, round-robin between clients."""

    def __init__(self, size: int, reactor: Any = None) -> None:
        if reactor is None:
            from twisted.internet import reactor as global_reactor

            reactor = global_reactor
        self.reactor = reactor
        self.size = size
        self.pool = ThreadPool(minthreads=0, maxthreads=size, name="pop3d-password-checks")
        #: client -> checks waiting for a thread, in the order clients get their turn.
        self.waiting: OrderedDict[str, deque[tuple[defer.Deferred[Any], Callable[[], Any]]]] = OrderedDict()
        self.running = 0
        self.running_for: Counter[str] = Counter()

    def resize(self, size: int) -> None:
        self.size = size
        self.pool.adjustPoolsize(0, size)
        self._dispatch()

    def run(self, client: str, check: Callable[..., T], *args: Any) -> defer.Deferred[T]:
        """Call ``check(*args)`` in one of the pool's threads when ``client``'s turn comes."""
        d: defer.Deferred[T] = defer.Deferred()
        self.waiting.setdefault(client, deque()).append((d, lambda: check(*args)))
        self._dispatch()
        return d

    def _dispatch(self) -> None:
        while self.running < self.size and self.waiting:
            client = min(self.waiting, key=self.running_for.__getitem__)
            queue = self.waiting[client]
            d, call = queue.popleft()
            if queue:
                self.waiting.move_to_end(client)  # its next check waits for every other client's
            else:
                del self.waiting[client]
            self._start()
            self.running += 1
            self.running_for[client] += 1
            done = threads.deferToThreadPool(self.reactor, self.pool, call)
            done.addBoth(functools.partial(self._finished, client))
            done.chainDeferred(d)

    def _finished(self, client: str, result: object) -> object:
        self.running -= 1
        self.running_for[client] -= 1
        if self.running_for[client] <= 0:
            del self.running_for[client]
        self._dispatch()
        return result

    def _start(self) -> None:
        if not self.pool.started:
            self.pool.start()
            self.reactor.addSystemEventTrigger("during", "shutdown", self.pool.stop)


_POOL: CheckPool | None = None
_POOL_LOCK = threading.Lock()


def shared_pool(size: int) -> CheckPool:
    """The process's one password-check pool (a reload resizes it rather than make another)."""
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            _POOL = CheckPool(size)
        elif _POOL.size != size:
            _POOL.resize(size)
        return _POOL
