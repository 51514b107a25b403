"""One calling convention for every engine: float32 pixels scaled to [0, 1], shape (N, C, H, W),
in; float32 logits out. The model's preprocessing contract is applied inside, as in an exported
.onnx file, so every engine's timing covers the same work.

A predictor has four parts, so the speed protocol can keep transfers and waiting apart from
the work it times: `prepare` puts a batch where the model runs (a GPU's memory), calling the
predictor runs the model, `synchronize` waits for the device to finish, `numpy` brings the
logits back.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import torch
from threadpoolctl import threadpool_limits

from cnnlab.data.contract import Preprocessing
from cnnlab.models.engines import ONNX, RUNTIMES, engine_of

NAMES = RUNTIMES  # what --engine takes


class ModelPredictor:
    """A torch or scratch model behind its preprocessing contract, on `device`."""

    def __init__(self, model, contract: Preprocessing, device: torch.device | None = None,
                 amp: str | None = None):
        self.engine = engine_of(model)
        self.device = device or torch.device("cpu")
        self.amp = amp
        self.model = self.engine.prepare(model, self.device).eval()
        self.contract = contract
        # the statistics placed on the device once, not at every batch
        self.statistics = tuple(self.engine.tensor(array, self.device)
                                for array in contract.arrays())
        self.engine.check_amp(self.device, amp)

    @property
    def name(self) -> str:
        return self.engine.name

    def prepare(self, pixels: np.ndarray):
        return self.engine.tensor(pixels, self.device)

    def __call__(self, batch):
        with self.engine.inference(), self.engine.autocast(self.device, self.amp):
            return self.model(self.contract.normalised(batch, self.statistics))

    def synchronize(self) -> None:
        self.engine.synchronize(self.device)

    def numpy(self, output) -> np.ndarray:
        return self.engine.numpy(output)


class OnnxPredictor:
    """An .onnx file (or its bytes) run by ONNX Runtime on the CPU with a fixed thread
    count. Check the file with `onnx_check.check_onnx` first: this class trusts it."""

    name = ONNX
    device = torch.device("cpu")

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

    def prepare(self, pixels: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(pixels, dtype=np.float32)

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        return self.session.run(self.outputs, {self.input: batch})[0]

    def synchronize(self) -> None:
        pass

    def numpy(self, output: np.ndarray) -> np.ndarray:
        return output


class Plain:
    """A bare function of pixels, as a predictor (a test's model, a simulated clock's)."""

    device = torch.device("cpu")

    def __init__(self, predict):
        self.predict = predict

    def prepare(self, pixels):
        return pixels

    def __call__(self, batch):
        return self.predict(batch)

    def synchronize(self) -> None:
        pass

    def numpy(self, output):
        return output


def as_predictor(predict):
    return predict if hasattr(predict, "prepare") else Plain(predict)


def choose_predictor(runtime: str | None, contract: Preprocessing, model: Callable[[], object],
                     onnx_file: Callable[[], str | Path | bytes], threads: int = 1,
                     device: str = "auto", amp: str | None = None):
    """The predictor every timed command runs: on `runtime` "onnx", ONNX Runtime on the file
    `onnx_file()` gives (checked by it); otherwise `model()` (built on the engine asked, or
    its own for None) behind `contract` on `device`, with `amp`. Only what is chosen is built."""
    if runtime not in (None, *NAMES):
        raise ValueError(f"engine must be one of {', '.join(NAMES)}, got {runtime!r}")
    if runtime == ONNX:
        onnx_device(device)
        if amp is not None:
            raise ValueError("--amp applies to torch models; an ONNX file runs as it is")
        return OnnxPredictor(onnx_file(), threads)
    built = model()
    return ModelPredictor(built, contract, engine_of(built).device(device), amp)


def onnx_device(device: str) -> None:
    """ONNX Runtime runs here on the CPU; refuse any other device by name."""
    if device not in ("auto", "cpu"):
        raise ValueError(f"--device {device}: ONNX Runtime runs on the CPU here "
                         "(CPUExecutionProvider); use --device cpu (or auto)")


def predict_all(predictor, pixels: np.ndarray, batch_size: int = 500) -> np.ndarray:
    """The logits of every image, in batches (no timing)."""
    predictor = as_predictor(predictor)
    outputs = [predictor.numpy(predictor(predictor.prepare(pixels[start:start + batch_size])))
               for start in range(0, len(pixels), batch_size)]
    return np.concatenate(outputs) if outputs else np.empty((0, 0), np.float32)


@contextlib.contextmanager
def fixed_threads(threads: int) -> Iterator[None]:
    """torch's intra-op threads and the BLAS threads NumPy uses (the scratch engine), for the
    duration; ONNX Runtime takes its count per session (OnnxPredictor)."""

    if not isinstance(threads, int) or isinstance(threads, bool) or threads < 1:
        raise ValueError(f"threads must be a positive integer, got {threads!r}")
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with threadpool_limits(limits=threads):
            yield
    finally:
        torch.set_num_threads(previous)
