"""``python -m puppet``: the same as the ``puppet`` command."""

import sys

from puppet.cli import main

sys.exit(main())
