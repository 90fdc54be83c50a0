import sys

from pop3d.migrate.cli import main

sys.exit(main())
