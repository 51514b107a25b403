"""`cnnlab train`: one readable training loop for every model, engine and device.

The dataset sits in memory as uint8 tensors on the run's device (a GPU's batches never leave
it); each batch is augmented there and turned into what the model receives by the run's
preprocessing contract. The step itself is the five lines of every PyTorch tutorial, written
once for both engines (`Run.train_step`). After every epoch a checkpoint (model, optimizer,
step, every RNG state) replaces the previous one atomically, so `--resume` continues to the
very weights an uninterrupted run reaches. Ctrl-C is deferred to the end of the current
step, then saved the same way mid-epoch.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import torch
from safetensors.numpy import save as safetensors_bytes
from tqdm.auto import tqdm

from cnnlab.data.augment import augment
from cnnlab.data.contract import Preprocessing
from cnnlab.data.datasets import get_spec
from cnnlab.data.splits import run_splits
from cnnlab.errors import first_line
from cnnlab.models import engines
from cnnlab.models.build import build_model
from cnnlab.models.engines import engine_of
from cnnlab.models.user import is_user_model, parse_user_model
from cnnlab.runs import folder as layout
from cnnlab.runs.checkpoint import load_checkpoint, save_checkpoint
from cnnlab.runs.config import TrainConfig
from cnnlab.train import distributed
from cnnlab.train.extending import new_length, replanned
from cnnlab.train.initial import freeze, initialise
from cnnlab.train.interrupt import deferred_interrupt
from cnnlab.train.schedule import learning_rate

HEADER = (f"{'epoch':>5}  {'train loss':>10}  {'train acc':>9}  {'val loss':>8}  "
          f"{'val acc':>7}  {'lr':>8}  {'seconds':>7}")


class TrainingDiverged(FloatingPointError):
    """The loss became NaN or infinite; the message names the epoch and step."""


class Run:
    """A training run: its model, optimizer and data on one engine and device.

    `source` is the file to build the user's network from (the run folder's copy, once there
    is one); `report` receives every line the run prints."""

    def __init__(self, config: TrainConfig, report: Callable[[str], None] = print,
                 source: Path | None = None):
        self.folder = config.run_dir()
        self.spec = spec = get_spec(config.dataset).only(config.classes)
        self.contract = Preprocessing.of(spec, config.normalize)
        engines.manual_seed(config.seed)  # the model's initialisation draws from its engine
        model = build_model(config.model, spec.shape, len(spec.classes), config.engine,
                            config.dropout, source)
        self.engine = engine_of(model)
        self.config = config = replace(config, engine=self.engine.name)
        if distributed.world_size() > 1 and not self.engine.distributable:
            raise ValueError("several processes (torchrun) need --engine torch; the "
                             f"{self.engine.name} engine trains in one process")
        self.device = self.engine.device(config.device, distributed.local_rank())
        self.engine.check_amp(self.device, config.amp)
        # the data last: a model or device that cannot be had is said before it loads
        splits = run_splits(config.dataset, config.val_size, config.seed, config.train_size,
                            config.data_dir, config.classes)
        self.cluster = distributed.join(self.device)
        self.report = report if self.cluster.is_main else (lambda line: None)
        self.channels_last = not is_user_model(config.model)  # see TorchEngine.prepare
        self.model = self.engine.prepare(model, self.device, self.channels_last)
        if config.freeze:
            report(freeze(self.model, config.freeze))
        # what the step calls: the model, on every rank or core
        self.net = self.engine.on_cores(self.cluster.wrap(self.model, self.device),
                                        config.threads)
        self.optimizer = self.engine.optimizer(
            config.optimizer, [p for p in self.model.parameters() if p.requires_grad],
            config.lr, config.momentum, config.nesterov, config.weight_decay, self.device)
        self.scaler = self.engine.grad_scaler(self.device, config.amp)
        self.data = {split: tuple(torch.from_numpy(array).to(self.device) for array in pair)
                     for split, pair in (("train", splits.train), ("val", splits.val),
                                         ("test", splits.test))}
        self.shuffle = torch.Generator().manual_seed(config.seed + 1)
        self.augment_rng = torch.Generator().manual_seed(config.seed + 2)
        self.steps_per_epoch = -(-len(self.data["train"][0]) // config.batch_size)
        self.epoch, self.step = 1, 0  # the epoch under way and the steps it has done
        self.order: torch.Tensor | None = None
        self.sums = [0.0, 0, 0]  # loss sum, correct, seen: so far in this epoch
        self.rows: list[dict] = []  # every finished epoch's metrics, kept in the checkpoint
        self.train_seconds = 0.0
        self.stopping = False  # Ctrl-C was pressed (on any rank)

    # ------------------------------------------------------------ the step
    def train_step(self, x, y) -> tuple[float, int]:
        """One optimizer step on a batch: (its loss, its correct predictions). The weights
        stay untouched when the loss is not finite on every rank."""
        self.net.train()
        with self.engine.autocast(self.device, self.config.amp):
            logits = self.net(x)
            loss = self.engine.F.cross_entropy(logits, y,
                                               label_smoothing=self.config.label_smoothing)
        value = loss.item()
        if not self.cluster.all_finite(value, self.device):
            return (float("nan") if math.isfinite(value) else value), 0
        self.optimizer.zero_grad()
        self.scaler.scale(loss).backward()
        self.scaler.step(self.optimizer)
        self.scaler.update()
        return value, self.engine.correct(logits, y)

    def batches(self) -> Iterator[tuple[int, object, object]]:
        if self.order is None:
            self.order = torch.randperm(len(self.data["train"][0]), generator=self.shuffle)
        images, labels = self.data["train"]
        augmentations = self.config.augmentations()
        size = self.spec.shape[1]
        for step in range(self.step, self.steps_per_epoch):
            index = self.order[step * self.config.batch_size:
                               (step + 1) * self.config.batch_size].to(self.device)
            x = images[index]
            if augmentations:
                x = augment(x, self.augment_rng,
                            crop_padding=size // 8 if "crop" in augmentations else 0,
                            flip="flip" in augmentations,
                            cutout_size=size // 4 if "cutout" in augmentations else 0)
            y = labels[index]
            if self.cluster.distributed:  # the same global batch everywhere, a share per rank
                x, y = x[self.cluster.rank :: self.cluster.world], \
                    y[self.cluster.rank :: self.cluster.world]
            yield (step, self.engine.inputs(self.contract.images(x), self.channels_last),
                   self.engine.targets(y))

    def evaluate(self, split: str, batch_size: int = 1000) -> tuple[float | None, float | None]:
        """(mean cross-entropy, accuracy) over a whole split; (None, None) for an empty one."""
        images, labels = self.data[split]
        if len(images) == 0:
            return None, None
        loss, correct = 0.0, 0
        self.model.eval()
        with self.engine.no_grad(), self.engine.autocast(self.device, self.config.amp):
            for start in range(0, len(images), batch_size):
                x = self.contract.images(images[start : start + batch_size])
                logits = self.engine.to_torch(self.model(self.engine.inputs(
                    x, self.channels_last)))
                y = labels[start : start + batch_size].to(logits.device)
                loss += float(torch.nn.functional.cross_entropy(logits.float(), y,
                                                                reduction="sum"))
                correct += int((logits.argmax(1) == y).sum())
        return loss / len(images), correct / len(images)

    def lr_at(self, step_in_epoch: int) -> float:
        total = self.config.epochs * self.steps_per_epoch
        done = (self.epoch - 1) * self.steps_per_epoch + step_in_epoch
        return learning_rate(self.config.schedule, self.config.lr, done, total)

    # ------------------------------------------------------------ checkpoints
    def state(self) -> dict:
        rng = {"shuffle": self.shuffle.get_state(), "augment": self.augment_rng.get_state(),
               **self.engine.rng_state(self.device)}
        return {"model": self.engine.to_checkpoint(dict(self.model.state_dict())),
                "optimizer": self.engine.to_checkpoint(self.optimizer.state_dict()),
                "scaler": self.scaler.state_dict(), "rng": rng, "epoch": self.epoch,
                "step": self.step, "order": self.order, "sums": list(self.sums),
                "train_seconds": self.train_seconds, "config": asdict(self.config),
                "history": [dict(row) for row in self.rows]}

    def restore(self, state: dict) -> None:
        self.model.load_state_dict(self.engine.from_checkpoint(state["model"]))
        self.optimizer.load_state_dict(self.engine.from_checkpoint(state["optimizer"]))
        if state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
        self.shuffle.set_state(state["rng"]["shuffle"])
        self.augment_rng.set_state(state["rng"]["augment"])
        self.engine.set_rng_state(state["rng"], self.device)
        self.epoch, self.step, self.order = state["epoch"], state["step"], state["order"]
        self.sums = list(state["sums"])
        self.train_seconds = state["train_seconds"]
        self.rows = [dict(row) for row in state.get("history", [])]

    def save(self) -> None:
        if self.cluster.is_main:
            save_checkpoint(self.folder / layout.CHECKPOINT, self.state())

    # ------------------------------------------------------------ the loop
    def train_epoch(self, interrupted: Callable[[], bool]) -> bool:
        """Run the rest of the current epoch; False when Ctrl-C stopped it."""
        started = time.perf_counter()
        bar = tqdm(total=self.steps_per_epoch, initial=self.step, file=sys.stderr,
                   leave=False, disable=None if self.cluster.is_main else True,
                   desc=f"epoch {self.epoch}", unit="step")
        try:
            for step, x, y in self.batches():
                lr = self.lr_at(step)
                for group in self.optimizer.param_groups:
                    group["lr"] = lr
                loss, correct = self.train_step(x, y)
                loss_sum, correct, seen, stop = self.cluster.sum(
                    [loss * len(y), correct, len(y), float(interrupted())], self.device)
                loss = loss_sum / seen
                if not math.isfinite(loss):
                    raise TrainingDiverged(
                        f"the loss became {loss} at epoch {self.epoch}, step {step + 1} "
                        f"(lr {lr:.3g}); stopped before updating the weights. The last good "
                        f"checkpoint is {self.folder / layout.CHECKPOINT} (epoch "
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
        val_loss, val_acc = self.evaluate("val") if self.cluster.is_main else (None, None)
        loss_sum, correct, seen = self.sums
        row = {"epoch": self.epoch, "train_loss": loss_sum / seen, "train_acc": correct / seen,
               "val_loss": val_loss, "val_acc": val_acc,
               "lr": self.lr_at(self.steps_per_epoch - 1), "seconds": seconds}
        self.epoch, self.step, self.order, self.sums = self.epoch + 1, 0, None, [0.0, 0, 0]
        self.rows.append(row)
        # The checkpoint holds the history too, so a crash between it and the metrics line
        # loses nothing: resuming rewrites metrics.jsonl from the checkpoint.
        self.save()
        if self.cluster.is_main:
            layout.append_history(self.folder, row)
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
        try:
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
                                    f"saved. Continue with: cnnlab train --resume "
                                    f"{self.folder}")
                        return None
        finally:
            self.engine.off_cores(self.net)
        return self.conclude()

    def conclude(self) -> dict:
        """The test figures (rank 0; the other ranks return an empty dict)."""
        if not self.cluster.is_main:
            self.cluster.barrier()
            return {}
        test_loss, test_acc = self.evaluate("test")
        result = {"test_accuracy": test_acc, "test_loss": test_loss,
                  "epochs": self.config.epochs, "train_seconds": self.train_seconds,
                  "train_images": len(self.data["train"][0]), "engine": self.engine.name,
                  "device": str(self.device),
                  "device_name": self.engine.device_name(self.device), "amp": self.config.amp}
        layout.write_json(self.folder / layout.RESULT, result)
        # contiguous: a channels-last weight's array keeps its strides, and the file writer
        # copies the raw buffer, which would scramble it
        arrays = {k: np.require(v, requirements="C")  # (ascontiguousarray makes 0-d 1-d)
                  for k, v in self.engine.weights(self.model).items()}
        layout.write_weights_file(self.folder / layout.WEIGHTS, safetensors_bytes(arrays))
        self.cluster.barrier()
        return result

    def describe(self) -> str:
        """The line a run starts with: what trains on what, where."""
        config, spec = self.config, self.spec
        processes = f", {self.cluster.world} processes" if self.cluster.distributed else ""
        name = self.engine.device_name(self.device)
        device = f"{self.device}" + (f" ({name})" if name else "")
        amp = f", {config.amp} mixed precision" if config.amp else ""
        receives = "normalised pixels" if config.normalize == "dataset" else "pixels in [0, 1]"
        recipe = f" (recipe {config.recipe})" if config.recipe else ""
        warning = self.engine.amp_warning(self.device, config.amp)
        subset = f" classes {', '.join(spec.classes)}" if spec.subset else ""
        return (f"{config.model} on {spec.name}{subset} ({self.engine.name} engine on "
                f"{device}{amp}"
                f"{processes}): {len(self.data['train'][0])} training and "
                f"{len(self.data['val'][0])} validation images, batch {config.batch_size}, "
                f"{config.optimizer} lr {config.lr}, {config.schedule} schedule, the model "
                f"receives {receives}; run folder {self.folder}{recipe}"
                + (f"\n{warning}" if warning else ""))


def start(config: TrainConfig, report: Callable[[str], None] = print) -> Run:
    """A new run in config.run_dir(); a network of the user's own is copied into it."""
    folder = config.run_dir()
    if folder.exists() and not folder.is_dir():
        raise ValueError(f"--out {folder} is a file; a run is a folder (choose another name)")
    if (folder / layout.CHECKPOINT).exists():
        raise ValueError(f"{folder} already holds a run; continue it with --resume {folder} "
                         "or choose another --out")
    original = parse_user_model(config.model).source_file() \
        if is_user_model(config.model) else None
    before = layout.sha256_of(original) if original else None
    run = Run(replace(config, source=None, source_sha256=None), report, original)
    if config.init:  # a resumed run has its own weights: the init is read at the start alone
        run.report(initialise(run.model, config.init, run.spec.classes))
    if run.cluster.is_main:
        folder.mkdir(parents=True, exist_ok=True)
        if original is not None:
            source, sha256 = layout.copy_source(folder, original)
            if sha256 != before:
                raise ValueError(f"{original} changed while the run was starting; start it "
                                 "again")
            run.config = replace(run.config, source=source, source_sha256=sha256)
        layout.write_config(folder, run.config)
        layout.start_history(folder)
    run.cluster.barrier()
    return run


def resume(folder: str | Path, epochs: int | None = None,
           report: Callable[[str], None] = print) -> Run:
    """Continue the run in `folder` from its checkpoint. `epochs` changes where it ends
    (a finished run goes on): the schedule is then re-planned for the new number of epochs
    and continues from the step the run stands at, as if the run had been started for that
    many (train/extending.py); config.toml says the new length. A network of the
    user's own is rebuilt from the run's copy of its source."""
    folder = Path(folder)
    state = load_checkpoint(folder / layout.CHECKPOINT)
    config = TrainConfig(**state["config"])
    config.out = str(folder)
    planned = config.epochs
    config.epochs = new_length(folder, state, config, epochs)
    config.validate()
    copy = layout.source_copy(folder, config)
    if copy is not None:
        report(source_note(config, copy))
    run = Run(config, report, copy)
    try:
        run.restore(state)
    except (KeyError, TypeError, ValueError, RuntimeError, IndexError) as error:
        raise ValueError(f"{folder / layout.CHECKPOINT} is damaged and cannot be resumed "
                         f"({type(error).__name__}: {first_line(error)}); its weights may "
                         f"still be in {folder / layout.WEIGHTS}, or start the run again") \
            from None
    if run.cluster.is_main:
        if "history" in state:
            layout.write_history(folder, run.rows)
        else:  # a checkpoint from before the history was kept in it
            layout.keep_history(folder, run.epoch - 1)
        if config.epochs != planned:
            layout.write_config(folder, run.config)
    run.cluster.barrier()
    report(f"resuming {folder} at epoch {run.epoch}, step {run.step}")
    if config.epochs != planned:
        report(replanned(run, planned))
    return run


def source_note(config: TrainConfig, copy: Path) -> str:
    """What became of the user's file since the run copied it."""
    try:
        original = parse_user_model(config.model).source_file()
    except (FileNotFoundError, ValueError):
        return (f"{config.model.rpartition(':')[0]} is gone; the run continues with its own "
                f"copy, {copy}")
    if layout.sha256_of(original) != config.source_sha256:
        return (f"{original} has changed since this run started (sha256 "
                f"{layout.sha256_of(original)[:12]}, the run's copy {config.source_sha256[:12]}"
                f"); the run continues with its own copy, {copy}, which its weights belong to")
    return f"{original} is unchanged since this run started (sha256 {config.source_sha256[:12]})"
