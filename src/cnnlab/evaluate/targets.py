"""What `cnnlab eval` and `cnnlab export` are pointed at: a run folder, a checkpoint, a weights
file inside a run folder, or an .onnx file. Each resolves to a dataset and, for the first
three, the training configuration and weights to rebuild the model on any engine."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cnnlab.data import datasets
from cnnlab.train.config import TrainConfig, read_toml
from cnnlab.train.loop import CHECKPOINT, CONFIG

WEIGHTS = "model.safetensors"
ONNX = "model.onnx"


@dataclass
class Target:
    path: Path
    folder: Path  # where eval.json goes
    spec: datasets.DatasetSpec
    config: TrainConfig  # for an .onnx file: the defaults (they define the val split)
    weights: dict[str, np.ndarray] | None = None  # None for an .onnx file
    weights_file: Path | None = None

    @property
    def is_onnx(self) -> bool:
        return self.weights is None

    @property
    def name(self) -> str:
        return self.path.name if self.is_onnx else self.config.model

    def build(self, engine: str):
        """The trained model on "torch" or "scratch", weights loaded and checked."""
        from cnnlab.models.weights import load_state
        from cnnlab.train.backends import build_model

        model = build_model(self.config, engine, len(self.spec.classes), self.spec.shape)
        load_state(model, self.weights, str(self.weights_file))
        return model.eval()

    def onnx_file(self) -> Path:
        """The .onnx file: the target itself, or the run's export (made when missing or older
        than the weights)."""
        if self.is_onnx:
            return self.path
        path = self.folder / ONNX
        if not path.is_file() or path.stat().st_mtime < self.weights_file.stat().st_mtime:
            from cnnlab.evaluate.onnx_export import export_onnx

            export_onnx(self.build("torch"), self.spec.shape, self.spec.mean, self.spec.std,
                        path)
        return path


def _config_in(folder: Path, what: Path) -> TrainConfig:
    if not (folder / CONFIG).is_file():
        raise ValueError(f"{what} has no {CONFIG} beside it to say which model and dataset it "
                         "is; point at the run folder that `cnnlab train --out` made")
    return TrainConfig(**read_toml(folder / CONFIG)).validate()


def _checkpoint_weights(path: Path) -> tuple[TrainConfig, dict[str, np.ndarray]]:
    from cnnlab.train.checkpoint import load_checkpoint

    state = load_checkpoint(path)
    if not isinstance(state, dict) or "config" not in state or "model" not in state:
        raise ValueError(f"{path} is not a cnnlab training checkpoint (it lacks the model or "
                         "its configuration)")
    weights = {k: v.numpy() for k, v in state["model"].items()}
    return TrainConfig(**state["config"]).validate(), weights


def _dataset(config_dataset: str | None, asked: str | None, what: Path):
    if asked is None and config_dataset is None:
        raise ValueError(f"{what}: name the dataset to evaluate on with --dataset")
    spec = datasets.get_spec(asked or config_dataset)
    if config_dataset and asked and asked != config_dataset:
        trained = datasets.get_spec(config_dataset)
        if (trained.shape, len(trained.classes)) != (spec.shape, len(spec.classes)):
            raise ValueError(f"{what} was trained on {config_dataset} ({trained.shape}, "
                             f"{len(trained.classes)} classes) and cannot run on {asked} "
                             f"({spec.shape}, {len(spec.classes)} classes)")
    return spec


def load_target(target: str | Path, dataset: str | None = None) -> Target:
    path = Path(target)
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist (expected a run folder, a checkpoint "
                                "or an .onnx file)")
    if path.is_file() and path.suffix == ".onnx":
        config = TrainConfig(dataset=dataset or TrainConfig.dataset)
        return Target(path, path.parent, _dataset(None, dataset, path), config)
    if path.is_dir():
        folder = path
        config = _config_in(folder, path)
        if (folder / WEIGHTS).is_file():
            from cnnlab.models.weights import read_state_dict

            weights_file, weights = folder / WEIGHTS, read_state_dict(folder / WEIGHTS)
        elif (folder / CHECKPOINT).is_file():  # an unfinished run: its last checkpoint
            weights_file = folder / CHECKPOINT
            weights = _checkpoint_weights(weights_file)[1]
        else:
            raise ValueError(f"{path} holds neither {WEIGHTS} nor {CHECKPOINT}; is it a run "
                             "folder?")
    elif path.suffix == ".safetensors":
        from cnnlab.models.weights import read_state_dict

        folder, weights_file = path.parent, path
        config, weights = _config_in(folder, path), read_state_dict(path)
    else:
        folder, weights_file = path.parent, path
        config, weights = _checkpoint_weights(path)
    spec = _dataset(config.dataset, dataset, path)
    return Target(path, folder, spec, config, weights, weights_file)
