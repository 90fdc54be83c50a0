"""Read and check the YAML configuration file.

Every problem becomes one :class:`ConfigError` naming the file, the key and
what is wrong; the command line turns that into one line and exit status 2.
"""

from __future__ import annotations

import grp
import os
import pwd
import socket
import stat

import yaml

from pop3d.config.auth import RunAs, load_auth, load_run_as
from pop3d.config.errors import ConfigError
from pop3d.config.logging_options import load_logging
from pop3d.config.model import Config, DemoSeed, Limits, UserSourceConfig
from pop3d.config.polling import DEFAULT_STATE_DIR, load_expire, load_login_delay, load_monitors, load_xtnd
from pop3d.config.reader import Section
from pop3d.config.tls import check_listen, default_listen, load_tls, readable_file
from pop3d.maildrop.location import parse_template
from pop3d.uidl.styles import UidlStyle
from pop3d.workarounds import NAMES as WORKAROUNDS

USER_SOURCE_TYPES = ("virtual", "unix", "pam")


def read_yaml(path: str) -> object:
    """Parse a YAML file; any failure is a ConfigError for that file."""
    try:
        with open(path, encoding="utf-8") as f:
            return yaml.safe_load(f)
    except OSError as exc:
        raise ConfigError(path, "(file)", exc.strerror or str(exc)) from None
    except UnicodeDecodeError:
        raise ConfigError(path, "(file)", "is not UTF-8 text") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else "(file)"
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(path, where, f"not valid YAML: {problem}") from None


def config_section(path: str, name: str) -> Section:
    """One section of a configuration file, without checking the rest (for popauth and pop3d-stats)."""
    return Section(path, read_yaml(path)).section(name)


def template(section: Section, name: str, default: object = None) -> str | None:
    """A maildrop template; a relative path is taken from the file's folder."""
    value = section.str(name, default)
    if value is None:
        return None
    try:
        kind, path = parse_template(value)
    except ValueError as exc:
        raise section.error(name, str(exc)) from None
    if not path.startswith(("/", "~", "%h")):
        path = f"{section.base_dir}/{path}"
    return f"{kind}:{path}"


def load_user_source(section: Section) -> UserSourceConfig:
    kind = section.str("type", choices=USER_SOURCE_TYPES)
    source = UserSourceConfig(
        type=kind,
        file=readable_file(section, "file") if kind == "virtual" else None,
        maildrop=template(section, "maildrop"),
        options=({"allow_plaintext": section.bool("allow_plaintext", False)} if kind == "virtual"
                 else {"min_uid": section.int("min_uid", 1000, minimum=0),
                       **({"service": section.str("service", "pop3d")} if kind == "pam" else {})}),
    )
    section.finish()
    return source


def check_run_as(section: Section, run_as: RunAs | None) -> RunAs | None:
    """The ``run_as`` user and groups must exist now, not only when the server gives up root."""
    if run_as is None:
        return None
    named = [("user", run_as.user, pwd.getpwuid, pwd.getpwnam),
             ("group", run_as.group, grp.getgrgid, grp.getgrnam)]
    named += [(f"groups[{i}]", name, grp.getgrgid, grp.getgrnam) for i, name in enumerate(run_as.groups)]
    for key, name, by_id, by_name in named:
        if name is None:
            continue
        try:
            by_id(int(name)) if name.isdigit() else by_name(name)
        except KeyError:
            raise section.error(key, f"no such {'user' if key == 'user' else 'group'}: {name}") from None
    return run_as


def load_mail_group(top: Section, templates: list[str]) -> int | None:
    """``mail_privileged_group``: a group name, ``none``, or ``auto`` (the default): the group owning
    the folder of an mbox template (``mbox:/var/mail/%u``) when that folder is group-writable."""
    name = top.str("mail_privileged_group", "auto")
    if name == "none":
        return None
    if name != "auto":
        try:
            return int(name) if name.isdigit() else grp.getgrnam(name).gr_gid
        except KeyError:
            raise top.error("mail_privileged_group", f"no such group: {name}") from None
    for value in templates:
        kind, path = parse_template(value)
        folder = os.path.dirname(path)
        if kind != "mbox" or "%" in folder or "~" in folder:
            continue
        try:
            st = os.stat(folder)
        except OSError:
            continue
        if st.st_mode & stat.S_IWGRP and st.st_gid != 0:
            return st.st_gid
    return None


def load_limits(section: Section) -> Limits:
    max_line = section.int("max_line", Limits.max_line, minimum=255, maximum=65536)
    max_sasl_line = section.int("max_sasl_line", Limits.max_sasl_line, minimum=255, maximum=1 << 20)
    limits = Limits(
        max_line=max_line,
        max_bad_commands=section.int("max_bad_commands", Limits.max_bad_commands, minimum=1),
        max_auth_failures=section.int("max_auth_failures", Limits.max_auth_failures, minimum=1),
        lock_timeout=section.float("lock_timeout", Limits.lock_timeout, minimum=0),
        max_sasl_line=max_sasl_line,
        # A line is discarded up to this length, then the connection closes: longer than any line read.
        max_line_discard=section.int("max_line_discard", Limits.max_line_discard,
                                     minimum=max(max_line, max_sasl_line), maximum=1 << 26),
        login_timeout=section.float("login_timeout", Limits.login_timeout, minimum=1),
        max_commands_before_login=section.int("max_commands_before_login",
                                              Limits.max_commands_before_login, minimum=1),
        max_connections=section.int("max_connections", Limits.max_connections, minimum=1),
        max_connections_per_address=section.int(
            "max_connections_per_address", Limits.max_connections_per_address, minimum=1),
    )
    section.finish()
    return limits


def load_workers(top: Section) -> int:
    """``workers``: a number of processes, or ``auto`` for one per CPU."""
    value = top._get("workers", 1)
    if value == "auto":
        return os.cpu_count() or 1
    if isinstance(value, str):
        raise top.error("workers", f"must be a number of processes (1 to 256) or auto, not {value!r}")
    return top.int("workers", 1, minimum=1, maximum=256)


def load_config(path: str) -> Config:
    top = Section(path, read_yaml(path))
    tls = load_tls(top.section("tls"))
    listen = tuple(top.str_list("listen", list(default_listen(tls))))
    check_listen(top, "listen", listen, tls)
    users = tuple(load_user_source(s) for s in top.sections("users"))
    if not users:
        raise top.error("users", "lists no source of users")
    demo_section = top.section("demo")
    demo = None
    if demo_section.data:
        demo = DemoSeed(demo_section.path_("source"), demo_section.path_("workdir"))
        demo_section.finish()
    state_dir = top.path_("state_dir", DEFAULT_STATE_DIR)
    uidl_format = load_uidl_format(top.section("uidl_format"))
    run_as_section = top.section("run_as")
    maildrop = template(top, "maildrop", "mbox:/var/mail/%u") or ""
    config = Config(
        path=path,
        hostname=top.str("hostname", None) or socket.getfqdn(),
        listen=listen,
        timeout=top.int("timeout", 600, minimum=1),
        maildrop=maildrop,
        mbox_format=top.str("mbox_format", "mboxrd", choices=("mboxrd", "mboxo")),
        mbox_reuse_x_uidl=top.bool("mbox_reuse_x_uidl", False) or uidl_format.get("mbox") == QPOPPER,
        uidl_format=uidl_format,
        client_workarounds=load_workarounds(top),
        users=users,
        limits=load_limits(top.section("limits")),
        state_dir=state_dir,
        login_delay=load_login_delay(top.section("login_delay"), state_dir),
        expire=load_expire(top),
        monitors=load_monitors(top),
        xtnd=load_xtnd(top.section("xtnd")),
        demo=demo,
        tls=tls,
        plaintext_auth=top.str("plaintext_auth", "loopback", choices=("always", "loopback", "never")),
        auth=load_auth(top.section("auth")),
        run_as=check_run_as(run_as_section, load_run_as(run_as_section)),
        logging=load_logging(top.section("logging")),
        shutdown_grace=top.float("shutdown_grace", 10.0, minimum=0),
        workers=load_workers(top),
        mail_privileged_group=load_mail_group(top, [maildrop, *(s.maildrop for s in users if s.maildrop)]),
    )
    top.finish()
    return config


QPOPPER = UidlStyle("qpopper")


def load_uidl_format(section: Section) -> dict[str, UidlStyle]:
    """``uidl_format: {maildir: dovecot, mbox: "dovecot:%08Xu%08Xv"}`` (see pop3d.uidl.styles)."""
    styles = {}
    for kind in ("maildir", "mbox"):
        text = section.str(kind, "pop3d")
        try:
            styles[kind] = UidlStyle.parse(kind, text)
        except ValueError as exc:
            raise section.error(kind, str(exc)) from None
    section.finish()
    return styles


def load_workarounds(top: Section) -> tuple[str, ...]:
    names = top.str_list("client_workarounds", [])
    unknown = [name for name in names if name not in WORKAROUNDS]
    if unknown:
        known = ", ".join(WORKAROUNDS)
        raise top.error("client_workarounds", f"unknown workaround {unknown[0]!r} (known: {known})")
    return tuple(dict.fromkeys(names))
