"""CIFAR-10's official python version: `cifar-10-python.tar.gz`, holding pickled batches.

The batches are pickles, and a pickle can run code; they are read with an unpickler that only
rebuilds NumPy arrays and plain containers, so a doctored archive fails instead of executing.
"""

from __future__ import annotations

import importlib
import io
import pickle
import tarfile
from pathlib import Path

import numpy as np

ARCHIVE = "cifar-10-python.tar.gz"
FOLDER = "cifar-10-batches-py"
BATCHES = {"train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"]}
_ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
            ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode")}


class _ArraysOnly(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if (module, name) not in _ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a CIFAR batch")
        if module.startswith("numpy.core"):  # NumPy 2 moved numpy.core to numpy._core
            module = "numpy._core" + module[len("numpy.core"):]
        return getattr(importlib.import_module(module), name)


def _read_batch(raw: bytes, where: str) -> tuple[np.ndarray, np.ndarray]:
    try:
        batch = _ArraysOnly(io.BytesIO(raw), encoding="bytes").load()
        data, labels = batch[b"data"], batch[b"labels"]
    except (pickle.UnpicklingError, EOFError, KeyError, TypeError, ValueError) as error:
        raise ValueError(f"{where}: not a CIFAR-10 batch ({error})") from None
    data = np.asarray(data, dtype=np.uint8)
    labels = np.asarray(labels, dtype=np.int64)
    if data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or len(labels) != len(data):
        raise ValueError(f"{where}: expected (N, 3072) pixels and N labels, got {data.shape} "
                         f"and {labels.shape}")
    return data.reshape(-1, 3, 32, 32), labels


def read_split(archive: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """(uint8 images (N, 3, 32, 32), int64 labels (N,)) of `split` from the archive."""
    images, labels = [], []
    try:
        with tarfile.open(archive, "r:gz") as tar:
            for name in BATCHES[split]:
                member = tar.getmember(f"{FOLDER}/{name}")
                handle = tar.extractfile(member)
                if handle is None:
                    raise ValueError(f"{archive}: {FOLDER}/{name} is not a file")
                batch_images, batch_labels = _read_batch(handle.read(), f"{archive}:{name}")
                images.append(batch_images)
                labels.append(batch_labels)
    except (tarfile.TarError, EOFError, OSError) as error:
        raise ValueError(f"{archive}: cannot be read as a tar.gz archive ({error})") from None
    except KeyError as error:
        raise ValueError(f"{archive}: no {error} in the archive") from None
    return np.concatenate(images), np.concatenate(labels)
