"""Loading state-dict files into zoo models, torchvision's included.

Files are read without unpickling arbitrary objects: `.safetensors`, or anything else through
`torch.load(weights_only=True)`. Every key and shape is checked before one value is copied, so a
mismatch leaves the model untouched and the error lists the offending keys.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from cnnlab.models.engines import engine_of
from cnnlab.torch_files import load_torch_file

# Batch norm's step counter: torchvision's older weight files do not have it, torch fills it.
OPTIONAL_SUFFIXES = ("num_batches_tracked",)
_SHOWN = 8


def read_state_dict(path: str | Path) -> dict[str, np.ndarray]:
    """The file's tensors by name, as NumPy arrays."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"weights file {path} does not exist")
    if path.suffix == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.numpy import load_file

        try:
            return dict(load_file(str(path)))
        except (SafetensorError, OSError, ValueError) as error:
            raise ValueError(f"{path} is not a readable safetensors file: {error}") from None
    import torch

    state = load_torch_file(path, "a state-dict file")
    for wrapper in ("state_dict", "model"):  # a training checkpoint that holds the weights
        if isinstance(state, dict) and isinstance(state.get(wrapper), dict):
            state = state[wrapper]
    if not isinstance(state, dict) or not all(
            isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()):
        raise ValueError(f"{path} does not hold a state dict (a mapping of names to tensors)")
    return {key: value.detach().cpu().numpy() for key, value in state.items()}


def _listed(keys: list[str]) -> str:
    more = f" and {len(keys) - _SHOWN} more" if len(keys) > _SHOWN else ""
    return ", ".join(keys[:_SHOWN]) + more


def check_state_dict(expected: dict[str, tuple[int, ...]], given: dict[str, np.ndarray],
                     source: str) -> None:
    """Raise ValueError naming every missing, unexpected or misshapen key."""
    missing = [k for k in expected if k not in given and not k.endswith(OPTIONAL_SUFFIXES)]
    unexpected = [k for k in given if k not in expected]
    misshapen = [f"{k} (model {tuple(expected[k])}, file {tuple(given[k].shape)})"
                 for k in given if k in expected and tuple(given[k].shape) != tuple(expected[k])]
    problems = []
    if missing:
        problems.append(f"{len(missing)} missing: {_listed(missing)}")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected: {_listed(unexpected)}")
    if misshapen:
        problems.append(f"{len(misshapen)} with a different shape: {_listed(misshapen)}")
    if problems:
        raise ValueError(f"{source} does not fit the model; keys " + "; ".join(problems))


def load_weights(model, path: str | Path) -> None:
    load_state(model, read_state_dict(path), str(path))


def load_state(model, state: dict[str, np.ndarray], source: str) -> None:
    """Copy `state` (NumPy arrays by name) into `model`, on either engine, after checking
    every key and shape; `source` names where the state came from in errors."""
    own = model.state_dict()
    check_state_dict({k: tuple(v.shape) for k, v in own.items()}, state, source)
    engine_of(model).load_weights(model, state)
