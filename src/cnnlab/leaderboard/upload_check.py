"""Checking an upload before it is queued, in a limited child process
(`python -m cnnlab.leaderboard.upload_check KIND.json < FILE` prints one JSON line).

The ONNX checker holds the GIL and can take seconds and gigabytes on a hostile file: in the
server's own process every request, /healthz included, would wait for it. In a child the
server keeps answering, the memory is the child's (and capped), and a file that crashes the
checker crashes only the child. Two checks run at once, and a user has one at a time."""

from __future__ import annotations

import contextlib
import json
import sys
import threading
from collections.abc import Iterator

from cnnlab.leaderboard.child import run_limited

CHECK_MEMORY_MB = 2048
CHECK_TIMEOUT_S = 60
CHECKS_AT_ONCE = 2  # the others wait their turn (a check is a second or two)


class Busy(Exception):
    """This user's previous upload is still being checked."""


_turns = threading.BoundedSemaphore(CHECKS_AT_ONCE)
_checking: set[int] = set()
_checking_lock = threading.Lock()


@contextlib.contextmanager
def turn(user_id: int) -> Iterator[None]:
    """One check per user at a time (Busy otherwise), and CHECKS_AT_ONCE for everybody."""
    with _checking_lock:
        if user_id in _checking:
            raise Busy("your previous upload is still being checked; send one file at a time")
        _checking.add(user_id)
    try:
        with _turns:
            yield
    finally:
        with _checking_lock:
            _checking.discard(user_id)


def check(data: bytes, kind: dict) -> tuple[str | None, str | None]:
    """(why the file is refused or None, the model's fingerprint for an accepted model file).
    `kind` is {"dataset": NAME, "max_bytes": N} for a model or {"exercise": NAME} for an
    exercise file."""
    child = run_limited([sys.executable, "-m", "cnnlab.leaderboard.upload_check",
                         json.dumps(kind)], memory_mb=CHECK_MEMORY_MB,
                        timeout_s=CHECK_TIMEOUT_S, stdin=data)
    if child.timed_out:
        return (f"checking the file took longer than {CHECK_TIMEOUT_S} s; a network for this "
                "course is checked in a second or two"), None
    lines = child.stdout.strip().splitlines()
    if child.code == 0 and lines:
        verdict = json.loads(lines[-1])
        return verdict["rejection"], verdict.get("fingerprint")
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


def main(kind_json: str) -> int:
    kind = json.loads(kind_json)
    data = sys.stdin.buffer.read()
    fingerprint = None
    if "exercise" in kind:
        reason = _exercise_rejection(data)
    else:
        reason = _model_rejection(data, kind["dataset"], kind["max_bytes"])
        if reason is None:  # parsed here already, in the child's memory and time
            from cnnlab.leaderboard.copies import model_fingerprint

            fingerprint = model_fingerprint(data)
    print(json.dumps({"rejection": reason, "fingerprint": fingerprint}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
