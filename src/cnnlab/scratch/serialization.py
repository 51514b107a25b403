"""`save` and `load` for state_dicts, in the safetensors format (never pickle).

`torch.save(model.state_dict(), path)` pickles, and unpickling a file runs whatever code it
names. The scratch engine writes and reads safetensors instead: a header and raw arrays, which
torch's `safetensors.torch.load_file` reads too, so weights move between the engines as files.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Mapping

import numpy as np

from cnnlab.files import write_atomically
from cnnlab.scratch.tensor import Tensor


def save(obj: Mapping, f) -> None:
    """Write a mapping of names to tensors or arrays (a state_dict) to the path `f`."""
    from safetensors.numpy import save as to_bytes

    if not isinstance(obj, Mapping):
        raise TypeError(
            f"save: expected a mapping of names to tensors (model.state_dict()), got "
            f"{type(obj).__name__}; the scratch engine saves state_dicts, not whole objects")
    arrays = {}
    for name, value in obj.items():
        array = value.data if isinstance(value, Tensor) else value
        if not isinstance(name, str) or not isinstance(array, (np.ndarray, np.generic)):
            raise TypeError(f"save: {name!r} holds {type(value).__name__}; only tensors and "
                            "NumPy arrays can be saved")
        arrays[name] = np.require(array, requirements="C")  # keeps a 0-d array 0-d
    write_atomically(os.fspath(f), to_bytes(arrays))


def load(f, map_location=None, weights_only=None) -> OrderedDict[str, Tensor]:
    """Read a file `save` wrote (or any safetensors file) as an OrderedDict of tensors.

    `map_location` and `weights_only` are accepted for torch compatibility: the scratch
    engine has one device, and a safetensors file holds only weights.
    """
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    path = os.fspath(f)
    try:
        arrays = load_file(path)
    except FileNotFoundError:
        raise FileNotFoundError(f"load: no file at {path}") from None
    except (SafetensorError, ValueError) as error:
        raise ValueError(f"load: {path} is not a safetensors file ({error}); the scratch "
                         "engine reads files written by scratch.save or safetensors") from None
    return OrderedDict((name, Tensor(array)) for name, array in arrays.items())
