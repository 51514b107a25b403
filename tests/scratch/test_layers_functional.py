"""relu, linear, dropout, batch_norm, softmax and the losses against torch."""

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import cnnlab.scratch as scratch
from cnnlab.scratch import Tensor
from cnnlab.scratch.nn import functional as F
from tests.scratch.helpers import check_op, randn


def test_relu():
    check_op(F.relu, TF.relu, randn(4, 3, 5, 5))


@pytest.mark.parametrize("x_shape", [(5, 7), (2, 3, 7), (7,)])
@pytest.mark.parametrize("with_bias", [True, False])
def test_linear(x_shape, with_bias):
    bias = randn(4, seed=2) if with_bias else None
    check_op(F.linear, TF.linear, randn(*x_shape), randn(4, 7, seed=1), bias)


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_log_softmax_and_softmax(dim):
    x = randn(3, 4, 5) * 10  # large logits: the max-shift must keep it finite
    check_op(lambda t: F.log_softmax(t, dim), lambda t: TF.log_softmax(t, dim), x)
    check_op(lambda t: F.softmax(t, dim), lambda t: TF.softmax(t, dim), x)


@pytest.mark.parametrize("shape", [(8, 3), (4, 3, 5, 5)])
@pytest.mark.parametrize("affine", [True, False])
def test_batch_norm_training_matches_torch_including_running_statistics(shape, affine):
    c = shape[1]
    ours_stats = [Tensor(randn(c, seed=5)), Tensor(np.abs(randn(c, seed=6)) + 0.5)]
    torch_stats = [torch.tensor(s.data.copy()) for s in ours_stats]
    params = (randn(c, seed=3), randn(c, seed=4)) if affine else (None, None)

    check_op(lambda x, w, b: F.batch_norm(x, *ours_stats, w, b, True, 0.3, 1e-5),
             lambda x, w, b: TF.batch_norm(x, *torch_stats, w, b, True, 0.3, 1e-5),
             randn(*shape) * 2 + 1, *params)
    for mine, reference in zip(ours_stats, torch_stats, strict=True):
        np.testing.assert_allclose(mine.data, reference.numpy(), rtol=1e-12)


def test_batch_norm_evaluation_uses_running_statistics():
    mean, var = randn(3, seed=5), np.abs(randn(3, seed=6)) + 0.5
    check_op(lambda x, w, b: F.batch_norm(x, Tensor(mean), Tensor(var), w, b, False),
             lambda x, w, b: TF.batch_norm(x, torch.tensor(mean), torch.tensor(var), w, b,
                                           False),
             randn(4, 3, 2, 2), randn(3, seed=3), randn(3, seed=4))


TARGETS = np.array([0, 3, 1, 3, 2])


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("label_smoothing", [0.0, 0.1])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("ignore", [False, True])
def test_cross_entropy_matches_torch(reduction, label_smoothing, weighted, ignore):
    weight = np.array([0.5, 1.0, 2.0, 1.5]) if weighted else None
    target = TARGETS.copy()
    if ignore:
        target[1] = -100

    def op(module):
        def loss(x, t, w):
            return module.cross_entropy(x, t, w, reduction=reduction,
                                        label_smoothing=label_smoothing)
        return loss

    check_op(op(F), op(TF), randn(5, 4) * 3, target, weight, constants=(2,))


def test_cross_entropy_over_pixels_and_with_probability_targets():
    target = np.random.default_rng(0).integers(0, 3, (2, 4, 4))
    check_op(lambda x, t: F.cross_entropy(x, t, label_smoothing=0.2),
             lambda x, t: TF.cross_entropy(x, t, label_smoothing=0.2), randn(2, 3, 4, 4), target)
    probabilities = np.random.default_rng(1).dirichlet(np.ones(4), size=5)
    check_op(lambda x, p: F.cross_entropy(x, p, label_smoothing=0.1),
             lambda x, p: TF.cross_entropy(x, p, label_smoothing=0.1),
             randn(5, 4), probabilities, constants=(1,))


def test_nll_loss():
    check_op(lambda x, t: F.nll_loss(x, t), lambda x, t: TF.nll_loss(x, t), randn(5, 4), TARGETS)


def test_cross_entropy_rejects_out_of_range_targets():
    with pytest.raises(ValueError, match="out of bounds for 4 classes"):
        F.cross_entropy(Tensor(randn(2, 4)), np.array([1, 4]))


def test_dropout_zeroes_about_p_and_scales_the_rest():
    scratch.manual_seed(0)
    x = Tensor(np.ones((200, 500)), requires_grad=True)
    y = F.dropout(x, p=0.3)
    kept = y.data != 0
    assert abs(kept.mean() - 0.7) < 0.01
    np.testing.assert_allclose(y.data[kept], 1 / 0.7)
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, y.data)  # the same mask and scale flow back
    assert F.dropout(x, p=0.3, training=False) is x


def test_dropout_is_reproducible_with_a_seed():
    x = Tensor(np.ones((10, 10)))
    scratch.manual_seed(7)
    first = F.dropout(x).data
    scratch.manual_seed(7)
    np.testing.assert_array_equal(first, F.dropout(x).data)
