"""What `cnnlab eval`, `export`, `report` and `viz` are pointed at, resolved in one place:

- a run folder (or its checkpoint, or its model.safetensors): the model, the dataset, the
  preprocessing contract, the split definition and the weights all come from the run, and a
  network of the user's own is rebuilt from the run's copy of its source;
- an .onnx file: pixels in [0, 1] in, whatever its graph holds;
- a model named bare: a zoo name, `path/to/net.py:Name` or `package.module:factory`, with
  `--weights` (or its initial weights), `--dataset` and `--normalize` saying what it receives;
- `pretrained:NAME`, one of the networks cnnlab ships (cnnlab.models.pretrained), which knows
  its model, dataset and contract as a run does.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cnnlab.data import datasets
from cnnlab.data.contract import NORMALIZATIONS, Preprocessing
from cnnlab.data.splits import Splits, run_splits
from cnnlab.models.build import build_model, on_engine
from cnnlab.models.pretrained import is_pretrained, load_pretrained
from cnnlab.models.user import is_user_model
from cnnlab.models.weights import load_state, read_state_dict
from cnnlab.models.zoo import is_zoo_model, model_info
from cnnlab.runs import folder as layout
from cnnlab.runs.checkpoint import load_checkpoint
from cnnlab.runs.config import TrainConfig


@dataclass
class Target:
    kind: str  # "run", "checkpoint", "onnx", "model" or "pretrained"
    path: Path | None  # what was named: a folder or file (None for a bare model name)
    folder: Path | None  # the run folder (None for an .onnx file or a bare model)
    spec: datasets.DatasetSpec
    config: TrainConfig  # model, contract, split definition; defaults for an .onnx file
    weights: dict[str, np.ndarray] | None = None  # None: an .onnx file, or initial weights
    weights_file: Path | None = None
    source: Path | None = None  # the run's copy of the user's network

    @property
    def is_onnx(self) -> bool:
        return self.kind == "onnx"

    @property
    def is_run(self) -> bool:
        return self.folder is not None

    @property
    def name(self) -> str:
        return self.path.name if self.is_onnx else self.config.model

    @property
    def contract(self) -> Preprocessing:
        return Preprocessing.of(self.spec, self.config.normalize)

    def result_path(self) -> Path:
        """Where this target's eval.json goes by default."""
        if self.kind == "pretrained":  # not inside the installed package: here
            return Path(f"{self.name}-{self.spec.name}-{layout.EVALUATION}")
        if self.folder is not None:
            return self.folder / layout.EVALUATION
        if self.path is not None:
            return self.path.parent / layout.EVALUATION
        if self.weights_file is not None:
            return self.weights_file.parent / layout.EVALUATION
        return Path(layout.EVALUATION)

    def build(self, engine: str | None = None):
        """The model with its weights, on its own engine or on `engine` (a zoo model's twin
        there), in evaluation mode."""
        if self.is_onnx:
            raise ValueError(f"{self.path}: an .onnx file has no layers to build; point at the "
                             "run folder it was exported from")
        shape, classes = self.spec.shape, len(self.spec.classes)
        model = build_model(self.config.model, shape, classes, self.config.engine,
                            self.config.dropout, self.source)
        if self.weights is not None:
            load_state(model, self.weights, str(self.weights_file))
        if engine is not None:
            model = on_engine(model, self.config.model, shape, classes, engine,
                              self.config.dropout, self.source)
        return model.eval()


def _dataset(trained: str | None, asked: str | None, what) -> datasets.DatasetSpec:
    if asked is None and trained is None:
        raise ValueError(f"{what}: name the dataset with --dataset (it sets the input shape, "
                         "the classes and the normalisation)")
    spec = datasets.get_spec(asked or trained)
    if trained and asked and asked != trained:
        original = datasets.get_spec(trained)
        if (original.shape, len(original.classes)) != (spec.shape, len(spec.classes)):
            raise ValueError(f"{what} was trained on {trained} ({original.shape}, "
                             f"{len(original.classes)} classes) and cannot run on {asked} "
                             f"({spec.shape}, {len(spec.classes)} classes)")
    return spec


def _same_contract(config: TrainConfig, normalize: str | None, what) -> None:
    if normalize is not None and normalize != config.normalize:
        raise ValueError(f"{what} was trained with --normalize {config.normalize}: its "
                         f"weights expect that input, so --normalize {normalize} cannot apply; "
                         "drop the option")


def _checkpoint(path: Path) -> tuple[TrainConfig, dict[str, np.ndarray]]:
    state = load_checkpoint(path)
    if not isinstance(state, dict) or "config" not in state or "model" not in state:
        raise ValueError(f"{path} is not a cnnlab training checkpoint (it lacks the model or "
                         "its configuration)")
    weights = {k: v.numpy() for k, v in state["model"].items()}
    return TrainConfig(**state["config"]).validate(), weights


def _run_target(path: Path, dataset: str | None, normalize: str | None) -> Target:
    if path.is_dir():
        folder = path
        config = layout.read_config(folder, path)
        kind, weights_file = "run", layout.weights_file(folder)
        if weights_file.name == layout.WEIGHTS:
            layout.check_weights_file(weights_file)
            weights = read_state_dict(weights_file)
        else:  # an unfinished run: its last checkpoint
            weights = _checkpoint(weights_file)[1]
    elif path.suffix == ".safetensors":
        folder, weights_file, kind = path.parent, path, "run"
        layout.check_weights_file(path)
        config, weights = layout.read_config(folder, path), read_state_dict(path)
    else:
        folder, weights_file, kind = path.parent, path, "checkpoint"
        config, weights = _checkpoint(path)
    _same_contract(config, normalize, path)
    spec = _dataset(config.dataset, dataset, path).only(config.classes)
    source = layout.source_copy(folder, config)
    return Target(kind, path, folder, spec, config, weights, weights_file, source)


def _model_target(name: str, dataset: str | None, weights: str | None,
                  normalize: str | None) -> Target:
    if not is_user_model(name):
        model_info(name)  # an unknown name is one clear error, with close matches
    if normalize is None:
        raise ValueError(f"say what {name} receives with --normalize "
                         f"{'|'.join(NORMALIZATIONS)}: the dataset's normalisation of the "
                         "[0, 1] pixels, or the pixels themselves (it must be what the weights "
                         "were trained on)")
    spec = _dataset(None, dataset, name)
    config = TrainConfig(model=name, dataset=spec.name, normalize=normalize).validate()
    arrays = read_state_dict(weights) if weights is not None else None
    return Target("model", None, None, spec, config, arrays,
                  Path(weights) if weights is not None else None)


def _pretrained_target(text: str, dataset: str | None, weights: str | None,
                       normalize: str | None) -> Target:
    entry, arrays = load_pretrained(text)
    if weights is not None:
        raise ValueError(f"{text} brings its own weights; drop --weights")
    config = TrainConfig(model=entry.model, dataset=entry.dataset, normalize=entry.normalize,
                         val_size=0).validate()  # its weights saw the whole training set
    _same_contract(config, normalize, text)
    spec = _dataset(config.dataset, dataset, text)
    return Target("pretrained", None, None, spec, config, arrays, entry.path)


def load_target(target: str | Path, dataset: str | None = None, weights: str | None = None,
                normalize: str | None = None) -> Target:
    """Resolve what a command is pointed at (see the module's docstring)."""
    text = str(target)
    if is_pretrained(text):
        return _pretrained_target(text, dataset, weights, normalize)
    path = Path(text)
    if path.exists():
        if weights is not None:
            raise ValueError(f"{text} brings its own weights; --weights applies to a model "
                             "named bare (a zoo name or path/to/net.py:Name)")
        if path.is_file() and path.suffix.lower() == ".onnx":
            if normalize is not None:
                raise ValueError(f"{path} is an ONNX file: its preprocessing is inside its "
                                 "graph; drop --normalize")
            spec = _dataset(None, dataset, path)
            config = TrainConfig(dataset=spec.name)  # the default split definition
            return Target("onnx", path, None, spec, config)
        return _run_target(path, dataset, normalize)
    if is_user_model(text) or is_zoo_model(text):
        return _model_target(text, dataset, weights, normalize)
    raise FileNotFoundError(f"{text} does not exist (expected a run folder, a checkpoint, an "
                            ".onnx file, a zoo model name, or path/to/net.py:Name)")


def target_splits(target: Target, data_dir: str | None = None) -> Splits:
    """The target's dataset as its run saw it: its own validation split (same size and seed)
    and the whole training set besides, from `data_dir` or where the run found the data."""
    config = target.config
    return run_splits(target.spec.name, config.val_size, config.seed, None,
                      data_dir or config.data_dir, config.classes)
