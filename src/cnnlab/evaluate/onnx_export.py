"""`cnnlab export`: a torch model to a self-contained .onnx file.

The file takes float32 pixels scaled to [0, 1] (N x C x H x W, any N) and holds the model's
preprocessing contract in its graph (the dataset's normalisation, or none), so anyone can run
it without knowing our preprocessing; the contract is also written in the file's metadata.
Every export is checked before it is written: the file passes `check_onnx`, and ONNX
Runtime's logits match torch's on random pixels. (`exporting.py` adds the check on real
images.)
"""

from __future__ import annotations

import contextlib
import io
import logging
import warnings
from pathlib import Path

import numpy as np
import torch

from cnnlab.data.contract import Preprocessing
from cnnlab.errors import first_line
from cnnlab.evaluate.predictors import OnnxPredictor
from cnnlab.files import write_atomically

INPUT_NAME, OUTPUT_NAME = "pixels", "logits"
# Max abs difference between ONNX Runtime's and torch's logits, for logits of magnitude up to
# 1; larger logits (an untrained deep ResNet's reach 60) scale it, as float32 rounding does.
TOLERANCE = 1e-4


class Normalised(torch.nn.Module):
    """`model` behind its contract: float32 pixels in [0, 1] in, logits out. What `cnnlab
    export` writes to ONNX; for "none" the graph holds no normalisation at all."""

    def __init__(self, model: torch.nn.Module, contract: Preprocessing):
        super().__init__()
        self.model = model
        self.contract = contract
        mean, std = contract.arrays()
        self.register_buffer("mean", torch.from_numpy(mean))
        self.register_buffer("std", torch.from_numpy(std))

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.model(self.contract.normalised(pixels, (self.mean, self.std)))


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


def onnx_bytes(wrapped: Normalised, shape: tuple[int, int, int],
               metadata: dict[str, str] | None = None) -> bytes:
    """The serialised ONNX model of a model behind its contract, batch dimension dynamic."""
    example = torch.rand(2, *shape)
    batch = torch.export.Dim("batch", min=1, max=1 << 16)
    try:
        with _quiet_exporter(), torch.no_grad():
            program = torch.onnx.export(
                wrapped, (example,), dynamo=True, input_names=[INPUT_NAME],
                output_names=[OUTPUT_NAME], dynamic_shapes=({0: batch},),
                external_data=False, verbose=False)
    except Exception as error:  # the exporter raises many kinds; all mean "cannot trace"
        raise ValueError(f"torch.onnx.export could not export "
                         f"{type(wrapped.model).__name__}: "
                         f"{type(error).__name__}: {first_line(error)}") from None
    proto = program.model_proto
    for key, value in (metadata or {}).items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    return proto.SerializeToString()


def contract_metadata(contract: Preprocessing) -> dict[str, str]:
    """What the file's metadata says about its input (read back by `file_contract`)."""
    described = {"cnnlab.normalize": contract.normalize, "cnnlab.dataset": contract.dataset}
    if not contract.is_identity:
        described["cnnlab.mean"] = ",".join(map(str, contract.mean))
        described["cnnlab.std"] = ",".join(map(str, contract.std))
    return described


def file_contract(path: str | Path) -> dict[str, str]:
    """The cnnlab.* metadata of an .onnx file ({} for a file cnnlab did not write)."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    return {entry.key: entry.value for entry in model.metadata_props
            if entry.key.startswith("cnnlab.")}


def verify_export(wrapped: Normalised, data: bytes, shape, num_classes: int):
    """(the file's OnnxInfo, max abs difference of ONNX Runtime's logits from torch's on
    random pixels, batches of 1 and 4); ValueError when the file fails a check or the logits
    differ beyond TOLERANCE (times the largest logit's magnitude, when above 1)."""
    from cnnlab.evaluate.onnx_check import check_onnx

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


def export_bytes(model: torch.nn.Module, contract: Preprocessing,
                 shape: tuple[int, int, int], num_classes: int | None = None):
    """(the file's bytes, its OnnxInfo, the logits' max abs difference from torch's), checked
    but not written. `num_classes`, when given, is what the model's output must have."""
    wrapped = Normalised(model, contract).eval()
    try:
        with torch.no_grad():
            logits = wrapped(torch.rand(1, *shape))
    except RuntimeError as error:
        raise ValueError(f"{type(model).__name__} does not take input of shape "
                         f"(batch, {', '.join(map(str, shape))}): {first_line(error)}") from None
    if logits.ndim != 2 or (num_classes is not None and logits.shape[1] != num_classes):
        raise ValueError(f"{type(model).__name__} gives logits of shape "
                         f"{tuple(logits.shape)}; expected (batch, "
                         f"{num_classes or 'classes'})")
    num_classes = int(logits.shape[1])
    data = onnx_bytes(wrapped, shape, contract_metadata(contract))
    info, difference = verify_export(wrapped, data, shape, num_classes)
    return data, info, difference


def export_onnx(model: torch.nn.Module, contract: Preprocessing, shape: tuple[int, int, int],
                path: str | Path, num_classes: int | None = None):
    """Export, verify, then write `path` atomically; returns (the file's OnnxInfo, the
    logits' max abs difference). Nothing is written unless the file passed every check."""
    data, info, difference = export_bytes(model, contract, shape, num_classes)
    write_atomically(Path(path), data)
    return info, difference
