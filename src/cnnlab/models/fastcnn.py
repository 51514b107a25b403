"""FastCNN: small plain networks built to reach an accuracy within a time budget on a CPU, the
models of the time-to-accuracy recipes (`cnnlab recipes`).

Three 3x3 convolutions, the first two followed by 2x2 max pooling, each then by batch norm and
ReLU; the last map is flattened into one linear layer. Pooling comes before batch norm (as in
Keller Jordan's airbench speedruns) so the normalisation and activation run on a quarter of
the pixels, and there is no global pooling: on 28x28 clothes *where* a feature sits (a
collar, a heel) tells classes apart, and the flattened 7x7 map costs one small matrix
product. On 28x28 images fastcnn24 (24, 48, 96 filters) has 99,442 parameters and 4.3 M
multiply-adds, fastcnn32 (32, 64, 128) 155,626 and 7.5 M: LeNet-5 has 0.4 M, ResNet-20 41 M.

fastcnn32x2, the 15-minute recipe's model, has two convolutions per stage (the second one
keeps the width, conv-BN-ReLU, as in airbench's conv groups) and, in evaluation mode, averages
its logits over the image and its mirror image (flip test-time augmentation, as the
speedruns do): 0.3 points on Fashion-MNIST for twice the inference work, which `cnnlab shapes`
counts (each layer is listed once per pass).
"""

from __future__ import annotations

import functools

from cnnlab.arithmetic.sizes import pool_output_size
from cnnlab.models.engines import Engine
from cnnlab.models.registry import register_model


def fast_cnn(engine: Engine, widths: tuple[int, int, int], num_classes: int,
             in_channels: int, input_size: tuple[int, int], dropout: float = 0.0,
             convs_per_stage: int = 1):
    nn = engine.nn

    def conv_bn_relu(cin, cout, pool):
        pooling = [nn.MaxPool2d(2)] if pool else []
        return [nn.Conv2d(cin, cout, kernel_size=3, padding=1, bias=False), *pooling,
                nn.BatchNorm2d(cout), nn.ReLU()]

    layers, channels = [], in_channels
    height, width = input_size
    for index, filters in enumerate(widths):
        layers += conv_bn_relu(channels, filters, pool=index < 2)
        if index < 2:
            height, width = pool_output_size(height, 2, 2), pool_output_size(width, 2, 2)
        for _ in range(convs_per_stage - 1):
            layers += conv_bn_relu(filters, filters, pool=False)
        channels = filters
    return nn.Sequential(*layers, nn.Flatten(), nn.Dropout(dropout),
                         nn.Linear(channels * height * width, num_classes))


@functools.cache
def _flip_averaged(engine: Engine):
    """A model whose evaluation-mode logits are the mean of the body's on the image and on
    its mirror image (each engine gets its own subclass of its Module)."""

    class FlipAveraged(engine.nn.Module):
        def __init__(self, body):
            super().__init__()
            self.body = body

        def forward(self, x):
            if self.training:  # training sees mirror images through augmentation instead
                return self.body(x)
            return (self.body(x) + self.body(x.flip(3))) / 2

    return FlipAveraged


@register_model(input_size=28, in_channels=1, num_classes=10)
def fastcnn24(engine, num_classes=10, in_channels=1, input_size=(28, 28), dropout=0.0):
    """FastCNN with 24, 48, 96 filters: the 60-second Fashion-MNIST recipe's model."""
    return fast_cnn(engine, (24, 48, 96), num_classes, in_channels, input_size, dropout)


@register_model(input_size=28, in_channels=1, num_classes=10)
def fastcnn32(engine, num_classes=10, in_channels=1, input_size=(28, 28), dropout=0.0):
    """FastCNN with 32, 64, 128 filters: the 3-minute Fashion-MNIST recipe's model."""
    return fast_cnn(engine, (32, 64, 128), num_classes, in_channels, input_size, dropout)


@register_model(input_size=28, in_channels=1, num_classes=10)
def fastcnn32x2(engine, num_classes=10, in_channels=1, input_size=(28, 28), dropout=0.0):
    """FastCNN-32 with two convolutions per stage and flip-averaged predictions: the
    15-minute Fashion-MNIST recipe's model."""
    body = fast_cnn(engine, (32, 64, 128), num_classes, in_channels, input_size, dropout,
                    convs_per_stage=2)
    return _flip_averaged(engine)(body)
