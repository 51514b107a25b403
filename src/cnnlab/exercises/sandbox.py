"""Runs a student's exercise file in a process of its own, with NumPy and nothing of torch's
or cnnlab's: `python sandbox.py SPEC.json INPUTS.npz OUTPUTS.npz`.

The grader starts it by path (so cnnlab itself is never imported here) and exchanges only
JSON and .npz files (read with allow_pickle=False: a student's file cannot hand the grader an
object to run). For every case it records the student's forward output, the gradients their
backward returns, and their forward at x + eps v and x - eps v for the numerical check.
Any library that computes gradients is refused at import time, whatever way it is imported.
Once the inputs are read, an audit hook refuses what an exercise never needs and a hostile
file would use against the machine grading it: signals to other processes (the grader, the
leaderboard's worker), new processes, sockets, ctypes, and writing, moving or deleting files.
(An audit hook is not a sandbox against native code; ctypes, its way in, is refused.)

For each backward it also records how long it took and how many times it called the given
forward (a profile function watches for the forward's code, however the file refers to it;
the file may not replace the profile function, trace, or start threads): the grader tells a
derived backward from one that differentiates the forward numerically by them.
"""

import importlib.abc
import importlib.util
import json
import os
import signal
import sys
import time
import traceback

import numpy as np

_clock = time.perf_counter  # ours: the file may replace time.perf_counter, not this name

FORBIDDEN = ("torch", "cnnlab", "scipy", "jax", "tensorflow", "keras", "autograd",
             "torchvision", "onnxruntime", "chainer", "mxnet")


class _Refuse(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path=None, target=None):
        if fullname.split(".")[0] in FORBIDDEN:
            raise ImportError(f"exercise files may use NumPy only; this one imports {fullname}")
        return None


_REFUSED_EVENTS = ("os.kill", "os.killpg", "signal.pthread_kill", "os.system", "os.exec",
                   "os.posix_spawn", "os.spawn", "os.fork", "os.forkpty", "subprocess.Popen",
                   "pty.spawn", "socket.", "ctypes.", "os.remove", "os.rename", "os.rmdir",
                   "os.unlink", "os.truncate", "os.chmod", "os.chown", "os.link",
                   "os.symlink", "os.mkdir", "shutil.", "os.setuid", "os.putenv",
                   "os.unsetenv", "resource.setrlimit", "resource.prlimit", "sys.addaudithook",
                   "sys.setprofile", "sys.settrace", "_thread.start_new_thread")
_WRITING = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND


def _refuse_what_an_exercise_never_needs(allowed_writes: set[str]):
    def hook(event: str, args: tuple) -> None:
        if event == "sys.setprofile" and _stopping:
            return  # Python drops the profile function that OverBudget went through
        if event.startswith(_REFUSED_EVENTS):
            raise PermissionError(f"an exercise file may not use {event}")
        if event == "open" and len(args) >= 3 and not isinstance(args[0], int):
            path, mode, flags = args[0], args[1], args[2] or 0
            writes = any(c in mode for c in "wax+") if isinstance(mode, str) else \
                bool(flags & _WRITING)
            if writes and os.path.abspath(os.fsdecode(path)) not in allowed_writes:
                raise PermissionError(f"an exercise file may not write files ({path})")
    return hook


def _params(values: dict) -> dict:
    return {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}


def _error(error: BaseException, student_file: str) -> str:
    """The error's type and first line, with the line of the student's file it came from."""
    frames = [f for f in traceback.extract_tb(error.__traceback__)
              if f.filename == student_file]
    where = f" (line {frames[-1].lineno})" if frames else ""
    text = str(error).splitlines()[0] if str(error) else ""
    return f"{type(error).__name__}{where}: {text}" if text else f"{type(error).__name__}{where}"


class _ForwardCalls:
    """Counts the calls of one function's code while `on`: set as the process's profile
    function once, before the file runs (it may not set another)."""

    def __init__(self):
        self.code, self.on, self.calls = None, False, 0

    def __call__(self, frame, event, arg):
        if event == "call" and self.on and frame.f_code is self.code:
            self.calls += 1


class OverBudget(BaseException):  # not an Exception: `except Exception` does not stop it
    pass


_stopping = False  # set once a backward is stopped at its budget


def _stop(signum, frame):
    global _stopping
    _stopping = True
    raise OverBudget


def _timed_backward(backward, dout, cache, counter: _ForwardCalls, budget_s: float):
    """(grads, or None when stopped at the time budget; seconds; forward calls)."""
    counter.calls, counter.on = 0, True
    start = _clock()
    signal.setitimer(signal.ITIMER_REAL, budget_s)
    try:
        grads = backward(dout, cache)
    except OverBudget:
        grads = None
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        counter.on = False
    return grads, _clock() - start, counter.calls


def main() -> None:
    spec_path, inputs_path, outputs_path = sys.argv[1:4]
    spec = json.loads(open(spec_path).read())  # noqa: SIM115 - a short-lived process
    arrays = dict(np.load(inputs_path, allow_pickle=False))
    sys.meta_path.insert(0, _Refuse())
    import zipfile  # noqa: F401 - np.savez needs it at the end, after the hook is in place

    counter = _ForwardCalls()
    sys.setprofile(counter)
    signal.signal(signal.SIGALRM, _stop)

    sys.addaudithook(_refuse_what_an_exercise_never_needs(
        {os.path.abspath(outputs_path), os.path.abspath(outputs_path + ".json")}))
    results, errors = {}, {}
    try:
        module_spec = importlib.util.spec_from_file_location("student", spec["file"])
        student = importlib.util.module_from_spec(module_spec)
        module_spec.loader.exec_module(student)
        forward = getattr(student, spec["forward"])
        backward = getattr(student, spec["backward"])
        counter.code = getattr(forward, "__code__", None)
    except BaseException as error:  # whatever the file does, report it
        errors["file"] = _error(error, spec["file"])
        forward = backward = None
    for k, case in enumerate(spec["cases"]):
        if forward is None:
            break
        params = _params(case["params"])
        inputs = [arrays[f"{k}.{name}"] for name in case["inputs"]]
        try:
            start = _clock()
            out, cache = forward(*inputs, **params)
            results[f"{k}.forward_s"] = np.float64(_clock() - start)
            results[f"{k}.out"] = np.asarray(out, dtype=np.float64)
            budget = max(spec["budget_s"], spec["budget_times"] * (_clock() - start))
            grads, seconds, calls = _timed_backward(backward, arrays[f"{k}.dout"], cache,
                                                    counter, budget)
            results[f"{k}.backward_s"] = np.float64(seconds)
            results[f"{k}.forward_calls"] = np.int64(calls)
            results[f"{k}.stopped"] = np.bool_(grads is None)  # at the time budget
            if grads is None or calls > spec["max_forward_calls"]:
                break  # no derivation: the grader says so, and the rest would only take time
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
