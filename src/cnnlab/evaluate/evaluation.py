"""`cnnlab eval`: accuracy over a whole split and speed at batch size 4, in one pass.

The split's logits come from the first timed pass of the speed protocol, so the speed is
measured during validation itself, as the course defines it. Results go to `eval.json`.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cnnlab.arithmetic.table import html_table
from cnnlab.data.contract import unit_pixels
from cnnlab.evaluate.environment import environment
from cnnlab.evaluate.exporting import export_target, run_onnx
from cnnlab.evaluate.metrics import (
    PER_CLASS_COLUMNS,
    ClassificationReport,
    classification_report,
    per_class_cells,
)
from cnnlab.evaluate.onnx_check import check_onnx
from cnnlab.evaluate.predictors import (
    NAMES,
    ONNX,
    choose_predictor,
    fixed_threads,
    predict_all,
)
from cnnlab.evaluate.reference import reference
from cnnlab.evaluate.speed import BATCH_SIZE, SpeedReport, measure
from cnnlab.evaluate.targets import Target, target_splits
from cnnlab.runs import folder as layout

SPLITS = ("val", "test")


@dataclass
class Evaluation:
    target: Target
    split: str
    engine: str
    metrics: ClassificationReport
    speed: SpeedReport | None
    environment: dict

    def as_dict(self) -> dict:
        return {"target": str(self.target.path or self.target.name), "model": self.target.name,
                "dataset": self.target.spec.name, "split": self.split,
                "split_definition": {"val_size": self.target.config.val_size,
                                     "seed": self.target.config.seed},
                "preprocessing": None if self.target.is_onnx else
                self.target.contract.as_dict(),
                "engine": self.engine, "accuracy": self.metrics.as_dict(),
                "speed": self.speed.summary() if self.speed else None,
                "environment": self.environment}

    def text(self) -> str:
        """What `cnnlab eval` prints (and `print(evaluation)`): where and on what it ran,
        the accuracy per class, and the speed at batch size 4 with where it was measured."""
        target, metrics = self.target, self.metrics
        lines = [f"{target.name} on the {target.spec.name} {self.split} split "
                 f"({metrics.images} images), {self.engine} engine on "
                 f"{self.environment['device']}"]
        if not target.is_onnx:
            lines.append(f"the model receives {target.contract.describe()}")
        lines += ["", metrics.text()]
        if self.speed:
            lines += [self.speed.text(), measured_on(self.environment)]
        return "\n".join(lines) + "\n"

    def __repr__(self) -> str:  # a terminal shows the figures, not the weights inside
        return self.text().rstrip("\n")

    def _repr_html_(self) -> str:
        """A notebook's view: the headline figures and the per-class table."""
        metrics = self.metrics
        lines = [f"<p><b>{html.escape(self.target.name)}</b> on the {self.target.spec.name} "
                 f"{self.split} split ({metrics.images:,} images, {self.engine} engine): top-1 "
                 f"<b>{100 * metrics.top1:.2f}%</b>, top-5 {100 * metrics.top5:.2f}%"]
        if self.speed is not None:
            summary = self.speed.summary()
            lines.append(f"; <b>{summary['images_per_second']['median']:,.0f}</b> images/s at "
                         f"batch size 4 on {html.escape(self.environment['device'])} "
                         f"(p50 {summary['ms_per_batch']['p50']:.3f} ms per batch)")
        return "".join(lines) + "</p>" + html_table(
            PER_CLASS_COLUMNS, per_class_cells(metrics.as_dict()["per_class"]),
            numeric=(1, 2, 3, 4))


def measured_on(env: dict) -> str:
    """Where a speed was measured: the device (the CPU's model and logical CPUs), the
    threads and the versions of what ran it."""
    where = env["device_name"] if env.get("device", "cpu") != "cpu" else \
        f"{env['cpu']} ({env['logical_cpus']} logical CPUs)"
    return (f"measured on {where}, {env['threads']} thread{'s' * (env['threads'] > 1)}, "
            + ", ".join(f"{k} {v}" for k, v in env["versions"].items() if v and k != "cnnlab"))


def split_data(target: Target, split: str, data_dir: str | None = None):
    """(uint8 images N x C x H x W, int64 labels) of the split, the validation split drawn as
    training drew it (same size and seed)."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
    splits = target_splits(target, data_dir)
    images, labels = splits.val if split == "val" else splits.test
    if len(images) == 0:
        raise ValueError(f"{target.path or target.name} kept no validation split (val_size 0); "
                         "evaluate with --split test")
    return images, labels


def predictor_for(target: Target, engine: str | None = None, threads: int = 1,
                  device: str = "auto", amp: str | None = None, data_dir: str | None = None):
    """The predictor `cnnlab eval` times: the target's model on `engine` (its own by default;
    "onnx": its exported file) and `device`."""
    if engine not in (None, *NAMES):
        raise ValueError(f"engine must be one of {', '.join(NAMES)}, got {engine!r}")
    if target.is_onnx and engine not in (None, ONNX):
        raise ValueError(f"{target.path} is an ONNX file: evaluate it with --engine onnx")

    def onnx_file():
        if target.is_onnx:
            model = target.path
        elif target.is_run:
            model = run_onnx(target, data_dir)
        else:  # a model named bare: its export, in memory
            model = export_target(target, None, data_dir).data
        check_onnx(model, target.spec.shape, len(target.spec.classes))
        return model

    runtime = ONNX if target.is_onnx else engine
    return choose_predictor(runtime, target.contract, lambda: target.build(engine), onnx_file,
                            threads, device, amp)


def evaluate(target: Target, split: str = "val", engine: str | None = None, threads: int = 1,
             repeats: int = 5, speed: bool = True, data_dir: str | None = None,
             out: str | Path | None = None, device: str = "auto",
             amp: str | None = None) -> Evaluation:
    with fixed_threads(threads):
        predict = predictor_for(target, engine, threads, device, amp, data_dir)
        images, labels = split_data(target, split, data_dir)
        pixels = unit_pixels(images)  # in memory before any timing starts
        outputs: list[np.ndarray] = []
        report = None
        if speed:
            report = measure(predict, pixels, engine=predict.name, threads=threads,
                             repeats=repeats, keep=outputs,
                             reference=reference(predict.name, threads, predict.device, amp))
        else:
            outputs = [predict_all(predict, pixels, BATCH_SIZE)]
    metrics = classification_report(np.concatenate(outputs), labels, target.spec.classes)
    result = Evaluation(target, split, predict.name, metrics, report,
                        environment(predict.name, threads, predict.device))
    layout.write_json(Path(out) if out else target.result_path(), result.as_dict())
    return result

