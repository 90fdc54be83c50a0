"""Several server processes on the same ports: ``workers: N``.

One Python process serves all its connections on one core.  With
``workers`` above 1 a standalone pop3d becomes a small supervisor: it binds
the ports (as root, before anyone gives up rights), then starts N worker
processes that inherit the listening sockets and accept from them side by
side, as Twisted documents for multi-process servers
(``reactor.adoptStreamPort``).  Each worker is an ordinary pop3d: it builds
its own server, wraps the sockets as the ``listen`` entries say (TLS, PROXY
header), gives up root for ``run_as`` and handles SIGTERM and SIGHUP itself.

The supervisor passes SIGTERM and SIGHUP on, restarts a worker that dies
(waiting longer each time one dies young), and exits once every worker has
stopped.  A worker whose supervisor is gone stops gracefully.  Everything
the workers share lives in files already built for several processes:
maildrop locks, the LOGIN-DELAY and EXPIRE databases, the trace file.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass

from twisted.internet import protocol, task
from twisted.internet.address import IPv4Address, IPv6Address
from twisted.internet.error import ProcessExitedAlready
from twisted.internet.interfaces import IListeningPort
from twisted.logger import Logger
from twisted.python.failure import Failure

from pop3d.early_signals import hangups_blocked
from pop3d.server.context import ServerContext
from pop3d.server.protocol import POP3Factory
from pop3d.server.tls import wrap_factory

log = Logger()

#: How a worker learns its sockets: JSON [[fd, family name, listen entry], ...].
WORKER_ENV = "POP3D_WORKER_PORTS"
#: ... and its supervisor's pid.
SUPERVISOR_ENV = "POP3D_SUPERVISOR_PID"
#: A worker that dies sooner than this after its start died young.
YOUNG = 10.0
#: Restart delays for workers that die young: doubling up to the maximum.
FIRST_DELAY, MAX_DELAY = 0.5, 30.0
#: How often a worker checks that its supervisor is still there.
ORPHAN_CHECK = 2.0


@dataclass(frozen=True)
class InheritedPort:
    fd: int
    family: str
    description: str


def family_of(port: IListeningPort) -> str:
    host = port.getHost()
    if isinstance(host, IPv6Address):
        return "INET6"
    if isinstance(host, IPv4Address):
        return "INET"
    return "UNIX"


def encode_ports(ports: Sequence[InheritedPort]) -> str:
    return json.dumps([[p.fd, p.family, p.description] for p in ports])


def inherited_ports(environ: dict[str, str] | None = None) -> list[InheritedPort] | None:
    """The sockets a supervisor passed to this process, or None for a standalone server."""
    value = (os.environ if environ is None else environ).get(WORKER_ENV)
    if value is None:
        return None
    return [InheritedPort(int(fd), str(family), str(description))
            for fd, family, description in json.loads(value)]


def adopt_ports(reactor: object, context: ServerContext,
                ports: Sequence[InheritedPort]) -> list[IListeningPort]:
    """Worker side: listen on the inherited sockets as their ``listen`` entries say."""
    adopted = []
    for port in ports:
        factory = wrap_factory(port.description, POP3Factory(context), context.tls_options)
        family = getattr(socket, f"AF_{port.family}")
        adopted.append(reactor.adoptStreamPort(port.fd, family, factory))  # type: ignore[attr-defined]
        os.close(port.fd)  # the reactor has its own copy
        log.info("worker listening on {description}", description=port.description)
    return adopted


def watch_supervisor(reactor: object, stop: object) -> task.LoopingCall:
    """Stop (gracefully, by calling ``stop``) once the supervisor is gone."""
    parent = int(os.environ.get(SUPERVISOR_ENV, os.getppid()))

    def check() -> None:
        if os.getppid() != parent:
            log.warn("the supervisor is gone; stopping")
            checker.stop()
            stop()  # type: ignore[operator]

    checker = task.LoopingCall(check)
    checker.clock = reactor  # type: ignore[assignment]
    checker.start(ORPHAN_CHECK, now=True)
    return checker


def reload_if_hung_up_early(lifecycle: object) -> None:
    """A SIGHUP came while the worker was starting (see pop3d.early_signals): reload now."""
    from pop3d import early_signals

    if early_signals.hangup_pending:
        early_signals.hangup_pending = False
        lifecycle.reload()  # type: ignore[attr-defined]


class _Worker(protocol.ProcessProtocol):
    def __init__(self, supervisor: Supervisor, slot: int) -> None:
        self.supervisor = supervisor
        self.slot = slot
        self.started = time.monotonic()

    def processEnded(self, reason: Failure) -> None:  # noqa: N802 (Twisted's name)
        self.supervisor.worker_ended(self, reason)


class Supervisor:
    """Starts, restarts and stops the worker processes."""

    def __init__(self, reactor: object, count: int, argv: Sequence[str],
                 ports: Sequence[IListeningPort], descriptions: Sequence[str]) -> None:
        self.reactor = reactor
        self.count = count
        self.argv = [sys.executable, "-m", "pop3d", *argv]
        # The supervisor never accepts: its ports only keep the sockets for the workers.
        for port in ports:
            port.stopReading()  # type: ignore[attr-defined]
        self.ports = [InheritedPort(port.fileno(), family_of(port), description)  # type: ignore[attr-defined]
                      for port, description in zip(ports, descriptions, strict=True)]
        self.workers: dict[int, _Worker] = {}
        self.delays: dict[int, float] = {}
        self.stopping = False

    def start(self) -> None:
        for slot in range(self.count):
            self.spawn(slot)

    def spawn(self, slot: int) -> None:
        if self.stopping:
            return
        env = {k: v for k, v in os.environ.items() if k not in ("LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES")}
        env[WORKER_ENV] = encode_ports(self.ports)
        env[SUPERVISOR_ENV] = str(os.getpid())
        child_fds: dict[int, object] = {0: "w", 1: 1, 2: 2}
        child_fds.update({p.fd: p.fd for p in self.ports})
        worker = _Worker(self, slot)
        self.workers[slot] = worker
        with hangups_blocked():  # a SIGHUP before the worker can take it stays pending
            process = self.reactor.spawnProcess(  # type: ignore[attr-defined]
                worker, sys.executable, self.argv, env=env, childFDs=child_fds)
        log.info("started worker {slot} (pid {pid})", slot=slot + 1, pid=process.pid)

    def worker_ended(self, worker: _Worker, reason: Failure) -> None:
        if self.workers.get(worker.slot) is worker:
            del self.workers[worker.slot]
        if self.stopping:
            if not self.workers and self.reactor.running:  # type: ignore[attr-defined]
                self.reactor.stop()  # type: ignore[attr-defined]
            return
        if time.monotonic() - worker.started < YOUNG:  # dying young again: wait longer each time
            delay = min(2 * self.delays.get(worker.slot, FIRST_DELAY / 2), MAX_DELAY)
            self.delays[worker.slot] = delay
        else:
            delay = 0.0
            self.delays.pop(worker.slot, None)
        log.warn("worker {slot} ended ({reason}); starting another in {delay:g} s",
                 slot=worker.slot + 1, reason=reason.getErrorMessage(), delay=delay)
        self.reactor.callLater(delay, self.spawn, worker.slot)  # type: ignore[attr-defined]

    def install_signal_handlers(self) -> None:
        call = self.reactor.callFromThread  # type: ignore[attr-defined]
        signal.signal(signal.SIGTERM, lambda signum, frame: call(self.stop))
        signal.signal(signal.SIGINT, lambda signum, frame: call(self.stop))
        signal.signal(signal.SIGHUP, lambda signum, frame: call(self.signal_all, signal.SIGHUP))

    def stop(self) -> None:
        """SIGTERM: every worker stops gracefully (a second SIGTERM cuts their grace short)."""
        first = not self.stopping
        self.stopping = True
        if first:
            log.info("stopping {n} worker(s)", n=len(self.workers))
        if not self.workers:
            if self.reactor.running:  # type: ignore[attr-defined]
                self.reactor.stop()  # type: ignore[attr-defined]
            return
        self.signal_all(signal.SIGTERM)

    def signal_all(self, signum: int) -> None:
        for worker in list(self.workers.values()):
            if worker.transport is not None and worker.transport.pid is not None:  # type: ignore[attr-defined]
                with contextlib.suppress(OSError, ProcessExitedAlready):
                    worker.transport.signalProcess(signum)  # type: ignore[attr-defined]
