"""The connection counter behind the total and per-address limits."""

from __future__ import annotations

from pop3d.server.limits import ConnectionLimiter


def test_per_address_limit_refuses_only_that_address():
    limiter = ConnectionLimiter(max_total=10, max_per_address=2)
    assert limiter.acquire("192.0.2.1") is None
    assert limiter.acquire("192.0.2.1") is None
    assert limiter.acquire("192.0.2.1") == "too many connections from your address, try again later"
    assert limiter.acquire("192.0.2.2") is None
    assert limiter.total == 3


def test_total_limit_refuses_everyone():
    limiter = ConnectionLimiter(max_total=2, max_per_address=5)
    assert limiter.acquire("a") is None
    assert limiter.acquire("b") is None
    assert limiter.acquire("c") == "too many connections, try again later"


def test_release_frees_a_slot_and_forgets_idle_addresses():
    limiter = ConnectionLimiter(max_total=1, max_per_address=1)
    assert limiter.acquire("a") is None
    limiter.release("a")
    assert limiter.total == 0 and "a" not in limiter.per_address
    assert limiter.acquire("b") is None


def test_a_refused_connection_is_not_counted():
    limiter = ConnectionLimiter(max_total=None, max_per_address=1)
    limiter.acquire("a")
    for _ in range(5):
        assert limiter.acquire("a") is not None
    limiter.release("a")
    assert limiter.acquire("a") is None


def test_no_limits_by_default():
    limiter = ConnectionLimiter()
    for _ in range(1000):
        assert limiter.acquire("a") is None
