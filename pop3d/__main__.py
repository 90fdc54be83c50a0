"""Allow ``python -m pop3d``."""

import os

if "POP3D_WORKER_PORTS" in os.environ:  # a worker of a supervisor (pop3d.server.workers)
    from pop3d.early_signals import remember_hangups

    remember_hangups()

from pop3d.cli import main  # noqa: E402 (after the signal guard)

raise SystemExit(main())
