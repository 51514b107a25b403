"""The one way into a training run, for `cnnlab train` and `cnnlab.train(...)` alike: the
settings given (over a --config file's values or a recipe's) start a new run, or a run folder
is resumed, and the run goes to its end. The two front doors only parse what they are given
and format what comes back; each names its settings its own way (`--batch-size` on the
command line, `batch_size=` in Python), so the errors here are spelled by the caller."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from cnnlab.runs.config import read_toml, resolve
from cnnlab.train import distributed, extending, loop, recipes


def flag(name: str) -> str:
    """A setting as the command line spells it."""
    return "MODEL" if name == "model" else "--" + name.replace("_", "-")


def prepare(settings: dict, *, config_file: str | Path | None = None,
            resume: str | Path | None = None, report: Callable[[str], None] = print,
            spell: Callable[[str], str] = flag) -> loop.Run:
    """A run ready to train: resumed from the folder `resume` (where only the epochs may
    change), or started from `settings` (the ones given, None for unset) over the values of
    `config_file` or of the recipe `settings["recipe"]`."""
    given = {name: value for name, value in settings.items() if value is not None}
    if resume is not None:
        extra = sorted(set(given) - {"epochs"}) + (["config"] if config_file else [])
        if extra:
            raise ValueError(f"{spell('resume')} continues a run with its saved configuration; "
                             f"only {spell('epochs')} may change (got "
                             f"{', '.join(map(spell, extra))})")
        try:
            return loop.resume(resume, given.get("epochs"), report)
        except extending.Finished as finished:
            raise ValueError(f"{finished}; pass {spell('epochs')} N to go on (N more than "
                             f"{finished.epochs})") from None
    if config_file and "recipe" in given:
        raise ValueError(f"{spell('recipe')} and {spell('config')} both give a whole "
                         f"configuration; choose one (cnnlab recipes NAME prints a recipe as a "
                         f"--config file)")
    file_values = read_toml(config_file) if config_file else {}
    if "recipe" in given:
        file_values = recipes.load(given.pop("recipe")).configuration()
    if "model" not in given and "model" not in file_values:
        raise ValueError(f"name a model ({spell('model')}): a zoo model (see cnnlab models) or "
                         f"your own, path/to/net.py:Name; or start from a recipe "
                         f"({spell('recipe')}, see cnnlab recipes)")
    run = loop.start(resolve(file_values, given), report)
    run.report(run.describe())
    return run


def run_to_end(run: loop.Run) -> dict | None:
    """Train `run` to its last epoch: its result, or None when it was interrupted (its
    checkpoint then resumes it). Under torchrun the process leaves its group either way."""
    try:
        return run.run()
    finally:
        distributed.leave()
