"""Run the server under the reactor until it is told to stop."""

from __future__ import annotations

import argparse
import sys

from pop3d.auth.privileges import PrivilegeError, drop_privileges
from pop3d.config.errors import ConfigError
from pop3d.config.model import Config
from pop3d.logs.wiring import TraceFileError, begin_logging, build_logs
from pop3d.server.app import build_context, listen, seed_demo
from pop3d.server.inetd import NotASocket, adopt_stdin, started_by_inetd
from pop3d.server.lifecycle import Lifecycle, reload_loader
from pop3d.server.systemd import listen_descriptions


def run_standalone(config: Config, args: argparse.Namespace) -> int:
    from twisted.internet import reactor

    # inetd mode: one process per connection, on standard input (see pop3d.server.inetd).
    inetd = bool(getattr(args, "inetd", False)) or started_by_inetd()
    try:
        logs = build_logs(config.logging, args, inetd)
    except TraceFileError as exc:
        print(f"pop3d: {exc}", file=sys.stderr)
        return 2
    begin_logging(logs)
    if config.demo is not None and not inetd:
        seed_demo(config.demo)
    from pop3d.cli import report_config_error  # (cli imports this module when it runs)

    try:
        context = build_context(config, switch_user=inetd)
    except ConfigError as exc:
        report_config_error(exc)  # under inetd: -ERR to the client, the line to syslog
        return 2
    context.observers = logs.observers
    lifecycle = Lifecycle(reactor, context, [], reload_loader(getattr(args, "timeout", None)),
                          lambda new: build_context(new, switch_user=inetd),
                          lambda new: logs.reconfigure(new.logging))
    reactor.callWhenRunning(lifecycle.install_signal_handlers)
    if inetd:
        implicit_tls = bool(getattr(args, "implicit_tls", False))
        if implicit_tls and context.tls_options is None:
            report_config_error(ConfigError(config.path, "tls", "is needed by --implicit-tls "
                                                                "(certificate and key)"))
            return 2
        try:
            adopt_stdin(reactor, context, implicit_tls).addBoth(lambda _: lifecycle.stop())
        except NotASocket as exc:
            print(f"pop3d: {exc}", file=sys.stderr)
            return 2
        reactor.run()
        return 0
    status = {"code": 0}

    def failed(failure):  # type: ignore[no-untyped-def]
        print(f"pop3d: cannot listen: {failure.getErrorMessage()}", file=sys.stderr)
        status["code"] = 1
        reactor.callWhenRunning(reactor.stop)  # listen() may fail before the reactor runs

    def bound(ports):  # type: ignore[no-untyped-def]
        """The ports are bound: give up root for the configured ``run_as`` identity."""
        if config.run_as is not None:
            try:
                drop_privileges(config.run_as.user, config.run_as.group, config.run_as.groups)
            except (PrivilegeError, OSError) as exc:
                print(f"pop3d: cannot drop privileges: {exc}", file=sys.stderr)
                status["code"] = 1
                for port in ports:  # never serve as root by mistake
                    port.stopListening()
                reactor.callWhenRunning(reactor.stop)
        lifecycle.ports.extend(ports)
        return ports

    d = listen(reactor, context, listen_descriptions(reactor, config.listen))
    d.addCallbacks(bound, failed)
    reactor.run()
    return status["code"]
