"""`cnnlab bench`: a zoo model timed at batch size 4 on random pixels of the right shape, under
the same protocol as `cnnlab eval` (and with the same LeNet-5 reference), without a dataset.
Compares architectures and engines quickly; the weights are random, the timing is real."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from cnnlab.evaluate.predictors import ENGINES, fixed_threads, zoo_predictor
from cnnlab.evaluate.speed import SpeedReport, measure

# Normalisation only shifts the pixels; it changes no timing. These stand in without a dataset.
_MEAN, _STD = 0.5, 0.25


@dataclass(frozen=True)
class BenchInput:
    shape: tuple[int, int, int]  # C, H, W
    num_classes: int


def bench_input(model: str, dataset: str | None = None, input_text: str | None = None,
                num_classes: int | None = None) -> BenchInput:
    """The dataset's shape and classes, or --input (CxHxW, HxW or H), or the published ones."""
    from cnnlab.arithmetic.explain import parse_shape
    from cnnlab.models.registry import model_info

    info = model_info(model)
    if dataset is not None and input_text is not None:
        raise ValueError("give either --dataset or --input, not both")
    if dataset is not None:
        from cnnlab.data.datasets import get_spec

        spec = get_spec(dataset)
        if num_classes is not None and num_classes != len(spec.classes):
            raise ValueError(f"{dataset} has {len(spec.classes)} classes; drop --num-classes")
        return BenchInput(spec.shape, len(spec.classes))
    shape = parse_shape(input_text) if input_text else (info.input_size,)
    if len(shape) == 1:
        shape = (info.in_channels, shape[0], shape[0])
    elif len(shape) == 2:
        shape = (info.in_channels, *shape)
    return BenchInput(tuple(shape), num_classes or info.num_classes)


def bench(model: str, engine: str, given: BenchInput, threads: int = 1, repeats: int = 3,
          images: int = 200, seed: int = 0, with_reference: bool = True) -> SpeedReport:
    """One model on one engine: the speed report, with the reference ratio unless
    `with_reference` is False (which halves the time a slow model takes)."""
    from cnnlab.evaluate.reference import reference
    from cnnlab.models.registry import create_model

    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {', '.join(ENGINES)}, got {engine!r}")
    if images < 1:
        raise ValueError(f"images must be positive, got {images}")
    channels = given.shape[0]
    mean, std = (_MEAN,) * channels, (_STD,) * channels
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        net = create_model(model, "torch", num_classes=given.num_classes,
                           in_channels=channels, input_size=given.shape[1:]).eval()
    pixels = np.random.default_rng(seed).random((images, *given.shape), dtype=np.float32)
    with fixed_threads(threads), tempfile.TemporaryDirectory() as export_dir:
        predict = zoo_predictor(model, net, engine, given.shape, given.num_classes, mean, std,
                                threads, Path(export_dir) / f"{model}.onnx")
        return measure(predict, pixels, engine=engine, threads=threads, repeats=repeats,
                       reference=reference(engine, threads) if with_reference else None)


def table(rows: list[tuple[str, BenchInput, SpeedReport]]) -> str:
    header = (f"{'model':<12} {'engine':<8} {'input':<10} {'images/s':>9} {'spread':>7} "
              f"{'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8} {'x lenet5':>9}")
    lines = [header]
    for model, given, report in rows:
        s = report.summary()
        shape = "x".join(map(str, given.shape))
        lines.append(f"{model:<12} {s['engine']:<8} {shape:<10} "
                     f"{s['images_per_second']['median']:>9.1f} "
                     f"{s['images_per_second']['spread']:>7.1%} "
                     f"{s['ms_per_batch']['p50']:>8.3f} {s['ms_per_batch']['p90']:>8.3f} "
                     f"{s['ms_per_batch']['p99']:>8.3f} {s['reference']['ratio']:>9.4f}")
    return "\n".join(lines) + "\n"
