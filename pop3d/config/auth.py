"""Settings for authentication policy and for the identity the server runs as.

::

    auth:
      failure_delay: 2          # seconds before a failed login is answered ...
      max_failure_delay: 15     # ... doubling per client address up to this
      forget_failures_after: 900
      trusted_networks: [192.0.2.0/24]   # no delay for these clients
      apop_database: /etc/pop3d/mailauth # APOP/CRAM-MD5 secrets (popauth); absent: off
      apop_requires_tls: false

    run_as:                     # standalone: after binding the ports, as root
      user: mail
      group: mail
      groups: [shadow]          # extra groups, e.g. to read /etc/shadow for unix users
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from pop3d.config.reader import Section

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class AuthConfig:
    #: Seconds before a failed login is answered; doubles per repeated failure from one address.
    failure_delay: float = 2.0
    max_failure_delay: float = 15.0
    #: An address's failures are forgotten this many seconds after its last one.
    forget_failures_after: float = 900.0
    #: Client networks exempt from the failure delay.
    trusted_networks: tuple[Network, ...] = ()
    #: The mailauth database of APOP and CRAM-MD5 secrets (None: APOP and CRAM-MD5 off).
    apop_database: str | None = None
    #: APOP (and CRAM-MD5) only over TLS: their MD5 challenge-response is weak against a MITM.
    apop_requires_tls: bool = False


@dataclass(frozen=True)
class RunAs:
    """The unprivileged identity a standalone server switches to after binding."""

    user: str
    group: str | None = None
    groups: tuple[str, ...] = ()


def load_auth(section: Section) -> AuthConfig:
    delay = section.float("failure_delay", AuthConfig.failure_delay, minimum=0)
    cap = section.float("max_failure_delay", max(delay, AuthConfig.max_failure_delay), minimum=0)
    if cap < delay:
        raise section.error("max_failure_delay", f"must be at least failure_delay ({delay:g})")
    networks = []
    for i, text in enumerate(section.str_list("trusted_networks", [])):
        try:
            networks.append(ipaddress.ip_network(text, strict=False))
        except ValueError:
            raise section.error(f"trusted_networks[{i}]", f"is not a network address: {text!r}") from None
    config = AuthConfig(
        failure_delay=delay,
        max_failure_delay=cap,
        forget_failures_after=section.float("forget_failures_after", AuthConfig.forget_failures_after,
                                            minimum=0),
        trusted_networks=tuple(networks),
        apop_database=section.path_("apop_database", None),
        apop_requires_tls=section.bool("apop_requires_tls", False),
    )
    section.finish()
    return config


def load_run_as(section: Section) -> RunAs | None:
    if not section.data:
        return None
    run_as = RunAs(
        user=section.str("user"),
        group=section.str("group", None),
        groups=tuple(section.str_list("groups", [])),
    )
    section.finish()
    return run_as
