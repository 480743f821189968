"""``python -m osim`` is the ``osim`` command."""

import sys

from osim.cli import main

sys.exit(main())
