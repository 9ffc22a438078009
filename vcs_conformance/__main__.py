"""``python -m vcs_conformance`` is the CLI."""

import sys

from .cli import main

sys.exit(main())
