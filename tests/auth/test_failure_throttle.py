"""The failure delay: doubling per address, capped, forgotten, trusted networks exempt."""

from __future__ import annotations

import ipaddress

from pop3d.config.auth import AuthConfig
from pop3d.server.throttle import FailureThrottle


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def throttle(**settings: object) -> tuple[FailureThrottle, Clock]:
    clock = Clock()
    return FailureThrottle(AuthConfig(**settings), clock), clock  # type: ignore[arg-type]


def test_delay_doubles_per_address_up_to_the_cap():
    t, _ = throttle()
    assert [t.record_failure("192.0.2.1") for _ in range(6)] == [2, 4, 8, 15, 15, 15]
    assert t.record_failure("192.0.2.2") == 2  # another address starts afresh


def test_failures_are_forgotten_after_a_quiet_while():
    t, clock = throttle(forget_failures_after=60)
    t.record_failure("192.0.2.1")
    t.record_failure("192.0.2.1")
    clock.now += 61
    assert t.failures("192.0.2.1") == 0
    assert t.record_failure("192.0.2.1") == 2


def test_trusted_networks_get_no_delay():
    nets = (ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("2001:db8::/32"))
    t, _ = throttle(trusted_networks=nets)
    assert t.record_failure("10.1.2.3") == 0
    assert t.record_failure("::ffff:10.1.2.3") == 0
    assert t.record_failure("2001:db8::1") == 0
    assert t.record_failure("192.0.2.1") == 2
    assert t.record_failure(None) == 2


def test_memory_is_bounded():
    t = FailureThrottle(AuthConfig(), Clock(), max_tracked=3)
    for i in range(10):
        t.record_failure(f"192.0.2.{i}")
    assert len(t._failures) == 3 and t.failures("192.0.2.9") == 1 and t.failures("192.0.2.0") == 0
