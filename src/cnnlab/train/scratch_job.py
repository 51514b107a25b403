"""Train LeNet-5 with the scratch NumPy engine on Fashion-MNIST and report test accuracy.

The whole dataset sits in memory as uint8; each batch is normalised on the fly. This is the
engine's end-to-end check on real data: every gradient comes from cnnlab.scratch.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np

import cnnlab.scratch as scratch
from cnnlab.data import fashion_mnist
from cnnlab.models.registry import create_model
from cnnlab.scratch import optim
from cnnlab.scratch.nn import functional as F


@dataclass(frozen=True)
class JobConfig:
    epochs: int = 1
    batch_size: int = 32
    lr: float = 0.002
    momentum: float = 0.9
    optimizer: str = "adam"
    train_size: int | None = None
    seed: int = 0
    data_dir: str | None = None

    def validate(self) -> None:
        if self.epochs < 1:
            raise ValueError(f"epochs must be at least 1, got {self.epochs}")
        if self.batch_size < 1:
            raise ValueError(f"batch size must be at least 1, got {self.batch_size}")
        if not self.lr > 0:
            raise ValueError(f"learning rate must be positive, got {self.lr}")
        if self.optimizer not in ("sgd", "adam"):
            raise ValueError(f"optimizer must be 'sgd' or 'adam', got {self.optimizer!r}")
        if self.train_size is not None and not 1 <= self.train_size <= 60_000:
            raise ValueError(f"training-set size must be between 1 and 60000, got "
                             f"{self.train_size}")


def evaluate(model, images: np.ndarray, labels: np.ndarray, batch_size: int = 1000) -> float:
    model.eval()
    correct = 0
    with scratch.no_grad():
        for start in range(0, len(images), batch_size):
            batch = scratch.Tensor(fashion_mnist.normalise(images[start : start + batch_size]))
            predicted = model(batch).data.argmax(axis=1)
            correct += int((predicted == labels[start : start + batch_size]).sum())
    return correct / len(images)


def train_epoch(model, optimizer, images, labels, batch_size, rng, report) -> float:
    model.train()
    order = rng.permutation(len(images))
    steps = -(-len(images) // batch_size)
    running = 0.0
    started = time.perf_counter()
    for step in range(steps):
        index = order[step * batch_size : (step + 1) * batch_size]
        logits = model(scratch.Tensor(fashion_mnist.normalise(images[index])))
        loss = F.cross_entropy(logits, labels[index].astype(np.int64))
        if not np.isfinite(loss.item()):
            raise FloatingPointError(f"loss became {loss.item()} at step {step + 1}; lower --lr")
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        running += loss.item()
        if (step + 1) % max(1, steps // 10) == 0 or step + 1 == steps:
            seconds = time.perf_counter() - started
            report(f"  step {step + 1:4d}/{steps}  loss {running / (step + 1):.4f}  "
                   f"{(step + 1) * batch_size / seconds:7.0f} images/s")
    return running / steps


def run(config: JobConfig, report: Callable[[str], None] = print) -> dict:
    config.validate()
    scratch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    train_images, train_labels = fashion_mnist.load("train", config.data_dir)
    test_images, test_labels = fashion_mnist.load("test", config.data_dir)
    if config.train_size is not None:
        subset = rng.permutation(len(train_images))[: config.train_size]
        train_images, train_labels = train_images[subset], train_labels[subset]

    model = create_model("lenet5", "scratch", num_classes=10, in_channels=1, input_size=28)
    if config.optimizer == "sgd":
        optimizer = optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum)
    else:
        optimizer = optim.Adam(model.parameters(), lr=config.lr)
    report(f"LeNet-5 on the scratch engine, Fashion-MNIST: {len(train_images)} training "
           f"images, batch {config.batch_size}, {config.optimizer} lr {config.lr}")
    started = time.perf_counter()
    for epoch in range(1, config.epochs + 1):
        report(f"epoch {epoch}/{config.epochs}")
        train_epoch(model, optimizer, train_images, train_labels, config.batch_size, rng,
                    report)
    train_seconds = time.perf_counter() - started
    accuracy = evaluate(model, test_images, test_labels)
    return {"test_accuracy": accuracy, "train_seconds": train_seconds, "config": asdict(config)}
