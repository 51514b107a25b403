"""Bad input raises an error that names the argument and the shapes involved."""

import numpy as np
import pytest

import cnnlab.scratch as scratch
from cnnlab.scratch import Tensor, nn
from cnnlab.scratch.nn import functional as F


def images(*shape):
    return Tensor(np.zeros(shape, np.float32))


def weights(*shape):
    return Tensor(np.zeros(shape, np.float32))


@pytest.mark.parametrize("call, error, message", [
    (lambda: F.conv2d(images(2, 3, 8, 8), weights(4, 1, 3, 3)), ValueError,
     r"input has 3 channels \(input shape \(2, 3, 8, 8\)\) but the weight expects "
     r"1\*groups = 1 \(weight shape \(4, 1, 3, 3\), groups=1\)"),
    (lambda: F.conv2d(images(2, 4, 8, 8), weights(6, 1, 3, 3), groups=3), ValueError,
     r"groups=3 does not divide in_channels=4"),
    (lambda: F.conv2d(images(2, 6, 8, 8), weights(4, 2, 3, 3), groups=3), ValueError,
     r"groups=3 does not divide out_channels"),
    (lambda: F.conv2d(images(1, 1, 4, 4), weights(1, 1, 3, 3), dilation=2), ValueError,
     r"dilated kernel size 2\*\(3-1\)\+1 = 5 is larger than the padded input 4 \+ 0 \+ 0 = 4"),
    (lambda: F.conv2d(images(1, 1, 4, 4), weights(1, 1, 3, 3), stride=2, padding="same"),
     ValueError, r"padding='same' needs stride 1"),
    (lambda: F.conv2d(images(1, 1, 4, 4), weights(2, 1, 3, 3), weights(3)), ValueError,
     r"bias must have shape \(2,\)"),
    (lambda: F.conv2d(Tensor(np.zeros((1, 1, 4, 4), np.int64)), weights(1, 1, 3, 3)),
     TypeError, r"input must be a floating-point tensor .* got int64"),
    (lambda: F.conv2d(images(4, 4), weights(1, 1, 3, 3)), ValueError,
     r"expected a 3-D \(C, H, W\) or 4-D \(N, C, H, W\) input, got shape \(4, 4\)"),
    (lambda: F.conv2d(images(1, 1, 4, 4), Tensor(np.zeros((1, 1, 3, 3)))), TypeError,
     r"input is float32, weight is float64"),
    (lambda: F.conv2d(images(1, 1, 4, 4), weights(1, 1, 3, 3), stride=0), ValueError,
     r"stride must be positive, got \(0, 0\)"),
    (lambda: F.conv_transpose2d(images(1, 2, 4, 4), weights(2, 3, 3, 3), stride=2,
                                output_padding=2), ValueError,
     r"output_padding must be smaller than either stride or dilation, got "
     r"output_padding=\(2, 2\), stride=\(2, 2\), dilation=\(1, 1\)"),
    (lambda: F.conv_transpose2d(images(1, 3, 4, 4), weights(2, 3, 3, 3)), ValueError,
     r"input has 3 channels .* in_channels = weight.shape\[0\] = 2"),
    (lambda: F.conv_transpose2d(images(1, 2, 1, 1), weights(2, 3, 1, 1), padding=1),
     ValueError, r"output size \(-1, -1\) is not positive"),
    (lambda: F.max_pool2d(images(1, 1, 8, 8), 2, padding=2), ValueError,
     r"padding should be at most half of the kernel size, got padding=\(2, 2\) for "
     r"kernel_size=\(2, 2\)"),
    (lambda: F.avg_pool2d(images(1, 1, 2, 2), 3), ValueError,
     r"kernel does not fit the input height"),
    (lambda: F.max_pool2d(images(8, 8), 2), ValueError, r"or 4-D \(N, C, H, W\) input"),
    (lambda: F.max_pool2d(Tensor(np.zeros((1, 1, 4, 4), np.uint8)), 2), TypeError,
     r"floating-point tensor .* got uint8"),
    (lambda: F.linear(Tensor(np.zeros((2, 5), np.float32)), weights(3, 4)), ValueError,
     r"input of shape \(2, 5\) has 5 features but the weight \(3, 4\) expects in_features=4"),
    (lambda: F.batch_norm(images(1, 3, 1, 1), None, None, training=True), ValueError,
     r"more than 1 value per channel"),
    (lambda: nn.Conv2d(3, 4, 3, groups=2), ValueError,
     r"in_channels=3 must be divisible by groups=2"),
    (lambda: nn.Conv2d(3, 4, 3, padding_mode="mirror"), ValueError,
     r"padding_mode must be one of \('zeros', 'reflect', 'replicate', 'circular'\)"),
    (lambda: nn.ConvTranspose2d(3, 4, 3, padding_mode="reflect"), ValueError,
     r"padding_mode must be one of \('zeros',\)"),
    (lambda: nn.BatchNorm2d(4)(images(2, 3, 4, 4)), ValueError,
     r"input has 3 channels \(shape \(2, 3, 4, 4\)\) but num_features=4"),
    (lambda: F.dropout(images(2, 2), p=1.5), ValueError, r"between 0 and 1, got 1.5"),
    (lambda: images(2, 3).flip(2), IndexError,
     r"flip: dimension out of range \(expected to be in range of \[-2, 1\], but got 2\)"),
    (lambda: images(2, 3).flip(1, -1), RuntimeError,
     r"flip: dims \(1, -1\) name a dimension twice"),
    (lambda: F.cross_entropy(images(4, 3), np.array([0, 1, 2])), ValueError,
     r"target of shape \(3,\) does not match input \(4, 3\)"),
])
def test_bad_input_is_named(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_the_formula_in_a_kernel_error_uses_the_padding():
    with pytest.raises(ValueError, match=r"padded input 2 \+ 1 \+ 1 = 4"):
        F.conv2d(images(1, 1, 2, 2), weights(1, 1, 5, 5), padding=1)
    assert F.conv2d(images(1, 1, 3, 3), weights(1, 1, 5, 5), padding=1).shape == (1, 1, 1, 1)


def test_scratch_never_imports_torch():
    import subprocess
    import sys

    code = (
        "import sys, cnnlab.scratch, cnnlab.scratch.nn, cnnlab.scratch.optim, "
        "cnnlab.scratch.nn.functional, cnnlab.scratch.nn.init\n"
        "from cnnlab.models.lenet import lenet5\n"
        "lenet5('scratch')\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    assert scratch.Tensor  # the package itself imports here too
