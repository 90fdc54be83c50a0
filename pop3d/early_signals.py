"""A worker's first moments: a SIGHUP before the server can reload is remembered, not fatal.

The supervisor passes SIGHUP on to every worker; one that is still starting
would die of it (the default action) and be restarted for nothing.  So the
supervisor spawns workers with SIGHUP blocked (:func:`hangups_blocked`: the
signal mask survives fork and exec, so a SIGHUP stays pending), and the
worker, before anything else is imported, installs a handler that only
remembers it and then unblocks it.  The worker reloads once its own
handlers are in place if a SIGHUP came meanwhile.
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator

hangup_pending = False


def remember_hangups() -> None:
    def handler(signum: int, frame: object) -> None:
        global hangup_pending
        hangup_pending = True

    signal.signal(signal.SIGHUP, handler)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGHUP})


@contextlib.contextmanager
def hangups_blocked() -> Iterator[None]:
    """SIGHUP held pending in this thread, and in the processes it starts meanwhile."""
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGHUP})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)
