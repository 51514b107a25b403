"""`cnnlab bench`: a model (zoo or the user's own) timed at batch size 4 on random pixels of the
right shape, under the same protocol as `cnnlab eval` (and with the same LeNet-5 reference),
without a dataset. Compares architectures, engines and devices quickly; the weights are
random, the timing is real."""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import torch

from cnnlab.arithmetic.explain import parse_shape
from cnnlab.data.contract import Preprocessing
from cnnlab.data.datasets import get_spec
from cnnlab.evaluate.onnx_export import export_bytes
from cnnlab.evaluate.predictors import choose_predictor, fixed_threads
from cnnlab.evaluate.reference import reference
from cnnlab.evaluate.speed import SpeedReport, measure
from cnnlab.models.build import build_model, on_engine
from cnnlab.models.engines import engine_of
from cnnlab.models.user import is_user_model
from cnnlab.models.zoo import model_info


@dataclass(frozen=True)
class BenchInput:
    shape: tuple[int, int, int]  # C, H, W
    num_classes: int | None  # None: a network of the user's own that sets its own


def bench_input(model: str, dataset: str | None = None, input_text: str | None = None,
                num_classes: int | None = None) -> BenchInput:
    """The dataset's shape and classes, or --input (CxHxW, HxW or H), or the published ones."""
    if num_classes is not None and num_classes < 1:
        raise ValueError(f"--num-classes must be at least 1, got {num_classes}")
    if dataset is not None and input_text is not None:
        raise ValueError("give either --dataset or --input, not both")
    if dataset is not None:
        spec = get_spec(dataset)
        if num_classes is not None and num_classes != len(spec.classes):
            raise ValueError(f"{dataset} has {len(spec.classes)} classes; drop --num-classes")
        return BenchInput(spec.shape, len(spec.classes))
    if is_user_model(model):
        shape = parse_shape(input_text) if input_text else ()
        if len(shape) != 3:
            raise ValueError(f"give the input of {model} with --dataset, or as --input CxHxW "
                             "(e.g. 3x32x32)")
        return BenchInput(tuple(shape), num_classes)
    info = model_info(model)
    shape = parse_shape(input_text) if input_text else (info.input_size,)
    if len(shape) == 1:
        shape = (info.in_channels, shape[0], shape[0])
    elif len(shape) == 2:
        shape = (info.in_channels, *shape)
    return BenchInput(tuple(shape), num_classes or info.num_classes)


def stand_in_contract(channels: int) -> Preprocessing:
    """Normalisation only shifts the pixels; it changes no timing. This stands in for a
    dataset's, so the timed work includes it as an exported file's does."""
    return Preprocessing("dataset", "random pixels", (0.5,) * channels, (0.25,) * channels)


def bench(model: str, engine: str | None, given: BenchInput, threads: int = 1,
          repeats: int = 3, images: int = 200, seed: int = 0, with_reference: bool = True,
          device: str = "auto", amp: str | None = None) -> SpeedReport:
    """One model on one engine ("torch", "scratch", "onnx"; None: the model's own) and
    device: the speed report, with the reference ratio unless `with_reference` is False
    (which halves the time a slow model takes)."""
    if images < 1:
        raise ValueError(f"images must be positive, got {images}")
    _check_fits_in_memory(images, given.shape)
    contract = stand_in_contract(given.shape[0])
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        net = build_model(model, given.shape, given.num_classes).eval()
    pixels = np.random.default_rng(seed).random((images, *given.shape), dtype=np.float32)
    with fixed_threads(threads):
        predict = choose_predictor(
            engine, contract,
            lambda: on_engine(net, model, given.shape, given.num_classes,
                              engine or engine_of(net)),
            lambda: export_bytes(on_engine(net, model, given.shape, given.num_classes, "torch"),
                                 contract, given.shape)[0],
            threads, device, amp)
        return measure(predict, pixels, engine=predict.name, threads=threads, repeats=repeats,
                       reference=reference(predict.name, threads, predict.device, amp)
                       if with_reference else None)


def _check_fits_in_memory(images: int, shape: tuple[int, ...]) -> None:
    """Refuse before allocating: the random images alone must fit in a quarter of the
    machine's memory (the model's activations and the engines need the rest)."""
    needed = images * int(np.prod(shape)) * 4
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") \
        if hasattr(os, "sysconf") else None
    if total and needed > total / 4:
        raise ValueError(f"{images} random images of {'x'.join(map(str, shape))} take "
                         f"{needed / 2**30:.1f} GiB as float32, more than a quarter of this "
                         f"machine's {total / 2**30:.1f} GiB of memory; give fewer --images "
                         "or a smaller --input")


BENCH_COLUMNS = ("model", "engine", "device", "input", "images/s", "spread", "p50 ms",
                 "p90 ms", "p99 ms", "x lenet5")


def table(rows: list[tuple[str, BenchInput, SpeedReport]]) -> str:
    """The rows as `cnnlab bench` prints them: every column as wide as its longest cell, so a
    long path to a network of one's own neither is cut nor shifts the figures."""
    cells = [BENCH_COLUMNS]
    for model, given, report in rows:
        s = report.summary()
        cells.append((model, s["engine"], str(report.device), "x".join(map(str, given.shape)),
                      f"{s['images_per_second']['median']:.1f}",
                      f"{s['images_per_second']['spread']:.1%}",
                      f"{s['ms_per_batch']['p50']:.3f}", f"{s['ms_per_batch']['p90']:.3f}",
                      f"{s['ms_per_batch']['p99']:.3f}",
                      f"{s['reference']['ratio']:.4f}" if "reference" in s else "-"))
    widths = [max(len(row[i]) for row in cells) for i in range(len(BENCH_COLUMNS))]
    return "".join("  ".join(cell.ljust(width) if i < 4 else cell.rjust(width)
                             for i, (cell, width) in enumerate(zip(row, widths, strict=True)))
                   .rstrip() + "\n" for row in cells)
