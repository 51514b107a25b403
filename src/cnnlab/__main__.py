"""`python -m cnnlab ...` is `cnnlab ...`: the one entry point besides the console script, the
form torchrun launches (`torchrun --nproc_per_node=2 -m cnnlab train ...`) and the one the
leaderboard starts its worker with."""

import sys

from cnnlab.cli import main

sys.exit(main())
