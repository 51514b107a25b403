"""cnnlab: a lab for convolutional networks.

From Python (a notebook, a script): `cnnlab.train`, `cnnlab.evaluate`, `cnnlab.shapes`,
`cnnlab.runs` and the figures in `cnnlab.viz` (see cnnlab.api). Nothing heavy is imported
until one of them is used.
"""

import importlib

__version__ = "0.1.0"

# name -> where it lives; the packages among them are callable (cnnlab._callable)
_API = {"train": "cnnlab.train", "evaluate": "cnnlab.evaluate", "runs": "cnnlab.runs",
        "viz": "cnnlab.viz", "shapes": "cnnlab.api"}


def __getattr__(name: str):
    if name not in _API:
        raise AttributeError(f"module 'cnnlab' has no attribute {name!r}")
    module = importlib.import_module(_API[name])
    return getattr(module, name) if name == "shapes" else module


def __dir__() -> list[str]:
    return sorted([*globals(), *_API])
