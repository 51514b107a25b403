"""Convolution arithmetic in pure Python: output sizes, receptive fields, parameters and
multiply-adds, per layer and per network. Needs neither torch nor NumPy."""

from cnnlab.arithmetic.layers import Layer
from cnnlab.arithmetic.receptive_field import ReceptiveField
from cnnlab.arithmetic.sizes import (
    LayerDoesNotFit,
    conv_output_size,
    conv_transpose_output_size,
    coverage_warning,
    dropped_by_stride,
    pool_output_size,
)
from cnnlab.arithmetic.table import LayerTable, format_shape

__all__ = [
    "Layer",
    "LayerDoesNotFit",
    "LayerTable",
    "ReceptiveField",
    "conv_output_size",
    "conv_transpose_output_size",
    "coverage_warning",
    "dropped_by_stride",
    "format_shape",
    "pool_output_size",
]
