"""Run the server under the reactor until it is told to stop.

Four ways, chosen at start: inetd (the one connection on standard input),
a standalone server, a supervisor of ``workers`` processes, or one of those
workers (see :mod:`pop3d.server.workers`).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from twisted.internet.interfaces import IListeningPort

from pop3d.auth.privileges import PrivilegeError, drop_privileges
from pop3d.config.errors import ConfigError
from pop3d.config.model import Config
from pop3d.logs.wiring import TraceFileError, begin_logging, build_logs
from pop3d.server.app import build_context, listen, seed_demo
from pop3d.server.context import ServerContext
from pop3d.server.inetd import NotASocket, adopt_stdin, started_by_inetd
from pop3d.server.lifecycle import Lifecycle, reload_loader
from pop3d.server.systemd import listen_descriptions
from pop3d.server.workers import (
    InheritedPort,
    Supervisor,
    adopt_ports,
    inherited_ports,
    reload_if_hung_up_early,
    watch_supervisor,
)


def run_standalone(config: Config, args: argparse.Namespace) -> int:
    from twisted.internet import reactor

    from pop3d.cli import report_config_error  # (cli imports this module when it runs)

    # inetd mode: one process per connection, on standard input (see pop3d.server.inetd).
    inetd = bool(getattr(args, "inetd", False)) or started_by_inetd()
    inherited = None if inetd else inherited_ports()
    try:
        logs = build_logs(config.logging, args, inetd)
    except TraceFileError as exc:
        print(f"pop3d: {exc}", file=sys.stderr)
        return 2
    begin_logging(logs)
    if config.demo is not None and not inetd and inherited is None:
        seed_demo(config.demo)
    several = inetd or inherited is not None  # processes that must share failure counts
    try:
        context = build_context(config, switch_user=inetd, several_processes=several)
    except ConfigError as exc:
        report_config_error(exc)  # under inetd: -ERR to the client, the line to syslog
        return 2
    context.observers = logs.observers
    lifecycle = Lifecycle(reactor, context, [], reload_loader(getattr(args, "timeout", None)),
                          lambda new: build_context(new, switch_user=inetd, several_processes=several),
                          lambda new: logs.reconfigure(new.logging))
    if inetd:
        return serve_inetd(reactor, config, context, lifecycle, args)
    if inherited is not None:
        return serve_as_worker(reactor, config, context, lifecycle, inherited)
    if config.workers > 1:
        return supervise(reactor, config, context, args)
    return serve(reactor, config, context, lifecycle)


def serve_inetd(reactor, config: Config, context: ServerContext, lifecycle: Lifecycle,  # type: ignore[no-untyped-def]
                args: argparse.Namespace) -> int:
    from pop3d.cli import report_config_error

    implicit_tls = bool(getattr(args, "implicit_tls", False))
    if implicit_tls and context.tls_options is None:
        report_config_error(ConfigError(config.path, "tls", "is needed by --implicit-tls "
                                                            "(certificate and key)"))
        return 2
    reactor.callWhenRunning(lifecycle.install_signal_handlers)
    try:
        adopt_stdin(reactor, context, implicit_tls).addBoth(lambda _: lifecycle.stop())
    except NotASocket as exc:
        print(f"pop3d: {exc}", file=sys.stderr)
        return 2
    reactor.run()
    return 0


def serve(reactor, config: Config, context: ServerContext, lifecycle: Lifecycle) -> int:  # type: ignore[no-untyped-def]
    """One process serving every listen entry."""
    status = {"code": 0}
    reactor.callWhenRunning(lifecycle.install_signal_handlers)

    def bound(ports: list[IListeningPort]) -> list[IListeningPort]:
        if give_up_root(reactor, config, ports, status):
            lifecycle.ports.extend(ports)
        return ports

    d = listen(reactor, context, listen_descriptions(reactor, config.listen))
    d.addCallbacks(bound, cannot_listen(reactor, status))
    reactor.run()
    return status["code"]


def supervise(reactor, config: Config, context: ServerContext, args: argparse.Namespace) -> int:  # type: ignore[no-untyped-def]
    """Bind the ports, then run ``workers`` processes that serve them; stay root to restart them."""
    status = {"code": 0}  # (the loader has checked that the run_as user and groups exist)
    descriptions = listen_descriptions(reactor, config.listen)

    def bound(ports: list[IListeningPort]) -> list[IListeningPort]:
        supervisor = Supervisor(reactor, config.workers, getattr(args, "argv", sys.argv[1:]), ports,
                                descriptions)
        reactor.callWhenRunning(supervisor.install_signal_handlers)
        reactor.callWhenRunning(supervisor.start)
        return ports

    d = listen(reactor, context, descriptions)
    d.addCallbacks(bound, cannot_listen(reactor, status))
    reactor.run()
    return status["code"]


def serve_as_worker(reactor, config: Config, context: ServerContext, lifecycle: Lifecycle,  # type: ignore[no-untyped-def]
                    inherited: Sequence[InheritedPort]) -> int:
    status = {"code": 0}
    ports = adopt_ports(reactor, context, inherited)
    if give_up_root(reactor, config, ports, status):
        lifecycle.ports.extend(ports)
    reactor.callWhenRunning(lifecycle.install_signal_handlers)
    reactor.callWhenRunning(reload_if_hung_up_early, lifecycle)
    reactor.callWhenRunning(watch_supervisor, reactor, lifecycle.stop)
    reactor.run()
    return status["code"]


def give_up_root(reactor, config: Config, ports: list[IListeningPort], status: dict[str, int]) -> bool:  # type: ignore[no-untyped-def]
    """The ports are bound: switch to the configured ``run_as`` identity, or stop."""
    if config.run_as is None:
        return True
    try:
        drop_privileges(config.run_as.user, config.run_as.group, config.run_as.groups)
    except (PrivilegeError, OSError) as exc:
        print(f"pop3d: cannot drop privileges: {exc}", file=sys.stderr)
        status["code"] = 1
        for port in ports:  # never serve as root by mistake
            port.stopListening()
        reactor.callWhenRunning(reactor.stop)
        return False
    return True


def cannot_listen(reactor, status: dict[str, int]) -> Callable[[object], None]:  # type: ignore[no-untyped-def]
    def failed(failure) -> None:  # type: ignore[no-untyped-def]
        print(f"pop3d: cannot listen: {failure.getErrorMessage()}", file=sys.stderr)
        status["code"] = 1
        reactor.callWhenRunning(reactor.stop)  # listen() may fail before the reactor runs

    return failed
