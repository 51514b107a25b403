"""The scratch engine's random number generator (initialisation and dropout draw from it).

One module-level NumPy Generator, seeded with `manual_seed`, whose state can be saved and
restored so that a resumed training run draws exactly the numbers an uninterrupted one would.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import numpy as np

_generator = np.random.default_rng()


def manual_seed(seed: int) -> np.random.Generator:
    global _generator
    _generator = np.random.default_rng(seed)
    return _generator


def generator() -> np.random.Generator:
    return _generator


def get_rng_state() -> dict:
    return _generator.bit_generator.state


def set_rng_state(state: dict) -> None:
    _generator.bit_generator.state = state


@contextlib.contextmanager
def drawing_from(seed: int) -> Iterator[None]:
    """Draws come from a generator seeded with `seed` for the duration; the one before is back
    afterwards, its state untouched."""
    global _generator
    previous, _generator = _generator, np.random.default_rng(seed)
    try:
        yield
    finally:
        _generator = previous
