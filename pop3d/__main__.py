"""Allow ``python -m pop3d``."""

from pop3d.cli import main

raise SystemExit(main())
