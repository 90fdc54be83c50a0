"""Per-connection settings the session core obeys.

The adapter builds one of these from the configuration and what it knows
about the connection (TLS, peer address); the core reads nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pop3d import __version__


@dataclass(frozen=True)
class SessionPolicy:
    hostname: str = "localhost"
    version: str = __version__
    #: Close the connection after this many unknown or invalid commands in a row.
    max_bad_commands: int = 20
    #: Close the connection after this many lines before login (SASL answers included).
    max_commands_before_login: int = 50
    #: Close the connection after this many failed logins.
    max_auth_failures: int = 3
    #: STLS can be offered on this connection (TLS configured, not yet active).
    stls_available: bool = False
    #: The connection is already encrypted (implicit TLS).
    tls_active: bool = False
    #: USER/PASS and plaintext SASL mechanisms are allowed without TLS.
    plaintext_without_tls: bool = True
    #: SASL mechanisms offered (in CAPA ``SASL`` and by ``AUTH``).
    sasl_mechanisms: tuple[str, ...] = ()
    #: SASL mechanisms that send the password in the clear.
    plaintext_mechanisms: frozenset[str] = frozenset({"PLAIN", "LOGIN"})
    #: APOP can work at all: a database of APOP secrets is configured.
    apop_available: bool = True
    #: APOP and CRAM-MD5 are allowed on this connection only once TLS is active.
    apop_requires_tls: bool = False
    #: RFC 2449 LOGIN-DELAY seconds advertised before login (None: not advertised).
    login_delay: int | None = None
    #: The LOGIN-DELAY may differ per user (CAPA adds ``USER`` before login).
    login_delay_per_user: bool = False
    #: RFC 2449 EXPIRE value advertised ("NEVER", a number of days, or None).
    expire: str | None = None
    #: qpopper's XTND commands are enabled.
    xtnd: bool = False
    #: Largest message XTND XMIT accepts, in octets.
    xmit_max_message: int = 10 * 1024 * 1024
    #: Domain of the users' addresses for XMIT (``-f user@domain``, ``Sender:``); None: bare names.
    xmit_mail_domain: str | None = None
    #: What XMIT does with a ``From:`` other than the user's address: "sender" or "enforce".
    xmit_from_policy: str = "sender"
    #: Most recipients (To/Cc/Bcc and Resent-) one XMIT message may name.
    xmit_max_recipients: int = 50
    #: Extra CAPA lines (for extensions added by site code).
    extra_capabilities: tuple[str, ...] = field(default_factory=tuple)
