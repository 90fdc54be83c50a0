"""The settings pop3d runs with, as typed, immutable values."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pop3d.config.auth import AuthConfig, RunAs
from pop3d.config.polling import LoginDelayConfig, XtndConfig
from pop3d.uidl.styles import UidlStyle


@dataclass(frozen=True)
class UserSourceConfig:
    """One source of users (see pop3d.auth.sources)."""

    type: str
    #: The source's database file, if it has one (absolute).
    file: str | None = None
    #: Maildrop template for this source's users (overrides the global one).
    maildrop: str | None = None
    #: Further type-specific settings, already checked by the loader.
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Limits:
    #: Longest command line accepted (RFC 2449 allows 255 octets).
    max_line: int = 1024
    #: Unknown or invalid commands in a row before the connection is closed.
    max_bad_commands: int = 20
    #: Failed logins on one connection before it is closed.
    max_auth_failures: int = 3
    #: Seconds to wait for an mbox's locks (held by an MTA) before giving up.
    lock_timeout: float = 10.0
    #: Longest SASL continuation line (RFC 5034 sets no bound; tokens can be big).
    max_sasl_line: int = 16384
    #: A line this long is no longer discarded to its end: the connection closes.
    max_line_discard: int = 1 << 20
    #: Seconds from connecting to a finished login; commands do not extend it.
    login_timeout: float = 60.0
    #: Lines a client may send before it has logged in.
    max_commands_before_login: int = 50
    #: Connections served at once, in total and from one client address.
    max_connections: int = 200
    max_connections_per_address: int = 20


@dataclass(frozen=True)
class TLSConfig:
    """The server certificate (PEM, leaf first, chain after) and its private key."""

    certificate: str
    key: str
    #: Oldest protocol accepted: "1.2" or "1.3".
    min_version: str = "1.2"
    #: OpenSSL cipher string for TLS 1.2 (TLS 1.3's suites are OpenSSL's, all AEAD).
    ciphers: str = "ECDHE+AESGCM:ECDHE+CHACHA20"


@dataclass(frozen=True)
class DemoSeed:
    """Copy ``source`` to ``workdir`` at start, so serving never eats the demo mail."""

    source: str
    workdir: str


@dataclass(frozen=True)
class LoggingConfig:
    """Where pop3d's syslog lines go (see pop3d.logs)."""

    #: syslog ident; log tools match on it (logwatch's qpopper service wants ``in.qpopper``).
    ident: str = "pop3d"
    #: syslog facility name (``mail`` puts the lines in mail.log).
    facility: str = "mail"
    #: The syslog daemon's Unix datagram socket.
    syslog_socket: str = "/dev/log"
    #: Where lines go while syslog is unavailable (None: standard error, or the console under inetd).
    fallback_file: str | None = None


@dataclass(frozen=True)
class Config:
    path: str
    hostname: str
    listen: tuple[str, ...]
    #: Idle timeout in seconds (RFC 1939: at least 10 minutes).
    timeout: int
    #: Default maildrop template, e.g. ``maildir:~/Maildir`` or ``mbox:/var/mail/%u``.
    maildrop: str
    mbox_format: str
    users: tuple[UserSourceConfig, ...]
    limits: Limits
    demo: DemoSeed | None = None
    #: Folder of the databases every pop3d process shares (first retrievals for EXPIRE).
    state_dir: str = "/var/lib/pop3d"
    #: RFC 2449 LOGIN-DELAY and its store (see pop3d.config.polling).
    login_delay: LoginDelayConfig = field(default_factory=LoginDelayConfig)
    #: RFC 2449 EXPIRE: "NEVER" or a number of days (retrieved mail is deleted that long after).
    expire: str = "NEVER"
    #: Health-check accounts: no maildrop, no lock, no LOGIN-DELAY.
    monitors: frozenset[str] = frozenset()
    xtnd: XtndConfig = field(default_factory=XtndConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)
    #: Seconds SIGTERM lets open sessions finish before closing them uncommitted.
    shutdown_grace: float = 10.0
    #: mbox: use qpopper's X-UIDL headers as UIDLs (migrations; anyone can send such a header).
    mbox_reuse_x_uidl: bool = False
    #: Per maildrop type ("maildir", "mbox"): whose UIDLs to reproduce (see pop3d.uidl.styles).
    uidl_format: dict[str, UidlStyle] = field(default_factory=dict)
    #: Client workarounds by Dovecot's names (see pop3d.workarounds).
    client_workarounds: tuple[str, ...] = ()
    #: Standalone: server processes sharing the ports (more than 1: a supervisor starts them).
    workers: int = 1
    #: inetd: the spool's group a UNIX user's process keeps to create and remove pop3d's files beside
    #: its mbox (Dovecot's mail_privileged_group); None: none.
    mail_privileged_group: int | None = None
    #: Certificate for STLS and ``tls:`` listeners (None: no TLS).
    tls: TLSConfig | None = None
    #: Where USER/PASS and plaintext SASL work without TLS: "always", "loopback", "never".
    plaintext_auth: str = "loopback"
    #: Failure delays, trusted networks, the APOP database (see pop3d.config.auth).
    auth: AuthConfig = field(default_factory=AuthConfig)
    #: Standalone: the user and groups to run as once the ports are bound.
    run_as: RunAs | None = None
