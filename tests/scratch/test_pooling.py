"""max_pool2d, avg_pool2d and sum_pool2d against torch autograd."""

import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from cnnlab.scratch import Tensor
from cnnlab.scratch.nn import functional as F
from tests.scratch.helpers import check_op, randn

POOL_CASES = [
    # (N, C, H, W), kernel_size, stride, padding, dilation, ceil_mode
    ((2, 3, 8, 8), 2, None, 0, 1, False),
    ((2, 3, 7, 7), 3, 2, 1, 1, False),
    ((1, 2, 5, 5), 2, 2, 1, 1, True),  # the ceil_mode case where the last window is dropped
    ((2, 2, 6, 7), (3, 2), (2, 1), (1, 0), 1, True),
    ((1, 3, 9, 9), 3, 1, 1, 2, False),
    ((2, 1, 10, 10), 3, 3, 0, 1, True),
    ((1, 1, 4, 4), 1, 2, 0, 1, False),
    ((3, 2, 13, 11), 3, 2, 0, 1, True),  # AlexNet's overlapping 3x3/2 pooling
    ((1, 2, 1, 3), (2, 4), (2, 3), 0, 1, True),  # ceil_mode: a window larger than the input
]


@pytest.mark.parametrize("x_shape, kernel, stride, padding, dilation, ceil_mode", POOL_CASES)
def test_max_pool2d_matches_torch(x_shape, kernel, stride, padding, dilation, ceil_mode):
    def op(module):
        return lambda x: module.max_pool2d(x, kernel, stride, padding, dilation, ceil_mode)

    check_op(op(F), op(TF), randn(*x_shape))


@pytest.mark.parametrize("x_shape, kernel, stride, padding, dilation, ceil_mode", POOL_CASES)
def test_max_pool2d_indices_match_torch(x_shape, kernel, stride, padding, dilation, ceil_mode):
    x = randn(*x_shape)
    out, indices = F.max_pool2d(Tensor(x), kernel, stride, padding, dilation, ceil_mode,
                                return_indices=True)
    ref_out, ref_indices = TF.max_pool2d(torch.tensor(x), kernel, stride, padding, dilation,
                                         ceil_mode, return_indices=True)
    np.testing.assert_array_equal(out.data, ref_out.numpy())
    np.testing.assert_array_equal(indices.data, ref_indices.numpy())


def test_max_pool2d_ties_send_the_gradient_where_torch_does():
    x = np.ones((1, 1, 4, 4))  # every window is a tie
    check_op(lambda t: F.max_pool2d(t, 2, 1), lambda t: TF.max_pool2d(t, 2, 1), x)


@pytest.mark.parametrize("stride", [2, 1])  # disjoint windows, and overlapping ones
def test_max_pool2d_a_nan_wins_its_window_as_in_torch(stride):
    x = np.arange(16, dtype=np.float64).reshape(1, 1, 4, 4)
    x[0, 0, 1, 0] = x[0, 0, 1, 1] = np.nan  # two NaNs in one window: the first wins
    ours = Tensor(x, requires_grad=True)
    out, indices = F.max_pool2d(ours, 2, stride, return_indices=True)
    theirs = torch.tensor(x, requires_grad=True)
    ref, ref_indices = TF.max_pool2d(theirs, 2, stride, return_indices=True)
    np.testing.assert_array_equal(out.data, ref.detach().numpy())  # NaN where torch has NaN
    np.testing.assert_array_equal(indices.data, ref_indices.numpy())
    grad = np.arange(out.data.size, dtype=np.float64).reshape(out.shape) + 1
    out.backward(grad)
    ref.backward(torch.tensor(grad))
    np.testing.assert_array_equal(ours.grad, theirs.grad.numpy())


@pytest.mark.parametrize("x_shape, kernel, stride, padding, _dilation, ceil_mode", POOL_CASES)
@pytest.mark.parametrize("count_include_pad", [True, False])
def test_avg_pool2d_matches_torch(x_shape, kernel, stride, padding, _dilation, ceil_mode,
                                  count_include_pad):
    def op(module):
        return lambda x: module.avg_pool2d(x, kernel, stride, padding, ceil_mode,
                                           count_include_pad)

    check_op(op(F), op(TF), randn(*x_shape))


def test_avg_pool2d_divisor_override_matches_torch():
    def op(module):
        return lambda x: module.avg_pool2d(x, 3, 2, 1, True, True, divisor_override=5)

    check_op(op(F), op(TF), randn(2, 3, 8, 8))


@pytest.mark.parametrize("x_shape, kernel, stride, padding, _dilation, ceil_mode", POOL_CASES)
def test_sum_pool2d_is_avg_pool2d_times_the_window(x_shape, kernel, stride, padding, _dilation,
                                                   ceil_mode):
    # torch's avg_pool2d with divisor_override=1 is exactly sum pooling.
    check_op(lambda x: F.sum_pool2d(x, kernel, stride, padding, ceil_mode),
             lambda x: TF.avg_pool2d(x, kernel, stride, padding, ceil_mode,
                                     divisor_override=1),
             randn(*x_shape))


@pytest.mark.parametrize("kernel, stride, padding", [(2, 2, 0), (3, 2, 1)])
def test_max_pool2d_of_a_convolution_output_matches_torch(kernel, stride, padding):
    # A convolution's output is an (N, C, H, W) view of a (C, H, N, W) buffer, and the
    # gradient that comes back is in NCHW order: the backward pass works in the forward's.
    values = randn(6, 3, 8, 8)
    conv_laid_out = np.ascontiguousarray(values.transpose(1, 2, 0, 3)).transpose(2, 0, 1, 3)
    x, reference = Tensor(conv_laid_out, requires_grad=True), torch.tensor(values,
                                                                            requires_grad=True)
    ours, theirs = F.max_pool2d(x, kernel, stride, padding), TF.max_pool2d(reference, kernel,
                                                                             stride, padding)
    upstream = randn(*ours.shape, seed=1)
    ours.backward(upstream)
    theirs.backward(torch.tensor(upstream))
    np.testing.assert_array_equal(ours.data, theirs.detach().numpy())
    # overlapping windows add in another order than torch's: last-bit differences
    np.testing.assert_allclose(x.grad, reference.grad.numpy(), rtol=1e-12, atol=1e-15)


def test_course_example_max_pooling():
    x = [[3, 3, 2, 1, 0], [0, 0, 1, 3, 1], [3, 1, 2, 2, 3], [2, 0, 0, 2, 2], [2, 0, 0, 0, 1]]
    out = F.max_pool2d(Tensor(np.array(x, np.float32)[None, None]), 3, stride=1)
    np.testing.assert_array_equal(out.data[0, 0], [[3, 3, 3], [3, 3, 3], [3, 2, 3]])


def test_course_example_sum_pooling():
    x = np.arange(16, dtype=np.float32).reshape(1, 1, 4, 4)
    out = F.sum_pool2d(Tensor(x), 2)
    np.testing.assert_array_equal(out.data[0, 0], [[0 + 1 + 4 + 5, 2 + 3 + 6 + 7],
                                                   [8 + 9 + 12 + 13, 10 + 11 + 14 + 15]])


@st.composite
def pool_configs(draw):
    kernel = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    stride = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    padding = tuple(draw(st.integers(0, k // 2)) for k in kernel)
    dilation = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    size = tuple(
        draw(st.integers(max(1, d * (k - 1) + 1 - 2 * p), 12))
        for k, p, d in zip(kernel, padding, dilation, strict=True)
    )
    shape = (draw(st.integers(1, 3)), draw(st.integers(1, 3)), *size)
    return shape, kernel, stride, padding, dilation, draw(st.booleans())


@settings(max_examples=80, deadline=None)
@given(pool_configs())
def test_max_pool2d_property(config):
    shape, kernel, stride, padding, dilation, ceil_mode = config

    def op(module):
        return lambda x: module.max_pool2d(x, kernel, stride, padding, dilation, ceil_mode)

    # A dilated window can fall entirely on padding: its maximum is -inf in both engines and
    # its gradient has nowhere meaningful to go, so such degenerate layers are left out.
    assume(np.isfinite(op(TF)(torch.tensor(randn(*shape))).numpy()).all())
    check_op(op(F), op(TF), randn(*shape))


@settings(max_examples=80, deadline=None)
@given(pool_configs(), st.booleans())
def test_avg_pool2d_property(config, count_include_pad):
    shape, kernel, stride, padding, _, ceil_mode = config

    def op(module):
        return lambda x: module.avg_pool2d(x, kernel, stride, padding, ceil_mode,
                                           count_include_pad)

    check_op(op(F), op(TF), randn(*shape))
