"""RMSprop with torch's update formulas (square average, centred variant, momentum)."""

from __future__ import annotations

import numpy as np

from cnnlab.scratch.optim.optimizer import Optimizer


class RMSprop(Optimizer):
    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0,
                 centered=False, maximize=False):
        if lr < 0 or eps < 0 or weight_decay < 0 or momentum < 0:
            raise ValueError("RMSprop: lr, eps, weight_decay and momentum must be non-negative")
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"RMSprop: alpha must lie in [0, 1], got {alpha}")
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay,
                                      momentum=momentum, centered=centered,
                                      maximize=maximize))

    def _update(self, p, grad, group, state):
        alpha, eps, momentum = group["alpha"], group["eps"], group["momentum"]
        grad = -grad if group["maximize"] else grad
        if group["weight_decay"]:
            grad = grad + group["weight_decay"] * p.data
        if not state:
            state["step"] = 0
            state["square_avg"] = np.zeros_like(p.data)
            if momentum > 0:
                state["momentum_buffer"] = np.zeros_like(p.data)
            if group["centered"]:
                state["grad_avg"] = np.zeros_like(p.data)
        state["step"] += 1
        square = state["square_avg"]
        square *= alpha
        square += (1 - alpha) * grad * grad
        if group["centered"]:
            average = state["grad_avg"]
            average += (1 - alpha) * (grad - average)  # torch's lerp
            denom = np.sqrt(square - average * average) + eps
        else:
            denom = np.sqrt(square) + eps
        if momentum > 0:
            buffer = state["momentum_buffer"]
            buffer *= momentum
            buffer += grad / denom
            p.data -= (group["lr"] * buffer).astype(p.dtype)
        else:
            p.data -= (group["lr"] * grad / denom).astype(p.dtype)
