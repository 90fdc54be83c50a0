"""Run the server under the reactor until it is told to stop."""

from __future__ import annotations

import argparse
import sys

from twisted.logger import globalLogBeginner, textFileLogObserver

from pop3d.auth.privileges import PrivilegeError, drop_privileges
from pop3d.config.errors import ConfigError
from pop3d.config.model import Config
from pop3d.server.app import build_context, listen, seed_demo


def run_standalone(config: Config, args: argparse.Namespace) -> int:
    from twisted.internet import reactor

    globalLogBeginner.beginLoggingTo([textFileLogObserver(sys.stderr)], redirectStandardIO=False)
    if config.demo is not None:
        seed_demo(config.demo)
    try:
        context = build_context(config)
    except ConfigError as exc:
        print(f"pop3d: {exc}", file=sys.stderr)
        return 2
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
        return ports

    d = listen(reactor, context, config.listen)
    d.addCallbacks(bound, failed)
    reactor.run()
    return status["code"]
