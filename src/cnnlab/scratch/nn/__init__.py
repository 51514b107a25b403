"""`cnnlab.scratch.nn`: layers with torch.nn's names, signatures, initialisation and keys."""

from cnnlab.scratch.nn import functional, init
from cnnlab.scratch.nn.modules.activation import (
    LeakyReLU,
    LogSoftmax,
    ReLU,
    Sigmoid,
    Softmax,
    Tanh,
)
from cnnlab.scratch.nn.modules.container import ModuleList
from cnnlab.scratch.nn.modules.conv import Conv2d, ConvTranspose2d
from cnnlab.scratch.nn.modules.layers import (
    AdaptiveAvgPool2d,
    AvgPool2d,
    Dropout,
    Flatten,
    Identity,
    Linear,
    MaxPool2d,
    SumPool2d,
)
from cnnlab.scratch.nn.modules.loss import CrossEntropyLoss, MSELoss
from cnnlab.scratch.nn.modules.module import Module, Parameter, Sequential
from cnnlab.scratch.nn.modules.normalization import BatchNorm1d, BatchNorm2d, LocalResponseNorm

__all__ = [
    "AdaptiveAvgPool2d",
    "AvgPool2d",
    "BatchNorm1d",
    "BatchNorm2d",
    "Conv2d",
    "ConvTranspose2d",
    "CrossEntropyLoss",
    "Dropout",
    "Flatten",
    "Identity",
    "LeakyReLU",
    "Linear",
    "LocalResponseNorm",
    "LogSoftmax",
    "MSELoss",
    "MaxPool2d",
    "Module",
    "ModuleList",
    "Parameter",
    "ReLU",
    "Sequential",
    "Sigmoid",
    "Softmax",
    "SumPool2d",
    "Tanh",
    "functional",
    "init",
]
