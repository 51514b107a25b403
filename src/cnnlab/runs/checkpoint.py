"""Checkpoints written atomically (temp file, fsync, rename): a crash or Ctrl-C at any moment
leaves either the previous checkpoint or the new one, never half a file. They hold only
tensors, numbers, strings and containers, so `torch.load(weights_only=True)` reads them."""

from __future__ import annotations

import io
import pickle
from pathlib import Path

import torch

from cnnlab.errors import first_line
from cnnlab.files import write_atomically


def save_checkpoint(path: Path, state: dict) -> None:
    buffer = io.BytesIO()
    torch.save(state, buffer)
    write_atomically(path, buffer.getvalue())


def load_checkpoint(path: Path) -> dict:
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError) as error:
        raise ValueError(f"{path} is not a checkpoint torch.load(weights_only=True) accepts: "
                         f"{first_line(error)}") from None
