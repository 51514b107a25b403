"""AlexNet as the course lists it (Krizhevsky et al. 2012, one tower, no groups, no LRN):

    INPUT [227x227x3]  CONV1 [55x55x96] 96 11x11 filters at stride 4, pad 0
    POOL1 [27x27x96]   CONV2 [27x27x256] 256 5x5 filters at stride 1, pad 2
    POOL2 [13x13x256]  CONV3 [13x13x384] CONV4 [13x13x384] CONV5 [13x13x256] (3x3, pad 1)
    POOL3 [6x6x256]    FC6 [4096]  FC7 [4096]  FC8 [classes]

62,378,344 parameters with 1000 classes. Pools are 3x3 at stride 2 (overlapping). Below 64
pixels CONV1 becomes 96 3x3 filters at stride 1, pad 1 (11x11 at stride 4 would leave a 32x32
image 6x6 before the first pool); FC6's input is sized from the actual feature map.
"""

from __future__ import annotations

from cnnlab.arithmetic.sizes import conv_output_size, pool_output_size
from cnnlab.models.engines import Engine
from cnnlab.models.registry import SMALL_INPUT, register_model


def _feature_size(size: int, conv1: tuple[int, int, int]) -> int:
    kernel, stride, padding = conv1
    size = conv_output_size(size, kernel, stride, padding, layer="alexnet CONV1")
    size = pool_output_size(size, 3, 2, layer="alexnet POOL1")
    size = pool_output_size(size, 3, 2, layer="alexnet POOL2")  # CONV2 keeps the size
    return pool_output_size(size, 3, 2, layer="alexnet POOL3")  # so do CONV3-5


@register_model(input_size=227)
def alexnet(engine: Engine, num_classes: int = 1000, in_channels: int = 3,
            input_size=(227, 227), dropout: float = 0.5):
    """AlexNet as the course lists it: 227x227x3, CONV1-5, FC6-8, no groups."""
    nn = engine.nn
    conv1 = (3, 1, 1) if max(input_size) < SMALL_INPUT else (11, 4, 0)
    height, width = (_feature_size(size, conv1) for size in input_size)
    model = nn.Sequential()
    model.add_module("features", nn.Sequential(
        nn.Conv2d(in_channels, 96, kernel_size=conv1[0], stride=conv1[1], padding=conv1[2]),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(kernel_size=3, stride=2),
        nn.Conv2d(96, 256, kernel_size=5, padding=2),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(kernel_size=3, stride=2),
        nn.Conv2d(256, 384, kernel_size=3, padding=1),
        nn.ReLU(inplace=True),
        nn.Conv2d(384, 384, kernel_size=3, padding=1),
        nn.ReLU(inplace=True),
        nn.Conv2d(384, 256, kernel_size=3, padding=1),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(kernel_size=3, stride=2),
    ))
    model.add_module("flatten", nn.Flatten())
    model.add_module("classifier", nn.Sequential(
        nn.Dropout(p=dropout),
        nn.Linear(256 * height * width, 4096),
        nn.ReLU(inplace=True),
        nn.Dropout(p=dropout),
        nn.Linear(4096, 4096),
        nn.ReLU(inplace=True),
        nn.Linear(4096, num_classes),
    ))
    return model
