"""Negative log-likelihood, softmax cross-entropy (with label smoothing) and mean squared
error, as in torch."""

from __future__ import annotations

import numpy as np

from cnnlab.scratch.nn.functional.activation import log_softmax
from cnnlab.scratch.tensor import Tensor, _record

_REDUCTIONS = ("mean", "sum", "none")


def _check_reduction(reduction: str, size_average, reduce, op: str) -> None:
    if size_average is not None or reduce is not None:
        raise ValueError(f"{op}: size_average and reduce are deprecated; use reduction=")
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{op}: reduction must be one of {_REDUCTIONS}, got {reduction!r}")


def _classes_last(x: np.ndarray) -> np.ndarray:
    """(N, C, d1, ...) -> (N*d1*..., C); (N, C) and (C,) are already in that form."""
    if x.ndim <= 2:
        return x.reshape(-1, x.shape[-1])
    return np.moveaxis(x, 1, -1).reshape(-1, x.shape[1])


def nll_loss(input: Tensor, target, weight: Tensor | None = None, size_average=None,
             ignore_index: int = -100, reduce=None, reduction: str = "mean") -> Tensor:
    op = "nll_loss"
    _check_reduction(reduction, size_average, reduce, op)
    target = np.asarray(target.data if isinstance(target, Tensor) else target)
    if target.dtype.kind not in "iu":
        raise TypeError(f"{op}: target must hold integer class indices, got {target.dtype}")
    classes = input.shape[1] if input.ndim > 1 else input.shape[0]
    expected = (input.shape[0], *input.shape[2:]) if input.ndim > 1 else ()
    if target.shape != expected:
        raise ValueError(f"{op}: target of shape {target.shape} does not match input "
                         f"{input.shape} (expected {expected})")
    flat_target = target.reshape(-1)
    valid = flat_target != ignore_index
    if np.any((flat_target[valid] < 0) | (flat_target[valid] >= classes)):
        bad = flat_target[valid & ((flat_target < 0) | (flat_target >= classes))][0]
        raise ValueError(f"{op}: target {bad} is out of bounds for {classes} classes")
    safe_target = np.where(valid, flat_target, 0)
    w = np.ones(classes, input.dtype) if weight is None else weight.data
    sample_weight = np.where(valid, w[safe_target], 0).astype(input.dtype)
    rows = np.arange(flat_target.size)
    picked = _classes_last(input.data)[rows, safe_target]
    losses = -picked * sample_weight
    if reduction == "none":
        out = losses.reshape(target.shape)
    elif reduction == "sum":
        out = losses.sum()
    else:  # NaN when every target is ignored, as in torch
        total = sample_weight.sum()
        out = losses.sum() / total if total else np.nan

    def backward(g):
        if reduction == "none":
            per_sample = g.reshape(-1)
        elif reduction == "sum":
            per_sample = np.full(flat_target.size, g)
        elif sample_weight.sum() == 0:  # every target ignored: the loss is NaN, torch's
            per_sample = np.zeros(flat_target.size, input.dtype)  # gradient is zero
        else:
            per_sample = np.full(flat_target.size, g / sample_weight.sum())
        grad = np.zeros((flat_target.size, classes), dtype=input.dtype)
        grad[rows, safe_target] = -per_sample * sample_weight
        if input.ndim > 2:
            grad = np.moveaxis(grad.reshape(*expected, classes), -1, 1)
        return (grad.reshape(input.shape),)

    return _record(np.asarray(out, dtype=input.dtype), (input,), backward)


def cross_entropy(input: Tensor, target, weight: Tensor | None = None, size_average=None,
                  ignore_index: int = -100, reduce=None, reduction: str = "mean",
                  label_smoothing: float = 0.0) -> Tensor:
    """Softmax cross-entropy from logits; target holds class indices or class probabilities.

    With label smoothing ε the loss is (1-ε)·NLL + ε/C · Σ_c -w_c·log p_c, normalised as
    torch normalises it (by the summed weights of the non-ignored targets for 'mean').
    """
    op = "cross_entropy"
    _check_reduction(reduction, size_average, reduce, op)
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"{op}: label_smoothing must be in [0, 1], got {label_smoothing}")
    class_dim = 1 if input.ndim > 1 else 0
    classes = input.shape[class_dim]
    log_p = log_softmax(input, dim=class_dim)
    w_shape = [1] * input.ndim
    w_shape[class_dim] = classes
    w = None if weight is None else weight.reshape(*w_shape)

    target_array = np.asarray(target.data if isinstance(target, Tensor) else target)
    if target_array.dtype.kind == "f":
        if ignore_index != -100:
            raise ValueError(f"{op}: ignore_index is not supported for a floating-point target "
                             "(class probabilities); pass class indices to ignore some")
        soft = target if isinstance(target, Tensor) else Tensor(target_array)
        return _soft_target_cross_entropy(log_p, soft, w, reduction, label_smoothing,
                                          class_dim)

    nll = nll_loss(log_p, target_array, weight, ignore_index=ignore_index, reduction=reduction)
    if label_smoothing == 0.0:
        return nll
    smooth = -(log_p * w if w is not None else log_p).sum(dim=class_dim)
    valid = (target_array != ignore_index).astype(input.dtype)
    smooth = smooth * valid
    if reduction == "sum":
        smooth = smooth.sum()
    elif reduction == "mean":
        if weight is None:
            smooth = smooth.sum() / valid.sum()
        else:
            safe = np.where(target_array != ignore_index, target_array, 0)
            smooth = smooth.sum() / (weight.data[safe] * valid).sum()
    return nll * (1 - label_smoothing) + smooth * (label_smoothing / classes)


def _soft_target_cross_entropy(log_p, target: Tensor, w, reduction, label_smoothing,
                               class_dim):
    """Class-probability targets: a target that requires grad gets its gradient too."""
    if target.shape != log_p.shape:
        raise ValueError(f"cross_entropy: class-probability target of shape {target.shape} must "
                         f"match the input {log_p.shape}")
    if target.dtype != log_p.dtype:
        target = target.to(log_p.dtype)
    if label_smoothing:
        target = target * (1 - label_smoothing) + label_smoothing / log_p.shape[class_dim]
    terms = log_p * target if w is None else log_p * w * target
    losses = -terms.sum(dim=class_dim)
    if reduction == "none":
        return losses
    if reduction == "sum":
        return losses.sum()
    return losses.sum() / (losses.numel() if losses.ndim else 1)


def mse_loss(input: Tensor, target, size_average=None, reduce=None,
             reduction: str = "mean") -> Tensor:
    """Mean squared error: the mean (or sum) of (input - target)^2, both of one shape."""
    op = "mse_loss"
    _check_reduction(reduction, size_average, reduce, op)
    target = target if isinstance(target, Tensor) else Tensor(np.asarray(target, input.dtype))
    if target.shape != input.shape:
        raise ValueError(f"{op}: target of shape {target.shape} must match the input "
                         f"{input.shape} (broadcasting them gives a wrong loss)")
    diff = input.data - target.data
    squared = diff * diff
    out = squared if reduction == "none" else squared.sum() if reduction == "sum" \
        else squared.mean()

    def backward(g):
        scale = 2.0 if reduction != "mean" else 2.0 / max(diff.size, 1)
        grad = g * scale * diff
        return grad, -grad

    return _record(np.asarray(out, dtype=input.dtype), (input, target), backward)
