"""Checkpoints written atomically (temp file, fsync, rename): a crash or Ctrl-C at any moment
leaves either the previous checkpoint or the new one, never half a file. They hold only
tensors, numbers, strings and containers, so `torch.load(weights_only=True)` reads them."""

from __future__ import annotations

import io
from pathlib import Path

import torch

from cnnlab.runs.folder import check_weights_file, write_weights_file
from cnnlab.torch_files import load_torch_file


def save_checkpoint(path: Path, state: dict) -> None:
    buffer = io.BytesIO()
    torch.save(state, buffer)
    write_weights_file(path, buffer.getvalue())


def load_checkpoint(path: Path) -> dict:
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    check_weights_file(path)
    state = load_torch_file(path, "a checkpoint")
    if not isinstance(state, dict):
        raise ValueError(f"{path} is not a checkpoint: it holds a {type(state).__name__}, not "
                         "the mapping `cnnlab train` writes")
    return state
