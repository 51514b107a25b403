"""One calling convention for every engine: float32 pixels scaled to [0, 1], shape (N, C, H, W),
in; float32 logits out. The dataset's normalisation happens inside, as in an exported .onnx
file, so every engine's timing covers the same work."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch

ENGINES = ("torch", "onnx", "scratch")


class Normalised(torch.nn.Module):
    """`model` behind the dataset's normalisation: what `cnnlab export` writes to ONNX."""

    def __init__(self, model: torch.nn.Module, mean, std):
        super().__init__()
        self.model = model
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1))

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.model((pixels - self.mean) / self.std)


class TorchPredictor:
    engine = "torch"

    def __init__(self, model: torch.nn.Module, mean, std):
        self.module = Normalised(model, mean, std).eval()

    def __call__(self, pixels: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return self.module(torch.from_numpy(pixels)).numpy()


class ScratchPredictor:
    engine = "scratch"

    def __init__(self, model, mean, std):
        self.model = model.eval()
        self.mean = np.asarray(mean, dtype=np.float32).reshape(1, -1, 1, 1)
        self.std = np.asarray(std, dtype=np.float32).reshape(1, -1, 1, 1)

    def __call__(self, pixels: np.ndarray) -> np.ndarray:
        import cnnlab.scratch as scratch

        with scratch.no_grad():
            return self.model(scratch.tensor((pixels - self.mean) / self.std)).data


class OnnxPredictor:
    """An .onnx file (or its bytes) run by ONNX Runtime on the CPU with a fixed thread
    count. Check the file with `onnx_check.check_onnx` first: this class trusts it."""

    engine = "onnx"

    def __init__(self, model: str | Path | bytes, threads: int = 1):
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
        options.log_severity_level = 3  # errors only: no optimiser chatter on stderr
        source = model if isinstance(model, bytes) else str(model)
        self.session = onnxruntime.InferenceSession(source, options,
                                                    providers=["CPUExecutionProvider"])
        self.input = self.session.get_inputs()[0].name
        self.outputs = [self.session.get_outputs()[0].name]

    def __call__(self, pixels: np.ndarray) -> np.ndarray:
        return self.session.run(self.outputs, {self.input: pixels})[0]


def make_predictor(model, engine: str, mean, std, threads: int = 1,
                   onnx_path: str | Path | None = None):
    """A predictor for a model built on `engine`; for "onnx", the exported file."""
    if engine == "torch":
        return TorchPredictor(model, mean, std)
    if engine == "scratch":
        return ScratchPredictor(model, mean, std)
    if engine == "onnx":
        return OnnxPredictor(onnx_path, threads)
    raise ValueError(f"engine must be one of {', '.join(ENGINES)}, got {engine!r}")


def zoo_predictor(name: str, net: torch.nn.Module, engine: str, shape: tuple[int, int, int],
                  num_classes: int, mean, std, threads: int = 1,
                  onnx_path: str | Path | None = None):
    """A predictor for zoo model `name` with the weights of `net` (its torch build) on
    `engine`: `net` itself, its scratch twin, or the file `onnx_path` (exported when absent)."""
    if engine == "scratch":
        from cnnlab.models.registry import create_model
        from cnnlab.models.weights import load_state

        twin = create_model(name, "scratch", num_classes=num_classes, in_channels=shape[0],
                            input_size=shape[1:])
        load_state(twin, {k: v.numpy() for k, v in net.state_dict().items()}, name)
        net = twin
    elif engine == "onnx" and not Path(onnx_path).is_file():
        from cnnlab.evaluate.onnx_export import export_onnx

        export_onnx(net, shape, mean, std, onnx_path, num_classes)
    return make_predictor(net, engine, mean, std, threads, onnx_path)


@contextlib.contextmanager
def fixed_threads(threads: int) -> Iterator[None]:
    """torch's intra-op threads and the BLAS threads NumPy uses (the scratch engine), for the
    duration; ONNX Runtime takes its count per session (OnnxPredictor)."""
    from threadpoolctl import threadpool_limits

    if not isinstance(threads, int) or isinstance(threads, bool) or threads < 1:
        raise ValueError(f"threads must be a positive integer, got {threads!r}")
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with threadpool_limits(limits=threads):
            yield
    finally:
        torch.set_num_threads(previous)
