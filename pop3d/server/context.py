"""What every connection of one server shares: settings, portal, policy."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from twisted.cred.portal import Portal
from twisted.internet.ssl import CertificateOptions

from pop3d.config.model import Config
from pop3d.core.policy import SessionPolicy
from pop3d.server.limits import ConnectionLimiter
from pop3d.server.observers import ObserverSet
from pop3d.server.submission import SubmissionRate
from pop3d.server.throttle import FailureThrottle
from pop3d.server.tls import plaintext_auth_allowed


@dataclass
class ServerContext:
    config: Config
    portal: Portal
    policy: SessionPolicy
    #: Connections now open (for limits and graceful shutdown).
    connections: set[object] = field(default_factory=set)
    #: Who watches the sessions: statistics, debug lines, trace (see pop3d.server.observers).
    observers: ObserverSet = field(default_factory=ObserverSet)
    #: The certificate for STLS and implicit TLS (None: TLS not configured).
    tls_options: CertificateOptions | None = None
    limiter: ConnectionLimiter = field(default_factory=ConnectionLimiter)
    #: Delays the answer to failed logins (None: answer at once).
    throttle: FailureThrottle | None = None
    #: XTND XMIT submissions per user (the ``xtnd.max_messages`` rate).
    xmit_rate: SubmissionRate = field(default_factory=SubmissionRate)

    def policy_for(self, *, tls_active: bool, peer_host: str | None) -> SessionPolicy:
        """The session policy for one connection."""
        return replace(
            self.policy,
            tls_active=tls_active,
            stls_available=self.tls_options is not None and not tls_active,
            plaintext_without_tls=plaintext_auth_allowed(self.config.plaintext_auth, peer_host),
            apop_requires_tls=not plaintext_auth_allowed(self.config.auth.apop_without_tls, peer_host),
        )


def base_policy(config: Config) -> SessionPolicy:
    limits = config.limits
    return SessionPolicy(
        hostname=config.hostname,
        max_bad_commands=limits.max_bad_commands,
        max_auth_failures=limits.max_auth_failures,
        max_commands_before_login=limits.max_commands_before_login,
        login_delay=(config.login_delay.seconds or 0) if config.login_delay.enabled else None,
        login_delay_per_user=config.login_delay.enabled,
        expire=config.expire,
        xtnd=config.xtnd.enabled,
        xmit_max_message=config.xtnd.max_message,
        xmit_mail_domain=config.xtnd.mail_domain or config.hostname,
        xmit_from_policy=config.xtnd.from_policy,
        xmit_max_recipients=config.xtnd.max_recipients,
        sasl_mechanisms=config.auth.mechanisms,
        apop_available=config.auth.apop_database is not None,
    )
