"""One training epoch of `cnnlab train` against the textbook PyTorch loop, side by side.

The textbook loop: a `Dataset` whose `__getitem__` converts and normalises one image, a
`DataLoader` that collates them into batches, the same model (LeNet-5), batch size, optimizer
and learning rate. Ours: the data held as one uint8 tensor, each batch indexed, converted and
normalised at once. Both run in this process, alternately, with the same thread count; the
script prints the seconds per epoch, the ratio, and the test accuracy each reaches.

It also times the textbook's training steps alone, on batches made before the clock starts:
what the textbook loop would cost if its data handling were free. The textbook epoch divided
by that is the most any data pipeline can gain; past it, only faster model arithmetic helps.

    .venv/bin/python benchmarks/epoch_vs_tutorial.py [--epochs 1] [--rounds 2] [--threads 2]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import numpy as np
import torch

from cnnlab.data import datasets
from cnnlab.data.contract import Preprocessing
from cnnlab.models.zoo import create_model
from cnnlab.runs.config import TrainConfig
from cnnlab.train import loop

SPEC = datasets.FASHION_MNIST
CONTRACT = Preprocessing.of(SPEC, "dataset")


class TutorialDataset(torch.utils.data.Dataset):
    """What the tutorials write: one image at a time, converted and normalised on access."""

    def __init__(self, images: np.ndarray, labels: np.ndarray):
        self.images, self.labels = images, labels

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index):
        image = torch.tensor(self.images[index], dtype=torch.float32) / 255.0
        return (image - SPEC.mean[0]) / SPEC.std[0], int(self.labels[index])


def tutorial_epochs(train, test, epochs: int, batch_size: int, lr: float, seed: int):
    torch.manual_seed(seed)
    model = create_model("lenet5", num_classes=10, in_channels=1, input_size=28)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    loader = torch.utils.data.DataLoader(TutorialDataset(*train), batch_size=batch_size,
                                         shuffle=True)
    started = time.perf_counter()
    for _ in range(epochs):
        model.train()
        for x, y in loader:
            optimizer.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(x), y)
            loss.backward()
            optimizer.step()
    seconds = (time.perf_counter() - started) / epochs
    model.eval()
    with torch.no_grad():
        x = CONTRACT.images(torch.from_numpy(test[0]))
        accuracy = float((model(x).argmax(1) == torch.from_numpy(test[1])).float().mean())
    return seconds, accuracy


def bare_steps(train, epochs: int, batch_size: int, lr: float, seed: int) -> float:
    """Seconds per epoch of the textbook's model and optimizer on ready-made batches."""
    torch.manual_seed(seed)
    model = create_model("lenet5", num_classes=10, in_channels=1, input_size=28)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    x = CONTRACT.images(torch.from_numpy(train[0]))
    y = torch.from_numpy(train[1]).long()
    order = torch.randperm(len(x))
    batches = [(x[i].contiguous(), y[i]) for i in order.split(batch_size)]
    model.train()
    started = time.perf_counter()
    for _ in range(epochs):
        for images, labels in batches:
            optimizer.zero_grad()
            torch.nn.functional.cross_entropy(model(images), labels).backward()
            optimizer.step()
    return (time.perf_counter() - started) / epochs


def our_epochs(folder: str, epochs: int, batch_size: int, lr: float, seed: int):
    config = TrainConfig(model="lenet5", dataset=SPEC.name, epochs=epochs,
                         batch_size=batch_size, lr=lr, schedule="none", seed=seed,
                         out=folder).validate()
    run = loop.start(config, report=lambda line: None)
    started = time.perf_counter()
    for _ in range(epochs):
        run.train_epoch(lambda: False)
        run.epoch, run.step, run.order, run.sums = run.epoch + 1, 0, None, [0.0, 0, 0]
    seconds = (time.perf_counter() - started) / epochs
    _, accuracy = run.evaluate("test")
    return seconds, accuracy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=0.002)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    splits = datasets.load(SPEC)
    images, labels = splits["train"]
    train = (images[5000:], labels[5000:])  # as many images as our run trains on (55,000)
    test = (splits["test"][0], splits["test"][1])
    ours, theirs, bare = [], [], []
    for round_ in range(args.rounds):
        with tempfile.TemporaryDirectory() as folder:
            ours.append(our_epochs(folder + "/run", args.epochs, args.batch_size, args.lr,
                                   round_))
        theirs.append(tutorial_epochs(train, (test[0], test[1]), args.epochs,
                                      args.batch_size, args.lr, round_))
        bare.append(bare_steps(train, args.epochs, args.batch_size, args.lr, round_))
    our_seconds = statistics.median(s for s, _ in ours)
    their_seconds = statistics.median(s for s, _ in theirs)
    bare_seconds = statistics.median(bare)
    print(f"LeNet-5 on Fashion-MNIST, batch {args.batch_size}, Adam lr {args.lr}, "
          f"{args.threads} threads, {args.epochs} epoch(s) x {args.rounds} rounds")
    print(f"  textbook Dataset + DataLoader: {their_seconds:6.2f} s/epoch, test accuracy "
          f"{statistics.mean(a for _, a in theirs):.4f}")
    print(f"  cnnlab train loop:             {our_seconds:6.2f} s/epoch, test accuracy "
          f"{statistics.mean(a for _, a in ours):.4f}")
    print(f"  textbook steps alone (no data work): {bare_seconds:6.2f} s/epoch")
    print(f"  speed-up: {their_seconds / our_seconds:.2f}x (the most a data pipeline alone can "
          f"give: {their_seconds / bare_seconds:.2f}x)")


if __name__ == "__main__":
    main()
