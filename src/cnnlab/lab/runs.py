"""Runs side by side in the lab: their training curves overlaid, the table `cnnlab runs`
prints (the settings that differ, accuracy, speed, size), and accuracy against speed on one
split, from the points `cnnlab viz pareto` plots (a run measured on another split is evaluated
again, which takes a while the first time)."""

from __future__ import annotations

import sys
import threading
from pathlib import Path

from cnnlab.evaluate.pareto import pareto_front
from cnnlab.runs import folder as layout
from cnnlab.runs.compare import runs_table
from cnnlab.viz import run_data

SPLITS = ("test", "val")
AXES = ("images", "ratio")


def _log(message: str) -> None:
    print(f"cnnlab lab: {message}", file=sys.stderr, flush=True)


class RunsView:
    """The run folders among the lab's models (zoo models have no history to compare)."""

    def __init__(self, folders: list[Path], data_dir: str | None = None):
        self.folders = list(dict.fromkeys(Path(folder) for folder in folders))
        self.data_dir = data_dir
        self.lock = threading.Lock()  # one evaluation at a time: they would time each other

    def overview(self) -> dict:
        if not self.folders:
            return {"runs": [], "header": [], "cells": []}
        table = runs_table(self.folders)
        runs = []
        for row in table.rows:
            result = layout.training_result(row.folder) or {}
            runs.append({"name": row.folder.name, "folder": str(row.folder),
                         "model": row.config.model, "history": layout.history(row.folder),
                         "finished": bool(result), "accuracy": row.accuracy,
                         "measured_on": row.measured_on})
        return {"runs": runs, "header": list(table.header()), "cells": table.cells(),
                "differing": table.differing}

    def pareto(self, split: str = "test", axis: str = "images") -> dict:
        if split not in SPLITS:
            raise ValueError(f"split: expected {' or '.join(SPLITS)}, got {split!r}")
        if axis not in AXES:
            raise ValueError(f"speed: expected images (images/s at batch size 4) or ratio "
                             f"(to the LeNet-5 reference), got {axis!r}")
        if not self.folders:
            raise ValueError("this lab holds no run folder to compare; start it with "
                             "`cnnlab lab RUN_DIR RUN_DIR ...`")
        with self.lock:
            points, label, measured = run_data.pareto_points(
                [str(folder) for folder in self.folders], axis, split, self.data_dir, _log)
        front = {id(point) for point in pareto_front(points)}
        return {"split": measured, "label": label, "points": [
            {"name": point.name, "accuracy": point.accuracy, "speed": point.speed,
             "front": id(point) in front} for point in points]}
