"""`cnnlab exercise check`: a student's backward passes against torch's autograd and a
numerical gradient, on cases drawn afresh each time, with a score and the failing cases.

The student's file runs in a child process (`sandbox.py`) that has NumPy only: a file that
imports torch, cnnlab or another autograd library is refused, before it runs (by reading it)
and while it runs (at import). For each case the child returns the forward output, the
gradients of the student's backward, and the forward at x +/- eps v. A case passes when the
forward is torch's, every gradient matches torch's element by element, and each gradient
agrees with the central difference of the student's own forward along a random direction v:
(f(x + eps v) - f(x - eps v)) / (2 eps) . dout = grad . v.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cnnlab.exercises.catalog import CASES_PER_EXERCISE, EXERCISES, Case, Exercise
from cnnlab.exercises.sandbox import FORBIDDEN

EPS = 1e-6
RTOL, ATOL = 1e-6, 1e-8  # float64 against torch
NUMERICAL_TOLERANCE = 1e-5
TIMEOUT_S = 120  # per exercise file
# A backward that calls the given forward more than this (a derived one needs it at most to
# recompute its output) differentiates it numerically.
MAX_FORWARD_CALLS = 2
# A backward may take BACKWARD_BUDGET_S, or BUDGET_TIMES its forward's time where that is
# more: measured on the largest case here, a derived backward takes 5 ms, one looping over
# every position and tap in plain Python 1.5-2.5 s, and numerical differentiation through a
# copy of the forward (tens of thousands of forward passes) over a minute.
BACKWARD_BUDGET_S = 10.0
BUDGET_TIMES = 1000
MEMORY_BYTES = 4 * 2**30  # the child's address space: a runaway allocation fails there


def _limit_memory() -> None:  # runs in the child, before the sandbox starts
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_BYTES, MEMORY_BYTES))


@dataclass
class CaseResult:
    number: int
    description: str
    passed: bool
    reason: str = ""


@dataclass
class ExerciseResult:
    exercise: Exercise
    file: Path
    cases: list[CaseResult] = field(default_factory=list)
    refused: str = ""  # why the file was not graded

    @property
    def score(self) -> int:
        return sum(case.passed for case in self.cases)

    @property
    def max_score(self) -> int:
        return CASES_PER_EXERCISE

    def text(self) -> str:
        head = f"{self.file.name}: {self.score}/{self.max_score}"
        if self.refused:
            return f"{head}\n  refused: {self.refused}"
        failing = [c for c in self.cases if not c.passed]
        if len(failing) == len(self.cases) and len({c.reason for c in failing}) == 1:
            return f"{head}\n  every case: {failing[0].reason}"  # a stub, or one mistake
        return "\n".join([head, *(f"  case {c.number} ({c.description}): {c.reason}"
                                  for c in failing)])


@dataclass
class Report:
    results: list[ExerciseResult]
    seed: int
    seconds: float

    @property
    def score(self) -> int:
        return sum(r.score for r in self.results)

    @property
    def max_score(self) -> int:
        return sum(r.max_score for r in self.results)

    def text(self) -> str:
        share = 100 * self.score / self.max_score if self.max_score else 0.0
        summary = (f"score: {self.score}/{self.max_score} ({share:.1f}%), cases drawn with "
                   f"--seed {self.seed}")
        return "\n".join([*(r.text() for r in self.results), summary]) + "\n"

    def gradescope(self) -> dict:
        """Gradescope's autograder results (results.json): one test per case."""
        tests = []
        for number, result in enumerate(self.results, start=1):
            if result.refused:
                tests.append({"name": f"{result.exercise.name}: refused", "number": str(number),
                              "score": 0.0, "max_score": float(result.max_score),
                              "status": "failed", "output": result.refused,
                              "visibility": "visible"})
                continue
            for case in result.cases:
                tests.append({
                    "name": f"{result.exercise.name}: case {case.number} ({case.description})",
                    "number": f"{number}.{case.number}",
                    "score": float(case.passed), "max_score": 1.0,
                    "status": "passed" if case.passed else "failed",
                    "output": case.reason or "matches torch and the numerical gradient",
                    "visibility": "visible"})
        return {"score": float(self.score), "execution_time": round(self.seconds, 3),
                "output": self.text(), "stdout_visibility": "hidden", "tests": tests}


# ----------------------------------------------------------------------------- refusing


def forbidden_import(source: str, filename: str) -> str | None:
    """Why a file may not be graded (it is not Python, or it imports an autograd library)."""
    try:
        tree = ast.parse(source, filename)
    except SyntaxError as error:
        return f"it is not valid Python: {error.msg} (line {error.lineno})"
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names = [node.module]
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
              and node.func.id == "__import__"):
            names = ["__import__"]
        for name in names:
            if name.split(".")[0] in (*FORBIDDEN, "__import__", "importlib"):
                return (f"exercise files may use NumPy only, and this one imports {name} "
                        f"(line {node.lineno}): write the backward pass yourself")
    return None


# ----------------------------------------------------------------------------- running


def _run_sandbox(exercise: Exercise, file: Path, cases: list[Case], douts, directions):
    """(results, errors) of the student's file on the cases; results is None when the child
    did not finish."""
    with tempfile.TemporaryDirectory(prefix="cnnlab-exercise-") as folder:
        folder = Path(folder)
        arrays = {}
        for k, case in enumerate(cases):
            arrays.update({f"{k}.{name}": a for name, a in case.arrays.items()})
            arrays[f"{k}.dout"] = douts[k]
            arrays.update({f"{k}.v.{name}": v for name, v in directions[k].items()})
        np.savez(folder / "inputs.npz", **arrays)
        spec = {"file": str(file.resolve()), "forward": exercise.forward,
                "backward": exercise.backward, "eps": EPS,
                "max_forward_calls": MAX_FORWARD_CALLS, "budget_s": BACKWARD_BUDGET_S,
                "budget_times": BUDGET_TIMES,
                "cases": [{"inputs": list(exercise.inputs),
                           "differentiable": list(exercise.differentiable),
                           "params": case.params} for case in cases]}
        (folder / "spec.json").write_text(json.dumps(spec))
        outputs = folder / "outputs.npz"
        sandbox = Path(__file__).with_name("sandbox.py")
        env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
               "PYTHONDONTWRITEBYTECODE": "1"}
        try:
            finished = subprocess.run(
                [sys.executable, str(sandbox), str(folder / "spec.json"),
                 str(folder / "inputs.npz"), str(outputs)],
                capture_output=True, text=True, timeout=TIMEOUT_S, env=env, cwd=folder,
                preexec_fn=_limit_memory if os.name == "posix" else None)
        except subprocess.TimeoutExpired:
            return None, {"file": f"it ran for more than {TIMEOUT_S} s"}
        if finished.returncode != 0 or not outputs.exists():
            last = (finished.stderr.strip().splitlines() or ["no output"])[-1]
            return None, {"file": f"the file stopped the grader's process: {last}"}
        errors = json.loads(Path(str(outputs) + ".json").read_text())
        with np.load(outputs, allow_pickle=False) as results:
            return dict(results), errors


# ----------------------------------------------------------------------------- judging


def _largest_difference(ours: np.ndarray, theirs: np.ndarray) -> str:
    difference = np.abs(ours - theirs)
    where = np.unravel_index(int(np.argmax(difference)), difference.shape)
    return f"{float(difference.max()):.3g} at {tuple(int(i) for i in where)}"


def _numerical(k, exercise, name, grad, results, dout, direction) -> tuple[bool, str]:
    """The directional derivative of the student's forward against grad . v."""
    i = exercise.differentiable.index(name)
    plus, minus = results[f"{k}.plus.{i}"], results[f"{k}.minus.{i}"]
    numerical = float(np.sum(dout * (plus - minus)) / (2 * EPS))
    analytical = float(np.sum(grad * direction[name]))
    if abs(numerical - analytical) > NUMERICAL_TOLERANCE * (1 + abs(numerical)):
        return False, (f"the numerical gradient disagrees: along a random direction d{name} "
                       f"gives {analytical:.6g}, central differences give {numerical:.6g}")
    return True, f"the numerical gradient along a random direction agrees ({numerical:.6g})"


def _judge(exercise: Exercise, k: int, reference, results: dict, dout, direction) -> str:
    """Why case k fails, or "" when it passes."""
    out, reference_backward = reference
    ours = results.get(f"{k}.out")
    if ours is None or ours.shape != out.shape:
        return (f"the forward returned shape {None if ours is None else ours.shape}, torch's "
                f"is {out.shape}")
    if not np.allclose(ours, out, rtol=RTOL, atol=ATOL):
        return f"the forward differs from torch's by up to {_largest_difference(ours, out)}"
    expected = reference_backward(dout)
    grads = [results.get(f"{k}.grad.{i}") for i in range(len(expected))]
    returned = sum(g is not None for g in grads) + (f"{k}.grad.{len(expected)}" in results)
    if returned != len(expected) or any(g is None for g in grads):
        names = ", ".join(f"d{name}" for name in exercise.differentiable)
        return f"backward must return ({names}); it returned {returned} array(s)"
    wrong = []  # every wrong gradient of the case: a wrong dx must not hide a wrong dw
    for name, grad, theirs in zip(exercise.differentiable, grads, expected, strict=True):
        if grad.shape != theirs.shape:
            wrong.append(f"d{name} has shape {grad.shape}; {name} has shape {theirs.shape}")
            continue
        agrees, numerical = _numerical(k, exercise, name, grad, results, dout, direction)
        if not np.allclose(grad, theirs, rtol=RTOL, atol=ATOL):
            wrong.append(f"d{name} differs from torch's by up to "
                         f"{_largest_difference(grad, theirs)}; {numerical}")
        elif not agrees:
            wrong.append(f"d{name}: {numerical}")
    return "; ".join(wrong)


def _numerical_differentiation(exercise: Exercise, cases: list[Case], results: dict) -> str:
    """Why the backward is no derivation (it calls the forward over and over, or takes the
    time of tens of thousands of forward passes), or ""."""
    for k, case in enumerate(cases):
        calls = int(results.get(f"{k}.forward_calls", 0))
        if calls > MAX_FORWARD_CALLS:
            return (f"the backward called {exercise.forward} {calls} times on case {k} "
                    f"({case.describe()}): it differentiates the forward numerically instead "
                    "of deriving the gradient, which scores zero")
        if bool(results.get(f"{k}.stopped", False)):  # the sandbox stopped it at its budget
            seconds = float(results[f"{k}.backward_s"])
            forward = float(results[f"{k}.forward_s"])
            return (f"the backward was stopped after {seconds:.1f} s on case {k} "
                    f"({case.describe()}), where its forward took {1000 * forward:.1f} ms "
                    "and a derived backward takes a few times that: that is the time of "
                    "differentiating the forward numerically (a forward pass per input "
                    "value), which scores zero")
    return ""


def grade_file(exercise: Exercise, file: Path, rng: np.random.Generator) -> ExerciseResult:
    result = ExerciseResult(exercise, file)
    refused = forbidden_import(file.read_text(errors="replace"), str(file))
    if refused:
        result.refused = refused
        return result
    cases = [exercise.make_case(rng, k) for k in range(CASES_PER_EXERCISE)]
    references = [exercise.reference(case) for case in cases]
    douts = [rng.standard_normal(out.shape) for out, _ in references]
    directions = [{name: case.directions.get(name, rng.standard_normal(
        case.arrays[name].shape)) for name in exercise.differentiable} for case in cases]
    results, errors = _run_sandbox(exercise, file, cases, douts, directions)
    if results is None:
        result.refused = errors["file"]
        return result
    if "file" in errors:
        result.refused = f"loading it failed: {errors['file']}"
        return result
    numerical = _numerical_differentiation(exercise, cases, results)
    if numerical:
        result.refused = numerical
        return result
    for k, case in enumerate(cases):
        error = errors.get(str(k))
        if error is None:
            reason = _judge(exercise, k, references[k], results, douts[k], directions[k])
        elif error.startswith("NotImplementedError"):
            reason = "the backward is not written yet"
        else:
            reason = f"it raised {error}"
        result.cases.append(CaseResult(k, case.describe(), not reason, reason))
    return result


def check(folder: Path, only: list[str] | None = None, seed: int | None = None) -> Report:
    """Grade every exercise file (NAME.py for each exercise NAME) found in `folder`."""
    started = time.perf_counter()
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"no folder {folder}")
    names = only or [name for name in EXERCISES if (folder / f"{name}.py").is_file()]
    for name in names:
        if name not in EXERCISES:
            raise ValueError(f"unknown exercise {name!r}; choose from {', '.join(EXERCISES)}")
        if not (folder / f"{name}.py").is_file():
            raise FileNotFoundError(f"no {name}.py in {folder} (`cnnlab exercise start {name} "
                                    f"{folder}` writes it)")
    if not names:
        raise FileNotFoundError(f"no exercise files in {folder}; start one with `cnnlab "
                                "exercise start NAME` (see `cnnlab exercise list`)")
    seed = int.from_bytes(os.urandom(4), "little") if seed is None else seed
    rng = np.random.default_rng(seed)
    results = [grade_file(EXERCISES[name], folder / f"{name}.py", rng) for name in names]
    return Report(results, seed, time.perf_counter() - started)
