"""The model zoo and the user's own networks. Each zoo architecture is defined once, against
an `Engine`, so the same definition builds a torch model (`torch.nn`) or a scratch one
(`cnnlab.scratch.nn`).

`from cnnlab.models import create_model, list_models` loads the zoo when first used, so that
`cnnlab.models.engines` (the engines' names, which the command line offers) stays quick to
import.
"""

import importlib

_API = {"create_model": "cnnlab.models.zoo", "list_models": "cnnlab.models.zoo",
        "model_info": "cnnlab.models.zoo", "register_model": "cnnlab.models.registry"}
__all__ = sorted(_API)


def __getattr__(name: str):
    if name not in _API:
        raise AttributeError(f"module 'cnnlab.models' has no attribute {name!r}")
    return getattr(importlib.import_module(_API[name]), name)
