"""Checkpoints written atomically (temp file, fsync, rename): a crash or Ctrl-C at any moment
leaves either the previous checkpoint or the new one, never half a file. They hold only
tensors, numbers, strings and containers, so `torch.load(weights_only=True)` reads them."""

from __future__ import annotations

import io
import os
import pickle
import tempfile
from pathlib import Path

import torch


def write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=path.parent, prefix=path.name, suffix=".tmp",
                                     delete=False) as handle:
        temporary = handle.name
        try:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        except BaseException:
            os.unlink(temporary)
            raise
    os.replace(temporary, path)
    directory = os.open(path.parent, os.O_RDONLY)  # make the rename itself durable
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


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
        first = str(error).strip().splitlines()[0] if str(error).strip() else ""
        raise ValueError(f"{path} is not a checkpoint torch.load(weights_only=True) accepts: "
                         f"{first}") from None
