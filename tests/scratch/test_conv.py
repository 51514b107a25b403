"""conv2d and conv_transpose2d against torch autograd, over many configurations."""

import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from hypothesis import given, settings
from hypothesis import strategies as st

from cnnlab.scratch import Tensor
from cnnlab.scratch.nn import functional as F
from cnnlab.scratch.nn.functional import conv as conv_kernels
from tests.scratch.helpers import check_op, randn

CONV_CASES = [
    # (N, C, H, W), (O, KH, KW), stride, padding, dilation, groups
    ((2, 3, 7, 7), (4, 3, 3), 1, 0, 1, 1),
    ((2, 3, 8, 9), (5, 3, 2), 2, 1, 1, 1),
    ((1, 1, 28, 28), (6, 5, 5), 1, 2, 1, 1),  # LeNet-5's first layer on 28x28
    ((2, 4, 9, 9), (6, 3, 3), 1, 2, 2, 2),
    ((2, 6, 10, 7), (6, 3, 3), (2, 1), (1, 0), (1, 2), 6),  # depthwise, mixed pairs
    ((1, 3, 15, 15), (8, 11, 11), 4, 0, 1, 1),  # AlexNet-like stride 4
    ((3, 2, 5, 5), (3, 1, 1), 3, 0, 1, 1),  # windows skip the last row and column
    ((2, 4, 6, 6), (4, 3, 3), 1, "same", 1, 4),
    ((2, 3, 7, 6), (2, 4, 2), 1, "same", 2, 1),  # even kernel: extra padding bottom/right
    ((2, 3, 7, 7), (2, 3, 3), 1, "valid", 1, 1),
]


@pytest.mark.parametrize("x_shape, w_dims, stride, padding, dilation, groups", CONV_CASES)
@pytest.mark.parametrize("with_bias", [True, False])
def test_conv2d_matches_torch(x_shape, w_dims, stride, padding, dilation, groups, with_bias):
    o, kh, kw = w_dims
    weight = randn(o, x_shape[1] // groups, kh, kw, seed=1)
    bias = randn(o, seed=2) if with_bias else None

    def op(module):
        return lambda x, w, b: module.conv2d(x, w, b, stride, padding, dilation, groups)

    check_op(op(F), op(TF), randn(*x_shape), weight, bias)


TRANSPOSED_CASES = [
    # (N, C_in, H, W), (C_out/groups, KH, KW), stride, padding, output_padding, groups, dilation
    ((2, 3, 4, 4), (2, 3, 3), 1, 0, 0, 1, 1),
    ((2, 3, 4, 5), (2, 3, 3), 2, 1, 1, 1, 1),
    ((1, 4, 3, 3), (3, 4, 4), 2, 1, 0, 2, 1),
    ((2, 2, 5, 4), (1, 3, 2), (3, 2), (1, 0), (2, 1), 2, 1),
    ((1, 2, 4, 4), (3, 3, 3), 1, 1, 1, 1, 2),  # output_padding < dilation, stride 1
    ((2, 1, 2, 2), (1, 3, 3), 2, 0, 0, 1, 1),  # the classic 2x2 -> 5x5 upsampling
]


@pytest.mark.parametrize("x_shape, w_dims, stride, padding, output_padding, groups, dilation",
                         TRANSPOSED_CASES)
@pytest.mark.parametrize("with_bias", [True, False])
def test_conv_transpose2d_matches_torch(x_shape, w_dims, stride, padding, output_padding,
                                        groups, dilation, with_bias):
    c_out_per_group, kh, kw = w_dims
    weight = randn(x_shape[1], c_out_per_group, kh, kw, seed=1)
    bias = randn(c_out_per_group * groups, seed=2) if with_bias else None

    def op(module):
        return lambda x, w, b: module.conv_transpose2d(x, w, b, stride, padding,
                                                       output_padding, groups, dilation)

    check_op(op(F), op(TF), randn(*x_shape), weight, bias)


# Thin products are cut into parts along their long side (conv.column_parts): these shapes
# make several parts with a shorter last one, in each of the three products.
PARTED_CASES = [
    # (N, C, H, W), (O, KH, KW), stride, padding, groups
    ((44, 1, 28, 28), (6, 5, 5), 1, 2, 1),  # LeNet-5's C1: 34,496 columns, parts of 33,333
    ((22, 6, 14, 14), (16, 5, 5), 1, 0, 1),  # LeNet-5's C3: 2,200 columns, parts of 2,083
    ((33, 16, 13, 13), (32, 5, 5), 2, 2, 2),  # groups 2, stride 2: 1,617 columns, parts of 1,562
]


@pytest.mark.parametrize("x_shape, w_dims, stride, padding, groups", PARTED_CASES)
def test_conv_in_parts_matches_torch(x_shape, w_dims, stride, padding, groups):
    o, kh, kw = w_dims
    weight = randn(o, x_shape[1] // groups, kh, kw, seed=1)

    def op(module):
        return lambda x, w, b: module.conv2d(x, w, b, stride, padding, 1, groups)

    check_op(op(F), op(TF), randn(*x_shape), weight, randn(o, seed=2))


def test_conv_transpose_in_parts_matches_torch():
    # Its forward is the convolution's input gradient, its input gradient the forward.
    weight = randn(16, 6, 5, 5, seed=1)
    check_op(lambda x, w: F.conv_transpose2d(x, w), lambda x, w: TF.conv_transpose2d(x, w),
             randn(22, 16, 10, 10), weight)


def test_column_parts_cover_every_column_once_in_small_products():
    parts = conv_kernels.column_parts(16, 30, 12_800)
    assert [p.start for p in parts] == list(range(0, 12_800, 2_083))
    assert np.concatenate([np.arange(12_800)[p] for p in parts]).tolist() == list(range(12_800))
    assert all(16 * 30 * (p.stop - p.start) <= conv_kernels.SMALL_PRODUCT for p in parts)
    # Wide products are left whole, and so are those small enough already.
    assert conv_kernels.column_parts(64, 192, 131_072) == [slice(0, 131_072)]
    assert conv_kernels.column_parts(16, 30, 2_000) == [slice(0, 2_000)]


def test_course_example_convolution():
    image = [[1, 1, 1, 0, 0], [0, 1, 1, 1, 0], [0, 0, 1, 1, 1], [0, 0, 1, 1, 0], [0, 1, 1, 0, 0]]
    kernel = [[1, 0, 1], [0, 1, 0], [1, 0, 1]]
    out = F.conv2d(Tensor(np.array(image, np.float32)[None, None]),
                   Tensor(np.array(kernel, np.float32)[None, None]))
    np.testing.assert_array_equal(out.data[0, 0], [[4, 3, 4], [2, 4, 3], [2, 3, 4]])


def test_float32_conv_matches_torch_float32():
    x, w = randn(4, 3, 12, 12).astype(np.float32), randn(8, 3, 3, 3, seed=1).astype(np.float32)
    ours = F.conv2d(Tensor(x), Tensor(w), padding=1, stride=2)
    theirs = TF.conv2d(torch.from_numpy(x), torch.from_numpy(w), padding=1, stride=2)
    assert ours.dtype == np.float32
    np.testing.assert_allclose(ours.data, theirs.numpy(), rtol=1e-5, atol=1e-5)


def test_conv_transpose_is_the_adjoint_of_conv():
    # <conv(x), y> == <x, conv_transpose(y)>: the defining property of the transpose.
    x, w, y = randn(2, 3, 9, 9), randn(4, 3, 3, 3, seed=1), randn(2, 4, 5, 5, seed=2)
    forward = F.conv2d(Tensor(x), Tensor(w), stride=2, padding=1).data
    adjoint = F.conv_transpose2d(Tensor(y), Tensor(w), stride=2, padding=1).data
    assert np.isclose(np.sum(forward * y), np.sum(x * adjoint))


@st.composite
def conv_configs(draw):
    groups = draw(st.integers(1, 3))
    c = groups * draw(st.integers(1, 2))
    o = groups * draw(st.integers(1, 2))
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    sh, sw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    dh, dw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    ph, pw = draw(st.integers(0, 3)), draw(st.integers(0, 3))
    h = draw(st.integers(max(1, dh * (kh - 1) + 1 - 2 * ph), 12))
    w = draw(st.integers(max(1, dw * (kw - 1) + 1 - 2 * pw), 12))
    n = draw(st.integers(1, 3))
    return (n, c, h, w), (o, c // groups, kh, kw), (sh, sw), (ph, pw), (dh, dw), groups


@settings(max_examples=60, deadline=None)
@given(conv_configs(), st.booleans())
def test_conv2d_property(config, with_bias):
    x_shape, w_shape, stride, padding, dilation, groups = config
    bias = randn(w_shape[0], seed=2) if with_bias else None

    def op(module):
        return lambda x, w, b: module.conv2d(x, w, b, stride, padding, dilation, groups)

    check_op(op(F), op(TF), randn(*x_shape), randn(*w_shape, seed=1), bias)


@st.composite
def transposed_configs(draw):
    groups = draw(st.integers(1, 3))
    c_in = groups * draw(st.integers(1, 2))
    c_out_per_group = draw(st.integers(1, 2))
    kernel = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    dilation = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    output_padding = tuple(draw(st.integers(0, max(s, d) - 1))
                           for s, d in zip(stride, dilation, strict=True))
    size = (draw(st.integers(1, 6)), draw(st.integers(1, 6)))
    # torch needs a positive output: (i-1)s - 2p + d(k-1) + op + 1 >= 1
    padding = tuple(
        draw(st.integers(0, max(0, ((i - 1) * s + d * (k - 1) + o) // 2)))
        for i, s, d, k, o in zip(size, stride, dilation, kernel, output_padding, strict=True)
    )
    n = draw(st.integers(1, 2))
    return ((n, c_in, *size), (c_in, c_out_per_group, *kernel), stride, padding, output_padding,
            groups, dilation)


@settings(max_examples=60, deadline=None)
@given(transposed_configs())
def test_conv_transpose2d_property(config):
    x_shape, w_shape, stride, padding, output_padding, groups, dilation = config

    def op(module):
        return lambda x, w: module.conv_transpose2d(x, w, None, stride, padding, output_padding,
                                                    groups, dilation)

    check_op(op(F), op(TF), randn(*x_shape), randn(*w_shape, seed=1))
