"""Each case where the scratch engine once differed from torch 2.13, now checked against it
(float64, forward values and gradients)."""

import numpy as np
import pytest
import torch

from cnnlab import scratch
from cnnlab.scratch import Tensor, nn
from cnnlab.scratch.nn import functional as F
from tests.scratch.helpers import check_op, randn


def test_vector_dot_vector_has_gradients():
    check_op(lambda a, b: a @ b, lambda a, b: a @ b, randn(5), randn(5, seed=1))
    check_op(lambda a, b: a @ b, lambda a, b: a @ b, randn(5), randn(5, 3, seed=1))
    check_op(lambda a, b: a @ b, lambda a, b: a @ b, randn(2, 3, 5), randn(5, seed=1))


@pytest.mark.parametrize("smoothing", [0.0, 0.2])
def test_probability_targets_that_require_grad_get_their_gradient(smoothing):
    logits, target = randn(4, 3), np.abs(randn(4, 3, seed=1))
    target = target / target.sum(1, keepdims=True)
    check_op(lambda x, t: F.cross_entropy(x, t, label_smoothing=smoothing),
             lambda x, t: torch.nn.functional.cross_entropy(x, t, label_smoothing=smoothing),
             logits, target)


def test_every_target_ignored_gives_nan_loss_and_zero_gradient():
    logits = randn(4, 3)
    target = np.full(4, 2)
    ours = Tensor(logits.copy(), requires_grad=True)
    theirs = torch.tensor(logits, requires_grad=True)
    loss = nn.CrossEntropyLoss(ignore_index=2)(ours, Tensor(target))
    reference = torch.nn.CrossEntropyLoss(ignore_index=2)(theirs, torch.tensor(target))
    assert np.isnan(loss.item()) and np.isnan(reference.item())
    loss.backward()
    reference.backward()
    np.testing.assert_array_equal(ours.grad, theirs.grad.numpy())
    np.testing.assert_array_equal(ours.grad, np.zeros_like(logits))


def test_tensor_relu_has_gradient_zero_at_zero():
    x = np.array([-1.0, 0.0, 2.0])
    check_op(lambda t: t.relu(), lambda t: t.relu(), x)
    check_op(F.relu, torch.relu, x)


@pytest.mark.parametrize("shape, dim", [((3, 0), 1), ((0, 3), 0), ((0, 3), 1)])
def test_softmax_over_an_empty_dimension_is_empty(shape, dim):
    for ours_fn, torch_fn in ((F.softmax, torch.softmax), (F.log_softmax, torch.log_softmax)):
        out = ours_fn(Tensor(np.zeros(shape)), dim=dim)
        assert out.shape == tuple(torch_fn(torch.zeros(shape), dim=dim).shape) == shape


@pytest.mark.parametrize("dim", [0, -1])
def test_reductions_of_a_0d_tensor_take_dim_0_and_minus_1(dim):
    value = np.array(2.5)
    check_op(lambda t: t.sum(dim=dim), lambda t: t.sum(dim=dim), value)
    check_op(lambda t: t.mean(dim=dim), lambda t: t.mean(dim=dim), value)
    check_op(lambda t: t.transpose(0, dim), lambda t: t.transpose(0, dim), value)


def test_a_dimension_out_of_range_is_refused_not_wrapped():
    with pytest.raises(IndexError, match=r"expected to be in range of \[-2, 1\], but got 2"):
        Tensor(np.zeros((2, 3))).sum(dim=2)
    with pytest.raises(IndexError, match=r"\[-1, 0\], but got 1"):
        Tensor(np.array(1.0)).sum(dim=1)


@pytest.mark.parametrize("ours, theirs", [(F.max_pool2d, torch.nn.functional.max_pool2d),
                                          (F.avg_pool2d, torch.nn.functional.avg_pool2d)])
def test_pooling_takes_an_empty_stride_and_one_element_tuples(ours, theirs):
    x = randn(1, 2, 6, 6)
    check_op(lambda t: ours(t, 2, stride=()), lambda t: theirs(t, 2, stride=()), x)
    check_op(lambda t: ours(t, 2, padding=(1,)), lambda t: theirs(t, 2, padding=(1,)), x)
    check_op(lambda t: ours(t, (3,), stride=(2,)), lambda t: theirs(t, (3,), stride=(2,)), x)


def test_conv_takes_one_element_tuples():
    check_op(lambda x, w: F.conv2d(x, w, stride=(2,), padding=(1,)),
             lambda x, w: torch.nn.functional.conv2d(x, w, stride=(2,), padding=(1,)),
             randn(1, 2, 5, 5), randn(3, 2, 3, 3, seed=1))


def test_batch_norm_on_an_empty_batch_leaves_the_running_statistics():
    ours, theirs = nn.BatchNorm2d(3).double(), torch.nn.BatchNorm2d(3).double()
    out = ours(Tensor(np.zeros((0, 3, 4, 4))))
    reference = theirs(torch.zeros(0, 3, 4, 4, dtype=torch.float64))
    assert out.shape == tuple(reference.shape)
    for key, value in theirs.state_dict().items():
        np.testing.assert_array_equal(ours.state_dict()[key], value.numpy(), err_msg=key)


@pytest.mark.parametrize("eps", [0.0, -1.0])
def test_batch_norm_refuses_an_eps_that_is_not_positive_in_training(eps):
    x = randn(2, 3, 2, 2)
    with pytest.raises(ValueError, match="eps must be positive during training"):
        torch.nn.BatchNorm2d(3, eps=eps).double()(torch.tensor(x))
    with pytest.raises(ValueError, match=f"eps must be positive during training, got {eps}"):
        nn.BatchNorm2d(3, eps=eps)(Tensor(x))


def test_batch_norm_without_bias_matches_torch():
    ours, theirs = nn.BatchNorm2d(3, bias=False), torch.nn.BatchNorm2d(3, bias=False)
    assert ours.bias is None and theirs.bias is None
    assert list(ours.state_dict()) == list(theirs.state_dict())
    check_op(lambda x, w: F.batch_norm(x, None, None, w, None, True),
             lambda x, w: torch.nn.functional.batch_norm(x, None, None, w, None, True),
             randn(4, 3, 2, 2), randn(3, seed=1))


def test_ignore_index_with_probability_targets_is_refused_as_torch_does():
    logits, target = randn(4, 3), np.full((4, 3), 1 / 3)
    with pytest.raises(RuntimeError, match="ignore_index is not supported for floating point"):
        torch.nn.CrossEntropyLoss(ignore_index=2)(torch.tensor(logits), torch.tensor(target))
    with pytest.raises(ValueError, match="ignore_index is not supported for a floating-point"):
        nn.CrossEntropyLoss(ignore_index=2)(Tensor(logits), Tensor(target))


def test_a_weighted_loss_saves_and_loads_its_weight_as_torch_does():
    weight = np.array([1.0, 2.0, 0.5])
    theirs = torch.nn.CrossEntropyLoss(weight=torch.tensor(weight))
    ours = nn.CrossEntropyLoss(weight=Tensor(np.ones(3)))
    assert list(ours.state_dict()) == list(theirs.state_dict()) == ["weight"]
    ours.load_state_dict(theirs.state_dict())
    np.testing.assert_array_equal(ours.weight, weight)
    logits, target = randn(5, 3), np.array([0, 1, 2, 1, 0])
    check_op(lambda x: ours(x, Tensor(target)),
             lambda x: theirs(x, torch.tensor(target)), logits)


def test_clamp_takes_tensor_bounds_with_their_gradients():
    x, low, high = randn(4, 5), randn(4, 5, seed=1) - 0.5, randn(5, seed=2) + 0.5
    check_op(lambda a, lo, hi: a.clamp(min=lo, max=hi),
             lambda a, lo, hi: a.clamp(min=lo, max=hi), x, low, high)
    check_op(lambda a, lo: scratch.clamp(a, min=lo), lambda a, lo: torch.clamp(a, min=lo),
             x, low)
    check_op(lambda a, hi: a.clamp(max=hi), lambda a, hi: a.clamp(max=hi), x, high)
    # A lower bound above the upper one: torch returns the upper bound and sends it the grad.
    check_op(lambda a, lo, hi: a.clamp(min=lo, max=hi),
             lambda a, lo, hi: a.clamp(min=lo, max=hi), x, np.full(5, 1.0), np.full(5, -1.0))
