"""Named training recipes: TOML files beside this module, each a `cnnlab train` configuration
(its [train] table has the keys of --config) and the record it was built to reach ([recipe]:
the target, the hardware it holds on, what was measured). `cnnlab train --recipe NAME` starts
from one (flags still win); `cnnlab recipes` lists them; benchmarks/time_to_accuracy.py reruns
them on several seeds and times the whole command.

Recipes are tuned on the validation split only, never on the test set; the one number a
recipe promises is its test accuracy, measured after tuning, on seeds it was not tuned on too.
"""

from __future__ import annotations

import difflib
import tomllib
from dataclasses import dataclass
from importlib import resources

from cnnlab.runs.config import known_keys

_RECIPE_KEYS = {"summary": str, "target_accuracy": float, "budget_seconds": (int, float),
                "hardware": str, "dataset": str, "measured": str}


@dataclass(frozen=True)
class Recipe:
    name: str
    summary: str  # one line: what it trains and how
    target_accuracy: float  # on the dataset's official test set, every seed
    budget_seconds: float  # the whole `cnnlab train` command, start to exit
    hardware: str  # where the budget holds, e.g. "2 CPU cores"
    dataset: str
    measured: str  # what the benchmark printed when the recipe was made
    train: dict  # the `cnnlab train` configuration, TrainConfig's names

    def target(self) -> str:
        return (f">= {self.target_accuracy:.0%} on the {self.dataset} test set in "
                f"{_duration(self.budget_seconds)} ({self.hardware})")

    def configuration(self) -> dict:
        """What `cnnlab train --recipe NAME` starts from, the recipe's name recorded."""
        return {**self.train, "recipe": self.name}


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:g} s"
    return f"{seconds / 60:g} min"


def names() -> list[str]:
    return sorted(entry.name.removesuffix(".toml") for entry in resources.files(__name__)
                  .iterdir() if entry.name.endswith(".toml"))


def load(name: str) -> Recipe:
    """The recipe called `name`; an unknown name says which exist."""
    known = names()
    if name not in known:
        close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise ValueError(f"unknown recipe {name!r}{hint} (the recipes: {', '.join(known)}; "
                         "see cnnlab recipes)")
    return parse(name, resources.files(__name__).joinpath(f"{name}.toml").read_text())


def parse(name: str, text: str) -> Recipe:
    """A recipe from its TOML text; a missing or mistyped field is named."""
    where = f"recipe {name}"
    try:
        values = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ValueError(f"{where}: not valid TOML ({error})") from None
    extra = sorted(set(values) - {"recipe", "train"})
    if extra or not isinstance(values.get("recipe"), dict) or \
            not isinstance(values.get("train"), dict):
        raise ValueError(f"{where}: expected a [recipe] and a [train] table and nothing else"
                         + (f" (found {', '.join(extra)})" if extra else ""))
    record = values["recipe"]
    for key, kind in _RECIPE_KEYS.items():
        if not isinstance(record.get(key), kind) or isinstance(record.get(key), bool):
            raise ValueError(f"{where}: [recipe] needs {key} ({_kind_name(kind)}), got "
                             f"{record.get(key)!r}")
    unknown = sorted(set(record) - set(_RECIPE_KEYS))
    if unknown:
        raise ValueError(f"{where}: [recipe] has unknown key(s) {', '.join(unknown)}; known: "
                         f"{', '.join(_RECIPE_KEYS)}")
    train = known_keys(values["train"], f"{where} [train]")
    if "recipe" in train:
        raise ValueError(f"{where}: [train] must not set recipe (the file's name is)")
    if train.get("dataset", record["dataset"]) != record["dataset"]:
        raise ValueError(f"{where}: [recipe] dataset {record['dataset']!r} but [train] trains "
                         f"on {train['dataset']!r}")
    if not 0 < record["target_accuracy"] <= 1:
        raise ValueError(f"{where}: target_accuracy is a fraction in (0, 1], got "
                         f"{record['target_accuracy']}")
    if record["budget_seconds"] <= 0:
        raise ValueError(f"{where}: budget_seconds must be positive")
    return Recipe(name=name, train={"dataset": record["dataset"], **train},
                  budget_seconds=float(record["budget_seconds"]),
                  **{k: v for k, v in record.items() if k != "budget_seconds"})


def _kind_name(kind) -> str:
    return "a number" if isinstance(kind, tuple) else f"a {kind.__name__}"
