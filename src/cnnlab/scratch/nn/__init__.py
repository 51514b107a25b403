"""`cnnlab.scratch.nn`: layers with torch.nn's names, signatures, initialisation and keys."""

from cnnlab.scratch.nn import functional, init
from cnnlab.scratch.nn.modules.conv import Conv2d, ConvTranspose2d
from cnnlab.scratch.nn.modules.layers import (
    AdaptiveAvgPool2d,
    AvgPool2d,
    BatchNorm2d,
    CrossEntropyLoss,
    Dropout,
    Flatten,
    Identity,
    Linear,
    MaxPool2d,
    ReLU,
    SumPool2d,
)
from cnnlab.scratch.nn.modules.module import Module, Parameter, Sequential

__all__ = [
    "AdaptiveAvgPool2d",
    "AvgPool2d",
    "BatchNorm2d",
    "Conv2d",
    "ConvTranspose2d",
    "CrossEntropyLoss",
    "Dropout",
    "Flatten",
    "Identity",
    "Linear",
    "MaxPool2d",
    "Module",
    "Parameter",
    "ReLU",
    "Sequential",
    "SumPool2d",
    "functional",
    "init",
]
