"""Which clients count as one: an IPv4 address, or an IPv6 network of ``ipv6_prefix`` bits.

Anyone given an IPv6 /64 can rotate through 2**64 addresses, so counting per
exact IPv6 address would let a guesser start afresh with every connection.
The failure delays and the per-address connection limit therefore count per
IPv4 address and per IPv6 prefix (a /64 by default).  An IPv4-mapped IPv6
address (``::ffff:192.0.2.1``) is the IPv4 client it names.
"""

from __future__ import annotations

import ipaddress

#: The prefix one IPv6 client is assumed to hold (RFC 6177: a site gets at least a /64).
DEFAULT_IPV6_PREFIX = 64
#: Where the address is not known (a UNIX socket, a test transport).
UNKNOWN = "?"


def client_key(host: str | None, ipv6_prefix: int = DEFAULT_IPV6_PREFIX) -> str:
    """``192.0.2.1`` for IPv4; ``2001:db8:1:2::/64`` for any address in that IPv6 /64."""
    if not host:
        return UNKNOWN
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return host
    if isinstance(address, ipaddress.IPv4Address):
        return str(address)
    if address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return str(ipaddress.IPv6Network((address, ipv6_prefix), strict=False))
