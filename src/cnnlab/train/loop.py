"""`cnnlab train`: one readable training loop for both engines.

The dataset sits in memory as uint8 tensors; each batch is augmented and normalised on the fly.
After every epoch a checkpoint (model, optimizer, step, every RNG state) replaces the previous
one atomically, so `--resume` continues to the very weights an uninterrupted run reaches.
Ctrl-C is deferred to the end of the current step, then saved the same way mid-epoch.
"""

from __future__ import annotations

import contextlib
import json
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from cnnlab.data import datasets
from cnnlab.data.augment import augment
from cnnlab.data.splits import balanced_subset, stratified_split
from cnnlab.train import distributed
from cnnlab.train.backends import build_backend
from cnnlab.train.checkpoint import load_checkpoint, save_checkpoint, write_atomically
from cnnlab.train.config import TrainConfig, to_toml
from cnnlab.train.schedule import learning_rate

CHECKPOINT, CONFIG, METRICS, RESULT = "checkpoint.pt", "config.toml", "metrics.jsonl", \
    "result.json"
HEADER = (f"{'epoch':>5}  {'train loss':>10}  {'train acc':>9}  {'val loss':>8}  "
          f"{'val acc':>7}  {'lr':>8}  {'seconds':>7}")


class TrainingDiverged(FloatingPointError):
    """The loss became NaN or infinite; the message names the epoch and step."""


@dataclass
class Data:
    spec: datasets.DatasetSpec
    train: tuple[torch.Tensor, torch.Tensor]
    val: tuple[torch.Tensor, torch.Tensor]
    test: tuple[torch.Tensor, torch.Tensor]


def prepare_data(config: TrainConfig) -> Data:
    spec = datasets.get_spec(config.dataset)
    splits = datasets.load(spec, config.data_dir)
    images, labels = splits["train"]
    train_index, val_index = stratified_split(labels, config.val_size, config.seed)
    if config.train_size is not None:
        if config.train_size > len(train_index):
            raise ValueError(f"train_size {config.train_size} is more than the "
                             f"{len(train_index)} training images left after a validation "
                             f"split of {config.val_size}")
        train_index = train_index[balanced_subset(labels[train_index], config.train_size,
                                                  config.seed)]

    def tensors(index):
        return torch.from_numpy(images[index]), torch.from_numpy(labels[index])

    test_images, test_labels = splits["test"]
    return Data(spec, tensors(train_index), tensors(val_index),
                (torch.from_numpy(test_images), torch.from_numpy(test_labels)))


def normalise(images: torch.Tensor, spec: datasets.DatasetSpec) -> torch.Tensor:
    mean = torch.tensor(spec.mean).view(1, -1, 1, 1)
    std = torch.tensor(spec.std).view(1, -1, 1, 1)
    return (images.float() / 255.0 - mean) / std


def evaluate(backend, images: torch.Tensor, labels: torch.Tensor, spec,
             batch_size: int = 1000) -> tuple[float | None, float | None]:
    """(mean cross-entropy, accuracy) over a whole split; (None, None) for an empty one."""
    if len(images) == 0:
        return None, None
    loss, correct = 0.0, 0
    for start in range(0, len(images), batch_size):
        x = normalise(images[start : start + batch_size], spec)
        y = labels[start : start + batch_size]
        logits = backend.logits(x)
        loss += float(torch.nn.functional.cross_entropy(logits, y, reduction="sum"))
        correct += int((logits.argmax(1) == y).sum())
    return loss / len(images), correct / len(images)


@contextlib.contextmanager
def deferred_interrupt() -> Iterator[Callable[[], bool]]:
    """Turn Ctrl-C into a flag the loop reads between steps, so a step is never cut in half."""
    pressed = []
    if threading.current_thread() is threading.main_thread():  # signals reach only that one
        previous = signal.signal(signal.SIGINT, lambda *_: pressed.append(True))
        try:
            yield lambda: bool(pressed)
        finally:
            signal.signal(signal.SIGINT, previous)
    else:
        yield lambda: False


class Run:
    def __init__(self, config: TrainConfig, report: Callable[[str], None] = print):
        self.cluster = distributed.join()
        if self.cluster.distributed and config.engine != "torch":
            raise ValueError("several processes (torchrun) need --engine torch; the scratch "
                             "engine trains in one process")
        self.config = config
        self.report = report if self.cluster.is_main else (lambda line: None)
        self.folder = config.run_dir()
        if config.threads:
            torch.set_num_threads(config.threads)
        self.data = prepare_data(config)
        torch.manual_seed(config.seed)
        if config.engine == "scratch":
            import cnnlab.scratch as scratch

            scratch.manual_seed(config.seed)
        spec = self.data.spec
        self.backend = build_backend(config, len(spec.classes), spec.shape, self.cluster)
        self.shuffle = torch.Generator().manual_seed(config.seed + 1)
        self.augment_rng = torch.Generator().manual_seed(config.seed + 2)
        self.steps_per_epoch = -(-len(self.data.train[0]) // config.batch_size)
        self.epoch, self.step = 1, 0  # the epoch under way and the steps it has done
        self.order: torch.Tensor | None = None
        self.sums = [0.0, 0, 0]  # loss sum, correct, seen: so far in this epoch
        self.train_seconds = 0.0
        self.stopping = False  # Ctrl-C was pressed (on any rank)

    # ------------------------------------------------------------ checkpoints
    def state(self) -> dict:
        rng = {"torch": torch.get_rng_state(), "shuffle": self.shuffle.get_state(),
               "augment": self.augment_rng.get_state()}
        if self.config.engine == "scratch":
            import cnnlab.scratch as scratch

            rng["scratch"] = json.dumps(scratch.get_rng_state())
        return {**self.backend.state_dict(), "rng": rng, "epoch": self.epoch,
                "step": self.step, "order": self.order, "sums": list(self.sums),
                "train_seconds": self.train_seconds, "config": asdict(self.config)}

    def restore(self, state: dict) -> None:
        self.backend.load_state_dict(state)
        torch.set_rng_state(state["rng"]["torch"])
        self.shuffle.set_state(state["rng"]["shuffle"])
        self.augment_rng.set_state(state["rng"]["augment"])
        if "scratch" in state["rng"]:
            import cnnlab.scratch as scratch

            scratch.set_rng_state(json.loads(state["rng"]["scratch"]))
        self.epoch, self.step, self.order = state["epoch"], state["step"], state["order"]
        self.sums = list(state["sums"])
        self.train_seconds = state["train_seconds"]

    def save(self) -> None:
        if self.cluster.is_main:
            save_checkpoint(self.folder / CHECKPOINT, self.state())

    # ------------------------------------------------------------ the loop
    def batches(self) -> Iterator[tuple[int, torch.Tensor, torch.Tensor]]:
        if self.order is None:
            self.order = torch.randperm(len(self.data.train[0]), generator=self.shuffle)
        images, labels = self.data.train
        augmentations = self.config.augmentations()
        spec = self.data.spec
        for step in range(self.step, self.steps_per_epoch):
            index = self.order[step * self.config.batch_size : (step + 1) *
                               self.config.batch_size]
            x = images[index]
            if augmentations:
                x = augment(x, self.augment_rng,
                            crop_padding=spec.shape[1] // 8 if "crop" in augmentations else 0,
                            flip="flip" in augmentations,
                            cutout_size=spec.shape[1] // 4 if "cutout" in augmentations else 0)
            y = labels[index]
            if self.cluster.distributed:  # the same global batch everywhere, a share per rank
                x, y = x[self.cluster.rank :: self.cluster.world], \
                    y[self.cluster.rank :: self.cluster.world]
            yield step, normalise(x, spec), y

    def lr_at(self, step_in_epoch: int) -> float:
        total = self.config.epochs * self.steps_per_epoch
        done = (self.epoch - 1) * self.steps_per_epoch + step_in_epoch
        return learning_rate(self.config.schedule, self.config.lr, done, total)

    def train_epoch(self, interrupted: Callable[[], bool]) -> bool:
        """Run the rest of the current epoch; False when Ctrl-C stopped it."""
        from tqdm import tqdm

        started = time.perf_counter()
        bar = tqdm(total=self.steps_per_epoch, initial=self.step, file=sys.stderr,
                   leave=False, disable=None if self.cluster.is_main else True,
                   desc=f"epoch {self.epoch}", unit="step")
        try:
            for step, x, y in self.batches():
                lr = self.lr_at(step)
                self.backend.set_lr(lr)
                loss, correct = self.backend.train_step(x, y)
                loss_sum, correct, seen, stop = self.cluster.sum(
                    [loss * len(y), correct, len(y), float(interrupted())])
                loss = loss_sum / seen
                if not np.isfinite(loss):
                    raise TrainingDiverged(
                        f"the loss became {loss} at epoch {self.epoch}, step {step + 1} "
                        f"(lr {lr:.3g}); stopped before updating the weights. The last good "
                        f"checkpoint is {self.folder / CHECKPOINT} (epoch "
                        f"{self.epoch - 1}); try a lower --lr")
                self.sums = [self.sums[0] + loss_sum, self.sums[1] + int(correct),
                             self.sums[2] + int(seen)]
                self.step = step + 1
                bar.update(1)
                bar.set_postfix(loss=f"{self.sums[0] / self.sums[2]:.4f}", refresh=False)
                self.stopping = stop > 0  # every rank stops at the same step
                if self.stopping and self.step < self.steps_per_epoch:
                    return False
        finally:
            bar.close()
            self.train_seconds += time.perf_counter() - started
        return True

    def finish_epoch(self, seconds: float) -> dict:
        val_loss, val_acc = (evaluate(self.backend, *self.data.val, self.data.spec)
                             if self.cluster.is_main else (None, None))
        loss_sum, correct, seen = self.sums
        row = {"epoch": self.epoch, "train_loss": loss_sum / seen, "train_acc": correct / seen,
               "val_loss": val_loss, "val_acc": val_acc,
               "lr": self.lr_at(self.steps_per_epoch - 1), "seconds": seconds}
        self.epoch, self.step, self.order, self.sums = self.epoch + 1, 0, None, [0.0, 0, 0]
        self.save()  # the checkpoint first: metrics never run ahead of it
        if self.cluster.is_main:
            with open(self.folder / METRICS, "a") as handle:
                handle.write(json.dumps(row) + "\n")
        self.cluster.barrier()
        val_loss_text = "-" if val_loss is None else f"{val_loss:.4f}"
        val_acc_text = "-" if val_acc is None else f"{val_acc:.4f}"
        self.report(f"{row['epoch']:>5}  {row['train_loss']:>10.4f}  {row['train_acc']:>9.4f}"
                    f"  {val_loss_text:>8}  {val_acc_text:>7}  {row['lr']:>8.2e}  "
                    f"{seconds:>7.1f}")
        return row

    def run(self) -> dict | None:
        """Train to the last epoch; None when Ctrl-C stopped the run (checkpoint saved)."""
        self.report(HEADER)
        with deferred_interrupt() as interrupted:
            while self.epoch <= self.config.epochs:
                started = time.perf_counter()
                finished = self.train_epoch(interrupted)
                if not finished:
                    self.save()
                    self.report(f"interrupted at epoch {self.epoch}, step {self.step}; "
                                f"checkpoint saved. Continue with: cnnlab train --resume "
                                f"{self.folder}")
                    return None
                self.finish_epoch(time.perf_counter() - started)
                if self.stopping and self.epoch <= self.config.epochs:
                    self.report(f"interrupted after epoch {self.epoch - 1}; checkpoint "
                                f"saved. Continue with: cnnlab train --resume {self.folder}")
                    return None
        return self.conclude()

    def conclude(self) -> dict:
        """The test figures (rank 0; the other ranks return an empty dict)."""
        if not self.cluster.is_main:
            self.cluster.barrier()
            return {}
        test_loss, test_acc = evaluate(self.backend, *self.data.test, self.data.spec)
        result = {"test_accuracy": test_acc, "test_loss": test_loss,
                  "epochs": self.config.epochs, "train_seconds": self.train_seconds,
                  "train_images": len(self.data.train[0]), "engine": self.config.engine}
        write_atomically(self.folder / RESULT, (json.dumps(result, indent=2) + "\n").encode())
        self.save_weights()
        self.cluster.barrier()
        return result

    def save_weights(self) -> None:
        from safetensors.torch import save

        weights = self.backend.state_dict()["model"]
        tensors = {k: v.detach().contiguous() if isinstance(v, torch.Tensor) else v
                   for k, v in weights.items()}
        write_atomically(self.folder / "model.safetensors", save(tensors))


def start(config: TrainConfig, report: Callable[[str], None] = print) -> Run:
    folder = config.run_dir()
    if (folder / CHECKPOINT).exists():
        raise ValueError(f"{folder} already holds a run; continue it with --resume {folder} "
                         "or choose another --out")
    run = Run(config, report)
    if run.cluster.is_main:
        folder.mkdir(parents=True, exist_ok=True)
        write_atomically(folder / CONFIG, to_toml(config).encode())
        (folder / METRICS).write_text("")
    run.cluster.barrier()
    return run


def resume(folder: str | Path, epochs: int | None = None,
           report: Callable[[str], None] = print) -> Run:
    """Continue the run in `folder` from its checkpoint; `epochs` may extend a finished run
    (with the schedule stretched to the new length, which changes its remaining steps)."""
    folder = Path(folder)
    state = load_checkpoint(folder / CHECKPOINT)
    config = TrainConfig(**state["config"])
    config.out = str(folder)
    if epochs is not None:
        config.epochs = epochs
    config.validate()
    run = Run(config, report)
    run.restore(state)
    completed = run.epoch - 1
    if run.cluster.is_main:
        lines = (folder / METRICS).read_text().splitlines() if (folder / METRICS).exists() \
            else []
        kept = [line for line in lines if line and json.loads(line)["epoch"] <= completed]
        write_atomically(folder / METRICS, "".join(line + "\n" for line in kept).encode())
    run.cluster.barrier()
    report(f"resuming {folder} at epoch {run.epoch}, step {run.step}")
    return run
