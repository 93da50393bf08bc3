"""`python -m synthmatch ...` runs the command line."""

import sys

from synthmatch.cli import main

sys.exit(main())
