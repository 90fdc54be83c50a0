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


def shared_pair(tmp_path, **settings: object):
    """Two throttles on one state folder, as two processes would have them, on one clock."""
    from pop3d import statedb
    from pop3d.server.throttle import SharedFailureThrottle

    clock = Clock()
    first = SharedFailureThrottle(AuthConfig(**settings), str(tmp_path), clock)  # type: ignore[arg-type]
    # A second process has its own connection: open one beside the shared one.
    second = SharedFailureThrottle(AuthConfig(**settings), str(tmp_path), clock)  # type: ignore[arg-type]
    second.db = statedb.StateDatabase(str(tmp_path), "failures.sqlite3", "SELECT 1;")
    return first, second, clock


def test_shared_counts_add_up_across_processes(tmp_path):
    first, second, clock = shared_pair(tmp_path)
    assert first.record_failure("192.0.2.1") == 2
    assert second.record_failure("192.0.2.1") == 4
    assert first.record_failure("192.0.2.1") == 8
    assert second.record_failure("192.0.2.9") == 2
    clock.now += 901  # forget_failures_after (900 s) of quiet
    assert second.record_failure("192.0.2.1") == 2
    rows = dict(first.db.query("SELECT host, count FROM failures"))
    assert rows == {"192.0.2.1": 1}  # the stale 192.0.2.9 was swept out


# -- per client and name (issue 12), per IPv6 /64 (issue 10) ------------------------

def test_one_misconfigured_client_does_not_punish_the_other_names_behind_its_address():
    t, _ = throttle(address_failure_allowance=2)
    assert [t.record_failure("192.0.2.1", "printer") for _ in range(4)] == [2, 4, 8, 15]
    assert t.record_failure("192.0.2.1", "alice") == 8  # the address is 3 past its allowance ...
    t2, _ = throttle(address_failure_allowance=10)
    assert [t2.record_failure("192.0.2.1", "printer") for _ in range(4)] == [2, 4, 8, 15]
    assert t2.record_failure("192.0.2.1", "alice") == 2  # ... but within it, alice starts afresh


def test_guessing_many_names_from_one_address_still_slows_down():
    t, _ = throttle(address_failure_allowance=3)
    delays = [t.record_failure("192.0.2.1", f"user{i}") for i in range(7)]
    assert delays == [2, 2, 2, 2, 4, 8, 15]


def test_a_successful_login_clears_that_names_penalty_from_that_address_only():
    t, _ = throttle(address_failure_allowance=10)
    for _ in range(3):
        t.record_failure("192.0.2.1", "alice")
        t.record_failure("192.0.2.2", "alice")
    t.record_failure("192.0.2.1", "bob")
    t.record_success("192.0.2.1", "alice")
    assert t.failures("192.0.2.1", "alice") == 0 and t.failures("192.0.2.1") == 4  # the total stays
    assert t.failures("192.0.2.2", "alice") == 3
    assert t.record_failure("192.0.2.1", "alice") == 2


def test_rotating_through_an_ipv6_64_keeps_the_delay_growing():
    t, _ = throttle()
    delays = [t.record_failure(f"2001:db8:1:2::{i:x}", "alice") for i in range(1, 5)]
    assert delays == [2, 4, 8, 15]
    assert t.record_failure("2001:db8:1:3::1", "alice") == 2  # another /64 is another client
    wide, _ = throttle(ipv6_prefix=48)
    assert [wide.record_failure(a, "alice") for a in ("2001:db8:1:2::1", "2001:db8:1:3::1")] == [2, 4]


def test_ipv4_mapped_addresses_count_as_the_ipv4_client():
    t, _ = throttle()
    assert t.record_failure("192.0.2.1", "alice") == 2
    assert t.record_failure("::ffff:192.0.2.1", "alice") == 4


def test_shared_counts_per_name_and_success_clears_across_processes(tmp_path):
    first, second, _ = shared_pair(tmp_path, address_failure_allowance=10)
    assert [first.record_failure("192.0.2.1", "alice"), second.record_failure("192.0.2.1", "alice")] == [2, 4]
    assert second.record_failure("192.0.2.1", "bob") == 2
    first.record_success("192.0.2.1", "alice")
    assert second.db.query("SELECT user FROM name_failures WHERE host = '192.0.2.1'") == [("bob",)]
    assert second.record_failure("192.0.2.1", "alice") == 2
    assert second.record_failure("2001:db8::1", "x") == 2 and first.record_failure("2001:db8::2", "x") == 4


def test_shared_throttle_exempts_trusted_networks_and_survives_a_broken_store(tmp_path):
    first, _, _ = shared_pair(tmp_path, trusted_networks=(ipaddress.ip_network("10.0.0.0/8"),))
    assert first.record_failure("10.1.2.3") == 0
    first.db.close()  # every use fails from now on: counted in memory instead
    assert [first.record_failure("192.0.2.1") for _ in range(2)] == [2, 4]


def test_build_throttle_shares_only_between_processes(tmp_path):
    from pop3d.server.throttle import SharedFailureThrottle, build_throttle

    assert type(build_throttle(AuthConfig(), str(tmp_path), False)) is FailureThrottle
    assert isinstance(build_throttle(AuthConfig(), str(tmp_path / "s"), True), SharedFailureThrottle)
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert type(build_throttle(AuthConfig(), str(blocker / "s"), True)) is FailureThrottle
