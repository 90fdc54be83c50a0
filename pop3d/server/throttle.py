"""Slow down password guessing: delay every failed login, more for repeat offenders.

Each failed attempt from a client address is answered only after a delay:
``failure_delay`` seconds for the first, doubling for each further failure
from that address, up to ``max_failure_delay``.  An address's record is
forgotten ``forget_failures_after`` seconds after its last failure.  Trusted
networks get no delay.  The delay is counted from the moment the
credentials arrived, so a quick "unknown user" and a slow hash check both
answer at the same instant; the adapter waits with ``callLater``, never by
blocking the reactor.
"""

from __future__ import annotations

import ipaddress
import time
from collections import OrderedDict
from collections.abc import Callable

from pop3d.config.auth import AuthConfig

#: Addresses remembered at once; the stalest is dropped beyond this.
MAX_TRACKED = 50_000


class FailureThrottle:
    def __init__(self, config: AuthConfig, clock: Callable[[], float] = time.monotonic,
                 max_tracked: int = MAX_TRACKED) -> None:
        self.config = config
        self.clock = clock
        self.max_tracked = max_tracked
        #: address -> (failures, time of the last one), oldest first.
        self._failures: OrderedDict[str, tuple[int, float]] = OrderedDict()

    def trusted(self, host: str | None) -> bool:
        if host is None or not self.config.trusted_networks:
            return False
        try:
            address = ipaddress.ip_address(host.split("%", 1)[0])
        except ValueError:
            return False
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        return any(address in network for network in self.config.trusted_networks)

    def failures(self, host: str) -> int:
        """Failures remembered for ``host`` now."""
        entry = self._failures.get(host)
        if entry is None:
            return 0
        count, last = entry
        if self.clock() - last > self.config.forget_failures_after:
            del self._failures[host]
            return 0
        return count

    def record_failure(self, host: str | None) -> float:
        """Note a failed login from ``host``; return the seconds its answer must wait."""
        if self.trusted(host):
            return 0.0
        key = host or "?"
        count = self.failures(key) + 1
        self._failures[key] = (count, self.clock())
        self._failures.move_to_end(key)
        while len(self._failures) > self.max_tracked:
            self._failures.popitem(last=False)
        base, cap = self.config.failure_delay, self.config.max_failure_delay
        return min(base * 2 ** min(count - 1, 32), cap)
