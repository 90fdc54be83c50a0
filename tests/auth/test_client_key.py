"""Which clients count as one: IPv4 addresses, IPv6 prefixes (issue 10)."""

from __future__ import annotations

from pop3d.auth.client_key import client_key
from pop3d.server.limits import ConnectionLimiter


def test_ipv4_is_the_address_and_ipv6_its_64():
    assert client_key("192.0.2.1") == "192.0.2.1"
    assert client_key("::ffff:192.0.2.1") == "192.0.2.1"
    assert client_key("2001:db8:1:2:aaaa::1") == client_key("2001:db8:1:2:ffff::9") == "2001:db8:1:2::/64"
    assert client_key("2001:db8:1:3::1") != client_key("2001:db8:1:2::1")
    assert client_key("2001:db8:1:3::1", 48) == client_key("2001:db8:1:2::1", 48) == "2001:db8:1::/48"
    assert client_key("fe80::1%eth0") == "fe80::/64"
    assert client_key("::1") != client_key("127.0.0.1")
    assert client_key(None) == "?" and client_key("not-an-address") == "not-an-address"


def test_per_address_connection_limit_counts_an_ipv6_64_as_one_address():
    limiter = ConnectionLimiter(max_total=100, max_per_address=2)
    assert limiter.acquire("2001:db8::1") is None and limiter.acquire("2001:db8::2") is None
    assert limiter.acquire("2001:db8::3") == "too many connections from your address, try again later"
    assert limiter.acquire("2001:db8:0:1::1") is None  # another /64
    limiter.release("2001:db8::2")
    assert limiter.acquire("2001:db8::ffff") is None
