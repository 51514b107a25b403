"""The verification worker: claims one queued submission at a time, evaluates it in a child
process (memory limit, timeout, fixed threads) and writes the result in one transaction.

Claiming is atomic: on SQLite the claim's transaction holds the write lock from its BEGIN
IMMEDIATE; on PostgreSQL the row is locked FOR UPDATE SKIP LOCKED, so two workers never take
the same row. A claim is a lease of `lease_s` seconds, renewed every few seconds while the
evaluation runs: if the worker dies, the submission goes back to the queue when the lease
expires, and a stale worker's late result is discarded (the write checks it still holds the
lease), so none is lost or counted twice."""

from __future__ import annotations

import ctypes
import dataclasses
import datetime
import json
import os
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import Engine, and_, or_, select, update

from cnnlab.leaderboard.database import writing
from cnnlab.leaderboard.schema import ModelFile, Submission, Task, utcnow

MAX_ATTEMPTS = 3  # a file that kills its worker this often is marked failed
HEARTBEAT_S = 5  # how often a running evaluation renews its lease
# How running out of the address-space limit shows: Python, C++, the dynamic loader, ONNX Runtime
_OUT_OF_MEMORY = ("MemoryError", "bad_alloc", "failed to map segment", "Cannot allocate memory",
                  "Failed to allocate memory")


@dataclasses.dataclass(frozen=True)
class Limits:
    timeout_s: int = 600
    memory_mb: int = 4096
    threads: int = 1
    repeats: int = 3
    lease_s: int = 30  # renewed every HEARTBEAT_S; a dead worker's claim frees after this


@dataclasses.dataclass(frozen=True)
class Claim:
    submission_id: int
    attempt: int
    worker: str
    dataset: str
    seed: int
    max_bytes: int
    data: bytes
    exercise: str | None = None  # an exercise task's file, graded instead of evaluated


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def claim(engine: Engine, worker: str, limits: Limits) -> Claim | None:
    """Take the oldest queued submission (or one whose lease expired), or None."""
    while True:
        now = utcnow()
        with writing(engine) as session:
            query = (select(Submission)
                     .where(or_(Submission.status == "queued",
                                and_(Submission.status == "running",
                                     Submission.lease_expires_at < now)))
                     .order_by(Submission.id).limit(1))
            if engine.dialect.name == "postgresql":
                query = query.with_for_update(skip_locked=True)
            submission = session.scalar(query)
            if submission is None:
                return None
            if submission.attempts >= MAX_ATTEMPTS:
                submission.status, submission.finished_at = "failed", now
                submission.lease_expires_at = None
                submission.error = (f"the evaluation did not complete in {MAX_ATTEMPTS} "
                                    "attempts (each worker stopped before it finished)")
                continue  # committed as the block ends; look for the next one
            submission.status, submission.worker = "running", worker
            submission.started_at = now
            submission.lease_expires_at = now + datetime.timedelta(seconds=limits.lease_s)
            submission.attempts += 1
            task = session.get(Task, submission.task_id)
            model = session.get(ModelFile, submission.sha256)
            return Claim(submission.id, submission.attempts, worker, task.dataset, task.seed,
                         task.max_bytes, model.data, task.exercise)


def die_with_parent() -> None:
    """In a child, before it starts: the kernel ends it when its parent dies, however the
    parent dies (kill -9 runs no cleanup; uvicorn re-raises SIGTERM after its shutdown)."""
    if sys.platform.startswith("linux"):
        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)


def _limit_child(memory_mb: int):
    def apply() -> None:
        limit = memory_mb * 2**20
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        die_with_parent()  # a dead worker's evaluation is redone by the next claim anyway
    return apply


class LeaseLost(Exception):
    """Another worker took the submission over (this one stalled past its lease)."""


def _run_child(command, env, limits: Limits, heartbeat) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of the child, calling `heartbeat` every HEARTBEAT_S while
    it runs; a child past the timeout is killed with SIGKILL (TimeoutExpired)."""
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, env=env, preexec_fn=_limit_child(limits.memory_mb))
    deadline = time.monotonic() + limits.timeout_s
    try:
        while True:
            left = deadline - time.monotonic()
            try:
                stdout, stderr = process.communicate(timeout=max(0.01, min(HEARTBEAT_S, left)))
                return process.returncode, stdout, stderr
            except subprocess.TimeoutExpired:
                if time.monotonic() >= deadline:
                    raise
                heartbeat()
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()


def evaluate_in_child(job: Claim, limits: Limits, data_dir: str | None = None,
                      heartbeat=lambda: None) -> dict:
    """Run `verify` on the file in a child process; a dict with status and figures or error.
    `heartbeat` is called every few seconds while it runs (to renew the lease); it raises
    LeaseLost to abandon the evaluation."""
    with tempfile.TemporaryDirectory(prefix="cnnlab-verify-") as folder:
        job_file = Path(folder) / "job.json"
        if job.exercise:
            # Cases drawn for this submission alone: nobody has seen them, not even a copy.
            source = Path(folder) / f"{job.exercise}.py"
            source.write_bytes(job.data)
            job_file.write_text(json.dumps({
                "file_path": str(source), "exercise": job.exercise,
                "seed": int.from_bytes(os.urandom(4), "little")}))
            module = "cnnlab.leaderboard.grade_exercise"
        else:
            model = Path(folder) / "model.onnx"
            model.write_bytes(job.data)
            job_file.write_text(json.dumps({
                "model_path": str(model), "dataset": job.dataset, "seed": job.seed,
                "threads": limits.threads, "repeats": limits.repeats,
                "max_bytes": job.max_bytes, "data_dir": data_dir}))
            module = "cnnlab.leaderboard.verify"
        threads = str(limits.threads)
        env = {**os.environ, "OMP_NUM_THREADS": threads, "OPENBLAS_NUM_THREADS": threads,
               "MKL_NUM_THREADS": threads}
        command = [sys.executable, "-m", module, str(job_file)]
        try:
            code, stdout, stderr = _run_child(command, env, limits, heartbeat)
        except subprocess.TimeoutExpired:
            return {"status": "failed",
                    "error": f"the evaluation took longer than {limits.timeout_s} s"}
    lines = stdout.strip().splitlines()
    if code == 0 and lines:
        try:
            return json.loads(lines[-1])
        except json.JSONDecodeError:
            pass
    if code == -signal.SIGKILL or any(marker in stderr for marker in _OUT_OF_MEMORY):
        return {"status": "failed", "error": f"the evaluation ran out of memory (limit "
                                             f"{limits.memory_mb} MB)"}
    return {"status": "failed", "error": f"the evaluation stopped with exit code {code}"}


def renew(engine: Engine, job: Claim, limits: Limits) -> None:
    """Extend this worker's lease; LeaseLost if it is not this worker's any more."""
    with writing(engine) as session:
        changed = session.execute(
            update(Submission)
            .where(Submission.id == job.submission_id, Submission.status == "running",
                   Submission.worker == job.worker, Submission.attempts == job.attempt)
            .values(lease_expires_at=utcnow() + datetime.timedelta(seconds=limits.lease_s)))
    if changed.rowcount != 1:
        raise LeaseLost(f"submission {job.submission_id} was taken over")


def finish(engine: Engine, job: Claim, result: dict) -> bool:
    """Write the result if this worker still holds the lease; False when it was taken over."""
    values = {"status": result["status"], "finished_at": utcnow(), "lease_expires_at": None,
              "error": (result.get("error") or None)}
    if result["status"] == "finished":
        values.update({key: result[key] for key in ("public_accuracy", "private_accuracy",
                                                    "images_per_s", "reference_ratio",
                                                    "params", "details")})
        values["macs"] = result.get("macs")
    with writing(engine) as session:
        changed = session.execute(
            update(Submission)
            .where(Submission.id == job.submission_id, Submission.status == "running",
                   Submission.worker == job.worker, Submission.attempts == job.attempt)
            .values(**values))
        return changed.rowcount == 1


def work_once(engine: Engine, worker: str, limits: Limits, data_dir: str | None = None) -> bool:
    """Evaluate one submission if any is waiting; True when one was processed."""
    job = claim(engine, worker, limits)
    if job is None:
        return False
    try:
        result = evaluate_in_child(job, limits, data_dir,
                                   heartbeat=lambda: renew(engine, job, limits))
    except LeaseLost:
        return True  # the worker that took it over writes the result
    finish(engine, job, result)
    return True


def run_worker(engine: Engine, limits: Limits = Limits(), poll_s: float = 1.0,
               data_dir: str | None = None, stop=lambda: False) -> None:
    worker = worker_name()
    while not stop():
        if not work_once(engine, worker, limits, data_dir):
            time.sleep(poll_s)
