"""A resumed run that ends elsewhere than planned (`--resume RUN --epochs N`): the rule.

The schedule is re-planned for the new number of epochs and goes on from the step the run
stands at, as if the run had been started for that many: the steps already taken stay as
they were, and the rest follow the new plan. With onecycle, extending a finished 2-epoch run
to 4 takes the learning rate from its end (peak/25e4) back up to where a 4-epoch run is at
its midpoint, then anneals it again; the resume line says both figures. The run's
config.toml, result.json and report say the new length. A finished run resumed without a
new length has nothing to train, and says so."""

from __future__ import annotations

from pathlib import Path

from cnnlab.runs.config import TrainConfig
from cnnlab.train.schedule import learning_rate


class Finished(ValueError):
    """A finished run resumed without a new number of epochs: nothing is left to train."""

    def __init__(self, folder: Path, epochs: int):
        super().__init__(f"{folder} finished at epoch {epochs}")
        self.folder, self.epochs = folder, epochs


def new_length(folder: Path, state: dict, config: TrainConfig, epochs: int | None) -> int:
    """The epochs the resumed run goes to: its own, or `epochs`, which may extend it or end
    it sooner, but not before the epoch it stands in."""
    length = config.epochs if epochs is None else epochs
    if state["epoch"] > config.epochs and length == config.epochs:
        raise Finished(folder, config.epochs)
    least = state["epoch"] if state["step"] else max(1, state["epoch"] - 1)
    if length < least:
        raise ValueError(f"{folder} has trained {state['epoch'] - 1} epochs"
                         + (f" and {state['step']} steps of epoch {state['epoch']}"
                            if state["step"] else "")
                         + f"; it cannot end at epoch {length}: give at least {least}")
    return length


def replanned(run, planned: int) -> str:
    """The line a run whose length changed resumes with: what its schedule does now."""
    config, steps = run.config, run.steps_per_epoch
    done = (run.epoch - 1) * steps + run.step
    before = learning_rate(config.schedule, config.lr, max(0, done - 1), planned * steps)
    after = learning_rate(config.schedule, config.lr, done, config.epochs * steps)
    return (f"{'extending' if config.epochs > planned else 'shortening'} the run from "
            f"{planned} to {config.epochs} epochs: its {config.schedule} schedule is "
            f"re-planned for {config.epochs} epochs and goes on from step {done}, the "
            f"learning rate {before:.3g} at the last step, {after:.3g} at the next")
