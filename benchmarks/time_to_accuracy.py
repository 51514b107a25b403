"""Rerun the time-to-accuracy recipes (`cnnlab recipes`) on several seeds and print, per seed,
the test accuracy and the time of the whole `cnnlab train --recipe NAME` command (from the
process's start to its exit: imports, data, every epoch, the validation passes, the test
pass and the files), beside the recipe's target. Run it on a quiet machine: two processes
that each use both cores slow each other far more than twice.

    .venv/bin/python benchmarks/time_to_accuracy.py [RECIPE ...] [--seeds 0,1,2]
        [--out runs/time-to-accuracy]

Each run keeps its folder under --out (default: a temporary folder, removed at the end).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from cnnlab.evaluate.environment import cpu_model
from cnnlab.train import recipes


def run_recipe(name: str, seed: int, out: Path) -> tuple[float, float]:
    """(test accuracy, seconds of the whole command) of one seed's run."""
    folder = out / f"{name}-seed{seed}"
    command = [sys.executable, "-m", "cnnlab", "train", "--recipe", name, "--seed",
               str(seed), "--out", str(folder)]
    started = time.perf_counter()
    finished = subprocess.run(command, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if finished.returncode != 0:
        raise SystemExit(f"{name} seed {seed} failed ({finished.returncode}):\n"
                         f"{finished.stderr[-2000:]}")
    result = json.loads((folder / "result.json").read_text())
    return result["test_accuracy"], seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("recipes", nargs="*", help="default: every recipe")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--out", type=Path, help="keep the run folders here")
    args = parser.parse_args()
    names = args.recipes or recipes.names()
    seeds = [int(seed) for seed in args.seeds.split(",")]
    import torch

    print(f"CPU: {cpu_model()}, torch {torch.__version__} with {torch.get_num_threads()} "
          f"threads; CUDA: {torch.cuda.get_device_name() if torch.cuda.is_available() else 'none'}")
    print(f"{'recipe':<22} {'seed':>4}  {'test acc':>8}  {'seconds':>7}  target")
    with tempfile.TemporaryDirectory() as scratch:
        out = args.out or Path(scratch)
        for name in names:
            recipe = recipes.load(name)
            reached = 0
            for seed in seeds:
                accuracy, seconds = run_recipe(name, seed, out)
                met = accuracy >= recipe.target_accuracy and seconds <= recipe.budget_seconds
                reached += met
                print(f"{name:<22} {seed:>4}  {accuracy:>8.2%}  {seconds:>7.1f}  "
                      f"{'met' if met else 'MISSED'} ({recipe.target()})", flush=True)
            print(f"{name}: target met on {reached} of {len(seeds)} seeds")


if __name__ == "__main__":
    main()
