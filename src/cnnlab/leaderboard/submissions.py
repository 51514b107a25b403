"""Accepting submissions and reading results: the service's logic, with no HTTP in it."""

from __future__ import annotations

import datetime
import hashlib

from sqlalchemy import Engine, func, select

from cnnlab.data import datasets
from cnnlab.evaluate.onnx_check import OnnxRejected, check_onnx
from cnnlab.leaderboard.accounts import authenticate
from cnnlab.leaderboard.database import reading, writing
from cnnlab.leaderboard.schema import COUNTED, ModelFile, Submission, Task, User, utcnow


class Refused(Exception):
    def __init__(self, status: int, detail: str, submission_id: int | None = None):
        super().__init__(detail)
        self.status, self.detail, self.submission_id = status, detail, submission_id


def find_task(session, name: str) -> Task:
    task = session.scalar(select(Task).where(Task.name == name))
    if task is None:
        raise Refused(404, f"no task named {name!r}")
    return task


def check_caller(engine: Engine, task_name: str, token: str | None) -> tuple[int, int, int]:
    """(task id, user id, max bytes) before the upload is read: a bad token or task is
    refused without reading the body."""
    with reading(engine) as session:
        task = find_task(session, task_name)
        user = authenticate(session, token)
        if user is None:
            raise Refused(401, "missing or unknown token (send 'Authorization: Bearer TOKEN')")
        return task.id, user.id, task.max_bytes


def _start_of_day(now: datetime.datetime) -> datetime.datetime:
    return now.replace(hour=0, minute=0, second=0, microsecond=0)


def submit(engine: Engine, task_id: int, user_id: int, data: bytes, label: str) -> int:
    """Check the file and queue it; a refused file is recorded as rejected (its bytes are not
    kept) and raised as Refused(400). Refused and failed submissions do not count against the
    daily limit."""
    with reading(engine) as session:
        task = session.get(Task, task_id)
    digest = hashlib.sha256(data).hexdigest()
    rejection = _exercise_rejection(data) if task.exercise else _model_rejection(data, task)
    with writing(engine) as session:
        if rejection is None:
            # In the same write transaction as the insert, so two uploads at once cannot both
            # pass the limit (SQLite: the write lock is held from BEGIN; PostgreSQL: the
            # user's row is locked).
            lock = select(User).where(User.id == user_id)
            if engine.dialect.name == "postgresql":
                lock = lock.with_for_update()
            session.scalar(lock)
            today = session.scalar(
                select(func.count()).select_from(Submission).where(
                    Submission.task_id == task_id, Submission.user_id == user_id,
                    Submission.status.in_(COUNTED),
                    Submission.created_at >= _start_of_day(utcnow())))
            if today >= task.daily_limit:
                raise Refused(429, f"daily limit reached: {task.daily_limit} submissions per "
                                   "day (UTC) on this task; refused or failed ones do not "
                                   "count")
            if session.get(ModelFile, digest) is None:
                session.add(ModelFile(sha256=digest, size=len(data), data=data))
        submission = Submission(task_id=task_id, user_id=user_id, label=label,
                                sha256=None if rejection else digest, size=len(data),
                                status="rejected" if rejection else "queued",
                                error=rejection, attempts=0)
        session.add(submission)
        session.flush()
        submission_id = submission.id
    if rejection:
        raise Refused(400, rejection, submission_id)
    return submission_id


def _model_rejection(data: bytes, task: Task) -> str | None:
    spec = datasets.get_spec(task.dataset)
    try:
        check_onnx(data, spec.shape, len(spec.classes), task.max_bytes)
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
    return forbidden_import(source, "the file")


def _time(value: datetime.datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:  # SQLite gives back naive UTC
        value = value.replace(tzinfo=datetime.UTC)
    return value.isoformat().replace("+00:00", "Z")


MAX_ID = 2**31 - 1  # the largest id both databases hold (an INTEGER column is 32-bit in PostgreSQL)


def submission_view(engine: Engine, submission_id: int) -> dict:
    with reading(engine) as session:
        # a larger id cannot exist: asking the database would overflow its integer
        row = session.get(Submission, submission_id) if 0 < submission_id <= MAX_ID else None
        if row is None:
            raise Refused(404, f"no submission {submission_id}")
        task = session.get(Task, row.task_id)
        user = session.get(User, row.user_id)
        return {
            "id": row.id, "task": task.name, "exercise": task.exercise, "user": user.name,
            "label": row.label,
            "status": row.status, "error": row.error, "sha256": row.sha256, "size": row.size,
            "accuracy": _ranked_accuracy(task, row),
            "images_per_s": row.images_per_s, "reference_ratio": row.reference_ratio,
            "params": row.params, "macs": row.macs,
            "submitted_at": _time(row.created_at), "finished_at": _time(row.finished_at),
        }


def _ranked_accuracy(task: Task, row: Submission) -> float | None:
    """The accuracy the ranking uses: the public half until reveal, the private one after.
    Before reveal the private figure is never shown."""
    return row.private_accuracy if task.revealed else row.public_accuracy


def leaderboard_rows(engine: Engine, task_name: str, sort: str = "accuracy") -> dict:
    """The best finished submission per user, ranked by accuracy (ties: faster first) or by
    speed (ties: more accurate first); on an exercise task, by the share of cases passed
    (ties: the earlier submission first)."""
    if sort not in ("accuracy", "speed"):
        raise Refused(400, f"sort must be accuracy or speed, got {sort!r}")
    with reading(engine) as session:
        task = find_task(session, task_name)
        if task.exercise and sort != "accuracy":
            raise Refused(400, "an exercise task is ranked by score only (sort=accuracy)")
        rows = session.execute(
            select(Submission, User.name).join(User, User.id == Submission.user_id)
            .where(Submission.task_id == task.id, Submission.status == "finished")).all()
        best: dict[str, tuple] = {}
        for submission, user in rows:
            accuracy = _ranked_accuracy(task, submission)
            if task.exercise:  # the score; on a tie the earlier submission
                key = (accuracy, -submission.id)
            elif sort == "accuracy":
                key = (accuracy, submission.images_per_s)
            else:
                key = (submission.images_per_s, accuracy)
            if user not in best or key > best[user][0]:
                best[user] = (key, submission, accuracy)
        ranked = sorted(best.items(), key=lambda item: (-item[1][0][0], -item[1][0][1],
                                                        item[1][1].id))
        return {
            "task": task.name, "dataset": task.dataset, "exercise": task.exercise,
            "split": "private" if task.revealed else "public", "sort": sort,
            "rows": [{"rank": rank, "user": user, "submission": sub.id, "label": sub.label,
                      "accuracy": accuracy, "images_per_s": sub.images_per_s,
                      "reference_ratio": sub.reference_ratio, "params": sub.params,
                      "macs": sub.macs, "submitted_at": _time(sub.created_at)}
                     for rank, (user, (_, sub, accuracy)) in enumerate(ranked, 1)],
        }
