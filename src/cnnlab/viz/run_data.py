"""What the plots and the report read from a run folder: its per-epoch history, its training
result, and its evaluation (eval.json, made by `cnnlab eval` or here when missing or stale)."""

from __future__ import annotations

import json
from pathlib import Path

from cnnlab.evaluate.evaluation import RESULT as EVAL_RESULT
from cnnlab.evaluate.pareto import Point
from cnnlab.evaluate.targets import Target
from cnnlab.train.loop import METRICS
from cnnlab.train.loop import RESULT as TRAIN_RESULT


def history(folder: Path) -> list[dict]:
    """One dict per finished epoch, from metrics.jsonl."""
    path = Path(folder) / METRICS
    if not path.is_file():
        raise ValueError(f"{folder} has no {METRICS}: point at a run folder that `cnnlab "
                         "train` wrote")
    rows = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError as error:
            raise ValueError(f"{path}, line {number}: not JSON ({error.msg})") from None
    return rows


def training_result(folder: Path) -> dict | None:
    path = Path(folder) / TRAIN_RESULT
    return json.loads(path.read_text()) if path.is_file() else None


def _read_evaluation(path: Path) -> dict:
    try:
        result = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise ValueError(f"{path}: cannot read the evaluation ({error})") from None
    if not isinstance(result, dict) or "accuracy" not in result:
        raise ValueError(f"{path} is not an evaluation written by `cnnlab eval`")
    return result


def evaluation(target: Target, split: str | None = None, data_dir: str | None = None,
               say=print) -> dict:
    """The run's eval.json, evaluated now (accuracy and speed) when it is missing, older than
    the weights, or of another split than asked."""
    from cnnlab.evaluate.evaluation import evaluate

    path = target.folder / EVAL_RESULT
    if path.is_file():
        stored = _read_evaluation(path)
        fresh = target.weights_file is None or \
            path.stat().st_mtime >= target.weights_file.stat().st_mtime
        if fresh and split in (None, stored.get("split")):
            return stored
        say(f"{path} is {'older than the weights' if not fresh else 'of another split'}; "
            "evaluating again")
    split = split or ("val" if target.config.val_size > 0 else "test")
    say(f"evaluating {target.name} on the {split} split (accuracy and speed at batch size 4)")
    return evaluate(target, split, repeats=3, data_dir=data_dir).as_dict()


def pareto_points(paths: list[str], axis: str) -> tuple[list[Point], str]:
    """(one point per run or eval.json, the speed axis's label). `axis` is "images" (images/s
    at batch size 4) or "ratio" (speed relative to the interleaved LeNet-5 reference, which
    stays comparable between machines)."""
    if axis not in ("images", "ratio"):
        raise ValueError(f"--speed: expected images or ratio, got {axis!r}")
    points = []
    for given in paths:
        path = Path(given)
        file = path / EVAL_RESULT if path.is_dir() else path
        if not file.is_file():
            raise ValueError(f"{given} has no {EVAL_RESULT}: run `cnnlab eval {given}` first")
        result = _read_evaluation(file)
        speed = result.get("speed")
        if not speed:
            raise ValueError(f"{file} has accuracy only (evaluated with --no-speed); run "
                             f"`cnnlab eval {given}` to measure its speed")
        value = speed["images_per_second"]["median"] if axis == "images" else \
            (speed.get("reference") or {}).get("ratio")
        if value is None:
            raise ValueError(f"{file} has no reference ratio; evaluate it again")
        name = path.name if path.is_dir() else path.parent.name or path.name
        points.append(Point(f"{name} ({result['model']})", result["accuracy"]["top1"], value))
    label = ("images/s at batch size 4" if axis == "images" else
             "speed relative to the LeNet-5 reference (x)")
    return points, label
