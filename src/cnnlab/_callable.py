"""Packages that are also the function of the same name: `cnnlab.train(...)` trains,
`cnnlab.evaluate(...)` evaluates, `cnnlab.runs(...)` compares runs, while `cnnlab.train.loop`
and the rest stay importable as they are.

A package attribute cannot be a function once its subpackage is imported (the import system
sets `cnnlab.train` to the module), so the module itself is made callable. The function is
imported on the first call, which keeps the package as quick to import as it was: `cnnlab
submit` must start without torch.
"""

from __future__ import annotations

import importlib
import sys
import types


def make_callable(package: str, function: str) -> None:
    """Make the module `package` call `function` ("module:name") when called."""
    module_name, _, name = function.partition(":")

    class CallablePackage(types.ModuleType):
        def __call__(self, *args, **kwargs):
            return getattr(importlib.import_module(module_name), name)(*args, **kwargs)

    CallablePackage.__call__.__doc__ = f"Calls {function}; see its docstring."
    sys.modules[package].__class__ = CallablePackage
