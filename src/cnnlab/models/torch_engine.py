"""The torch engine: torch.nn models on the CPU, a CUDA GPU or Apple's MPS, with mixed
precision, fused optimizers and channels-last layouts where they help."""

from __future__ import annotations

import contextlib
import os
import platform

import numpy as np
import torch
from torch.overrides import TorchFunctionMode

from cnnlab.models.engine import DEVICES, Engine, optimizer


class TorchEngine(Engine):
    name, lib, nn = "torch", torch, torch.nn
    distributable = True  # trains in several processes under torchrun

    # ------------------------------------------------------------ devices
    def device(self, asked: str = "auto", local_rank: int | None = None) -> torch.device:
        """The device `asked` names (auto: a CUDA GPU, else Apple's MPS, else the CPU); under
        torchrun (`local_rank` given) each rank takes the GPU of its LOCAL_RANK."""
        if not DEVICES.fullmatch(asked):
            raise ValueError(f"unknown device {asked!r}; expected auto, cpu, cuda, cuda:N or "
                             "mps")
        if asked == "auto":
            if torch.cuda.is_available():
                asked = "cuda"
            elif torch.backends.mps.is_available():
                asked = "mps"
            else:
                return torch.device("cpu")
        if asked == "cpu":
            return torch.device("cpu")
        if asked == "mps":
            if not torch.backends.mps.is_available():
                raise ValueError("--device mps: Apple's Metal (MPS) backend is not available "
                                 "here; use --device cpu, or auto to take whatever is there")
            return torch.device("mps")
        return _cuda_device(asked, local_rank)

    def device_name(self, device: torch.device) -> str | None:
        return accelerator_name(device)

    def synchronize(self, device: torch.device) -> None:
        """Wait for the device's queued work: GPU kernels run asynchronously, so a clock read
        without this would time the launch, not the work."""
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        elif device.type == "mps":
            torch.mps.synchronize()

    # ------------------------------------------------------------ arrays in and out
    def tensor(self, array: np.ndarray, device: torch.device) -> torch.Tensor:
        # ravel and reshape give every axis its row-major stride (NumPy may keep any stride on
        # an axis of size 1, and torch would read such an image batch as channels-last)
        array = np.ascontiguousarray(array)
        return torch.from_numpy(array.reshape(-1).reshape(array.shape)).to(device)

    def numpy(self, value: torch.Tensor) -> np.ndarray:
        value = value.detach().cpu()
        return (value.float() if value.dtype in (torch.float16, torch.bfloat16) else
                value).numpy()

    def inputs(self, x: torch.Tensor, channels_last: bool = False) -> torch.Tensor:
        return x.contiguous(memory_format=torch.channels_last) if channels_last else x

    def targets(self, y: torch.Tensor) -> torch.Tensor:
        return y

    def to_torch(self, value: torch.Tensor) -> torch.Tensor:
        return value.float()

    def no_grad(self):
        # not inference mode: a module that creates its parameters in its first forward
        # (nn.LazyLinear) would create tensors that can never train
        return torch.no_grad()

    def inference(self):
        """For a model that will only ever predict (the timed predictor): a little faster."""
        return torch.inference_mode()

    def observe_ops(self, observer):
        """Call `observer(output, inputs, (name, args, kwargs))` after every torch function a
        forward pass calls (not the ones those call): how one capture sees F.relu, x.view and
        residual sums. What it returns, when not None, replaces the output."""
        return _FollowOps(observer)

    def autocast(self, device: torch.device, amp: str | None):
        """Mixed precision for the forward pass and the loss (`amp` bf16 or fp16)."""
        if amp is None:
            return contextlib.nullcontext()
        return torch.autocast(device.type, dtype=_PRECISIONS[amp])

    def amp_warning(self, device: torch.device, amp: str | None) -> str | None:
        if device.type != "cpu" or amp != "bf16" or native_cpu_bf16():
            return None
        return ("note: this CPU has no bf16 instructions (AVX-512 BF16 or AMX), so oneDNN "
                "emulates bf16, slower than float32 (2x with AVX-512 alone, 8x with AVX2, "
                "measured training fastcnn24): add --amp none to train in float32")

    # ------------------------------------------------------------ training
    def prepare(self, model: torch.nn.Module, device: torch.device,
                channels_last: bool = False) -> torch.nn.Module:
        # Channels-last feature maps take oneDNN's faster convolution and pooling paths on the
        # CPU (a LeNet-5 epoch went from 5.6 s to 4.9 s, benchmarks/epoch_vs_tutorial.py) and
        # the tensor cores' on a GPU. Only for the zoo: a network of the user's own may call
        # `.view()` on a feature map, which needs the NCHW layout.
        if channels_last and device.type in ("cpu", "cuda"):
            return model.to(device=device, memory_format=torch.channels_last)
        return model.to(device)

    def optimizer(self, kind: str, params, lr: float, momentum: float, nesterov: bool,
                  weight_decay: float, device: torch.device):
        # One kernel per step for all parameters instead of ~10 small ops per tensor (Adam's
        # step on LeNet-5: 0.2 ms instead of 0.9 ms), where torch has it. Same formulas.
        fused = {"fused": True} if device.type in ("cpu", "cuda") else {}
        return optimizer(torch.optim, kind, params, lr, momentum, nesterov, weight_decay,
                          **fused)

    def grad_scaler(self, device: torch.device, amp: str | None):
        """fp16 needs its loss scaled so small gradients do not underflow; bf16 does not."""
        return torch.amp.GradScaler(device.type, enabled=amp == "fp16")

    def correct(self, logits: torch.Tensor, labels: torch.Tensor) -> int:
        return int((logits.argmax(1) == labels).sum())

    # ------------------------------------------------------------ random state
    def manual_seed(self, seed: int) -> None:
        torch.manual_seed(seed)  # every CUDA device's generator too

    def rng_state(self, device: torch.device) -> dict:
        state = {"torch": torch.get_rng_state()}
        if device.type == "cuda":  # dropout on a GPU draws from the GPU's own generator
            state["cuda"] = torch.cuda.get_rng_state(device)
        return state

    def set_rng_state(self, state: dict, device: torch.device) -> None:
        torch.set_rng_state(state["torch"])
        if device.type == "cuda" and "cuda" in state:
            torch.cuda.set_rng_state(state["cuda"], device)

    # ------------------------------------------------------------ state
    def to_checkpoint(self, state):
        return state

    def from_checkpoint(self, state):
        return state

    def weights(self, model: torch.nn.Module) -> dict[str, np.ndarray]:
        return {k: v.detach().cpu().numpy() for k, v in model.state_dict().items()}

    def load_weights(self, model: torch.nn.Module, arrays: dict[str, np.ndarray]) -> None:
        """Copy checked arrays into the model, on whatever device it lives."""
        model.load_state_dict({k: torch.from_numpy(np.require(v, requirements="C"))
                               for k, v in arrays.items()}, strict=False)


class _FollowOps(TorchFunctionMode):
    def __init__(self, observer):
        super().__init__()
        self.observer = observer

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        output = func(*args, **kwargs)
        values = output[0] if isinstance(output, tuple) and output else output  # with indices
        if not isinstance(values, torch.Tensor):
            return output
        replaced = self.observer(values, list(_tensors([*args, *kwargs.values()])),
                                 (getattr(func, "__name__", ""), args, kwargs))
        if replaced is None:
            return output
        return (replaced, *output[1:]) if isinstance(output, tuple) else replaced


def _tensors(values):
    for value in values:
        if isinstance(value, (list, tuple)):
            yield from _tensors(value)
        elif isinstance(value, torch.Tensor):
            yield value


_PRECISIONS = {"bf16": torch.bfloat16, "fp16": torch.float16}


def accelerator_name(device: torch.device) -> str | None:
    """A GPU's own name (None on the CPU, whose model `evaluate.environment` reads)."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    if device.type == "mps":
        return "Apple GPU (MPS)"
    return None


def _cuda_device(asked: str, local_rank: int | None) -> torch.device:
    if not torch.cuda.is_available():
        build = "a CPU-only build" if torch.version.cuda is None else \
            f"built for CUDA {torch.version.cuda}"
        raise ValueError(f"--device {asked}: torch {torch.__version__} ({build}) sees no CUDA "
                         "GPU here; use --device cpu, or auto to take a GPU when there is one")
    count = torch.cuda.device_count()
    if ":" in asked:
        if local_rank is not None:
            raise ValueError(f"--device {asked}: under torchrun each process takes the GPU of "
                             "its LOCAL_RANK; pass --device cuda (or auto)")
        index = int(asked.split(":")[1])
    else:
        index = local_rank or 0
    if index >= count:
        raise ValueError(f"cuda:{index} does not exist: torch sees {count} GPU"
                         f"{'s' * (count > 1)} (cuda:0 to cuda:{count - 1})")
    return torch.device("cuda", index)


ENGINE = TorchEngine()


# oneDNN's instruction-set caps (ONEDNN_MAX_CPU_ISA) under which bf16 keeps native instructions;
# a lower cap makes oneDNN emulate it, as a CPU without them does
_NATIVE_BF16_CAPS = {"AVX2_VNNI_2", "AVX512_CORE_BF16", "AVX512_CORE_FP16", "AVX10_1_512",
                     "AVX512_CORE_AMX", "AVX10_1_512_AMX", "AVX512_CORE_AMX_FP16",
                     "AVX10_1_512_AMX_FP16", "DEFAULT", "ALL"}


def native_cpu_bf16() -> bool:
    """Whether bf16 convolutions run on native instructions here. Only x86 is judged (and
    answers from the CPU's flags, under oneDNN's cap); elsewhere, say Arm's bf16 extension,
    True: nothing is known to warn about."""
    if platform.machine().lower() not in ("x86_64", "amd64"):
        return True
    cap = (os.environ.get("ONEDNN_MAX_CPU_ISA") or os.environ.get("DNNL_MAX_CPU_ISA") or "")
    if cap and cap.upper() not in _NATIVE_BF16_CAPS:
        return False
    return torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()
