"""The APOP challenge carried in the greeting (RFC 1939 section 7)."""

from __future__ import annotations

import secrets
import time

#: Decimal digits of the random part: 29 digits carry 96 bits, as many as 24 hex digits did.
RANDOM_DIGITS = 29


def make_challenge(hostname: str) -> str:
    """A msg-id style timestamp, unique per connection and unpredictable.

    The random part comes from the OS CSPRNG; the clock part keeps it
    readable in traces.  Both parts are decimal, ``<digits.digits@host>``
    as RFC 1939's example and most servers write it: nmap's generic pop3
    rule wants exactly that shape, and without it ``nmap -sV`` takes the
    greeting for another service (Nagios NSCA, for some host-name lengths).
    """
    random_part = str(secrets.randbelow(10**RANDOM_DIGITS)).zfill(RANDOM_DIGITS)
    return f"<{random_part}.{int(time.time())}@{hostname}>"
