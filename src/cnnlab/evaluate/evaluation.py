"""`cnnlab eval`: accuracy over a whole split and speed at batch size 4, in one pass.

The split's logits come from the first timed pass of the speed protocol, so the speed is
measured during validation itself, as the course defines it. Results go to `eval.json`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from cnnlab.evaluate.environment import environment
from cnnlab.evaluate.metrics import ClassificationReport, classification_report
from cnnlab.evaluate.predictors import ENGINES, fixed_threads, make_predictor
from cnnlab.evaluate.speed import SpeedReport, measure, to_batches
from cnnlab.evaluate.targets import Target

SPLITS = ("val", "test")
RESULT = "eval.json"


@dataclass
class Evaluation:
    target: Target
    split: str
    engine: str
    metrics: ClassificationReport
    speed: SpeedReport | None
    environment: dict

    def as_dict(self) -> dict:
        return {"target": str(self.target.path), "model": self.target.name,
                "dataset": self.target.spec.name, "split": self.split,
                "split_definition": {"val_size": self.target.config.val_size,
                                     "seed": self.target.config.seed},
                "engine": self.engine, "accuracy": self.metrics.as_dict(),
                "speed": self.speed.summary() if self.speed else None,
                "environment": self.environment}


def split_data(target: Target, split: str, data_dir: str | None = None):
    """(uint8 images N x C x H x W, int64 labels) of the split, the validation split drawn as
    training drew it (same size and seed)."""
    from cnnlab.train.loop import prepare_data

    if split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
    config = replace(target.config, dataset=target.spec.name, train_size=None,
                     data_dir=data_dir or target.config.data_dir)
    data = prepare_data(config)
    images, labels = data.val if split == "val" else data.test
    if len(images) == 0:
        raise ValueError(f"{target.path} kept no validation split (val_size 0); evaluate "
                         "with --split test")
    return images.numpy(), labels.numpy()


def predictor_for(target: Target, engine: str, threads: int):
    from cnnlab.evaluate.onnx_check import check_onnx
    from cnnlab.evaluate.predictors import OnnxPredictor

    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {', '.join(ENGINES)}, got {engine!r}")
    if engine == "onnx":
        path = target.onnx_file()
        check_onnx(path, target.spec.shape, len(target.spec.classes))
        return OnnxPredictor(path, threads)
    if target.is_onnx:
        raise ValueError(f"{target.path} is an ONNX file: evaluate it with --engine onnx")
    spec = target.spec
    return make_predictor(target.build(engine), engine, spec.mean, spec.std)


def evaluate(target: Target, split: str = "val", engine: str = "torch", threads: int = 1,
             repeats: int = 5, speed: bool = True, data_dir: str | None = None,
             out: str | Path | None = None) -> Evaluation:
    from cnnlab.evaluate.reference import reference
    from cnnlab.files import write_atomically

    with fixed_threads(threads):
        predict = predictor_for(target, engine, threads)
        images, labels = split_data(target, split, data_dir)
        pixels = images.astype(np.float32) / 255.0  # in memory before any timing starts
        outputs: list[np.ndarray] = []
        report = None
        if speed:
            report = measure(predict, pixels, engine=engine, threads=threads, repeats=repeats,
                             reference=reference(engine, threads), keep=outputs)
        else:
            outputs = [predict(batch) for batch in to_batches(pixels)]
    metrics = classification_report(np.concatenate(outputs), labels, target.spec.classes)
    result = Evaluation(target, split, engine, metrics, report, environment(engine, threads))
    path = Path(out) if out else target.folder / RESULT
    write_atomically(path, (json.dumps(result.as_dict(), indent=2) + "\n").encode())
    return result
