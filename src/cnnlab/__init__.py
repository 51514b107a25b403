"""cnnlab: a lab for convolutional networks.

From Python (a notebook, a script) the commands are functions (cnnlab.api): `cnnlab.train`,
`cnnlab.evaluate`, `cnnlab.export`, `cnnlab.shapes`, `cnnlab.runs`, and the figures in
`cnnlab.viz`. Nothing heavy is imported until one of them is used.

`train`, `evaluate` and `runs` are also packages (`cnnlab.train.loop` is the training loop).
A package's attribute cannot stay a function: importing a subpackage sets it to the module. So
this front door makes those three modules callable, each calling the API function of its name;
the packages themselves know nothing of the API above them.
"""

import importlib
import types

__version__ = "0.1.0"

_API = "cnnlab.api"
_FUNCTIONS = ("export", "shapes")  # the API's functions that are not packages
_PACKAGES = ("viz",)  # imported when first named
_COMMAND_PACKAGES = ("cnnlab.train", "cnnlab.evaluate", "cnnlab.runs")


class _CommandPackage(types.ModuleType):
    """A package that is also the API function of its name."""

    def __call__(self, *args, **kwargs):
        function = self.__name__.rpartition(".")[2]
        return getattr(importlib.import_module(_API), function)(*args, **kwargs)


for _package in _COMMAND_PACKAGES:  # their __init__ files hold docstrings only: quick
    importlib.import_module(_package).__class__ = _CommandPackage


def __getattr__(name: str):
    if name in _FUNCTIONS:
        return getattr(importlib.import_module(_API), name)
    if name in _PACKAGES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module 'cnnlab' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_FUNCTIONS, *_PACKAGES])
