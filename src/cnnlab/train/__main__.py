"""`python -m cnnlab.train ...` is `cnnlab train ...` (the form torchrun launches)."""

import sys

from cnnlab.cli import main

sys.exit(main(["train", *sys.argv[1:]]))
