"""The ``pop3d`` command: flags in the manner of the traditional pop3d(8)."""

from __future__ import annotations

import argparse
import os
import sys

from pop3d import __version__
from pop3d.config import Config, ConfigError, load_config

DEFAULT_CONFIG = "/etc/pop3d/pop3d.yaml"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"pop3d: {message}\nTry 'pop3d --help' for more information.\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="pop3d",
        description="POP3 server (RFC 1939) for mbox and Maildir maildrops.",
    )
    parser.add_argument("-c", metavar="FILE", dest="config", default=DEFAULT_CONFIG,
                        help=f"configuration file (default {DEFAULT_CONFIG})")
    parser.add_argument("-T", metavar="SECONDS", dest="timeout", type=int,
                        help="idle timeout in seconds (default 600, the RFC 1939 minimum autologout)")
    parser.add_argument("-d", dest="debug", action="store_true",
                        help="debugging: SO_DEBUG on connections and debug lines to syslog")
    parser.add_argument("-s", dest="stats", action="store_true",
                        help="log session statistics to syslog (facility mail)")
    parser.add_argument("-t", metavar="FILE", dest="trace",
                        help="write a protocol trace of every connection to FILE")
    parser.add_argument("-i", dest="inetd", action="store_true",
                        help="inetd mode: serve the one connection on standard input, then exit "
                             "(automatic when standard input is a TCP connection)")
    parser.add_argument("--implicit-tls", dest="implicit_tls", action="store_true",
                        help="inetd mode: the connection speaks TLS from its first byte "
                             "(POP3S, port 995), with the certificate of the tls section")
    parser.add_argument("--check-config", dest="check_config", action="store_true",
                        help="read the configuration, user files and certificate, report, and exit "
                             "(0 if the server would start with them, 2 if not)")
    parser.add_argument("--version", action="version", version=f"pop3d {__version__}")
    return parser


def report_config_error(exc: ConfigError) -> None:
    """Say what is wrong with the configuration, where the admin will see it.

    Under inetd, standard error is the client's socket: the client gets a
    POP3 answer and the one line goes to syslog (facility mail) instead.
    """
    from pop3d.server.inetd import started_by_inetd

    if started_by_inetd():
        import syslog

        syslog.openlog("pop3d", syslog.LOG_PID, syslog.LOG_MAIL)
        syslog.syslog(syslog.LOG_ERR, str(exc))
        os.write(1, b"-ERR [SYS/TEMP] server configuration error, try later\r\n")
        return
    print(f"pop3d: {exc}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    from pop3d.server.systemd import name_unnamed_sockets

    name_unnamed_sockets()  # before Twisted's endpoints read the environment
    args = build_parser().parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)  # for worker processes (workers: N)
    if args.timeout is not None and args.timeout <= 0:
        print("pop3d: -T needs a positive number of seconds", file=sys.stderr)
        return 2
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        report_config_error(exc)
        return 2
    if args.timeout is not None:
        from dataclasses import replace

        config = replace(config, timeout=args.timeout)
    if args.check_config:
        return check_config(config)
    from pop3d.server.run import run_standalone

    return run_standalone(config, args)


def check_config(config: Config) -> int:
    """``--check-config``: build everything the server builds at start, but serve nothing."""
    from pop3d.server.app import build_context

    try:
        build_context(config)
    except ConfigError as exc:
        print(f"pop3d: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # a users file that cannot be read, for instance
        print(f"pop3d: {config.path}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    listen = ", ".join(config.listen)
    print(f"pop3d: {config.path}: configuration OK (listen: {listen}; "
          f"{len(config.users)} source(s) of users; workers: {config.workers})")
    return 0
