"""Signals: SIGTERM (and SIGINT, Ctrl-C) stops gracefully, SIGHUP reloads the configuration.

SIGTERM: stop accepting connections, give open sessions up to
``shutdown_grace`` seconds to finish, then close the rest without committing
anything (only QUIT commits), and stop.  A second SIGTERM cuts the grace
short.  SIGHUP: read the configuration and user databases again and use them
for new logins; open sessions go on undisturbed.  A broken file keeps the
old configuration and logs one line saying why.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Sequence

from twisted.internet import defer, task
from twisted.internet.interfaces import IListeningPort
from twisted.logger import Logger

from pop3d.config import Config, ConfigError, load_config
from pop3d.server.context import ServerContext

log = Logger()

#: Seconds to wait, after the grace period, for closed sessions to finish a running commit.
COMMIT_WAIT = 30.0
#: How often the drain checks whether the sessions are gone.
POLL = 0.1
#: Seconds the end of a shutdown waits for busy worker threads (a login measuring a huge file).
THREAD_WAIT = 5.0

#: ServerContext fields a reload replaces (the rest hold live state, such as counters).
RELOADED_FIELDS = ("config", "portal", "policy", "tls_options")


class Lifecycle:
    """Owns the listening ports and the signal handlers of one server process."""

    def __init__(self, reactor: object, context: ServerContext, ports: Sequence[IListeningPort],
                 load: Callable[[str], Config], build: Callable[[Config], ServerContext],
                 on_reload: Callable[[Config], None] = lambda config: None) -> None:
        self.reactor = reactor
        self.context = context
        self.ports = list(ports)
        self.load = load
        self.build = build
        self.on_reload = on_reload
        self.stopping = False
        self._grace: defer.Deferred[None] | None = None

    def install_signal_handlers(self) -> None:
        """Take over SIGTERM, SIGINT (the same) and SIGHUP (once the reactor runs: it installs its own)."""
        stop_threads_promptly(self.reactor)
        call = self.reactor.callFromThread  # type: ignore[attr-defined]
        signal.signal(signal.SIGTERM, lambda signum, frame: call(self.stop))
        signal.signal(signal.SIGINT, lambda signum, frame: call(self.stop))
        signal.signal(signal.SIGHUP, lambda signum, frame: call(self.reload))

    # -- SIGTERM -----------------------------------------------------------

    def stop(self) -> defer.Deferred[None] | None:
        if self.stopping:
            if self._grace is not None and not self._grace.called:
                log.info("SIGTERM again: closing the open sessions now")
                self._grace.callback(None)
            return None
        self.stopping = True
        d = self._stop()
        d.addErrback(lambda failure: log.failure("graceful shutdown failed", failure))
        d.addBoth(lambda _: self._stop_reactor())
        return d

    @defer.inlineCallbacks
    def _stop(self):  # type: ignore[no-untyped-def]
        yield defer.gatherResults([defer.maybeDeferred(port.stopListening) for port in self.ports])
        grace = self.context.config.shutdown_grace
        if self.context.connections:
            log.info("stopping: no new connections; {n} open session(s) have {grace:g} s to finish",
                     n=len(self.context.connections), grace=grace)
            self._grace = self._until_no_connections(grace)
            yield self._grace
        left = [proto for proto in list(self.context.connections) if hasattr(proto, "shut_down")]
        if left:
            log.info("stopping: closing {n} session(s) that did not QUIT; nothing of theirs is committed",
                     n=len(left))
            for proto in left:
                proto.shut_down()
            yield self._until_no_connections(COMMIT_WAIT)

    def _until_no_connections(self, timeout: float) -> defer.Deferred[None]:
        """Fires when every connection has gone, or after ``timeout`` seconds."""
        done: defer.Deferred[None] = defer.Deferred()
        clock = self.reactor

        def check() -> None:
            if not self.context.connections and not done.called:
                done.callback(None)

        poll = task.LoopingCall(check)
        poll.clock = clock  # type: ignore[assignment]
        poll.start(POLL, now=True)
        timer = clock.callLater(timeout, lambda: done.called or done.callback(None))  # type: ignore[attr-defined]

        def cleanup(result: object) -> object:
            if poll.running:
                poll.stop()
            if timer.active():
                timer.cancel()
            return result

        return done.addBoth(cleanup)

    def _stop_reactor(self) -> None:
        if self.reactor.running:  # type: ignore[attr-defined]
            self.reactor.stop()  # type: ignore[attr-defined]

    # -- SIGHUP ------------------------------------------------------------

    def reload(self) -> bool:
        """Reload the configuration and user databases; keep the old ones if the new are broken."""
        path = self.context.config.path
        try:
            config = self.load(path)
            fresh = self.build(config)
        except ConfigError as exc:
            log.error("reload failed, keeping the old configuration: {error}", error=str(exc))
            return False
        except Exception as exc:  # a user database that cannot be read, for instance
            log.error("reload failed, keeping the old configuration: {path}: {error}",
                      path=path, error=f"{type(exc).__name__}: {exc}")
            return False
        old_listen = self.context.config.listen
        for name in RELOADED_FIELDS:
            if hasattr(fresh, name):
                setattr(self.context, name, getattr(fresh, name))
        self.on_reload(config)
        if config.listen != old_listen:
            log.warn("reloaded {path}; the listen addresses changed, which takes a restart", path=path)
        else:
            log.info("reloaded {path}", path=path)
        return True


def stop_threads_promptly(reactor: object, wait: float = THREAD_WAIT) -> None:
    """Let the reactor's shutdown wait ``wait`` seconds at most for its busy worker threads.

    Twisted's own shutdown joins every worker thread, so one thread busy with
    a user's file (or waiting out an mbox lock) kept SIGTERM from ending the
    process.  Here the worker threads are daemon threads; shutdown gives busy
    ones ``wait`` seconds, then the process ends without them (a commit runs
    only while its session is waited for, and commits are crash-safe anyway).
    """
    pool = reactor.getThreadPool()  # type: ignore[attr-defined]
    shutdown_id = getattr(reactor, "threadpoolShutdownID", None)
    if shutdown_id is None:
        return
    pool.threadFactory = lambda **kwargs: threading.Thread(daemon=True, **kwargs)
    reactor.removeSystemEventTrigger(shutdown_id)  # type: ignore[attr-defined]
    reactor.threadpoolShutdownID = None  # type: ignore[attr-defined]

    def idle_or_late() -> defer.Deferred[None]:
        done: defer.Deferred[None] = defer.Deferred()
        deadline = reactor.seconds() + wait  # type: ignore[attr-defined]

        def check() -> None:
            if not pool.working or reactor.seconds() >= deadline:  # type: ignore[attr-defined]
                done.callback(None)
            else:
                reactor.callLater(POLL, check)  # type: ignore[attr-defined]

        check()
        return done

    def stop_pool() -> None:
        if pool.working:
            log.warn("stopping: {n} worker thread(s) still busy after {wait:g} s; not waiting for them",
                     n=len(pool.working), wait=wait)
        else:
            pool.stop()

    # "before" may take time (the reactor runs on); "during" is when the reactor ends.
    reactor.addSystemEventTrigger("before", "shutdown", idle_or_late)  # type: ignore[attr-defined]
    reactor.addSystemEventTrigger("during", "shutdown", stop_pool)  # type: ignore[attr-defined]


def reload_loader(timeout_override: int | None) -> Callable[[str], Config]:
    """load_config, re-applying the command line's ``-T`` to what it reads."""
    from dataclasses import replace

    def load(path: str) -> Config:
        config = load_config(path)
        return replace(config, timeout=timeout_override) if timeout_override is not None else config

    return load
