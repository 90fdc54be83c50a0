"""``python -m pop3d.report``: the pop3d-stats command."""

import sys

from pop3d.report.cli import main

sys.exit(main())
