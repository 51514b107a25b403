"""SGD, Adam, AdamW and RMSprop follow torch's update formulas step for step."""

import numpy as np
import pytest
import torch

from cnnlab.scratch import Tensor
from cnnlab.scratch import optim as scratch_optim


def _trajectories(scratch_cls, torch_cls, steps=6, **options):
    rng = np.random.default_rng(0)
    start = [rng.standard_normal((4, 3)), rng.standard_normal(3)]
    ours = [Tensor(a.copy(), requires_grad=True) for a in start]
    theirs = [torch.tensor(a.copy(), requires_grad=True) for a in start]
    our_opt, their_opt = scratch_cls(ours, **options), torch_cls(theirs, **options)
    for _ in range(steps):
        grads = [rng.standard_normal(a.shape) for a in start]
        for p, g in zip(ours, grads, strict=True):
            p.grad = g.copy()
        for p, g in zip(theirs, grads, strict=True):
            p.grad = torch.tensor(g)
        our_opt.step()
        their_opt.step()
    return ours, theirs, our_opt


SGD_OPTIONS = [
    dict(lr=0.1),
    dict(lr=0.1, momentum=0.9),
    dict(lr=0.1, momentum=0.9, dampening=0.3),
    dict(lr=0.1, momentum=0.9, nesterov=True),
    dict(lr=0.1, momentum=0.5, weight_decay=0.01),
    dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.1, maximize=True),
]
ADAM_OPTIONS = [
    dict(lr=0.01),
    dict(lr=0.01, betas=(0.8, 0.99), eps=1e-6),
    dict(lr=0.01, weight_decay=0.1),
    dict(lr=0.01, amsgrad=True),
]


@pytest.mark.parametrize("options", SGD_OPTIONS)
def test_sgd_matches_torch(options):
    ours, theirs, _ = _trajectories(scratch_optim.SGD, torch.optim.SGD, **options)
    for mine, reference in zip(ours, theirs, strict=True):
        np.testing.assert_allclose(mine.data, reference.detach().numpy(), rtol=1e-12)


@pytest.mark.parametrize("options", ADAM_OPTIONS)
@pytest.mark.parametrize("pair", [(scratch_optim.Adam, torch.optim.Adam),
                                  (scratch_optim.AdamW, torch.optim.AdamW)])
def test_adam_and_adamw_match_torch(options, pair):
    ours, theirs, _ = _trajectories(*pair, **options)
    for mine, reference in zip(ours, theirs, strict=True):
        np.testing.assert_allclose(mine.data, reference.detach().numpy(), rtol=1e-10)


RMSPROP_OPTIONS = [
    dict(lr=0.01),
    dict(lr=0.01, alpha=0.9, eps=1e-6),
    dict(lr=0.01, momentum=0.9),
    dict(lr=0.01, centered=True, weight_decay=0.1),
    dict(lr=0.01, momentum=0.5, centered=True, maximize=True),
]


@pytest.mark.parametrize("options", RMSPROP_OPTIONS)
def test_rmsprop_matches_torch(options):
    ours, theirs, _ = _trajectories(scratch_optim.RMSprop, torch.optim.RMSprop, **options)
    for mine, reference in zip(ours, theirs, strict=True):
        np.testing.assert_allclose(mine.data, reference.detach().numpy(), rtol=1e-10)


def test_state_dict_round_trip_continues_identically():
    ours, _, opt = _trajectories(scratch_optim.Adam, torch.optim.Adam, steps=3, lr=0.01)
    saved = opt.state_dict()
    assert set(saved["state"]) == {0, 1} and saved["state"][0]["step"] == 3
    twin = [Tensor(p.data.copy(), requires_grad=True) for p in ours]
    restored = scratch_optim.Adam(twin, lr=0.5)
    restored.load_state_dict(saved)
    assert restored.param_groups[0]["lr"] == 0.01
    grad = np.ones((4, 3))
    for params, optimizer in ((ours, opt), (twin, restored)):
        params[0].grad = grad.copy()
        optimizer.step()
    np.testing.assert_array_equal(ours[0].data, twin[0].data)


def test_optimizers_refuse_bad_arguments():
    p = [Tensor(np.zeros(2), requires_grad=True)]
    with pytest.raises(ValueError, match="Nesterov"):
        scratch_optim.SGD(p, lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match="betas"):
        scratch_optim.Adam(p, betas=(0.9, 1.0))
    with pytest.raises(TypeError, match="require grad"):
        scratch_optim.SGD([Tensor(np.zeros(2))], lr=0.1)
