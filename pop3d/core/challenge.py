"""The APOP challenge carried in the greeting (RFC 1939 section 7)."""

from __future__ import annotations

import secrets
import time


def make_challenge(hostname: str) -> str:
    """A msg-id style timestamp, unique per connection and unpredictable.

    The random part comes from the OS CSPRNG; the clock part keeps it
    readable in traces.
    """
    return f"<{secrets.token_hex(12)}.{int(time.time())}@{hostname}>"
