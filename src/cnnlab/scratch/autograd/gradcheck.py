"""A numerical check of hand-written gradients, as `torch.autograd.gradcheck` does it.

For a function of float64 tensors, the analytical Jacobian comes from backward() (one pass
per output element) and the numerical one from central differences,
(f(x + eps) - f(x - eps)) / (2 eps), one input element at a time. They must agree within
atol + rtol * |numerical| everywhere.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from cnnlab.scratch.tensor import Tensor, no_grad


class GradcheckError(RuntimeError):
    """Raised by gradcheck, naming the input, the element and both derivatives."""


def _outputs(fn: Callable, inputs: tuple) -> list[Tensor]:
    out = fn(*inputs)
    outs = list(out) if isinstance(out, (tuple, list)) else [out]
    return [o for o in outs if isinstance(o, Tensor) and o.dtype.kind == "f"]


def gradcheck(func: Callable, inputs, *, eps: float = 1e-6, atol: float = 1e-5,
              rtol: float = 1e-3, raise_exception: bool = True) -> bool:
    """True when every input's backward pass matches the numerical Jacobian of func."""
    inputs = tuple(inputs) if isinstance(inputs, (tuple, list)) else (inputs,)
    checked = [i for i, x in enumerate(inputs) if isinstance(x, Tensor) and x.requires_grad]
    if not checked:
        raise ValueError("gradcheck: no input requires grad; pass tensors with "
                         "requires_grad=True")
    for i in checked:
        if inputs[i].dtype != np.float64:
            raise TypeError(f"gradcheck: input {i} is {inputs[i].dtype}; central differences "
                            "need float64 (eps=1e-6 is lost in float32 rounding)")
    outputs = _outputs(func, inputs)
    sizes = [o.numel() for o in outputs]
    analytical = {i: np.zeros((sum(sizes), inputs[i].numel())) for i in checked}
    row = 0
    for out_index, size in enumerate(sizes):
        for element in range(size):
            for i in checked:
                inputs[i].grad = None
            seed = np.zeros(sizes[out_index])
            seed[element] = 1.0
            out = _outputs(func, inputs)[out_index]
            if out.requires_grad:
                out.backward(seed.reshape(out.shape))
            for i in checked:
                grad = inputs[i].grad
                if grad is not None:
                    analytical[i][row] = grad.data.reshape(-1)
            row += 1
    for i in checked:
        x = inputs[i]
        x.data = np.ascontiguousarray(x.data)
        flat = x.data.reshape(-1)  # a view: changing it changes the input
        numerical = np.zeros_like(analytical[i])
        with no_grad():
            for j in range(flat.size):
                original = flat[j]
                flat[j] = original + eps
                plus = np.concatenate([o.data.reshape(-1) for o in _outputs(func, inputs)])
                flat[j] = original - eps
                minus = np.concatenate([o.data.reshape(-1) for o in _outputs(func, inputs)])
                flat[j] = original
                numerical[:, j] = (plus - minus) / (2 * eps)
        bad = np.abs(analytical[i] - numerical) > atol + rtol * np.abs(numerical)
        if bad.any():
            out_at, in_at = np.argwhere(bad)[0]
            message = (
                f"gradcheck: the backward pass of input {i} (shape {x.shape}) differs from "
                f"the numerical gradient at output element {out_at}, input element "
                f"{np.unravel_index(in_at, x.shape)}: analytical {analytical[i][out_at, in_at]:.6g}"
                f", numerical {numerical[out_at, in_at]:.6g} ({int(bad.sum())} of {bad.size} "
                f"entries differ by more than atol={atol} + rtol={rtol} * |numerical|)")
            if raise_exception:
                raise GradcheckError(message)
            return False
    return True
