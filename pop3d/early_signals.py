"""A worker's first moments: a SIGHUP before the server can reload is remembered, not fatal.

The supervisor passes SIGHUP on to every worker; one that is still starting
would die of it (the default action) and be restarted for nothing.  Set up
before anything else is imported; the worker reloads once its own handlers
are in place if a SIGHUP came meanwhile.
"""

from __future__ import annotations

import signal

hangup_pending = False


def remember_hangups() -> None:
    def handler(signum: int, frame: object) -> None:
        global hangup_pending
        hangup_pending = True

    signal.signal(signal.SIGHUP, handler)
