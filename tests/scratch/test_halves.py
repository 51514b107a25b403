"""The scratch engine on two cores (issue 33, point 1): half of each training batch in a second
process. Its results are the bits of the same halves computed in one process; the loss is the
whole batch's, so the steps follow the whole batch's within rounding; an error in the second
half reaches the caller and the next step still works; the process stops when closed."""

import os

import numpy as np
import pytest

import cnnlab.scratch as scratch
from cnnlab.models.lenet import lenet5
from cnnlab.scratch import nn, optim
from cnnlab.scratch.halves import CAN_FORK, HalfBatch
from cnnlab.scratch.nn import functional as F

pytestmark = pytest.mark.skipif(not CAN_FORK, reason="the second process is forked (Linux)")

RNG = np.random.default_rng(0)
IMAGES = RNG.standard_normal((33, 1, 28, 28), dtype=np.float32)  # odd: halves of 17 and 16
LABELS = RNG.integers(0, 10, 33)


def batch_norm_net():
    return nn.Sequential(nn.Conv2d(1, 4, 5, stride=2), nn.BatchNorm2d(4), nn.ReLU(),
                         nn.Flatten(), nn.Dropout(0.3), nn.Linear(4 * 12 * 12, 10))


def trained(build, net_of, steps=3):
    """The parameters and buffers after `steps` SGD steps of `build()`'s model through
    `net_of(model)`, from the same seed."""
    scratch.manual_seed(0)
    model = build()
    net = net_of(model)
    optimizer = optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    try:
        for _ in range(steps):
            net.train()
            optimizer.zero_grad()
            F.cross_entropy(net(scratch.Tensor(IMAGES)), LABELS).backward()
            optimizer.step()
    finally:
        if net is not model:
            net.close()
    return {name: array.copy() for name, array in model.state_dict().items()}


@pytest.mark.parametrize("build", [lambda: lenet5("scratch", input_size=28, dropout=0.5),
                                   batch_norm_net], ids=["lenet5 with dropout", "batch norm"])
def test_two_processes_give_the_bits_of_the_halves_in_one(build):
    two = trained(build, HalfBatch)
    one = trained(build, lambda model: HalfBatch(model, in_process=True))
    assert two.keys() == one.keys()
    for name in two:
        np.testing.assert_array_equal(two[name], one[name], err_msg=name)


def test_the_loss_is_the_whole_batchs():
    build = lambda: lenet5("scratch", input_size=28)  # noqa: E731 (no dropout: same draws)
    halves = trained(build, HalfBatch)
    whole = trained(build, lambda model: model)
    for name in whole:
        np.testing.assert_allclose(halves[name], whole[name], rtol=1e-4, atol=1e-6,
                                   err_msg=name)
    moved = trained(build, lambda model: model, steps=0)
    assert any(not np.allclose(whole[name], moved[name]) for name in whole)  # it trained


def test_evaluation_and_no_grad_run_the_whole_batch_here():
    model = lenet5("scratch", input_size=28)
    net = HalfBatch(model)
    try:
        x = scratch.Tensor(IMAGES)
        with scratch.no_grad():
            expected = model(x).data
            net.train()
            np.testing.assert_array_equal(net(x).data, expected)
        net.eval()
        np.testing.assert_array_equal(net(x).data, model(x).data)
        assert not model.training
    finally:
        net.close()


class FailsOnNaN(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 3)

    def forward(self, x):
        if np.isnan(x.data).any():
            raise ValueError("a NaN in the batch")
        return self.fc(x)


def test_an_error_in_the_second_half_reaches_the_caller_and_the_next_step_works():
    model = FailsOnNaN()
    net = HalfBatch(model)
    try:
        bad = np.ones((4, 4), dtype=np.float32)
        bad[3, 0] = np.nan  # in the second half only
        with pytest.raises(RuntimeError, match=r"second half(?s:.)*ValueError: a NaN in the"):
            net(scratch.Tensor(bad))
        good = np.ones((4, 4), dtype=np.float32)
        F.cross_entropy(net(scratch.Tensor(good)), np.array([0, 1, 2, 0])).backward()
        assert all(p.grad is not None for p in model.parameters())
        bad[0, 0], bad[3, 0] = np.nan, 1.0  # in the first half only: the second's answer read
        with pytest.raises(ValueError, match="a NaN in the batch"):
            net(scratch.Tensor(bad))
        out = net(scratch.Tensor(good))
        np.testing.assert_array_equal(out.data, model(scratch.Tensor(good)).data)
    finally:
        net.close()


def test_a_replaced_parameter_is_one_clear_error():
    model = FailsOnNaN()
    net = HalfBatch(model)
    try:
        model.fc.weight.data = model.fc.weight.data.copy()  # no longer the shared array
        with pytest.raises(RuntimeError, match=r"shapes \[\(3, 4\)\] were replaced"):
            net(scratch.Tensor(np.ones((4, 4), dtype=np.float32)))
    finally:
        net.close()


def test_an_input_that_requires_grad_is_refused():
    net = HalfBatch(FailsOnNaN())
    try:
        with pytest.raises(ValueError, match="input requires grad"):
            net(scratch.Tensor(np.ones((4, 4), dtype=np.float32), requires_grad=True))
    finally:
        net.close()


def test_close_stops_the_second_process_and_the_model_takes_whole_batches():
    model = FailsOnNaN()
    net = HalfBatch(model)
    pid = net.half.pid
    os.kill(pid, 0)  # running
    net.close()
    with pytest.raises(ChildProcessError):  # reaped: no such child any more
        os.waitpid(pid, os.WNOHANG)
    x = scratch.Tensor(np.ones((4, 4), dtype=np.float32))
    np.testing.assert_array_equal(net(x).data, model(x).data)
    net.close()  # twice is harmless
