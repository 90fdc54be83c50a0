"""The ``pop3d-migrate`` command; ``check`` compares an old server's UIDLs with pop3d's.

Exit status of ``check``: 0 when every user's listing is the same on both
servers, 1 when any user would see a change, 2 when a user could not be
checked or the command line or users file is wrong.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

from pop3d import __version__
from pop3d.migrate.compare import UserComparison, compare, render_table, summary
from pop3d.migrate.listing import TLS_MODES, Endpoint, ListingError, fetch_uidls


class UsersFileError(Exception):
    """The users file cannot be used; the text names file, line and problem."""


def read_users(path: str) -> list[tuple[str, str]]:
    """``USER PASSWORD`` lines (the password is the rest of the line); ``#`` comments, blank lines."""
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise UsersFileError(f"{path}: cannot read: {exc}") from None
    users = []
    for number, line in enumerate(lines, 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        fields = line.strip().split(None, 1)
        if len(fields) != 2:
            raise UsersFileError(f"{path}:{number}: expected 'USER PASSWORD'")
        users.append((fields[0], fields[1]))
    if not users:
        raise UsersFileError(f"{path}: lists no users")
    return users


def _endpoint(parser: argparse.ArgumentParser, args: argparse.Namespace, side: str) -> Endpoint:
    try:
        return Endpoint.parse(getattr(args, side), tls=getattr(args, f"{side}_tls"), ca_file=args.ca_file,
                              verify=not args.no_verify, timeout=args.timeout)
    except ValueError as exc:
        parser.error(f"--{side}: {exc}")
        raise  # not reached


def check_user(old: Endpoint, new: Endpoint, user: str, password: str) -> UserComparison:
    """Both listings of one user, compared; a failure to get either is reported, not raised."""
    try:
        before = fetch_uidls(old, user, password)
    except ListingError as exc:
        return UserComparison(user, error=f"old server: {exc}")
    try:
        after = fetch_uidls(new, user, password)
    except ListingError as exc:
        return UserComparison(user, error=f"new server: {exc}")
    return compare(user, before, after)


def check_all(old: Endpoint, new: Endpoint, users: list[tuple[str, str]],
              jobs: int) -> Iterator[UserComparison]:
    """Every user's comparison, in the order of the users file, ``jobs`` users at a time."""
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        yield from pool.map(lambda entry: check_user(old, new, *entry), users)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pop3d-migrate",
        description="Before switching POP3 servers: check that clients will not download their mail again.")
    parser.add_argument("--version", action="version", version=f"pop3d-migrate {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    check = commands.add_parser(
        "check", help="log in to the old server and to pop3d as each user and compare the UIDL lists",
        description="Log in to the old server and to pop3d as each user (USER/PASS, UIDL, QUIT: "
                    "nothing is retrieved or deleted), compare the UIDL lists and message order, "
                    "and print a table of what each user's client would download again.")
    check.add_argument("--old", required=True, metavar="HOST:PORT", help="the server clients use today")
    check.add_argument("--new", required=True, metavar="HOST:PORT", help="pop3d, serving the same maildrops")
    check.add_argument("--users", required=True, metavar="FILE",
                       help="lines of 'USER PASSWORD' (the rest of the line); # starts a comment")
    for side in ("old", "new"):
        check.add_argument(f"--{side}-tls", choices=TLS_MODES, default="none",
                           help=f"TLS to the {side} server: none, stls (RFC 2595) or implicit (port 995)")
    check.add_argument("--ca-file", metavar="FILE", help="PEM certificate authorities to verify servers with")
    check.add_argument("--no-verify", action="store_true",
                       help="do not verify the servers' certificates (self-signed test set-ups)")
    check.add_argument("--timeout", type=float, default=30.0, metavar="SECONDS",
                       help="per connection (default 30)")
    check.add_argument("--jobs", type=int, default=4, metavar="N", help="users checked at once (default 4)")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.jobs < 1:
        parser.error("--jobs must be at least 1")
    old, new = _endpoint(parser, args, "old"), _endpoint(parser, args, "new")
    try:
        users = read_users(args.users)
    except UsersFileError as exc:
        print(f"pop3d-migrate: {exc}", file=sys.stderr)
        return 2
    comparisons = list(check_all(old, new, users, args.jobs))
    sys.stdout.write(render_table(comparisons))
    sys.stdout.write(summary(comparisons))
    if any(c.error is not None for c in comparisons):
        return 2
    return 1 if any(c.changed for c in comparisons) else 0
