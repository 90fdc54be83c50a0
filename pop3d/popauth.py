"""``popauth``: manage APOP secrets (the mailauth database) and virtual users' passwords.

::

    popauth [-f DB | -c CONFIG] add NAME       # a new APOP/CRAM-MD5 user
    popauth [-f DB | -c CONFIG] change NAME    # a new secret for an existing one
    popauth [-f DB | -c CONFIG] delete NAME
    popauth [-f DB | -c CONFIG] list
    popauth [-u USERS | -c CONFIG] virtual set NAME [--scheme argon2] [--maildrop maildir:/srv/mail/NAME]
    popauth [-u USERS | -c CONFIG] virtual delete NAME
    popauth [-u USERS | -c CONFIG] virtual list

Secrets and passwords are read from a prompt (twice, on a terminal) or from
the first line of standard input, never from the command line, where other
users could see them in ps(1).  Files are replaced atomically under a lock,
so a running server picks up the change at its next login without restart.
"""

from __future__ import annotations

import argparse
import getpass
import grp
import os
import pwd
import sys
from collections.abc import Callable

import yaml

from pop3d import fileio
from pop3d.auth import mailauth
from pop3d.auth.virtual import CONTEXT, HASH_SCHEMES, parse_users
from pop3d.config.auth import load_run_as
from pop3d.config.errors import ConfigError
from pop3d.config.loader import config_section

DEFAULT_DATABASE = "/etc/pop3d/mailauth"
DEFAULT_CONFIG = "/etc/pop3d/pop3d.yaml"
SCHEMES = tuple(s for s in HASH_SCHEMES if s != "sha256_crypt")


class Failure(Exception):
    """Tell the administrator and exit with status 1."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        if "unrecognized arguments" in message:
            message += " (secrets are read from a prompt or standard input, never from arguments)"
        self.exit(2, f"popauth: {message}\nTry 'popauth --help' for more information.\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="popauth", description="Manage pop3d's APOP secrets and virtual users.")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("-f", metavar="DB", dest="database",
                       help=f"mailauth database (default {DEFAULT_DATABASE})")
    where.add_argument("-c", metavar="CONFIG", dest="config",
                       help="take the database and users file from this pop3d configuration")
    parser.add_argument("-u", metavar="USERS", dest="users_file", help="virtual users file (YAML)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, text in (("add", "add a user's APOP secret"), ("change", "change a user's APOP secret"),
                       ("delete", "remove a user's APOP secret")):
        commands.add_parser(name, help=text).add_argument("name")
    commands.add_parser("list", help="list the users with an APOP secret")
    virtual = commands.add_parser("virtual", help="manage the virtual users file").add_subparsers(
        dest="action", required=True, metavar="ACTION")
    setter = virtual.add_parser("set", help="add a virtual user or set its password")
    setter.add_argument("name")
    setter.add_argument("--scheme", choices=SCHEMES, default="argon2", help="password hash (default argon2)")
    setter.add_argument("--maildrop", help="maildrop template for the user, e.g. maildir:/srv/mail/NAME")
    virtual.add_parser("delete", help="remove a virtual user").add_argument("name")
    virtual.add_parser("list", help="list the virtual users")
    return parser


def read_secret(what: str, prompt: Callable[[str], str] = getpass.getpass) -> bytes:
    """The secret from a prompt (asked twice) or the first line of standard input."""
    if sys.stdin.isatty():
        first = prompt(f"New {what}: ")
        if prompt("Again: ") != first:
            raise Failure(f"the two {what}s differ; nothing changed")
        secret = first.encode("utf-8")
    else:
        line = sys.stdin.buffer.readline()
        secret = line[:-1] if line.endswith(b"\n") else line
        secret = secret[:-1] if secret.endswith(b"\r") else secret
    if not secret:
        raise Failure(f"an empty {what} is not allowed")
    return secret


def check_name(name: str) -> str:
    if not mailauth.valid_name(name):
        raise Failure(f"invalid user name {name!r}")
    return name


def database_path(args: argparse.Namespace) -> str:
    if args.database:
        return args.database
    if args.config:
        from pop3d.config import load_config

        path = load_config(args.config).auth.apop_database
        if not path:
            raise Failure(f"{args.config} configures no auth.apop_database")
        return path
    return DEFAULT_DATABASE


def users_path(args: argparse.Namespace) -> str:
    if args.users_file:
        return args.users_file
    from pop3d.config import load_config

    config = load_config(args.config or DEFAULT_CONFIG)
    for source in config.users:
        if source.type == "virtual" and source.file:
            return source.file
    raise Failure(f"{config.path} configures no virtual users file")


def server_group(args: argparse.Namespace) -> int | None:
    """The group the server runs as (``run_as`` in its configuration): it must read what popauth writes.

    A standalone server re-reads the users file and the mailauth database as
    that group after giving up root; files only root could read would keep
    new passwords from it.  None when no ``run_as`` is configured.
    """
    path = args.config or DEFAULT_CONFIG
    if not args.config and not os.path.exists(path):
        return None
    run_as = load_run_as(config_section(path, "run_as"))
    if run_as is None:
        return None
    try:
        if run_as.group:
            return int(run_as.group) if run_as.group.isdigit() else grp.getgrnam(run_as.group).gr_gid
        return (pwd.getpwuid(int(run_as.user)) if run_as.user.isdigit() else pwd.getpwnam(run_as.user)).pw_gid
    except KeyError:
        raise Failure(f"{path}: run_as names a user or group that does not exist") from None


def apop_command(args: argparse.Namespace) -> str:
    path = database_path(args)
    if args.command == "list":
        return "".join(f"{name}\n" for name in sorted(mailauth.read(path)))
    name = check_name(args.name)
    with fileio.locked(path):
        secrets = mailauth.read(path)
        if args.command == "add" and name in secrets:
            raise Failure(f"{name} already has an APOP secret; use 'change'")
        if args.command in ("change", "delete") and name not in secrets:
            raise Failure(f"{name} has no APOP secret")
        if args.command == "delete":
            del secrets[name]
        else:
            secrets[name] = read_secret("APOP secret")
        mailauth.write(path, secrets, server_group(args))
    return ""


def virtual_command(args: argparse.Namespace) -> str:
    path = users_path(args)
    if args.action == "list":
        return "".join(f"{name}\n" for name in sorted(_load_users(path)))
    name = check_name(args.name)
    with fileio.locked(path):
        users = _load_users(path)
        if args.action == "delete":
            if name not in users:
                raise Failure(f"no virtual user {name} in {path}")
            del users[name]
        else:
            entry = dict(users.get(name) or {})
            entry["password"] = CONTEXT.handler(args.scheme).hash(read_secret("password"))
            if args.maildrop:
                entry["maildrop"] = args.maildrop
            users[name] = entry
        _save_users(path, users, server_group(args))
    return ""


def _load_users(path: str) -> dict[str, dict[str, object]]:
    try:
        with open(path, encoding="utf-8") as f:
            data = yaml.safe_load(f)
    except FileNotFoundError:
        return {}
    except (OSError, yaml.YAMLError) as exc:
        raise Failure(f"cannot read {path}: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise Failure(f"{path} is not a mapping of user names")
    return data


def _save_users(path: str, users: dict[str, dict[str, object]], group: int | None) -> None:
    """Write the users file, keeping its leading comment block, and check it parses as the server will."""
    header = ""
    try:
        with open(path, encoding="utf-8") as f:
            for line in f:
                if not line.startswith("#"):
                    break
                header += line
    except FileNotFoundError:
        pass
    text = header + (yaml.safe_dump(users, default_flow_style=False, sort_keys=True) if users else "")
    try:
        mode = os.stat(path).st_mode & 0o777
    except FileNotFoundError:
        mode = 0o600
    fileio.replace_file(path, text, mode, group)
    try:
        parse_users(path, allow_plaintext=True)
    except ConfigError as exc:
        raise Failure(f"{path} was written but does not check: {exc}") from None


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        out = virtual_command(args) if args.command == "virtual" else apop_command(args)
    except (Failure, mailauth.MailauthError, ConfigError) as exc:
        print(f"popauth: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"popauth: {exc.filename or ''}: {exc.strerror}", file=sys.stderr)
        return 1
    sys.stdout.write(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
