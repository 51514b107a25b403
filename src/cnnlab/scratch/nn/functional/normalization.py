"""Batch normalisation with its hand-written backward pass."""

from __future__ import annotations

import numpy as np

from cnnlab.scratch.tensor import Tensor, _record


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False,
               momentum=0.1, eps=1e-5) -> Tensor:
    """Normalise each channel of an (N, C, ...) input; torch.nn.functional.batch_norm's rules.

    In training the batch's own mean and (biased) variance normalise it, and the running
    statistics move towards the batch's mean and unbiased variance by `momentum`. Otherwise
    the running statistics normalise it.
    """
    op = "batch_norm"
    x = input
    if x.ndim < 2:
        raise ValueError(f"{op}: expected an input of shape (N, C, ...), got {x.shape}")
    c = x.shape[1]
    for name, t in (("running_mean", running_mean), ("running_var", running_var),
                    ("weight", weight), ("bias", bias)):
        if t is not None and tuple(t.shape) != (c,):
            raise ValueError(f"{op}: {name} must have shape ({c},) for input {x.shape}, "
                             f"got {tuple(t.shape)}")
    axes = (0, *range(2, x.ndim))
    per_channel = (1, c) + (1,) * (x.ndim - 2)
    count = x.data.size // c

    if training:
        if count == 1:
            raise ValueError(f"{op}: expected more than 1 value per channel when training, "
                             f"got input of shape {x.shape}")
        mean = x.data.mean(axis=axes)
        var = x.data.var(axis=axes)
        if running_mean is not None:
            _update(running_mean, mean, momentum)
        if running_var is not None:
            _update(running_var, var * (count / (count - 1)), momentum)
    else:
        if running_mean is None or running_var is None:
            raise ValueError(f"{op}: running_mean and running_var are needed outside training")
        mean, var = _array(running_mean), _array(running_var)

    inv_std = (1.0 / np.sqrt(var + eps)).astype(x.dtype).reshape(per_channel)
    x_hat = (x.data - mean.reshape(per_channel).astype(x.dtype)) * inv_std
    scale = weight.data.reshape(per_channel) if weight is not None else None
    y = x_hat if scale is None else x_hat * scale
    if bias is not None:
        y = y + bias.data.reshape(per_channel)

    def backward(dy):
        dx_hat = dy if scale is None else dy * scale
        if training:
            # The batch statistics depend on x too:
            # dx = inv_std/m * (m*dx_hat - sum(dx_hat) - x_hat*sum(dx_hat*x_hat))
            sum_dx_hat = dx_hat.sum(axis=axes, keepdims=True)
            sum_dx_hat_x_hat = (dx_hat * x_hat).sum(axis=axes, keepdims=True)
            dx = (inv_std / count) * (count * dx_hat - sum_dx_hat - x_hat * sum_dx_hat_x_hat)
        else:
            dx = dx_hat * inv_std
        dw = (dy * x_hat).sum(axis=axes) if weight is not None else None
        db = dy.sum(axis=axes) if bias is not None else None
        return dx, dw, db

    parents = tuple(t for t in (x, weight, bias) if t is not None)

    def backward_present(dy):
        dx, dw, db = backward(dy)
        return tuple(g for g, t in zip((dx, dw, db), (x, weight, bias), strict=True)
                     if t is not None)

    return _record(y, parents, backward_present)


def _array(t) -> np.ndarray:
    return t.data if isinstance(t, Tensor) else np.asarray(t)


def _update(running, batch_value: np.ndarray, momentum: float) -> None:
    target = _array(running)
    target *= 1 - momentum
    target += momentum * batch_value.astype(target.dtype)
