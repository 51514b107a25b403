"""LeNet-5 (LeCun et al. 1998) as CNN courses teach it today: ReLU and max pooling.

C1: 6 5x5 filters -> pool -> C3: 16 5x5 filters -> pool -> 120 -> 84 -> classes. On the
original 32x32 input it has 61,706 parameters with 10 classes; on 28x28 images (MNIST,
Fashion-MNIST) C1 pads by 2, so every later shape is the same as the paper's.
"""

from __future__ import annotations

from cnnlab.models.engines import nn_namespace


def lenet5(engine: str = "torch", num_classes: int = 10, in_channels: int = 1,
           input_size: int = 32):
    if input_size not in (28, 32):
        raise ValueError(f"lenet5: input_size must be 32 (the paper's) or 28 (padded), "
                         f"got {input_size}")
    nn = nn_namespace(engine)
    return nn.Sequential(
        nn.Conv2d(in_channels, 6, kernel_size=5, padding=2 if input_size == 28 else 0),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(6, 16, kernel_size=5),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(16 * 5 * 5, 120),
        nn.ReLU(),
        nn.Linear(120, 84),
        nn.ReLU(),
        nn.Linear(84, num_classes),
    )
