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
import time
from collections.abc import Callable

from sqlalchemy import Engine, and_, bindparam, case, func, select

from cnnlab.leaderboard.database import reading
from cnnlab.leaderboard.schema import Submission, Task, User

SERVED_FRESH_S = 1.0  # how old a board `leaderboard serve` shows may be (BoardCache)


def _weighed(condition, weight) -> object:
    return func.coalesce(func.sum(case((condition, weight), else_=0)), 0)


# only evaluated submissions are ranked: an upload queued in a rush changes nothing
_FINISHED = Submission.__table__.c
_USERS = User.__table__.c
# What data_version asks, built once as submissions' upload statements are: it is asked on
# every read of a board
_VERSION = select(
    *Task.__table__.c, func.count(_FINISHED.id), func.max(_FINISHED.finished_at),
    func.coalesce(func.sum(_FINISHED.id), 0),
    _weighed(_FINISHED.final.is_(True), _FINISHED.id),
    _weighed(_FINISHED.copy_of.is_not(None), _FINISHED.id),
    _weighed(_FINISHED.copy_cleared.is_(True), _FINISHED.id),
    _weighed(_FINISHED.copy_confirmed.is_(True), _FINISHED.id),
    select(func.count()).select_from(User.__table__).scalar_subquery(),
    select(_weighed(_USERS.disabled.is_(True), _USERS.id)).scalar_subquery(),
    select(_weighed(_USERS.admin.is_(True), _USERS.id)).scalar_subquery(),
).select_from(Task.__table__.outerjoin(Submission.__table__, and_(
    _FINISHED.task_id == Task.__table__.c.id, _FINISHED.status == "finished"))) \
    .where(Task.__table__.c.name == bindparam("task_name")).group_by(Task.__table__.c.id)


def data_version(engine: Engine, task_name: str) -> tuple | None:
    """What the task's board is computed from, in one query's answer (None: no such task)."""
    with reading(engine) as session:
        row = session.execute(_VERSION, {"task_name": task_name}).first()
    return None if row is None else tuple(row)


class BoardCache:
    """Values computed from a task's board data, each kept until that data's version moves.
    One per app (its engine); safe from the server's threads. With `fresh_s`, the version
    seen is trusted that long before the database is asked again: a board shown may be that
    old (in a rush of 600 reads in 3 s, the version queries were a fifth of the server's
    time)."""

    def __init__(self, engine: Engine, fresh_s: float = 0.0):
        self.engine, self.fresh_s = engine, fresh_s
        self._versions: dict[str, tuple[tuple | None, float]] = {}  # (version, when asked)
        self._kept: dict[tuple, tuple[tuple, object]] = {}
        self._computing: dict[tuple, threading.Lock] = {}  # one per kept value
        self._lock = threading.Lock()

    def _kept_for(self, key: tuple, version: tuple | None) -> tuple[bool, object]:
        with self._lock:
            kept = self._kept.get(key)
        if version is not None and kept is not None and kept[0] == version:
            return True, kept[1]
        return False, None

    def _version(self, task_name: str) -> tuple | None:
        if self.fresh_s:
            with self._lock:
                seen = self._versions.get(task_name)
            if seen is not None and time.monotonic() - seen[1] < self.fresh_s:
                return seen[0]
        asked = time.monotonic()
        version = data_version(self.engine, task_name)
        with self._lock:
            self._versions[task_name] = (version, asked)
        return version

    def get(self, task_name: str, part: tuple, compute: Callable[[], object]) -> object:
        """`compute()` for the task's current data, or what it gave for the same version and
        `part` (what else the value depends on, e.g. the sort)."""
        version = self._version(task_name)
        key = (task_name, *part)
        found, value = self._kept_for(key, version)
        if found:
            return value
        # After a change, the readers of a rush all miss at once: one computes while the
        # others wait for its value (40 readers computing the same board at once took seconds)
        with self._lock:
            computing = self._computing.setdefault(key, threading.Lock())
        with computing:
            found, value = self._kept_for(key, version)
            if found:
                return value
            value = compute()
            if version is not None:
                with self._lock:
                    self._kept[key] = (version, value)
        return value
