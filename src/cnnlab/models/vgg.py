"""VGG (Simonyan & Zisserman 2015), configurations A, B, D, E = VGG-11/13/16/19, with and
without batch norm, laid out as torchvision lays it out so its weight files load.

VGG-16 on 224x224 has 138,357,544 parameters and about 15.5 G multiply-adds. Below 64 pixels
the network keeps every 3x3 convolution but only as many 2x2 max pools as the image allows
(five for 32x32, four for 28x28), averages the last map to 1x1 and uses a 512-wide classifier,
as the CIFAR versions of VGG do.
"""

from __future__ import annotations

from cnnlab.arithmetic.sizes import LayerDoesNotFit, pool_output_size
from cnnlab.models.engines import Engine
from cnnlab.models.registry import SMALL_INPUT, register_model

CONFIGS = {
    11: [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    13: [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    16: [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
    19: [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512,
         512, 512, "M"],
}


def _pools_that_fit(input_size: tuple[int, int], wanted: int) -> int:
    size, fitted = min(input_size), 0
    while fitted < wanted:
        try:
            size = pool_output_size(size, 2, 2)
        except LayerDoesNotFit:
            break
        fitted += 1
    return fitted


def _features(nn, config: list, in_channels: int, batch_norm: bool, pools: int):
    layers, pooled = [], 0
    for value in config:
        if value == "M":
            if pooled < pools:
                layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
            pooled += 1
            continue
        layers.append(nn.Conv2d(in_channels, value, kernel_size=3, padding=1))
        if batch_norm:
            layers.append(nn.BatchNorm2d(value))
        layers.append(nn.ReLU(inplace=True))
        in_channels = value
    return nn.Sequential(*layers)


def vgg(engine: Engine, depth: int, batch_norm: bool, num_classes: int, in_channels: int,
        input_size: tuple[int, int], dropout: float = 0.5):
    nn = engine.nn
    small = max(input_size) < SMALL_INPUT
    config = CONFIGS[depth]
    pools = _pools_that_fit(input_size, config.count("M")) if small else config.count("M")
    pooled_to, width = (1, 512) if small else (7, 4096)
    model = nn.Sequential()
    model.add_module("features", _features(nn, config, in_channels, batch_norm, pools))
    model.add_module("avgpool", nn.AdaptiveAvgPool2d((pooled_to, pooled_to)))
    model.add_module("flatten", nn.Flatten())
    model.add_module("classifier", nn.Sequential(
        nn.Linear(512 * pooled_to * pooled_to, width),
        nn.ReLU(True),
        nn.Dropout(p=dropout),
        nn.Linear(width, width),
        nn.ReLU(True),
        nn.Dropout(p=dropout),
        nn.Linear(width, num_classes),
    ))
    for module in model.modules():  # torchvision's initialisation
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            nn.init.constant_(module.bias, 0)
        elif isinstance(module, nn.BatchNorm2d):
            nn.init.constant_(module.weight, 1)
            nn.init.constant_(module.bias, 0)
        elif isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, 0, 0.01)
            nn.init.constant_(module.bias, 0)
    return model


def _variant(depth: int, batch_norm: bool):
    def build(engine, num_classes=1000, in_channels=3, input_size=(224, 224), dropout=0.5):
        return vgg(engine, depth, batch_norm, num_classes, in_channels, input_size, dropout)

    build.__name__ = f"vgg{depth}{'_bn' if batch_norm else ''}"
    build.__doc__ = (f"VGG-{depth} (Simonyan & Zisserman 2015)"
                     f"{' with batch norm' if batch_norm else ''}; 224x224.")
    return register_model(input_size=224)(build)


vgg11, vgg11_bn = _variant(11, False), _variant(11, True)
vgg13, vgg13_bn = _variant(13, False), _variant(13, True)
vgg16, vgg16_bn = _variant(16, False), _variant(16, True)
vgg19, vgg19_bn = _variant(19, False), _variant(19, True)
