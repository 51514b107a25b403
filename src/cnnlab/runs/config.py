"""A run's configuration: the course's parameters and the usual ones, from defaults, a TOML file
and command-line flags (flags win), validated in one place and saved with the run as
`config.toml`, which every later command reads back."""

from __future__ import annotations

import math
import tomllib
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from cnnlab.data.names import NORMALIZATIONS
from cnnlab.models.engines import DEVICES, OPTIMIZERS
from cnnlab.models.engines import NAMES as ENGINES

SCHEDULES = ("onecycle", "cosine", "step", "none")
AUGMENTATIONS = ("crop", "flip", "cutout")
PRECISIONS = ("bf16", "fp16")


MAX_SEED = 2**32 - 1  # NumPy's legacy seeding and CUDA's generators take 32 bits


@dataclass
class TrainConfig:
    model: str = "lenet5"  # a zoo name, path/to/net.py:Name or package.module:factory
    dataset: str = "fashion-mnist"
    epochs: int = 10
    batch_size: int = 128
    lr: float = 0.003  # the peak of the schedule
    optimizer: str = "adam"
    momentum: float = 0.9
    nesterov: bool = False
    weight_decay: float = 0.0
    dropout: float | None = None  # None: the model's own default
    label_smoothing: float = 0.0
    schedule: str = "onecycle"
    augment: str = ""  # comma-separated: crop, flip, cutout
    train_size: int | None = None  # a class-balanced subset of the training images
    classes: list[int] | None = None  # some of the dataset's classes only, numbered 0, 1, ...
    val_size: int = 5000  # held out of the training set, stratified by class
    seed: int = 0
    # What the model receives: the dataset's normalisation of the [0, 1] pixels, or the pixels
    # themselves. Every consumer of the run (eval, export, report, leaderboard) applies it.
    normalize: str = "dataset"
    engine: str | None = None  # None: torch for a zoo model, a network's own engine otherwise
    device: str = "auto"  # auto, cpu, cuda, cuda:N or mps
    amp: str | None = None  # mixed precision: bf16 or fp16
    out: str | None = None  # the run folder; runs/<model>-<dataset>-<seed> by default
    data_dir: str | None = None
    threads: int | None = None  # CPU threads; None: torch's default (scratch: Engine.on_cores)
    # A network of the user's own: its source file as copied into the run folder, and the
    # sha256 of that copy. Set by `cnnlab train`, not by hand.
    source: str | None = None
    source_sha256: str | None = None
    # The named recipe the run started from (`cnnlab recipes`); a record, set by --recipe.
    recipe: str | None = None
    # Fine-tuning (train/initial.py): the run or weights file the run starts from, and the
    # layers (name prefixes) that stay as loaded
    init: str | None = None
    freeze: list[str] | None = None

    def augmentations(self) -> list[str]:
        return [name for name in self.augment.split(",") if name.strip()]

    def validate(self) -> TrainConfig:
        def positive(name, value, kind=int):
            if not isinstance(value, kind) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"{name} must be a positive {kind.__name__}, got {value!r}")

        positive("epochs", self.epochs)
        positive("batch_size", self.batch_size)
        positive("lr", float(self.lr) if isinstance(self.lr, int) else self.lr, float)
        if not math.isfinite(self.lr):
            raise ValueError(f"lr must be a finite positive number, got {self.lr}")
        if not isinstance(self.seed, int) or isinstance(self.seed, bool) or \
                not 0 <= self.seed <= MAX_SEED:
            raise ValueError(f"seed must be an integer from 0 to {MAX_SEED} (what every "
                             f"engine's generator takes), got {self.seed!r}")
        for name, allowed in (("optimizer", OPTIMIZERS), ("schedule", SCHEDULES),
                              ("normalize", NORMALIZATIONS)):
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {', '.join(allowed)}, got "
                                 f"{getattr(self, name)!r}")
        for name, allowed in (("engine", ENGINES), ("amp", PRECISIONS)):
            if getattr(self, name) is not None and getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {', '.join(allowed)}, got "
                                 f"{getattr(self, name)!r}")
        if not isinstance(self.device, str) or not DEVICES.fullmatch(self.device):
            raise ValueError(f"device must be auto, cpu, cuda, cuda:N or mps, got "
                             f"{self.device!r}")
        unknown = [a for a in self.augmentations() if a not in AUGMENTATIONS]
        if unknown:
            raise ValueError(f"augment: unknown {', '.join(unknown)}; choose from "
                             f"{', '.join(AUGMENTATIONS)} (comma-separated)")
        if not 0 <= self.momentum < 1:
            raise ValueError(f"momentum must be in [0, 1), got {self.momentum}")
        if self.weight_decay < 0:
            raise ValueError(f"weight_decay must be >= 0, got {self.weight_decay}")
        if self.dropout is not None and not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        if not 0 <= self.label_smoothing < 1:
            raise ValueError(f"label_smoothing must be in [0, 1), got {self.label_smoothing}")
        if self.nesterov and (self.optimizer != "sgd" or self.momentum == 0):
            raise ValueError("nesterov needs --optimizer sgd and a momentum above 0")
        if self.classes is not None or self.train_size is not None:
            from cnnlab.data.datasets import get_spec  # (NumPy: `cnnlab --help` stays quick)

            spec = get_spec(self.dataset).only(self.classes)  # an error for classes it lacks
        if self.train_size is not None:
            positive("train_size", self.train_size)
            classes = len(spec.classes)
            if self.train_size < classes:
                raise ValueError(f"train_size {self.train_size} is fewer images than the "
                                 f"{classes} classes of {self.dataset}: some classes could "
                                 "never be learnt")
        if not isinstance(self.val_size, int) or self.val_size < 0:
            raise ValueError(f"val_size must be an integer >= 0, got {self.val_size!r}")
        if self.threads is not None:
            positive("threads", self.threads)
        if self.init is not None and (not isinstance(self.init, str) or not self.init):
            raise ValueError(f"init must name a run folder, a weights file or "
                             f"pretrained:NAME, got {self.init!r}")
        if self.freeze is not None and (not isinstance(self.freeze, list) or not all(
                isinstance(prefix, str) and prefix for prefix in self.freeze)):
            raise ValueError(f"freeze must be a list of layer names, got {self.freeze!r}")
        return self

    def run_dir(self) -> Path:
        if self.out:
            return Path(self.out)
        # net.py:Net names its run after the class, not after the path
        name = self.model.rpartition(":")[2] if ":" in self.model else self.model
        return Path(f"runs/{name}-{self.dataset}-seed{self.seed}")


def read_toml(path: str | Path) -> dict:
    path = Path(path)
    try:
        values = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"config file {path} does not exist") from None
    except UnicodeDecodeError as error:
        raise ValueError(f"{path}: not valid TOML: it is not UTF-8 text (byte {error.start})") \
            from None
    except tomllib.TOMLDecodeError as error:
        raise ValueError(f"{path}: not valid TOML ({error})") from None
    return known_keys(values, str(path))


def known_keys(values: dict, where: str) -> dict:
    """`values` with TOML's dashed keys as TrainConfig's names; an unknown key is an error
    naming `where` it was found and every key there is."""
    known = {f.name for f in fields(TrainConfig)}
    values = {key.replace("-", "_"): value for key, value in values.items()}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {', '.join(unknown)}; known keys: "
                         f"{', '.join(sorted(known))}")
    return values


def resolve(file_values: dict, flag_values: dict) -> TrainConfig:
    """Defaults, then the file, then the flags the user actually gave."""
    merged = {**file_values, **{k: v for k, v in flag_values.items() if v is not None}}
    if isinstance(merged.get("lr"), int):
        merged["lr"] = float(merged["lr"])
    if merged.get("amp") == "none":  # float32, over what a file or a recipe asked for
        merged["amp"] = None
    return TrainConfig(**merged).validate()


def to_toml(config: TrainConfig) -> str:
    """The resolved configuration as TOML (what --config reads back); unset values omitted."""
    return values_to_toml(asdict(config))


def values_to_toml(values: dict) -> str:
    """Configuration values (TrainConfig's names) as TOML lines; None values omitted."""
    def toml(value) -> str:
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, (int, float)):
            return repr(value)
        if isinstance(value, (list, tuple)):  # --freeze's layer names
            return "[" + ", ".join(map(toml, value)) + "]"
        return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'

    return "".join(f"{key} = {toml(value)}\n" for key, value in values.items()
                   if value is not None)


def defaults() -> dict:
    """Every setting's default, for the command's help."""
    return {f.name: f.default for f in fields(TrainConfig)}
