"""The task's public board, computed once per change of what it shows. In a deadline rush a
class reads the board far more often than it changes, and computing it (the ranking with its
ties and the Ladder, the Pareto plot, the page) took 40 ms with 200 students: a few reads a
second filled a core. So the board is kept, with a version of the data it was computed from;
each read asks the database only for that version (one aggregate query) and computes again
when it moved.

The version covers everything the board shows or ranks by: the task's row, its evaluated
submissions (how many, which, the latest finished, and which are final, flagged, cleared or
confirmed, weighed by id so that two changes cannot cancel out) and the users (disabled or
admin). Uploads still queued are not on the board, and do not move the version. Kept
values are shared between readers: they must not be changed."""

from __future__ import annotations

import threading
from collections.abc import Callable

from sqlalchemy import Engine, case, func, select

from cnnlab.leaderboard.database import reading
from cnnlab.leaderboard.schema import Submission, Task, User


def _weighed(condition) -> object:
    return func.coalesce(func.sum(case((condition, Submission.id), else_=0)), 0)


def data_version(engine: Engine, task_name: str) -> tuple | None:
    """What the task's board is computed from, in one query's answer (None: no such task)."""
    with reading(engine) as session:
        task = session.scalar(select(Task).where(Task.name == task_name))
        if task is None:
            return None
        # only evaluated submissions are ranked: an upload queued in a rush changes nothing
        submissions = session.execute(
            select(func.count(), func.max(Submission.finished_at),
                   func.coalesce(func.sum(Submission.id), 0),
                   _weighed(Submission.final.is_(True)),
                   _weighed(Submission.copy_of.is_not(None)),
                   _weighed(Submission.copy_cleared.is_(True)),
                   _weighed(Submission.copy_confirmed.is_(True)))
            .where(Submission.task_id == task.id, Submission.status == "finished")).one()
        users = session.execute(select(
            func.count(), func.coalesce(func.sum(case((User.disabled.is_(True), User.id),
                                                      else_=0)), 0),
            func.coalesce(func.sum(case((User.admin.is_(True), User.id), else_=0)), 0),
        )).one()
        row = tuple(getattr(task, column.key) for column in Task.__table__.columns)
        return row, tuple(submissions), tuple(users)


class BoardCache:
    """Values computed from a task's board data, each kept until that data's version moves.
    One per app (its engine); safe from the server's threads."""

    def __init__(self, engine: Engine):
        self.engine = engine
        self._kept: dict[tuple, tuple[tuple, object]] = {}
        self._lock = threading.Lock()

    def get(self, task_name: str, part: tuple, compute: Callable[[], object]) -> object:
        """`compute()` for the task's current data, or what it gave for the same version and
        `part` (what else the value depends on, e.g. the sort)."""
        version = data_version(self.engine, task_name)
        key = (task_name, *part)
        with self._lock:
            kept = self._kept.get(key)
        if version is not None and kept is not None and kept[0] == version:
            return kept[1]
        value = compute()  # two readers may both compute after a change: the same value
        if version is not None:
            with self._lock:
                self._kept[key] = (version, value)
        return value
