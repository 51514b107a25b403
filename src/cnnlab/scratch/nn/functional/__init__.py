"""`cnnlab.scratch.nn.functional`: torch.nn.functional's names, arguments and defaults."""

from cnnlab.scratch.nn.functional.activation import (
    leaky_relu,
    log_softmax,
    relu,
    sigmoid,
    softmax,
    tanh,
)
from cnnlab.scratch.nn.functional.conv import conv2d, conv_transpose2d
from cnnlab.scratch.nn.functional.linear import dropout, flatten, linear
from cnnlab.scratch.nn.functional.loss import cross_entropy, mse_loss, nll_loss
from cnnlab.scratch.nn.functional.normalization import batch_norm, local_response_norm
from cnnlab.scratch.nn.functional.padding import MODES as PADDING_MODES
from cnnlab.scratch.nn.functional.padding import pad
from cnnlab.scratch.nn.functional.pooling import (
    adaptive_avg_pool2d,
    avg_pool2d,
    max_pool2d,
    sum_pool2d,
)

__all__ = [
    "PADDING_MODES",
    "adaptive_avg_pool2d",
    "avg_pool2d",
    "batch_norm",
    "conv2d",
    "conv_transpose2d",
    "cross_entropy",
    "dropout",
    "flatten",
    "leaky_relu",
    "linear",
    "local_response_norm",
    "log_softmax",
    "max_pool2d",
    "mse_loss",
    "nll_loss",
    "pad",
    "relu",
    "sigmoid",
    "softmax",
    "sum_pool2d",
    "tanh",
]
