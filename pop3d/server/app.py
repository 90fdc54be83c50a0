"""Assemble a running server from a configuration: portal, context, listeners."""

from __future__ import annotations

import os
import shutil

from twisted.internet import defer
from twisted.internet.endpoints import serverFromString
from twisted.internet.interfaces import IListeningPort
from twisted.logger import Logger

from pop3d.auth.admission import build_gate
from pop3d.auth.check_pool import shared_pool
from pop3d.auth.directory import build_directory
from pop3d.auth.portal import build_portal
from pop3d.auth.privileges import Identity, PrivilegeError, preload, resolve, set_mail_privileged_group
from pop3d.config.errors import ConfigError
from pop3d.config.model import Config, DemoSeed
from pop3d.maildrop import MaildropOptions
from pop3d.maildrop.expiry import RetrievalLog, StoreError
from pop3d.server.context import ServerContext, base_policy
from pop3d.server.limits import limiter_for
from pop3d.server.protocol import POP3Factory
from pop3d.server.throttle import build_throttle
from pop3d.server.tls import configured_options, endpoint_description, listener

log = Logger()


def seed_demo(demo: DemoSeed) -> None:
    """Refresh the working copy of the demo maildrops from the pristine ones."""
    if os.path.isdir(demo.workdir):
        shutil.rmtree(demo.workdir)
    shutil.copytree(demo.source, demo.workdir, symlinks=True)


def build_context(config: Config, switch_user: bool = False,
                  several_processes: bool = False) -> ServerContext:
    """``switch_user``: one process per connection (inetd), run as the UNIX user once logged in.

    ``several_processes``: inetd or workers, whose failure counts must be shared.
    """
    check_endpoints(config)
    preload()  # before any thread takes a user's file rights (fs_identity) or root is given up
    if switch_user:
        set_mail_privileged_group(config.mail_privileged_group)
    directory = build_directory(config)
    limits = config.limits
    return ServerContext(
        config=config,
        portal=build_portal(directory, shared_pool(config.auth.hash_threads), config.auth,
                            build_gate(config), switch_user,
                            MaildropOptions(config.mbox_format, limits.lock_timeout,
                                            config.mbox_reuse_x_uidl),
                            build_retrieval_log(config), config.uidl_format,
                            config.client_workarounds,
                            virtual_identity=virtual_identity(config) if switch_user else None),
        policy=base_policy(config),
        throttle=build_throttle(config.auth, config.state_dir, several_processes or switch_user),
        tls_options=configured_options(config), limiter=limiter_for(config),
    )


def virtual_identity(config: Config) -> Identity | None:
    """Whom virtual users' inetd sessions run as: ``run_as`` (looked up now, while NSS is at hand)."""
    run_as = config.run_as
    if run_as is None:
        return None
    try:
        return resolve(run_as.user, run_as.group, run_as.groups)
    except PrivilegeError as exc:
        raise ConfigError(config.path, "run_as", str(exc)) from None


def check_endpoints(config: Config) -> None:
    """Parse every ``listen`` entry with the parser :func:`listen` uses, so a typo fails now.

    ``systemd:`` entries are left to the start: they name sockets only systemd passes.
    """
    from twisted.internet import reactor

    for i, description in enumerate(config.listen):
        endpoint = endpoint_description(description)
        if endpoint.startswith("systemd:"):
            continue
        try:
            serverFromString(reactor, endpoint)
        except Exception as exc:  # Twisted's parsers raise ValueError, TypeError, KeyError ...
            raise ConfigError(config.path, f"listen[{i}]",
                              f"{description!r} is not a valid endpoint: {_endpoint_problem(exc)}") from None


def _endpoint_problem(exc: Exception) -> str:
    """Twisted's message without its private function names (``_parseTCP() got ...``)."""
    text = str(exc) or type(exc).__name__
    if isinstance(exc, TypeError) and "unexpected keyword argument" in text:
        return "unknown option " + text.rsplit(" ", 1)[-1]
    return text


def build_retrieval_log(config: Config) -> RetrievalLog | None:
    """The first-retrieval log when EXPIRE is a number of days (opened now, while privileged)."""
    if config.expire in ("NEVER", "0"):
        return None
    try:
        return RetrievalLog(config.state_dir, int(config.expire))
    except StoreError as exc:
        raise ConfigError(config.path, "state_dir", str(exc)) from None


@defer.inlineCallbacks
def listen(reactor: object, context: ServerContext, descriptions: tuple[str, ...]):
    """Start listening on every endpoint description; return the ports."""
    factory = POP3Factory(context)
    ports: list[IListeningPort] = []
    for description in descriptions:
        endpoint, wrapped = listener(reactor, description, factory, context.tls_options)
        port = yield endpoint.listen(wrapped)
        ports.append(port)
        log.info("listening on {description}", description=description)
    return ports
