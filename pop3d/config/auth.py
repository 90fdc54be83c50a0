"""Settings for authentication policy and for the identity the server runs as.

::

    auth:
      failure_delay: 2          # seconds before a failed login is answered ...
      max_failure_delay: 15     # ... doubling per user name and client up to this
      address_failure_allowance: 10   # failures of a client, all names, before they count too
      forget_failures_after: 900
      ipv6_prefix: 64           # an IPv6 client is its /64 (delays, connection limit)
      trusted_networks: [192.0.2.0/24]   # no delay for these clients
      max_secret_length: 1024   # longer passwords fail like wrong ones, never hashed
      hash_threads: 4           # threads checking passwords (and PAM), apart from maildrop work
      mechanisms: [PLAIN, LOGIN]          # SASL mechanisms offered (CRAM-MD5 if listed)
      apop_database: /etc/pop3d/mailauth # APOP/CRAM-MD5 secrets (popauth); absent: off
      apop_without_tls: loopback          # APOP/CRAM-MD5 in the clear: loopback | always | never

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

#: The SASL mechanisms pop3d implements (pop3d.core.commands.sasl).
SASL_MECHANISMS = ("PLAIN", "LOGIN", "CRAM-MD5")
#: Those that need a shared secret from the mailauth database, as APOP does.
SHARED_SECRET_MECHANISMS = frozenset({"CRAM-MD5"})
#: Where a setting allows something only over TLS: "always", "loopback" (127.0.0.0/8, ::1) or "never".
WITHOUT_TLS_CHOICES = ("always", "loopback", "never")


@dataclass(frozen=True)
class AuthConfig:
    #: Seconds before a failed login is answered; doubles per repeated failure of a name from a client.
    failure_delay: float = 2.0
    max_failure_delay: float = 15.0
    #: Failures from one client, all user names together, before they lengthen the delay too.
    address_failure_allowance: int = 10
    #: A client's failures are forgotten this many seconds after its last one.
    forget_failures_after: float = 900.0
    #: Bits of an IPv6 address that make one client (for failure delays and connection limits).
    ipv6_prefix: int = 64
    #: Client networks exempt from the failure delay.
    trusted_networks: tuple[Network, ...] = ()
    #: Longest password checked, in octets; longer ones fail like a wrong one, without hashing.
    max_secret_length: int = 1024
    #: Threads checking passwords (crypt, PAM), apart from the threads opening maildrops.
    hash_threads: int = 4
    #: SASL mechanisms offered, in this order.
    mechanisms: tuple[str, ...] = ("PLAIN", "LOGIN")
    #: The mailauth database of APOP and CRAM-MD5 secrets (None: APOP and CRAM-MD5 off).
    apop_database: str | None = None
    #: Where APOP and CRAM-MD5 work without TLS (a captured digest can be attacked offline).
    apop_without_tls: str = "loopback"


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
    apop_database = section.path_("apop_database", None)
    config = AuthConfig(
        failure_delay=delay,
        max_failure_delay=cap,
        address_failure_allowance=section.int("address_failure_allowance",
                                              AuthConfig.address_failure_allowance, minimum=0),
        forget_failures_after=section.float("forget_failures_after", AuthConfig.forget_failures_after,
                                            minimum=0),
        ipv6_prefix=section.int("ipv6_prefix", AuthConfig.ipv6_prefix, minimum=16, maximum=128),
        trusted_networks=tuple(networks),
        max_secret_length=section.int("max_secret_length", AuthConfig.max_secret_length,
                                      minimum=64, maximum=65536),
        hash_threads=section.int("hash_threads", AuthConfig.hash_threads, minimum=1, maximum=64),
        mechanisms=load_mechanisms(section, apop_database),
        apop_database=apop_database,
        apop_without_tls=section.str("apop_without_tls", AuthConfig.apop_without_tls,
                                     choices=WITHOUT_TLS_CHOICES),
    )
    section.finish()
    return config


def load_mechanisms(section: Section, apop_database: str | None) -> tuple[str, ...]:
    """``mechanisms``: SASL names pop3d implements, each once; CRAM-MD5 needs ``apop_database``."""
    names = [name.upper() for name in section.str_list("mechanisms", list(AuthConfig.mechanisms))]
    for i, name in enumerate(names):
        if name not in SASL_MECHANISMS:
            raise section.error(f"mechanisms[{i}]", f"must be one of {', '.join(SASL_MECHANISMS)}, "
                                                    f"not {name!r}")
        if name in SHARED_SECRET_MECHANISMS and apop_database is None:
            raise section.error(f"mechanisms[{i}]", f"{name} needs apop_database (its secrets)")
    return tuple(dict.fromkeys(names))


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
