"""Checking an upload before it is queued, in a limited child process: one of a pool of warm
ones (leaderboard.checker_pool) that each run `python -m cnnlab.leaderboard.upload_check
--serve` and check one file after another.

The ONNX checker holds the GIL and can take seconds and gigabytes on a hostile file: in the
server's own process every request, /healthz included, would wait for it. In a child the
server keeps answering, the memory is the child's (and capped), and a file that crashes the
checker crashes only the child. CHECKS_AT_ONCE checks run at once, and a user has one at a
time."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import threading
from collections.abc import Iterator

from cnnlab.leaderboard.checker_pool import CheckerPool

CHECK_MEMORY_MB = 2048
CHECK_TIMEOUT_S = 60
# A warm check of a course's network takes milliseconds: one checker per core, at most four
CHECKS_AT_ONCE = max(1, min(4, os.cpu_count() or 1))
# A checker killed from outside (an operator, the kernel short of memory: the file's own
# allocations meet the cap first) is no verdict on the file: it is checked again, this often
KILLED_RETRIES = 2


class Busy(Exception):
    """This user's previous upload is still being checked."""


# The program each warm checker runs: this module's serve(), below
CHILD = [sys.executable, "-m", "cnnlab.leaderboard.upload_check", "--serve"]

_checking: set[int] = set()
_checking_lock = threading.Lock()
_pool: CheckerPool | None = None
_pool_lock = threading.Lock()


@contextlib.contextmanager
def turn(user_id: int) -> Iterator[None]:
    """One check per user at a time (Busy otherwise); the pool's size bounds everybody's."""
    with _checking_lock:
        if user_id in _checking:
            raise Busy("your previous upload is still being checked; send one file at a time")
        _checking.add(user_id)
    try:
        yield
    finally:
        with _checking_lock:
            _checking.discard(user_id)


def pool() -> CheckerPool:
    """The process's checkers, started on first use (the server starts them as it starts)."""
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = CheckerPool(CHILD, CHECKS_AT_ONCE, CHECK_MEMORY_MB)
        return _pool


def pool_state() -> dict | None:
    """The pool's state, None before it started (nothing was uploaded, and no server runs)."""
    return None if _pool is None else _pool.state()


def check(data: bytes, kind: dict) -> tuple[str | None, str | None]:
    """(why the file is refused or None, the model's fingerprint for an accepted model file).
    `kind` is {"dataset": NAME, "max_bytes": N} for a model or {"exercise": NAME} for an
    exercise file."""
    for _ in range(1 + KILLED_RETRIES):
        child = pool().check(data, kind, CHECK_TIMEOUT_S)
        if child.timed_out or child.code != -signal.SIGKILL:
            break
    if child.timed_out:
        return (f"checking the file took longer than {CHECK_TIMEOUT_S} s; a network for this "
                "course is checked in a second or two"), None
    if child.code == 0:
        with contextlib.suppress(ValueError, KeyError, TypeError):
            verdict = json.loads(child.stdout)
            return verdict["rejection"], verdict.get("fingerprint")
    if child.code == -signal.SIGKILL:
        return (f"the file could not be checked: the checker was killed {1 + KILLED_RETRIES} "
                "times while checking it"), None
    if child.out_of_memory:
        return (f"checking the file needed more than {CHECK_MEMORY_MB} MB of memory; a "
                "network for this course needs far less"), None
    reason = child.last_error_line()
    return (f"the file could not be checked (the checker stopped with exit code {child.code}"
            + (f": {reason})" if reason else ")")), None


def _model_rejection(data: bytes, dataset: str, max_bytes: int) -> str | None:
    from cnnlab.data import datasets
    from cnnlab.evaluate.onnx_check import OnnxRejected, check_onnx

    spec = datasets.get_spec(dataset)
    try:
        check_onnx(data, spec.shape, len(spec.classes), max_bytes)
    except OnnxRejected as error:
        return str(error).replace("<bytes>", "the file")
    return None


def _exercise_rejection(data: bytes) -> str | None:
    """An exercise file is Python that imports no autograd library (checked again, while it
    runs, by the grader's sandbox)."""
    from cnnlab.exercises.grading import forbidden_import

    try:
        source = data.decode("utf-8")
    except UnicodeDecodeError:
        return ("an exercise task takes the Python file `cnnlab exercise start` wrote "
                "(UTF-8 text), not this file")
    try:
        return forbidden_import(source, "the file")
    except (RecursionError, MemoryError):
        return "the file nests too deeply to be read as Python"


def _verdict(data: bytes, kind: dict) -> dict:
    fingerprint = None
    if "exercise" in kind:
        reason = _exercise_rejection(data)
    else:
        reason = _model_rejection(data, kind["dataset"], kind["max_bytes"])
        if reason is None:  # parsed here already, in the child's memory and time
            from cnnlab.leaderboard.copies import model_fingerprint

            fingerprint = model_fingerprint(data)
    return {"rejection": reason, "fingerprint": fingerprint}


def _warm_up() -> None:
    """Import and run every check once on a small valid file: the first check of a process
    pays for imports and lazy set-up (0.7 s), every later one only for its file."""
    import numpy as np
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Flatten", ["pixels"], ["flat"]),
         helper.make_node("Gemm", ["flat", "weight"], ["logits"])], "warm-up",
        [helper.make_tensor_value_info("pixels", TensorProto.FLOAT, ["batch", 1, 28, 28])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 10])],
        initializer=[helper.make_tensor("weight", TensorProto.FLOAT, [784, 10],
                                        np.zeros(7840))])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)],
                              ir_version=8)
    verdict = _verdict(model.SerializeToString(),
                       {"dataset": "fashion-mnist", "max_bytes": 2**20})
    if verdict["rejection"] is not None:
        raise RuntimeError(f"the warm-up model was refused: {verdict['rejection']}")
    _verdict(b"import numpy as np\n", {"exercise": "conv2d"})


def serve() -> int:
    """The checker's loop (leaderboard.checker_pool has the protocol). What the checks print
    goes to stderr: stdout carries only the answers."""
    answers = os.fdopen(os.dup(sys.stdout.fileno()), "w")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    _warm_up()
    print("ready", file=answers, flush=True)
    requests = sys.stdin.buffer
    while True:
        header = requests.readline()
        if not header:
            return 0  # the pool closed our stdin: done
        request = json.loads(header)
        data = requests.read(request["size"])
        print(json.dumps(_verdict(data, request["kind"])), file=answers, flush=True)


if __name__ == "__main__":
    if sys.argv[1:] != ["--serve"]:
        sys.exit("usage: python -m cnnlab.leaderboard.upload_check --serve (the server's "
                 "checker pool starts it)")
    sys.exit(serve())
