"""BatchNorm1d, BatchNorm2d and LocalResponseNorm (the original AlexNet's NORM1 and NORM2)."""

from __future__ import annotations

import numpy as np

from cnnlab.scratch.nn import functional as F
from cnnlab.scratch.nn.init import ones_, zeros_
from cnnlab.scratch.nn.modules.conv import _check_device
from cnnlab.scratch.nn.modules.module import Module, Parameter
from cnnlab.scratch.tensor import Tensor


class _BatchNorm(Module):
    _dims: tuple[int, ...]  # the input ranks the layer takes
    _layout: str

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True,
                 track_running_stats=True, device=None, dtype=None, *, bias=True):
        super().__init__()
        name = type(self).__name__
        dtype = _check_device(device, dtype, name)
        if not isinstance(num_features, (int, np.integer)) or num_features < 1:
            raise ValueError(f"{name}: num_features must be a positive int, got "
                             f"{num_features!r}")
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        self.weight = ones_(Parameter(np.empty(num_features, dtype=dtype))) if affine else None
        self.bias = (zeros_(Parameter(np.empty(num_features, dtype=dtype)))
                     if affine and bias else None)
        if track_running_stats:
            self.register_buffer("running_mean", Tensor(np.zeros(num_features, dtype=dtype)))
            self.register_buffer("running_var", Tensor(np.ones(num_features, dtype=dtype)))
            self.register_buffer("num_batches_tracked", Tensor(np.array(0, dtype=np.int64)))
        else:
            self.running_mean = self.running_var = self.num_batches_tracked = None

    def forward(self, input):
        name = type(self).__name__
        if input.ndim not in self._dims:
            raise ValueError(f"{name}: expected a {self._layout} input, got shape {input.shape}")
        if input.shape[1] != self.num_features:
            raise ValueError(f"{name}: input has {input.shape[1]} channels (shape "
                             f"{input.shape}) but num_features={self.num_features}")
        momentum = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats:
            self.num_batches_tracked.data += 1
            if self.momentum is None:  # cumulative moving average, as in torch
                momentum = 1.0 / float(self.num_batches_tracked.data)
        use_batch_stats = self.training or self.running_mean is None
        return F.batch_norm(
            input,
            self.running_mean if not self.training or self.track_running_stats else None,
            self.running_var if not self.training or self.track_running_stats else None,
            self.weight, self.bias, use_batch_stats, momentum, self.eps)

    def extra_repr(self) -> str:
        text = f"{self.num_features}, eps={self.eps}, momentum={self.momentum}"
        if self.affine and self.bias is None:
            text += ", bias=False"
        return text


class BatchNorm1d(_BatchNorm):
    _dims, _layout = (2, 3), "2-D (N, C) or 3-D (N, C, L)"


class BatchNorm2d(_BatchNorm):
    _dims, _layout = (4,), "4-D (N, C, H, W)"


class LocalResponseNorm(Module):
    def __init__(self, size, alpha=1e-4, beta=0.75, k=1.0):
        super().__init__()
        self.size, self.alpha, self.beta, self.k = size, alpha, beta, k

    def forward(self, input):
        return F.local_response_norm(input, self.size, self.alpha, self.beta, self.k)

    def extra_repr(self) -> str:
        return f"{self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k}"
