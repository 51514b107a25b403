"""LeNet-5 (LeCun et al. 1998) as CNN courses teach it today: ReLU and max pooling.

C1: 6 5x5 filters -> pool -> C3: 16 5x5 filters -> pool -> 120 -> 84 -> classes. On the
original 32x32 input it has 61,706 parameters with 10 classes; on 28x28 images (MNIST,
Fashion-MNIST) C1 pads by 2, so every later shape is the same as the paper's.
"""

from __future__ import annotations

from cnnlab.models.engines import Engine, get_engine
from cnnlab.models.registry import register_model


@register_model(input_size=32, in_channels=1, num_classes=10)
def lenet5(engine: Engine | str = "torch", num_classes: int = 10, in_channels: int = 1,
           input_size=32, dropout: float = 0.0):
    """LeNet-5 (LeCun et al. 1998) with ReLU and max pooling; 32x32, or 28x28 padded."""
    size = (input_size, input_size) if isinstance(input_size, int) else tuple(input_size)
    if size not in ((28, 28), (32, 32)):
        raise ValueError(f"lenet5: input_size must be 32x32 (the paper's) or 28x28 (C1 pads "
                         f"by 2), got {size[0]}x{size[1]}")
    nn = get_engine(engine).nn
    return nn.Sequential(
        nn.Conv2d(in_channels, 6, kernel_size=5, padding=2 if size == (28, 28) else 0),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(6, 16, kernel_size=5),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Dropout(dropout),  # off by default, as in the paper; the course's dropout knob
        nn.Linear(16 * 5 * 5, 120),
        nn.ReLU(),
        nn.Dropout(dropout),
        nn.Linear(120, 84),
        nn.ReLU(),
        nn.Dropout(dropout),
        nn.Linear(84, num_classes),
    )
