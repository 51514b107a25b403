"""Pre-trained networks shipped with cnnlab: weights made by our own recipes on the real data,
each listed in `pretrained.json` with its test accuracy and the command that made it, and
checked by sha256 whenever it is read. Name one as `pretrained:NAME` wherever a run goes:
`cnnlab eval`, `export`, `report`, `viz`, `lab`, and `train --init` to fine-tune from it."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from safetensors import numpy as safetensors_numpy

SCHEME = "pretrained:"
HERE = Path(__file__).parent


@dataclass(frozen=True)
class Pretrained:
    name: str
    model: str  # the zoo model the weights are for
    dataset: str
    normalize: str  # what the model receives (the preprocessing contract)
    file: str  # beside this module
    sha256: str
    test_accuracy: float  # on the dataset's official test set, when the weights were made
    command: str  # what made them

    @property
    def path(self) -> Path:
        return HERE / self.file

    def describe(self) -> str:
        return (f"{SCHEME}{self.name}: {self.model} on {self.dataset}, "
                f"{100 * self.test_accuracy:.2f}% on its test set; made by `{self.command}`")


def catalog() -> dict[str, Pretrained]:
    entries = json.loads((HERE / "pretrained.json").read_text())
    return {entry["name"]: Pretrained(**entry) for entry in entries}


def is_pretrained(text: str) -> bool:
    return str(text).startswith(SCHEME)


def load_pretrained(text: str) -> tuple[Pretrained, dict[str, np.ndarray]]:
    """The entry `pretrained:NAME` names and its weights, the file read once and checked
    against its sha256."""
    name = str(text).removeprefix(SCHEME)
    known = catalog()
    if name not in known:
        raise ValueError(f"{SCHEME}{name}: no such pre-trained network; cnnlab has "
                         f"{', '.join(SCHEME + n for n in known)}")
    entry = known[name]
    if not entry.path.is_file():
        raise FileNotFoundError(f"{entry.path} is missing from this installation of cnnlab; "
                                "reinstall it")
    data = entry.path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if digest != entry.sha256:
        raise ValueError(f"{entry.path} is damaged (sha256 {digest[:12]}, expected "
                         f"{entry.sha256[:12]}); reinstall cnnlab")
    return entry, dict(safetensors_numpy.load(data))
