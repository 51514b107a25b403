"""The course's two-layer network, written three ways, gives one loss curve.

N=64, D_in=1000, H=100, D_out=10, squared-error loss, learning rate 1e-6, 500 steps of plain
gradient descent: with hand-coded NumPy gradients, with the scratch engine's autograd, and
with torch's autograd.
"""

import numpy as np
import torch

from cnnlab.scratch import Tensor, no_grad

N, D_IN, H, D_OUT = 64, 1000, 100, 10
LEARNING_RATE, STEPS = 1e-6, 500


def _start():
    rng = np.random.default_rng(0)
    return (rng.standard_normal((N, D_IN)), rng.standard_normal((N, D_OUT)),
            rng.standard_normal((D_IN, H)), rng.standard_normal((H, D_OUT)))


def numpy_by_hand():
    x, y, w1, w2 = _start()
    losses = []
    for _ in range(STEPS):
        h = x @ w1
        h_relu = np.maximum(h, 0)
        y_pred = h_relu @ w2
        losses.append(np.square(y_pred - y).sum())
        grad_y_pred = 2.0 * (y_pred - y)
        grad_w2 = h_relu.T @ grad_y_pred
        grad_h = grad_y_pred @ w2.T
        grad_h[h < 0] = 0
        grad_w1 = x.T @ grad_h
        w1 -= LEARNING_RATE * grad_w1
        w2 -= LEARNING_RATE * grad_w2
    return np.array(losses)


def scratch_autograd():
    x, y, w1, w2 = _start()
    x, y = Tensor(x), Tensor(y)
    w1, w2 = Tensor(w1, requires_grad=True), Tensor(w2, requires_grad=True)
    losses = []
    for _ in range(STEPS):
        loss = ((x.mm(w1).clamp(min=0).mm(w2) - y) ** 2).sum()
        losses.append(loss.item())
        loss.backward()
        with no_grad():
            w1.data -= LEARNING_RATE * w1.grad
            w2.data -= LEARNING_RATE * w2.grad
            w1.grad = w2.grad = None
    return np.array(losses)


def torch_autograd():
    x, y, w1, w2 = (torch.tensor(a) for a in _start())
    w1.requires_grad_()
    w2.requires_grad_()
    losses = []
    for _ in range(STEPS):
        loss = (x.mm(w1).clamp(min=0).mm(w2) - y).pow(2).sum()
        losses.append(loss.item())
        loss.backward()
        with torch.no_grad():
            w1 -= LEARNING_RATE * w1.grad
            w2 -= LEARNING_RATE * w2.grad
            w1.grad = w2.grad = None
    return np.array(losses)


def test_two_layer_network_gives_one_loss_curve_three_ways():
    by_hand, ours, theirs = numpy_by_hand(), scratch_autograd(), torch_autograd()
    assert by_hand[-1] < by_hand[0] * 1e-3  # it really learns
    np.testing.assert_allclose(ours, by_hand, rtol=1e-9)
    np.testing.assert_allclose(ours, theirs, rtol=1e-9)
