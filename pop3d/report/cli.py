"""The ``pop3d-stats`` command: summarize pop3d's lines in one or more mail.log files."""

from __future__ import annotations

import argparse
import sys

from pop3d import __version__
from pop3d.report.formatter import render_json, render_text
from pop3d.report.sources import LogReadError, open_log, read_lines
from pop3d.report.summary import summarize
from pop3d.report.syslog_lines import parse_line
from pop3d.report.tally import Tally

#: Rows per table in the text report unless --top says otherwise.
TEXT_TOP = 20


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pop3d-stats",
        description="Summarize pop3d's session statistics (pop3d -s, and -d for downloads) "
                    "from mail.log files: per user, per client address, polling clients, per hour.",
    )
    parser.add_argument("files", nargs="*", metavar="FILE", default=["-"],
                        help="mail.log files, plain, rotated or gzipped ('-' or none: standard input)")
    parser.add_argument("--ident", default="pop3d", metavar="NAME",
                        help="the syslog ident pop3d logs under (default pop3d)")
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


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    tally = Tally(ident=args.ident)
    status = 0
    for name in args.files:
        try:
            read_into(tally, name)
        except LogReadError as exc:
            print(f"pop3d-stats: {exc}", file=sys.stderr)
            status = 1
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
