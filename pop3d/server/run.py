"""Run the server under the reactor until it is told to stop."""

from __future__ import annotations

import argparse
import sys

from twisted.logger import globalLogBeginner, textFileLogObserver

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
        reactor.stop()

    d = listen(reactor, context, config.listen)
    d.addErrback(failed)
    reactor.run()
    return status["code"]
