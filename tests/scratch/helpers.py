"""One helper compares any scratch op with torch: forward values and every input's gradient.

Both engines run in float64 on the same arrays; the backward pass is seeded with a random
upstream gradient (not ones), so a gradient that is wrong by a permutation or a broadcast
still shows up.
"""

from __future__ import annotations

import numpy as np
import torch

from cnnlab.scratch import Tensor


def _pair(value, requires_grad: bool):
    if value is None:
        return None, None
    array = np.asarray(value)
    if array.dtype.kind == "f":
        array = array.astype(np.float64)
        return (Tensor(array.copy(), requires_grad=requires_grad),
                torch.tensor(array, requires_grad=requires_grad))
    return Tensor(array), torch.tensor(array)


def check_op(scratch_fn, torch_fn, *inputs, grad: bool = True, rtol: float = 1e-10,
             atol: float = 1e-12, seed: int = 0, constants: tuple[int, ...] = ()):
    """Assert that scratch_fn(*inputs) matches torch_fn(*inputs) and so do the gradients.

    Floating inputs require grad in both engines; integer inputs (class targets) and None
    (an absent bias) pass through, and so do the floating inputs listed in `constants`
    (class weights, probability targets). Returns the scratch output for further checks.
    """
    pairs = [_pair(x, grad and i not in constants) for i, x in enumerate(inputs)]
    ours = scratch_fn(*[p[0] for p in pairs])
    theirs = torch_fn(*[p[1] for p in pairs])
    np.testing.assert_allclose(ours.data, theirs.detach().numpy(), rtol=rtol, atol=atol,
                               err_msg="forward values differ from torch")
    assert ours.shape == tuple(theirs.shape)
    if not grad:
        return ours
    upstream = np.random.default_rng(seed).standard_normal(ours.shape)
    ours.backward(upstream)
    theirs.backward(torch.tensor(upstream))
    for position, (mine, reference) in enumerate(pairs):
        if mine is None or not mine.requires_grad:
            continue
        assert mine.grad is not None, f"input {position} got no gradient"
        np.testing.assert_allclose(mine.grad, reference.grad.numpy(), rtol=rtol, atol=atol,
                                   err_msg=f"gradient of input {position} differs from torch")
    return ours


def randn(*shape, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape)
