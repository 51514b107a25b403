"""The verification worker: claims one queued submission at a time, evaluates it in a child
process (memory limit, timeout, fixed threads) and writes the result in one transaction.

Claiming is atomic: on SQLite the claim's transaction holds the write lock from its BEGIN
IMMEDIATE; on PostgreSQL the row is locked FOR UPDATE SKIP LOCKED, so two workers never take
the same row. A claim is a lease of `lease_s` seconds, renewed every few seconds while the
evaluation runs: if the worker dies, the submission goes back to the queue when the lease
expires, and a stale worker's late result is discarded (the write checks it still holds the
lease), so none is lost or counted twice.

A worker that vanishes is never the file's fault (the file runs in a limited child, which
cannot take its parent down), so a submission goes back to the queue however often workers
die under it; only what the child itself did (a timeout, memory, an error) fails it. Nothing
ends the worker's loop: a database that is locked, unreachable or read-only is waited out,
and one submission's exception fails that submission alone. Every few seconds the worker
writes its heartbeat (`workers`), which /healthz reports."""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import datetime
import json
import math
import os
import socket
import sys
import tempfile
import time
import traceback
from pathlib import Path

from sqlalchemy import Engine, and_, delete, or_, select, update
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from cnnlab.errors import first_line
from cnnlab.leaderboard.canonical_weights import WEIGHTS_FILE
from cnnlab.leaderboard.child import child_reason, run_limited
from cnnlab.leaderboard.database import reading, writing
from cnnlab.leaderboard.near_copies import Evaluated, compare, flag_near_copies
from cnnlab.leaderboard.results import storable
from cnnlab.leaderboard.schema import (
    ImportedTestSet,
    ModelFile,
    Submission,
    Task,
    Worker,
    utcnow,
)

HEARTBEAT_S = 5  # how often a worker reports itself and renews a running evaluation's lease
FORGET_WORKERS_AFTER = datetime.timedelta(days=1)  # a worker row not seen since is removed
MAX_WAIT_S = 30  # the longest pause between tries while the database cannot be reached


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
    test_set: bytes | None = None  # the task's imported test set (.npz); None: the official


def log(message: str) -> None:
    """What the operator reads in the worker's (or `serve`'s) output."""
    print(f"{datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M:%S} {message}", flush=True)


# PostgreSQL's codes for a state that passes: a connection lost, a read-only transaction, a
# lock not granted in time, a serialisation failure or deadlock, the server shutting down or
# short of resources.
_PASSING_STATES = ("08", "25006", "40001", "40P01", "55P03", "57P", "53")


def unavailable(error: BaseException) -> bool:
    """A database error to wait out (locked, unreachable, read-only), not one to report."""
    state = getattr(getattr(error, "orig", None), "sqlstate", None) or ""
    return isinstance(error, OperationalError | InterfaceError) or \
        getattr(error, "connection_invalidated", False) or state.startswith(_PASSING_STATES)


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def claim(engine: Engine, worker: str, limits: Limits) -> Claim | None:
    """Take the oldest queued submission (or one whose lease expired), or None."""
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
        submission.status, submission.worker = "running", worker
        submission.started_at = now
        submission.lease_expires_at = now + datetime.timedelta(seconds=limits.lease_s)
        submission.attempts += 1  # claims, not failures: identifies this worker's lease
        task = session.get(Task, submission.task_id)
        model = session.get(ModelFile, submission.sha256)
        test_set = session.get(ImportedTestSet, task.test_set) if task.test_set else None
        return Claim(submission.id, submission.attempts, worker, task.dataset, task.seed,
                     task.max_bytes, model.data, task.exercise,
                     test_set.data if test_set is not None else None)


class LeaseLost(Exception):
    """Another worker took the submission over (this one stalled past its lease)."""


def evaluate_in_child(job: Claim, limits: Limits, data_dir: str | None = None,
                      heartbeat=lambda: None) -> dict:
    """Run `verify` on the file in a child process; a dict with status and figures or error.
    `heartbeat` is called every few seconds while it runs (to renew the lease); it raises
    LeaseLost to abandon the evaluation."""
    with tempfile.TemporaryDirectory(prefix="cnnlab-verify-") as folder:
        job_file = Path(folder) / "job.json"
        if job.exercise:
            # The task's hidden cases, drawn from its secret seed: every submission of every
            # student is graded on the same ones, so sending a file again changes nothing.
            source = Path(folder) / f"{job.exercise}.py"
            source.write_bytes(job.data)
            job_file.write_text(json.dumps({
                "file_path": str(source), "exercise": job.exercise, "seed": job.seed}))
            module = "cnnlab.leaderboard.grade_exercise"
        else:
            model = Path(folder) / "model.onnx"
            model.write_bytes(job.data)
            test_set = None
            if job.test_set is not None:  # from the database: no dataset files needed here
                test_set = Path(folder) / "test_set.npz"
                test_set.write_bytes(job.test_set)
            job_file.write_text(json.dumps({
                "model_path": str(model), "dataset": job.dataset, "seed": job.seed,
                "threads": limits.threads, "repeats": limits.repeats,
                "max_bytes": job.max_bytes, "data_dir": data_dir,
                "test_set": str(test_set) if test_set else None}))
            module = "cnnlab.leaderboard.verify"
        threads = str(limits.threads)
        env = {**os.environ, "OMP_NUM_THREADS": threads, "OPENBLAS_NUM_THREADS": threads,
               "MKL_NUM_THREADS": threads}
        child = run_limited([sys.executable, "-m", module, str(job_file)],
                            memory_mb=limits.memory_mb, timeout_s=limits.timeout_s, env=env,
                            heartbeat=heartbeat, heartbeat_s=HEARTBEAT_S)
        reason = child_reason(child.last_error_line(), folder)
        weights = Path(folder) / WEIGHTS_FILE
        kept = weights.read_bytes() if weights.is_file() and child.code == 0 else None
    if child.timed_out:
        return {"status": "failed", "fault": "file",
                "error": f"the evaluation took longer than {limits.timeout_s} s"}
    lines = child.stdout.strip().splitlines()
    if child.code == 0 and lines:
        try:
            return json.loads(lines[-1]) | ({"weights": kept} if kept else {})
        except json.JSONDecodeError:
            pass
    if child.out_of_memory:
        return {"status": "failed", "fault": "file",
                "error": f"the evaluation ran out of memory (limit {limits.memory_mb} MB)"}
    return {"status": "failed", "fault": "file",
            "error": f"the evaluation stopped with exit code {child.code}"
                     + (f": {reason}" if reason else "")}


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


def beat(engine: Engine, worker: str, submission_id: int | None = None) -> None:
    """Report this worker alive (and what it evaluates); forget workers long gone."""
    now = utcnow()
    with writing(engine) as session:
        row = session.get(Worker, worker)
        if row is None:
            session.add(Worker(name=worker, started_at=now, seen_at=now,
                               submission_id=submission_id))
        else:
            row.seen_at, row.submission_id = now, submission_id
        session.execute(delete(Worker).where(Worker.seen_at < now - FORGET_WORKERS_AFTER))


def leave(engine: Engine, worker: str) -> None:
    with writing(engine) as session:
        session.execute(delete(Worker).where(Worker.name == worker))


def _keep_alive(engine: Engine, job: Claim, limits: Limits) -> None:
    """The heartbeat while a child runs: the lease and the worker's row. A database that is
    busy now is not a reason to stop the evaluation (the lease lasts several beats)."""
    try:
        renew(engine, job, limits)
        beat(engine, job.worker, job.submission_id)
    except DBAPIError as error:
        if not unavailable(error):
            raise
        log(f"worker {job.worker}: could not renew the lease of submission "
            f"{job.submission_id} ({first_line(error.orig or error)}); trying again")


def _compared_beforehand(engine: Engine, job: Claim, values: dict) -> dict | None:
    """The result compared with the other students' submissions before the write transaction
    that stores it: with a class of 200 the comparison took seconds, holding the database's
    write lock, and another worker's lease renewal waited out its lease for it."""
    if "predictions" not in values:
        return None
    with reading(engine) as session:
        task_id, user_id = session.execute(
            select(Submission.task_id, Submission.user_id)
            .where(Submission.id == job.submission_id)).one()
        return compare(session, Evaluated(
            job.submission_id, task_id, user_id, values["predictions"], values.get("weights"),
            values.get("weights_architecture")))


def finish(engine: Engine, job: Claim, result: dict, compared: dict | None = None) -> bool:
    """Write the result if this worker still holds the lease; False when it was taken over.
    `compared`: the near-copy comparison made already (default: made here, before the write
    transaction)."""
    values = {"status": result["status"], "finished_at": utcnow(), "lease_expires_at": None,
              "error": (result.get("error") or None),
              "fault": result.get("fault", "file") if result["status"] == "failed" else None}
    if result["status"] == "finished":
        values.update({key: result.get(key) for key in (
            "public_accuracy", "private_accuracy", "images_per_s", "reference_ratio",
            "params", "macs", "details")})
        if result.get("predictions"):
            values["predictions"] = base64.b64decode(result["predictions"])
        if result.get("weights") and result.get("weights_architecture"):
            values["weights"] = result["weights"]
            values["weights_architecture"] = result["weights_architecture"]
    if compared is None:
        compared = _compared_beforehand(engine, job, values)
    with writing(engine) as session:
        changed = session.execute(
            update(Submission)
            .where(Submission.id == job.submission_id, Submission.status == "running",
                   Submission.worker == job.worker, Submission.attempts == job.attempt)
            .values(**values))
        if changed.rowcount == 1 and "predictions" in values:
            flag_near_copies(session, job.submission_id, compared)
        return changed.rowcount == 1


class Patience:
    """Waits between tries at a database that cannot be reached: 1 s, doubling, at most
    MAX_WAIT_S; said once per outage, not once per try."""

    def __init__(self, worker: str):
        self.worker, self.delay, self.said = worker, 1.0, None

    def wait(self, error: BaseException, doing: str) -> None:
        reason = first_line(getattr(error, "orig", None) or error)
        if reason != self.said:
            log(f"worker {self.worker}: the database is unavailable while {doing} ({reason}); "
                "waiting and trying again")
            self.said = reason
        time.sleep(self.delay)
        self.delay = min(MAX_WAIT_S, self.delay * 2)

    def reset(self) -> None:
        if self.said is not None:
            log(f"worker {self.worker}: the database answers again")
        self.delay, self.said = 1.0, None


def _write_result(engine: Engine, job: Claim, result: dict, stop) -> bool | None:
    """finish(), tried until the database takes it: True written, False taken over, None
    when told to stop first. A result the database refuses (not one it cannot take now) is
    replaced by a failure that says so."""
    patience = Patience(job.worker)
    while not stop():
        try:
            written = finish(engine, job, result)
            patience.reset()
            return written
        except DBAPIError as error:
            if unavailable(error):
                patience.wait(error, f"writing the result of submission {job.submission_id}")
                continue
            if result.get("fault") == "server":
                raise  # even the failure cannot be written: the loop reports it
            result = {"status": "failed", "fault": "server",
                      "error": "the leaderboard could not store this result "
                               f"({first_line(error.orig or error)[:300]})"}
    return None


def work_once(engine: Engine, worker: str, limits: Limits, data_dir: str | None = None,
              stop=lambda: False) -> bool:
    """Evaluate one submission if any is waiting; True when one was processed."""
    job = claim(engine, worker, limits)
    if job is None:
        return False
    beat(engine, worker, job.submission_id)
    try:
        result = evaluate_in_child(job, limits, data_dir,
                                   heartbeat=lambda: _keep_alive(engine, job, limits))
    except LeaseLost:
        log(f"worker {worker}: submission {job.submission_id} was taken over by another "
            "worker (this one stalled past its lease); its result is theirs to write")
        return True
    except Exception as error:  # the worker's own trouble (a full disk...): not the file's
        log(f"worker {worker}: could not evaluate submission {job.submission_id}:\n"
            + traceback.format_exc())
        result = {"status": "failed", "fault": "server",
                  "error": "the leaderboard could not evaluate this file "
                           f"({type(error).__name__}: {first_line(error)}); it does not "
                           "count against your daily limit"}
    written = _write_result(engine, job, storable(result), stop)
    outcome = {True: "written", False: "discarded (another worker took it over)",
               None: "not written (the worker is stopping; the submission goes back to the "
                     "queue)"}[written]
    log(f"worker {worker}: submission {job.submission_id} (claim {job.attempt}) "
        f"{result['status']}; result {outcome}")
    beat(engine, worker)
    return True


def run_worker(engine: Engine, limits: Limits = Limits(), poll_s: float = 1.0,
               data_dir: str | None = None, stop=lambda: False,
               name: str | None = None) -> None:
    """Evaluate submissions until `stop()`; nothing else ends the loop."""
    worker = name or worker_name()
    patience = Patience(worker)
    last_beat = -math.inf
    while not stop():
        try:
            if time.monotonic() - last_beat >= HEARTBEAT_S:
                beat(engine, worker)
                last_beat = time.monotonic()
            processed = work_once(engine, worker, limits, data_dir, stop)
            patience.reset()
        except DBAPIError as error:
            if unavailable(error):
                patience.wait(error, "looking for work")
                continue
            log(f"worker {worker}: unexpected database error:\n" + traceback.format_exc())
            time.sleep(MAX_WAIT_S)
            continue
        except Exception:  # the loop is what must survive
            log(f"worker {worker}: unexpected error:\n" + traceback.format_exc())
            time.sleep(MAX_WAIT_S)
            continue
        if processed:
            last_beat = time.monotonic()
        else:
            time.sleep(poll_s)
    with contextlib.suppress(DBAPIError):  # if not, its row ages out of /healthz
        leave(engine, worker)
