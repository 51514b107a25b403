"""Dataset, TensorDataset and DataLoader with torch's names and batching rules.

A DataLoader yields batches of `batch_size` samples, stacked along a new first dimension
(tuples stay tuples, one stacked tensor per field). With `shuffle=True` it draws a new order
every epoch from `generator` (a NumPy Generator) or else from the engine's own generator, so
`scratch.manual_seed(0)` makes the order reproducible, as `torch.manual_seed` does.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import numpy as np

from cnnlab.scratch.random import generator as engine_generator
from cnnlab.scratch.tensor import Tensor


class Dataset:
    """Anything with __getitem__(index) and __len__()."""

    def __getitem__(self, index):
        raise NotImplementedError(f"{type(self).__name__} does not define __getitem__")

    def __len__(self) -> int:
        raise NotImplementedError(f"{type(self).__name__} does not define __len__")


class TensorDataset(Dataset):
    """Samples are rows: dataset[i] is (t[i] for t in tensors)."""

    def __init__(self, *tensors: Tensor):
        if not tensors:
            raise ValueError("TensorDataset: expected at least one tensor")
        tensors = tuple(t if isinstance(t, Tensor) else Tensor(t) for t in tensors)
        sizes = {t.shape[0] if t.ndim else None for t in tensors}
        if len(sizes) != 1 or None in sizes:
            raise ValueError(f"TensorDataset: every tensor needs the same first dimension, got "
                             f"shapes {[t.shape for t in tensors]}")
        self.tensors = tensors

    def __getitem__(self, index):
        return tuple(t[index] for t in self.tensors)

    def __len__(self) -> int:
        return self.tensors[0].shape[0]


def default_collate(samples: Sequence):
    """Stack a list of samples: tensors, arrays and numbers along a new first dimension,
    tuples and dicts field by field (a tuple becomes a list of batches, as in torch)."""
    first = samples[0]
    if isinstance(first, (tuple, list)):
        return [default_collate(list(field)) for field in zip(*samples, strict=True)]
    if isinstance(first, dict):
        return {key: default_collate([s[key] for s in samples]) for key in first}
    if isinstance(first, Tensor):
        return Tensor(np.stack([s.data for s in samples]))
    if isinstance(first, (np.ndarray, np.generic, int, float, bool)):
        return Tensor(np.stack([np.asarray(s) for s in samples]))
    return list(samples)  # strings and other objects stay a list, as in torch


class DataLoader:
    def __init__(self, dataset, batch_size: int | None = 1, shuffle: bool = False,
                 collate_fn: Callable | None = None, drop_last: bool = False,
                 generator: np.random.Generator | None = None, num_workers: int = 0):
        if batch_size is not None and (not isinstance(batch_size, int) or batch_size < 1):
            raise ValueError(f"DataLoader: batch_size must be a positive int, got "
                             f"{batch_size!r}")
        if num_workers:
            raise ValueError("DataLoader: the scratch engine loads in the main process; "
                             "use num_workers=0")
        self.dataset, self.batch_size, self.shuffle = dataset, batch_size, shuffle
        self.drop_last, self.generator = drop_last, generator
        self.collate_fn = collate_fn or default_collate

    def __len__(self) -> int:
        n = len(self.dataset)
        if self.batch_size is None:
            return n
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def _order(self) -> np.ndarray:
        n = len(self.dataset)
        if not self.shuffle:
            return np.arange(n)
        return (self.generator or engine_generator()).permutation(n)

    def __iter__(self) -> Iterator:
        order = self._order()
        if self.batch_size is None:  # torch's rule: samples one by one, not collated
            yield from (self.dataset[int(i)] for i in order)
            return
        for start in range(0, len(order), self.batch_size):
            indices = order[start:start + self.batch_size]
            if self.drop_last and len(indices) < self.batch_size:
                return
            if isinstance(self.dataset, TensorDataset) and self.collate_fn is default_collate:
                # One fancy index per tensor instead of stacking rows one by one.
                yield [Tensor(t.data[indices]) for t in self.dataset.tensors]
            else:
                yield self.collate_fn([self.dataset[int(i)] for i in indices])
