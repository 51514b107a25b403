"""What the plots and the report read from runs: their evaluation (eval.json, made by `cnnlab
eval` or here when missing, stale or of another split), and the points of an accuracy-vs-speed
plot, all measured on one split."""

from __future__ import annotations

from pathlib import Path

from cnnlab.evaluate.evaluation import evaluate
from cnnlab.evaluate.pareto import Point
from cnnlab.evaluate.targets import Target, load_target
from cnnlab.runs import folder as layout


def evaluation(target: Target, split: str | None = None, data_dir: str | None = None,
               say=print) -> dict:
    """The target's eval.json, evaluated now (accuracy and speed) when it is missing, older
    than the weights, or of another split than asked."""
    path = target.result_path()
    if path.is_file():
        stored = layout.read_evaluation(path)
        fresh = target.weights_file is None or \
            path.stat().st_mtime >= target.weights_file.stat().st_mtime
        if fresh and split in (None, stored.get("split")):
            return stored
        say(f"{path} is {'older than the weights' if not fresh else 'of another split'}; "
            "evaluating again")
    split = split or ("val" if target.config.val_size > 0 else "test")
    say(f"evaluating {target.name} on the {split} split (accuracy and speed at batch size 4)")
    return evaluate(target, split, repeats=3, data_dir=data_dir).as_dict()


def _what_it_was_measured_on(result: dict) -> tuple:
    """Two evaluations are comparable when they saw the same images: the same dataset and
    split, and for the validation split the same size and seed."""
    definition = result.get("split_definition") or {}
    if result.get("split") == "val":
        return (result.get("dataset"), "val", definition.get("val_size"),
                definition.get("seed"))
    return result.get("dataset"), result.get("split")


def _describe(key: tuple) -> str:
    dataset = key[0] or "an unnamed dataset"
    if key[1] == "val":
        return f"{dataset} val ({key[2]} images, seed {key[3]})"
    return f"{dataset} {key[1]}"


def _points_source(given: str) -> tuple[str, Path, bool]:
    """(its name, its eval.json, whether it is a run that can be evaluated again)."""
    path = Path(given)
    if path.is_dir():
        return path.name, path / layout.EVALUATION, layout.is_run(path)
    return path.parent.name or path.name, path, False


def pareto_points(paths: list[str], axis: str, split: str | None = None,
                  data_dir: str | None = None, say=print) -> tuple[list[Point], str, str]:
    """(one point per run or eval.json, the speed axis's label, the split they were all
    measured on). A run evaluated on another split than `split` is evaluated again; runs
    measured on different images are refused, naming them. `axis` is "images" (images/s at
    batch size 4) or "ratio" (speed relative to the interleaved LeNet-5 reference, which
    stays comparable between machines)."""
    if axis not in ("images", "ratio"):
        raise ValueError(f"--speed: expected images or ratio, got {axis!r}")
    results = []
    for given in paths:
        name, file, is_run = _points_source(given)
        if is_run:
            result = evaluation(load_target(given), split, data_dir, say)
        elif not file.is_file():
            raise ValueError(f"{given} has no {layout.EVALUATION}: run `cnnlab eval {given}` "
                             "first")
        else:
            result = layout.read_evaluation(file)
            if split is not None and result.get("split") != split:
                raise ValueError(f"{file} is of the {result.get('split')} split, not {split}, "
                                 "and is no run folder to evaluate again")
        results.append((name, file, result))
    measured = {_what_it_was_measured_on(result) for _, _, result in results}
    if len(measured) > 1:
        each = "; ".join(f"{name}: {_describe(_what_it_was_measured_on(result))}"
                         for name, _, result in results)
        raise ValueError(f"these runs were measured on different images ({each}); give "
                         "--split test (or val, for runs that share their validation split) "
                         "to evaluate them all on one")
    points = []
    for name, file, result in results:
        speed = result.get("speed")
        if not speed:
            raise ValueError(f"{file} has accuracy only (evaluated with --no-speed); run "
                             f"`cnnlab eval` on it to measure its speed")
        value = speed["images_per_second"]["median"] if axis == "images" else \
            (speed.get("reference") or {}).get("ratio")
        if value is None:
            raise ValueError(f"{file} has no reference ratio; evaluate it again")
        points.append(Point(f"{name} ({result['model']})", result["accuracy"]["top1"], value))
    label = ("images/s at batch size 4" if axis == "images" else
             "speed relative to the LeNet-5 reference (x)")
    return points, label, _describe(measured.pop())
