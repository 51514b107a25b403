"""Batch normalisation and local response normalisation, with hand-written backward passes."""

from __future__ import annotations

import numpy as np

from cnnlab.scratch.tensor import Tensor, _record, announced


@announced("batch_norm")
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
        if eps <= 0:
            raise ValueError(f"{op}: eps must be positive during training, got {eps} (it "
                             "keeps the division by the batch's standard deviation finite)")
        if x.data.size == 0:  # an empty batch: nothing to normalise, no statistics to learn
            return _record(x.data.copy(), (x,), lambda dy: (dy,))
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


@announced("local_response_norm")
def local_response_norm(input: Tensor, size: int, alpha: float = 1e-4, beta: float = 0.75,
                        k: float = 1.0) -> Tensor:
    """AlexNet's normalisation across channels (torch's formula):

        b_c = a_c / (k + alpha/size * sum of a_j^2 over the `size` channels around c)^beta

    The window is size//2 channels before c and (size-1)//2 after, cut at the edges.
    """
    op = "local_response_norm"
    if input.ndim < 3:
        raise ValueError(f"{op}: expected an input of 3 or more dimensions (N, C, ...), got "
                         f"shape {input.shape}")
    if not isinstance(size, (int, np.integer)) or size < 1:
        raise ValueError(f"{op}: size must be a positive int, got {size!r}")
    x = input.data
    before, after = size // 2, (size - 1) // 2
    d = k + (alpha / size) * _channel_window_sum(x * x, before, after)
    scale = d ** -beta
    out = x * scale

    def backward(g):
        # d b_c / d a_j = [c == j] d_c^-beta - 2 alpha beta / size * a_c a_j d_c^(-beta-1)
        # for each c whose window holds j; the c around j form the mirrored window.
        spread = _channel_window_sum(g * x * scale / d, after, before)
        return (g * scale - (2 * alpha * beta / size) * x * spread,)

    return _record(out, (input,), backward)


def _channel_window_sum(a: np.ndarray, before: int, after: int) -> np.ndarray:
    """For each channel c, the sum of a over channels c-before .. c+after (zeros outside)."""
    widths = [(0, 0), (before, after)] + [(0, 0)] * (a.ndim - 2)
    padded = np.pad(a, widths)
    channels = a.shape[1]
    total = np.zeros_like(a)
    for offset in range(before + after + 1):
        total += padded[:, offset:offset + channels]
    return total
