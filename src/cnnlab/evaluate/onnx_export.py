"""`cnnlab export`: a torch model to a self-contained .onnx file.

The file takes float32 pixels scaled to [0, 1] (N x C x H x W, any N) and holds the dataset's
normalisation in its graph, so anyone can run it without knowing our preprocessing. Every
export is checked before it is written: the file passes `check_onnx`, and ONNX Runtime's
logits match torch's on random pixels.
"""

from __future__ import annotations

import contextlib
import io
import logging
import warnings
from pathlib import Path

import numpy as np
import torch

from cnnlab.evaluate.predictors import Normalised

INPUT_NAME, OUTPUT_NAME = "pixels", "logits"
# Max abs difference between ONNX Runtime's and torch's logits, for logits of magnitude up to
# 1; larger logits (an untrained deep ResNet's reach 60) scale it, as float32 rounding does.
TOLERANCE = 1e-4


@contextlib.contextmanager
def _quiet_exporter():
    # The exporter logs progress and warns about torchvision operators we never use.
    loggers = [logging.getLogger(name) for name in ("torch.onnx", "onnxscript", "onnx_ir")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # torch's own internals
            yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


def onnx_bytes(wrapped: Normalised, shape: tuple[int, int, int]) -> bytes:
    """The serialised ONNX model of a normalised model, batch dimension dynamic."""
    example = torch.rand(2, *shape)
    batch = torch.export.Dim("batch", min=1, max=1 << 16)
    try:
        with _quiet_exporter(), torch.no_grad():
            program = torch.onnx.export(
                wrapped, (example,), dynamo=True, input_names=[INPUT_NAME],
                output_names=[OUTPUT_NAME], dynamic_shapes=({0: batch},),
                external_data=False, verbose=False)
    except Exception as error:  # the exporter raises many kinds; all mean "cannot trace"
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else ""
        raise ValueError(f"torch.onnx.export could not export "
                         f"{type(wrapped.model).__name__}: "
                         f"{type(error).__name__}: {first_line}") from None
    return program.model_proto.SerializeToString()


def verify_export(wrapped: Normalised, data: bytes, shape, num_classes: int):
    """(the file's OnnxInfo, max abs difference of ONNX Runtime's logits from torch's on
    random pixels, batches of 1 and 4); ValueError when the file fails a check or the logits
    differ beyond TOLERANCE (times the largest logit's magnitude, when above 1)."""
    from cnnlab.evaluate.onnx_check import check_onnx
    from cnnlab.evaluate.predictors import OnnxPredictor

    info = check_onnx(data, shape, num_classes)
    session = OnnxPredictor(data)
    generator = torch.Generator().manual_seed(0)
    worst, scale = 0.0, 1.0
    for batch in (1, 4):
        pixels = torch.rand(batch, *shape, generator=generator)
        with torch.no_grad():
            expected = wrapped(pixels).numpy()
        worst = max(worst, float(np.abs(session(pixels.numpy()) - expected).max()))
        scale = max(scale, float(np.abs(expected).max()))
    if worst > TOLERANCE * scale:
        raise ValueError(f"the exported model disagrees with torch: logits differ by up to "
                         f"{worst:.3g} (allowed {TOLERANCE * scale:.3g} for logits up to "
                         f"{scale:.3g})")
    return info, worst


def export_onnx(model: torch.nn.Module, shape: tuple[int, int, int], mean, std,
                path: str | Path, num_classes: int | None = None):
    """Export, verify, then write `path` atomically; returns (the file's OnnxInfo, the
    logits' max abs difference). Nothing is written unless the file passed every check.
    `num_classes`, when given, is what the model's output must have (the dataset's classes)."""
    from cnnlab.files import write_atomically

    path = Path(path)
    wrapped = Normalised(model, mean, std).eval()
    try:
        with torch.no_grad():
            logits = wrapped(torch.rand(1, *shape))
    except RuntimeError as error:
        first_line = str(error).strip().splitlines()[0]
        raise ValueError(f"{type(model).__name__} does not take input of shape "
                         f"(batch, {', '.join(map(str, shape))}): {first_line}") from None
    if logits.ndim != 2 or (num_classes is not None and logits.shape[1] != num_classes):
        raise ValueError(f"{type(model).__name__} gives logits of shape "
                         f"{tuple(logits.shape)}; expected (batch, "
                         f"{num_classes or 'classes'})")
    num_classes = int(logits.shape[1])
    data = onnx_bytes(wrapped, shape)
    info, difference = verify_export(wrapped, data, shape, num_classes)
    write_atomically(path, data)
    return info, difference


def model_to_export(target: str, dataset: str | None = None, weights: str | None = None):
    """(torch model, dataset spec, what it is) for a run folder, checkpoint, weights file, zoo
    name or the user's own network (`net.py:ClassName`)."""
    from cnnlab.data.datasets import get_spec
    from cnnlab.models.engines import engine_of
    from cnnlab.models.registry import create_model
    from cnnlab.models.user import is_user_model, load_user_model
    from cnnlab.models.weights import load_weights

    if Path(target).exists():
        from cnnlab.evaluate.targets import load_target

        if weights is not None:
            raise ValueError(f"{target} brings its own weights; drop --weights")
        loaded = load_target(target, dataset)
        if loaded.is_onnx:
            raise ValueError(f"{target} is already an ONNX file")
        return loaded.build("torch"), loaded.spec, f"{loaded.config.model} from {target}"
    if dataset is None:
        raise ValueError(f"name the dataset {target} is for with --dataset: it sets the "
                         "input shape, the classes and the normalisation folded into the file")
    spec = get_spec(dataset)
    if is_user_model(target):
        model = load_user_model(target)
        if engine_of(model) != "torch":
            raise ValueError(f"{target} builds a scratch model; ONNX export needs a torch "
                             "nn.Module")
    else:
        model = create_model(target, "torch", num_classes=len(spec.classes),
                             in_channels=spec.shape[0], input_size=spec.shape[1:])
    if weights is not None:
        load_weights(model, weights)
    what = f"{target} with {'weights ' + weights if weights else 'its initial (random) weights'}"
    return model.eval(), spec, what
