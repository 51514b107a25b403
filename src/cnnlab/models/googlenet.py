"""GoogLeNet / Inception v1 (Szegedy et al. 2015) without the auxiliary heads, laid out as
torchvision lays it out so its weight files load: 6,624,904 parameters with 1000 classes.

Like torchvision, the "5x5" branch of each Inception block uses a 3x3 convolution (a slip in
the original port that its published weights were trained with), every convolution is followed
by batch norm (eps 0.001), and the max pools round up (ceil mode). Below 64 pixels the stem's
7x7 stride-2 convolution becomes a 3x3 stride-1 one and its first max pool is dropped, so a
32x32 image reaches the Inception blocks at 16x16 instead of 1x1.
"""

from __future__ import annotations

import functools

from cnnlab.models.engines import Engine
from cnnlab.models.registry import SMALL_INPUT, register_model


@functools.cache
def _blocks(engine: Engine):
    nn = engine.nn

    class BasicConv2d(nn.Module):
        def __init__(self, in_channels, out_channels, **kwargs):
            super().__init__()
            self.conv = nn.Conv2d(in_channels, out_channels, bias=False, **kwargs)
            self.bn = nn.BatchNorm2d(out_channels, eps=0.001)
            self.relu = nn.ReLU(inplace=True)

        def forward(self, x):
            return self.relu(self.bn(self.conv(x)))

    class Inception(nn.Module):
        """Four branches side by side, concatenated along the channels."""

        def __init__(self, in_channels, ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj):
            super().__init__()
            self.branch1 = BasicConv2d(in_channels, ch1x1, kernel_size=1)
            self.branch2 = nn.Sequential(
                BasicConv2d(in_channels, ch3x3red, kernel_size=1),
                BasicConv2d(ch3x3red, ch3x3, kernel_size=3, padding=1))
            self.branch3 = nn.Sequential(
                BasicConv2d(in_channels, ch5x5red, kernel_size=1),
                BasicConv2d(ch5x5red, ch5x5, kernel_size=3, padding=1))  # 3x3: see above
            self.branch4 = nn.Sequential(
                nn.MaxPool2d(kernel_size=3, stride=1, padding=1, ceil_mode=True),
                BasicConv2d(in_channels, pool_proj, kernel_size=1))

        def forward(self, x):
            branches = (self.branch1, self.branch2, self.branch3, self.branch4)
            return engine.cat([branch(x) for branch in branches], 1)

    return BasicConv2d, Inception


@register_model(input_size=224)
def googlenet(engine: Engine, num_classes=1000, in_channels=3, input_size=(224, 224),
              dropout: float = 0.2):
    """GoogLeNet / Inception v1 (Szegedy et al. 2015), no auxiliary heads; 224x224."""
    nn = engine.nn
    conv, inception = _blocks(engine)
    small = max(input_size) < SMALL_INPUT
    model = nn.Sequential()
    if small:
        model.add_module("conv1", conv(in_channels, 64, kernel_size=3, stride=1, padding=1))
    else:
        model.add_module("conv1", conv(in_channels, 64, kernel_size=7, stride=2, padding=3))
        model.add_module("maxpool1", nn.MaxPool2d(3, stride=2, ceil_mode=True))
    model.add_module("conv2", conv(64, 64, kernel_size=1))
    model.add_module("conv3", conv(64, 192, kernel_size=3, padding=1))
    model.add_module("maxpool2", nn.MaxPool2d(3, stride=2, ceil_mode=True))
    model.add_module("inception3a", inception(192, 64, 96, 128, 16, 32, 32))
    model.add_module("inception3b", inception(256, 128, 128, 192, 32, 96, 64))
    model.add_module("maxpool3", nn.MaxPool2d(3, stride=2, ceil_mode=True))
    model.add_module("inception4a", inception(480, 192, 96, 208, 16, 48, 64))
    model.add_module("inception4b", inception(512, 160, 112, 224, 24, 64, 64))
    model.add_module("inception4c", inception(512, 128, 128, 256, 24, 64, 64))
    model.add_module("inception4d", inception(512, 112, 144, 288, 32, 64, 64))
    model.add_module("inception4e", inception(528, 256, 160, 320, 32, 128, 128))
    model.add_module("maxpool4", nn.MaxPool2d(2, stride=2, ceil_mode=True))
    model.add_module("inception5a", inception(832, 256, 160, 320, 32, 128, 128))
    model.add_module("inception5b", inception(832, 384, 192, 384, 48, 128, 128))
    model.add_module("avgpool", nn.AdaptiveAvgPool2d((1, 1)))
    model.add_module("flatten", nn.Flatten())
    model.add_module("dropout", nn.Dropout(p=dropout))
    model.add_module("fc", nn.Linear(1024, num_classes))
    for module in model.modules():  # torchvision's: truncated normal at +-2, i.e. N(0, 0.01)
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            nn.init.normal_(module.weight, 0.0, 0.01)
        elif isinstance(module, nn.BatchNorm2d):
            nn.init.constant_(module.weight, 1)
            nn.init.constant_(module.bias, 0)
    return model
