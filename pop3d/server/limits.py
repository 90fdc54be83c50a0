"""Connection limits: how many clients at once, in total and per address.

One busy or hostile address must not crowd out everyone else, and the whole
server must not run out of file descriptors.  "One address" is an IPv4
address or an IPv6 prefix (a /64 by default, see :mod:`pop3d.auth.client_key`),
so rotating through one's own IPv6 network does not get around the limit.  The adapter asks
:meth:`ConnectionLimiter.acquire` when a connection opens and, only if that
admitted it, calls :meth:`ConnectionLimiter.release` when it closes.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

from pop3d.auth.client_key import client_key
from pop3d.config.model import Config


class ConnectionLimiter:
    """Counts open connections; ``None`` as a limit means unlimited."""

    def __init__(self, max_total: int | None = None, max_per_address: int | None = None,
                 key: Callable[[str], str] = client_key) -> None:
        self.max_total = max_total
        self.max_per_address = max_per_address
        #: Maps a client's address to what counts as one address (its IPv6 prefix).
        self.key = key
        self.total = 0
        self.per_address: Counter[str] = Counter()

    def acquire(self, address: str) -> str | None:
        """Count one more connection from ``address``; or say why it is refused."""
        address = self.key(address)
        if self.max_total is not None and self.total >= self.max_total:
            return "too many connections, try again later"
        if self.max_per_address is not None and self.per_address[address] >= self.max_per_address:
            return "too many connections from your address, try again later"
        self.total += 1
        self.per_address[address] += 1
        return None

    def release(self, address: str) -> None:
        """A connection that :meth:`acquire` admitted has closed."""
        address = self.key(address)
        self.total -= 1
        self.per_address[address] -= 1
        if self.per_address[address] <= 0:
            del self.per_address[address]


def limiter_for(config: Config) -> ConnectionLimiter:
    """The limiter for the configured ``limits.max_connections*`` and ``auth.ipv6_prefix``."""
    prefix = config.auth.ipv6_prefix
    return ConnectionLimiter(config.limits.max_connections, config.limits.max_connections_per_address,
                             lambda address: client_key(address, prefix))
