"""The ``pop3d-stats`` command: summarize pop3d's lines in one or more mail.log files."""

from __future__ import annotations

import argparse
import os
import sys

from pop3d import __version__
from pop3d.config.errors import ConfigError
from pop3d.config.loader import config_section
from pop3d.config.logging_options import load_logging
from pop3d.report.formatter import render_json, render_text
from pop3d.report.sources import LogReadError, open_log, read_lines
from pop3d.report.summary import summarize
from pop3d.report.syslog_lines import parse_line
from pop3d.report.tally import Tally

#: Rows per table in the text report unless --top says otherwise.
TEXT_TOP = 20
#: pop3d's configuration, whose logging.ident names the lines to read (unless --ident says).
DEFAULT_CONFIG = "/etc/pop3d/pop3d.yaml"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pop3d-stats",
        description="Summarize pop3d's session statistics (pop3d -s, and -d for downloads) "
                    "from mail.log files: per user, per client address, polling clients, per hour.",
    )
    parser.add_argument("files", nargs="*", metavar="FILE", default=["-"],
                        help="mail.log files, plain, rotated or gzipped ('-' or none: standard input)")
    parser.add_argument("-c", metavar="CONFIG", dest="config",
                        help=f"pop3d's configuration, for its logging.ident (default {DEFAULT_CONFIG} "
                             "if it exists)")
    parser.add_argument("--ident", metavar="NAME",
                        help="the syslog ident pop3d logs under (default: from the configuration, "
                             "else pop3d)")
    parser.add_argument("--quiet", action="store_true",
                        help="print nothing when the logs hold no line from pop3d (for logwatch)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--top", type=_non_negative, metavar="N",
                        help=f"rows per table, 0 for all (default {TEXT_TOP} for text, all for JSON)")
    parser.add_argument("--version", action="version", version=f"pop3d-stats {__version__}")
    return parser


def _non_negative(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, not {value}")
    return value


def read_into(tally: Tally, name: str) -> None:
    """Count every line of one log; raises LogReadError if it cannot be read to its end."""
    with open_log(name) as (stream, reference):
        for text in read_lines(name, stream):
            line = parse_line(text, reference)
            if line is None:
                tally.add_unparsed()
            else:
                tally.add(line)


def configured_ident(path: str | None) -> str:
    """``logging.ident`` of the configuration (only that section is read), or pop3d's default."""
    if path is None:
        if not os.path.exists(DEFAULT_CONFIG):
            return "pop3d"
        path = DEFAULT_CONFIG
    return load_logging(config_section(path, "logging")).ident


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        ident = args.ident or configured_ident(args.config)
    except ConfigError as exc:
        print(f"pop3d-stats: {exc}", file=sys.stderr)
        return 2
    tally = Tally(ident=ident)
    status = 0
    for name in args.files:
        try:
            read_into(tally, name)
        except LogReadError as exc:
            print(f"pop3d-stats: {exc}", file=sys.stderr)
            status = 1
    if args.quiet and not tally.lines.pop3d:
        return status
    top = args.top if args.top is not None else (None if args.json else TEXT_TOP)
    summary = summarize(tally, args.files, top or None)
    try:
        sys.stdout.write(render_json(summary) if args.json else render_text(summary))
        sys.stdout.flush()
    except BrokenPipeError:  # pop3d-stats | head
        return status
    return status


if __name__ == "__main__":
    sys.exit(main())
