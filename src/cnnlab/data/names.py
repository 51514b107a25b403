"""The names the command line offers for data, defined once and quick to import (no NumPy, so
`cnnlab --help` and `cnnlab submit` start at once)."""

DATASETS = ("fashion-mnist", "mnist", "cifar10")  # cnnlab.data.datasets has a spec for each
NORMALIZATIONS = ("dataset", "none")  # what a model receives: cnnlab.data.contract
