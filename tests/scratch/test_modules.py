"""Layers with torch.nn's signatures, initialisation and state_dict keys; weights move both ways."""

import math

import numpy as np
import pytest
import torch

import cnnlab.scratch as scratch
from cnnlab.models.lenet import lenet5
from cnnlab.scratch import nn
from cnnlab.scratch import optim as scratch_optim


def _both(build):
    """The same architecture built with torch.nn and with cnnlab.scratch.nn."""
    return build(torch.nn), build(nn)


def _small_cnn(engine_nn):
    return engine_nn.Sequential(
        engine_nn.Conv2d(3, 8, 3, padding=1, bias=False),
        engine_nn.BatchNorm2d(8),
        engine_nn.ReLU(),
        engine_nn.MaxPool2d(2, ceil_mode=True),
        engine_nn.Conv2d(8, 6, 3, stride=2, groups=2, dilation=1, padding="valid"),
        engine_nn.ConvTranspose2d(6, 4, 3, stride=2, padding=1, output_padding=1),
        engine_nn.AvgPool2d(2),
        engine_nn.Dropout(0.5),
        engine_nn.Flatten(),
        engine_nn.Linear(4 * 2 * 2, 5),
    )


def test_state_dict_keys_and_shapes_match_torch():
    theirs, ours = _both(_small_cnn)
    their_state = theirs.state_dict()
    our_state = ours.state_dict()
    assert list(our_state) == list(their_state)
    for key, value in their_state.items():
        assert our_state[key].shape == tuple(value.shape), key
        assert our_state[key].dtype == value.numpy().dtype, key


@pytest.mark.parametrize("direction", ["torch_to_scratch", "scratch_to_torch"])
def test_weights_move_between_engines_and_give_the_same_outputs(direction):
    theirs, ours = _both(_small_cnn)
    if direction == "torch_to_scratch":
        ours.load_state_dict(theirs.state_dict())
    else:
        theirs.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in
                                ours.state_dict().items()})
    theirs.eval()
    ours.eval()
    x = np.random.default_rng(0).standard_normal((2, 3, 9, 9), dtype=np.float32)
    with torch.no_grad():
        expected = theirs(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(ours(scratch.Tensor(x)).data, expected, rtol=1e-5, atol=1e-5)


def test_lenet5_training_steps_follow_torch():
    theirs, ours = lenet5("torch", input_size=28), lenet5("scratch", input_size=28)
    ours.load_state_dict(theirs.state_dict())
    ours.double()
    theirs.double()
    rng = np.random.default_rng(0)
    t_opt = torch.optim.SGD(theirs.parameters(), lr=0.05, momentum=0.9, nesterov=True)
    s_opt = scratch_optim.SGD(ours.parameters(), lr=0.05, momentum=0.9, nesterov=True)
    for _ in range(3):
        x, y = rng.standard_normal((8, 1, 28, 28)), rng.integers(0, 10, 8)
        t_opt.zero_grad()
        t_loss = torch.nn.functional.cross_entropy(theirs(torch.tensor(x)), torch.tensor(y))
        t_loss.backward()
        t_opt.step()
        s_opt.zero_grad()
        s_loss = nn.functional.cross_entropy(ours(scratch.Tensor(x)), y)
        s_loss.backward()
        s_opt.step()
        assert math.isclose(s_loss.item(), t_loss.item(), rel_tol=1e-10)
    for key, value in theirs.state_dict().items():
        np.testing.assert_allclose(ours.state_dict()[key], value.numpy(), rtol=1e-9, atol=1e-12)


def test_batchnorm2d_tracks_statistics_like_torch():
    for momentum in (0.1, None):
        theirs = torch.nn.BatchNorm2d(3, momentum=momentum).double()
        ours = nn.BatchNorm2d(3, momentum=momentum).double()
        rng = np.random.default_rng(0)
        for _ in range(4):
            x = rng.standard_normal((5, 3, 4, 4)) * 3 + 2
            theirs(torch.tensor(x))
            ours(scratch.Tensor(x))
        for key, value in theirs.state_dict().items():
            np.testing.assert_allclose(ours.state_dict()[key], value.numpy(), rtol=1e-12)
        theirs.eval()
        ours.eval()
        x = rng.standard_normal((2, 3, 4, 4))
        np.testing.assert_allclose(ours(scratch.Tensor(x)).data,
                                   theirs(torch.tensor(x)).detach().numpy(), rtol=1e-12)


@pytest.mark.parametrize("layer, fan_in", [
    (lambda m: m.Conv2d(16, 32, 3), 16 * 9),
    (lambda m: m.Conv2d(16, 32, 3, groups=4), 4 * 9),
    (lambda m: m.ConvTranspose2d(16, 32, 3), 32 * 9),
    (lambda m: m.Linear(300, 200), 300),
])
def test_default_initialisation_has_torchs_distribution(layer, fan_in):
    scratch.manual_seed(0)
    ours = layer(nn)
    bound = 1 / math.sqrt(fan_in)
    weights = ours.weight.data
    assert np.abs(weights).max() <= bound
    # uniform(-b, b) has standard deviation b/sqrt(3)
    assert abs(weights.std() - bound / math.sqrt(3)) < 0.05 * bound
    assert np.abs(ours.bias.data).max() <= bound
    theirs = layer(torch.nn)
    assert theirs.weight.abs().max().item() <= bound


def test_conv_transpose2d_output_size_picks_the_output_padding():
    layer = nn.ConvTranspose2d(2, 3, 3, stride=2, padding=1)
    x = scratch.randn(1, 2, 4, 4)
    assert layer(x, output_size=(8, 8)).shape == (1, 3, 8, 8)
    assert layer(x).shape == (1, 3, 7, 7)
    with pytest.raises(ValueError, match=r"must lie in \[7, 8\]"):
        layer(x, output_size=(10, 10))


def test_train_and_eval_reach_every_submodule():
    model = _small_cnn(nn)
    model.eval()
    assert not any(m.training for m in model.modules())
    model.train()
    assert all(m.training for m in model.modules())


def test_load_state_dict_names_missing_unexpected_and_misshapen_keys():
    model = _small_cnn(nn)
    state = dict(model.state_dict())
    del state["0.weight"]
    state["extra.weight"] = np.zeros(3)
    with pytest.raises(KeyError, match=r"missing keys \['0.weight'\].*unexpected keys "
                                       r"\['extra.weight'\]"):
        model.load_state_dict(state)
    before = model.state_dict()["9.bias"].copy()
    bad = {k: v.copy() for k, v in model.state_dict().items()}
    bad["9.bias"] = np.ones(5)
    bad["9.weight"] = np.zeros((5, 3))
    with pytest.raises(ValueError, match=r"9.weight: expected \(5, 16\), got \(5, 3\)"):
        model.load_state_dict(bad)
    np.testing.assert_array_equal(model.state_dict()["9.bias"], before)  # nothing half-loaded


def test_parameters_are_listed_once_and_zero_grad_clears_them():
    model = _small_cnn(nn)
    names = [name for name, _ in model.named_parameters()]
    assert names == [name for name, _ in _small_cnn(torch.nn).named_parameters()]
    loss = model(scratch.randn(2, 3, 9, 9)).sum()
    loss.backward()
    assert all(p.grad is not None for p in model.parameters())
    model.zero_grad()
    assert all(p.grad is None for p in model.parameters())


def test_repr_reads_like_torch():
    text = repr(nn.Sequential(nn.Conv2d(1, 6, 5, padding=2), nn.ReLU()))
    assert "(0): Conv2d(1, 6, kernel_size=(5, 5), stride=(1, 1), padding=(2, 2))" in text
