"""The scratch engine's Tensor (`graph`: the array, its graph and backward()) and its ops,
each with its hand-written backward beside it: `elementwise`, `reductions` (with linear
algebra) and `shapes`. Importing the package installs every op's Tensor methods."""

from cnnlab.scratch.tensor.arguments import _normalise_dims, unbroadcast
from cnnlab.scratch.tensor.elementwise import (
    abs_,
    add,
    cast,
    clamp,
    cos,
    div,
    exp,
    log,
    maximum,
    minimum,
    mul,
    pow_,
    relu,
    sigmoid,
    sin,
    sqrt,
    sub,
    tanh,
)
from cnnlab.scratch.tensor.graph import Tensor, _record, is_grad_enabled, no_grad
from cnnlab.scratch.tensor.observers import announced, observe_ops
from cnnlab.scratch.tensor.reductions import ValuesIndices, extreme, matmul, mean, sum_
from cnnlab.scratch.tensor.shapes import (
    cat,
    flatten,
    flip,
    getitem,
    permute,
    reshape,
    setitem,
    stack,
)

__all__ = ["Tensor", "ValuesIndices", "_normalise_dims", "_record", "abs_", "add", "announced",
           "cast", "cat", "clamp", "cos", "div", "exp", "extreme", "flatten", "flip",
           "getitem", "is_grad_enabled", "log", "matmul", "maximum", "mean", "minimum", "mul",
           "no_grad", "observe_ops", "permute", "pow_", "relu", "reshape",
           "setitem", "sigmoid", "sin", "sqrt", "stack", "sub", "sum_", "tanh", "unbroadcast"]
