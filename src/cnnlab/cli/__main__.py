"""`python -m cnnlab.cli ...` is `cnnlab ...` (the form the leaderboard's worker is started
with)."""

import sys

from cnnlab.cli import main

sys.exit(main())
