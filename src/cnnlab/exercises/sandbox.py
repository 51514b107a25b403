"""Runs a student's exercise file in a process of its own, with NumPy and nothing of torch's
or cnnlab's: `python sandbox.py SPEC.json INPUTS.npz OUTPUTS.npz`.

The grader starts it by path (so cnnlab itself is never imported here) and exchanges only
JSON and .npz files (read with allow_pickle=False: a student's file cannot hand the grader an
object to run). For every case it records the student's forward output, the gradients their
backward returns, and their forward at x + eps v and x - eps v for the numerical check.
Any library that computes gradients is refused at import time, whatever way it is imported.
"""

import importlib.abc
import importlib.util
import json
import sys
import traceback

import numpy as np

FORBIDDEN = ("torch", "cnnlab", "scipy", "jax", "tensorflow", "keras", "autograd",
             "torchvision", "onnxruntime", "chainer", "mxnet")


class _Refuse(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path=None, target=None):
        if fullname.split(".")[0] in FORBIDDEN:
            raise ImportError(f"exercise files may use NumPy only; this one imports {fullname}")
        return None


def _params(values: dict) -> dict:
    return {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}


def _error(error: BaseException, student_file: str) -> str:
    """The error's type and first line, with the line of the student's file it came from."""
    frames = [f for f in traceback.extract_tb(error.__traceback__)
              if f.filename == student_file]
    where = f" (line {frames[-1].lineno})" if frames else ""
    text = str(error).splitlines()[0] if str(error) else ""
    return f"{type(error).__name__}{where}: {text}" if text else f"{type(error).__name__}{where}"


def main() -> None:
    spec_path, inputs_path, outputs_path = sys.argv[1:4]
    spec = json.loads(open(spec_path).read())  # noqa: SIM115 - a short-lived process
    arrays = dict(np.load(inputs_path, allow_pickle=False))
    sys.meta_path.insert(0, _Refuse())
    results, errors = {}, {}
    try:
        module_spec = importlib.util.spec_from_file_location("student", spec["file"])
        student = importlib.util.module_from_spec(module_spec)
        module_spec.loader.exec_module(student)
        forward = getattr(student, spec["forward"])
        backward = getattr(student, spec["backward"])
    except BaseException as error:  # whatever the file does, report it
        errors["file"] = _error(error, spec["file"])
        forward = backward = None
    for k, case in enumerate(spec["cases"]):
        if forward is None:
            break
        params = _params(case["params"])
        inputs = [arrays[f"{k}.{name}"] for name in case["inputs"]]
        try:
            out, cache = forward(*inputs, **params)
            results[f"{k}.out"] = np.asarray(out, dtype=np.float64)
            grads = backward(arrays[f"{k}.dout"], cache)
            grads = grads if isinstance(grads, tuple) else (grads,)
            for i, grad in enumerate(grads):
                results[f"{k}.grad.{i}"] = np.asarray(grad, dtype=np.float64)
            for i, name in enumerate(case["differentiable"]):
                for sign, label in ((1, "plus"), (-1, "minus")):
                    moved = list(inputs)
                    position = case["inputs"].index(name)
                    moved[position] = inputs[position] + sign * spec["eps"] * arrays[
                        f"{k}.v.{name}"]
                    results[f"{k}.{label}.{i}"] = np.asarray(forward(*moved, **params)[0],
                                                             dtype=np.float64)
        except BaseException as error:
            errors[str(k)] = _error(error, spec["file"])
    np.savez(outputs_path, **results)
    with open(outputs_path + ".json", "w") as handle:
        json.dump(errors, handle)


if __name__ == "__main__":
    main()
