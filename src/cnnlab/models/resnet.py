"""ResNets (He et al. 2016): the ImageNet ResNet-18/34/50, laid out as torchvision lays them
out (stride in the 3x3 convolution of a bottleneck, "v1.5") so its weight files load, and the
CIFAR ResNet-20/56 of section 4.2: 3 stages of 16/32/64 channels and option A shortcuts
(subsample, then pad the new channels with zeros; no parameters).

Published figures: ResNet-18 11,689,512 parameters and about 1.8 G multiply-adds on 224x224;
ResNet-20 269,722 and ResNet-56 853,018 parameters with 10 classes. Below 64 pixels the
ImageNet ResNets use the usual CIFAR stem: a 3x3 stride-1 first convolution and no max pool.
"""

from __future__ import annotations

import functools

from cnnlab.models.engines import Engine
from cnnlab.models.registry import SMALL_INPUT, register_model


@functools.cache
def _blocks(engine: Engine):
    """The residual blocks written once; each engine gets its own subclasses of its Module."""
    nn, F = engine.nn, engine.F

    def conv3x3(in_planes, out_planes, stride=1):
        return nn.Conv2d(in_planes, out_planes, kernel_size=3, stride=stride, padding=1,
                         bias=False)

    def conv1x1(in_planes, out_planes, stride=1):
        return nn.Conv2d(in_planes, out_planes, kernel_size=1, stride=stride, bias=False)

    class BasicBlock(nn.Module):
        expansion = 1

        def __init__(self, inplanes, planes, stride=1, downsample=None):
            super().__init__()
            self.conv1 = conv3x3(inplanes, planes, stride)
            self.bn1 = nn.BatchNorm2d(planes)
            self.relu = nn.ReLU(inplace=True)
            self.conv2 = conv3x3(planes, planes)
            self.bn2 = nn.BatchNorm2d(planes)
            self.downsample = downsample

        def forward(self, x):
            out = self.relu(self.bn1(self.conv1(x)))
            out = self.bn2(self.conv2(out))
            identity = x if self.downsample is None else self.downsample(x)
            return self.relu(out + identity)

    class Bottleneck(nn.Module):
        expansion = 4

        def __init__(self, inplanes, planes, stride=1, downsample=None):
            super().__init__()
            self.conv1 = conv1x1(inplanes, planes)
            self.bn1 = nn.BatchNorm2d(planes)
            self.conv2 = conv3x3(planes, planes, stride)
            self.bn2 = nn.BatchNorm2d(planes)
            self.conv3 = conv1x1(planes, planes * self.expansion)
            self.bn3 = nn.BatchNorm2d(planes * self.expansion)
            self.relu = nn.ReLU(inplace=True)
            self.downsample = downsample

        def forward(self, x):
            out = self.relu(self.bn1(self.conv1(x)))
            out = self.relu(self.bn2(self.conv2(out)))
            out = self.bn3(self.conv3(out))
            identity = x if self.downsample is None else self.downsample(x)
            return self.relu(out + identity)

    class ZeroPadShortcut(nn.Module):
        """Option A: keep every stride-th pixel, pad the extra channels with zeros."""

        def __init__(self, in_planes, out_planes, stride):
            super().__init__()
            self.in_planes, self.out_planes, self.stride = in_planes, out_planes, stride

        def forward(self, x):
            x = x[:, :, :: self.stride, :: self.stride]
            extra = self.out_planes - self.in_planes
            return F.pad(x, (0, 0, 0, 0, extra // 2, extra - extra // 2))

        def extra_repr(self) -> str:
            return f"{self.in_planes} -> {self.out_planes} channels, stride {self.stride}"

    return BasicBlock, Bottleneck, ZeroPadShortcut, conv1x1


def _imagenet_resnet(engine: Engine, bottleneck: bool, layers: list[int], num_classes: int,
                     in_channels: int, input_size: tuple[int, int]):
    nn = engine.nn
    basic, bottle, _, conv1x1 = _blocks(engine)
    block = bottle if bottleneck else basic
    small = max(input_size) < SMALL_INPUT
    model = nn.Sequential()
    if small:
        model.add_module("conv1", nn.Conv2d(in_channels, 64, 3, stride=1, padding=1,
                                            bias=False))
    else:
        model.add_module("conv1", nn.Conv2d(in_channels, 64, 7, stride=2, padding=3,
                                            bias=False))
    model.add_module("bn1", nn.BatchNorm2d(64))
    model.add_module("relu", nn.ReLU(inplace=True))
    if not small:
        model.add_module("maxpool", nn.MaxPool2d(kernel_size=3, stride=2, padding=1))
    inplanes = 64
    for index, (planes, blocks) in enumerate(zip((64, 128, 256, 512), layers, strict=True)):
        stride = 1 if index == 0 else 2
        downsample = None
        if stride != 1 or inplanes != planes * block.expansion:
            downsample = nn.Sequential(conv1x1(inplanes, planes * block.expansion, stride),
                                       nn.BatchNorm2d(planes * block.expansion))
        stage = [block(inplanes, planes, stride, downsample)]
        inplanes = planes * block.expansion
        stage += [block(inplanes, planes) for _ in range(1, blocks)]
        model.add_module(f"layer{index + 1}", nn.Sequential(*stage))
    model.add_module("avgpool", nn.AdaptiveAvgPool2d((1, 1)))
    model.add_module("flatten", nn.Flatten())
    model.add_module("fc", nn.Linear(512 * block.expansion, num_classes))
    for module in model.modules():  # torchvision's initialisation
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(module, nn.BatchNorm2d):
            nn.init.constant_(module.weight, 1)
            nn.init.constant_(module.bias, 0)
    return model


@register_model(input_size=224)
def resnet18(engine, num_classes=1000, in_channels=3, input_size=(224, 224)):
    """ResNet-18 (He et al. 2016), torchvision's layout; 224x224."""
    return _imagenet_resnet(engine, False, [2, 2, 2, 2], num_classes, in_channels, input_size)


@register_model(input_size=224)
def resnet34(engine, num_classes=1000, in_channels=3, input_size=(224, 224)):
    """ResNet-34 (He et al. 2016), torchvision's layout; 224x224."""
    return _imagenet_resnet(engine, False, [3, 4, 6, 3], num_classes, in_channels, input_size)


@register_model(input_size=224)
def resnet50(engine, num_classes=1000, in_channels=3, input_size=(224, 224)):
    """ResNet-50 (He et al. 2016), bottlenecks with the stride in the 3x3 (torchvision's v1.5)."""
    return _imagenet_resnet(engine, True, [3, 4, 6, 3], num_classes, in_channels, input_size)


def _cifar_resnet(engine: Engine, depth: int, num_classes: int, in_channels: int):
    nn = engine.nn
    basic, _, zero_pad_shortcut, _ = _blocks(engine)
    blocks_per_stage = (depth - 2) // 6
    model = nn.Sequential()
    model.add_module("conv1", nn.Conv2d(in_channels, 16, 3, stride=1, padding=1, bias=False))
    model.add_module("bn1", nn.BatchNorm2d(16))
    model.add_module("relu", nn.ReLU(inplace=True))
    inplanes = 16
    for index, planes in enumerate((16, 32, 64)):
        stride = 1 if index == 0 else 2
        stage = []
        for block_index in range(blocks_per_stage):
            block_stride = stride if block_index == 0 else 1
            shortcut = None
            if block_stride != 1 or inplanes != planes:
                shortcut = zero_pad_shortcut(inplanes, planes, block_stride)
            stage.append(basic(inplanes, planes, block_stride, shortcut))
            inplanes = planes
        model.add_module(f"layer{index + 1}", nn.Sequential(*stage))
    model.add_module("avgpool", nn.AdaptiveAvgPool2d((1, 1)))
    model.add_module("flatten", nn.Flatten())
    model.add_module("fc", nn.Linear(64, num_classes))
    for module in model.modules():  # He et al.'s initialisation
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            nn.init.kaiming_normal_(module.weight)
    return model


@register_model(input_size=32, num_classes=10)
def resnet20(engine, num_classes=10, in_channels=3, input_size=(32, 32)):
    """ResNet-20 for CIFAR (He et al. 2016, section 4.2), option A shortcuts; 32x32."""
    return _cifar_resnet(engine, 20, num_classes, in_channels)


@register_model(input_size=32, num_classes=10)
def resnet56(engine, num_classes=10, in_channels=3, input_size=(32, 32)):
    """ResNet-56 for CIFAR (He et al. 2016, section 4.2), option A shortcuts; 32x32."""
    return _cifar_resnet(engine, 56, num_classes, in_channels)
