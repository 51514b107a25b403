"""Accepting submissions and reading results: the service's logic, with no HTTP in it."""

from __future__ import annotations

import dataclasses
import datetime
import hashlib

from sqlalchemy import Engine, and_, bindparam, func, or_, select

from cnnlab.leaderboard import upload_check
from cnnlab.leaderboard.checker_pool import Unavailable
from cnnlab.leaderboard.database import reading, writing
from cnnlab.leaderboard.near_copies import evidence
from cnnlab.leaderboard.ranking import (
    ladder_active,
    ladder_steps,
    ranked_accuracy,
    ranking,
    ratio_spread,
)
from cnnlab.leaderboard.refusals import Refused
from cnnlab.leaderboard.schema import (
    COUNTED,
    KEY,
    ImportedTestSet,
    ModelFile,
    Submission,
    Task,
    User,
    as_utc,
    utcnow,
)
from cnnlab.leaderboard.users import caller

# The statements every upload asks, built once: building a SQLAlchemy statement cost more
# server time than running it (1 ms of an upload's 5.4, measured one upload at a time)
_TASK_NAMED = select(Task).where(Task.name == bindparam("name"))
_COUNTED_TODAY = select(func.count()).select_from(Submission).where(
    Submission.task_id == bindparam("task_id"), Submission.user_id == bindparam("user_id"),
    or_(Submission.status.in_(COUNTED),
        and_(Submission.status == "failed", Submission.fault == "file")),
    Submission.created_at >= bindparam("since"))
_FILE_STORED = select(ModelFile.sha256).where(ModelFile.sha256 == bindparam("sha256"))
_EARLIEST_SAME_FINGERPRINT = select(func.min(Submission.id)).where(
    Submission.task_id == bindparam("task_id"), Submission.user_id != bindparam("user_id"),
    Submission.fingerprint == bindparam("fingerprint"), Submission.copy_of.is_(None))


def find_task(session, name: str) -> Task:
    task = session.scalar(_TASK_NAMED, {"name": name})
    if task is None:
        raise Refused(404, f"no task named {name!r}")
    return task


# An upload whose request arrived before the closing time is taken however long its check
# takes, if its file has arrived by this long after the closing time (a request opened just
# before it cannot hold the door open for a file still being trained)
LATE_FILE_GRACE_S = 120


def _outside_phase(task: Task, arrived: datetime.datetime | None = None,
                   received: datetime.datetime | None = None) -> Refused | None:
    """403 with the times when the task does not take a submission whose request arrived at
    `arrived` (default now) and whose file was received at `received`."""
    now = arrived or utcnow()
    if task.revealed:  # its private half is out: a new score would show its author a part
        return Refused(403, f"task {task.name} is revealed: its private ranking is out, and "
                            "it takes no more submissions")
    if task.opens_at is not None and now < as_utc(task.opens_at):
        return Refused(403, f"task {task.name} opens at {_time(task.opens_at)}; a submission "
                            "before then is refused")
    if task.closes_at is not None and now >= as_utc(task.closes_at):
        return Refused(403, f"task {task.name} closed at {_time(task.closes_at)}; it takes no "
                            "more submissions")
    late = datetime.timedelta(seconds=LATE_FILE_GRACE_S)
    if task.closes_at is not None and received is not None and \
            received > as_utc(task.closes_at) + late:
        return Refused(403, f"task {task.name} closed at {_time(task.closes_at)}; this upload "
                            f"began at {_time(now)} but its file finished arriving only at "
                            f"{_time(received)}, more than {LATE_FILE_GRACE_S} s after")
    return None


@dataclasses.dataclass(frozen=True)
class Uploader:
    """Who uploads to which task, known before the file is read."""
    task_id: int
    user_id: int
    max_bytes: int
    kind: dict  # what the file must be (upload_check.check's `kind`)


def _kind(task: Task) -> dict:
    return {"exercise": task.exercise} if task.exercise else \
        {"dataset": task.dataset, "max_bytes": task.max_bytes}


def check_caller(engine: Engine, task_name: str, token: str | None,
                 arrived: datetime.datetime | None = None) -> Uploader:
    """The uploader, before the upload is read: a bad token or task, or a task outside its
    phase when the request `arrived`, is refused without reading the body."""
    with reading(engine) as session:
        task = find_task(session, task_name)
        user = caller(session, token)
        refusal = _outside_phase(task, arrived)
        if refusal is not None:
            raise refusal
        if counted_today(session, task.id, user.id) >= task.daily_limit:  # said before the
            raise _limit_reached(task)  # upload is read; accept() decides under its lock
        return Uploader(task.id, user.id, task.max_bytes, _kind(task))


def _limit_reached(task: Task) -> Refused:
    return Refused(429, f"daily limit reached: {task.daily_limit} submissions per day (UTC) "
                        "on this task; files refused at upload do not count, files that "
                        "failed their evaluation do")


def _start_of_day(now: datetime.datetime) -> datetime.datetime:
    return now.replace(hour=0, minute=0, second=0, microsecond=0)


def counted_today(session, task_id: int, user_id: int) -> int:
    """How many of the user's submissions to the task count against today's limit: those
    accepted, and those that failed by the file's own doing (a timeout, memory, an error
    running it); not those refused at upload, nor failures that were the server's."""
    return session.scalar(_COUNTED_TODAY, {"task_id": task_id, "user_id": user_id,
                                           "since": _start_of_day(utcnow())})


@dataclasses.dataclass(frozen=True)
class Accepted:
    id: int
    key: str
    flagged_copy: bool  # an exact copy, known at once (a near copy is found once evaluated)


def submit(engine: Engine, task_id: int, user_id: int, data: bytes, label: str,
           arrived: datetime.datetime | None = None,
           received: datetime.datetime | None = None) -> int:
    """accept() for the task and user by number; the submission's number."""
    with reading(engine) as session:
        kind = _kind(session.get(Task, task_id))
    return accept(engine, task_id, user_id, kind, data, label, arrived, received).id


def accept(engine: Engine, task_id: int, user_id: int, kind: dict, data: bytes, label: str,
           arrived: datetime.datetime | None = None,
           received: datetime.datetime | None = None) -> Accepted:
    """Check the file (in a warm, limited checker process) and queue it; a refused file is
    recorded as rejected (its bytes are not kept) and raised as Refused(400). The phase is
    judged at `arrived`, when the request came (default now): a check still running at the
    closing time does not make its upload late."""
    arrived = arrived or utcnow()
    digest = hashlib.sha256(data).hexdigest()
    try:
        with upload_check.turn(user_id):
            rejection, fingerprint = upload_check.check(data, kind)
    except upload_check.Busy as error:
        raise Refused(429, str(error)) from None
    except Unavailable as error:
        raise Refused(503, f"the leaderboard cannot check uploads now: {error}; try again "
                           "later (nothing was recorded)") from None
    with writing(engine) as session:
        # revealed meanwhile, or the file came too long after the request
        task = session.get(Task, task_id)
        refusal = _outside_phase(task, arrived, received)
        if refusal is not None:
            raise refusal
        if rejection is None:
            # In the same write transaction as the insert, so two uploads at once cannot both
            # pass the limit (SQLite: the write lock is held from BEGIN; PostgreSQL: the
            # user's row is locked).
            if engine.dialect.name == "postgresql":
                session.scalar(select(User.id).where(User.id == user_id).with_for_update())
            if counted_today(session, task_id, user_id) >= task.daily_limit:
                raise _limit_reached(task)
            if session.scalar(_FILE_STORED, {"sha256": digest}) is None:
                session.add(ModelFile(sha256=digest, size=len(data), data=data))
        copied = None if rejection or fingerprint is None else session.scalar(
            _EARLIEST_SAME_FINGERPRINT,
            {"task_id": task_id, "user_id": user_id, "fingerprint": fingerprint})
        submission = Submission(task_id=task_id, user_id=user_id, label=label,
                                sha256=None if rejection else digest, size=len(data),
                                status="rejected" if rejection else "queued",
                                error=rejection[:2000] if rejection else None, attempts=0,
                                fingerprint=fingerprint, copy_of=copied,
                                copy_kind="exact" if copied else None)
        session.add(submission)
        session.flush()
        submission_id, key = submission.id, submission.key
    if rejection:
        raise Refused(400, rejection, key)
    return Accepted(submission_id, key, copied is not None)


def _time(value: datetime.datetime | None) -> str | None:
    if value is None:
        return None
    return as_utc(value).isoformat().replace("+00:00", "Z")


MAX_ID = 2**31 - 1  # the largest id both databases hold (an INTEGER column is 32-bit in PostgreSQL)


def _view(session, row: Submission, admin: bool = False,
          ladders: dict | None = None) -> dict:
    """A submission as its author (or an admin) sees it. `id` is its key: the one name of a
    submission wherever a person sees it (URLs, the API, the pages, the CSV, the commands),
    never its row number, which would tell how many came before. `ladders` keeps each
    (task, student)'s Ladder for a caller that views many of their submissions."""
    task = session.get(Task, row.task_id)
    user = session.get(User, row.user_id)
    view = {
        "id": row.key, "task": task.name, "exercise": task.exercise,
        "user": user.name, "label": row.label,
        "status": row.status, "error": row.error, "sha256": row.sha256, "size": row.size,
        "accuracy": ranked_accuracy(task, row),
        "ladder": None,
        "images_per_s": row.images_per_s, "reference_ratio": row.reference_ratio,
        "ratio_spread": ratio_spread(row), "worker": _host(row.worker),
        "params": row.params, "macs": row.macs,
        "submitted_at": _time(row.created_at), "finished_at": _time(row.finished_at),
        "flagged_copy": row.copy_of is not None and not row.copy_cleared, "final": row.final,
    }
    if ladder_active(task) and row.status == "finished":
        ladders = {} if ladders is None else ladders
        if (task.id, row.user_id) not in ladders:
            ladders[task.id, row.user_id] = ladder_steps(session, task, row.user_id)
        step = ladders[task.id, row.user_id].get(row.id)
        if step is not None:  # the score the student is shown, not the one measured
            view["accuracy"] = step.shown
            view["ladder"] = {"new_score": step.accepted, "margin": step.margin}
    if admin:  # whose model it copies is the teacher's to see
        original = session.get(Submission, row.copy_of) if row.copy_of else None
        view.update(copy_of=original.key if original else None,
                    copy_cleared=row.copy_cleared, copy_confirmed=row.copy_confirmed,
                    copy_kind=row.copy_kind, copy_agreement=row.copy_agreement,
                    copy_weight_distance=row.copy_weight_distance,
                    copy_evidence=evidence(row.copy_agreement,
                                           row.copy_weight_distance),
                    student_id=user.student_id)
    return view


def submission_view(engine: Engine, submission_id: int) -> dict:
    """By number, as an admin sees it: for tools and tests (a page and an answer go by key)."""
    with reading(engine) as session:
        # a larger id cannot exist: asking the database would overflow its integer
        row = session.get(Submission, submission_id) if 0 < submission_id <= MAX_ID else None
        if row is None:
            raise Refused(404, f"no submission {submission_id}")
        return _view(session, row, admin=True)


def _own(session, key: str, user: User) -> Submission:
    """The submission of this key if it is the user's (or the user is an admin); otherwise
    404 whether it exists or not, so that nothing is learnt by asking."""
    row = session.scalar(select(Submission).where(Submission.key == key)) \
        if KEY.fullmatch(key) else None  # nothing else is asked of the database
    if row is None or (row.user_id != user.id and not user.admin):
        raise Refused(404, f"you have no submission {key}")
    return row


def private_view(engine: Engine, key: str, user: User) -> dict:
    with reading(engine) as session:
        return _view(session, _own(session, key, user), admin=user.admin)


def private_reports(engine: Engine, key: str, user: User) -> tuple[dict, dict]:
    """The view and the evaluation's reports of the user's own submission (any, for an
    admin), the private half's only once the task is revealed."""
    with reading(engine) as session:
        row = _own(session, key, user)
        details = dict(row.details or {})
        task = session.get(Task, row.task_id)
        if not task.revealed:
            details.pop("private", None)
        view = _view(session, row, admin=user.admin)
        if view["ladder"] is not None and not view["ladder"]["new_score"]:
            details.pop("public", None)  # its own public figures are what the Ladder holds back
        return view, details


def history(engine: Engine, user: User | None = None) -> list[dict]:
    """Every submission of the user (or, for None, of everybody: the admin page), newest
    first: refused and failed ones with the reason."""
    with reading(engine) as session:
        query = select(Submission).order_by(Submission.id.desc())
        if user is not None:
            query = query.where(Submission.user_id == user.id)
        ladders: dict = {}  # each student's Ladder once, not once per submission
        return [_view(session, row, admin=user is None, ladders=ladders)
                for row in session.scalars(query)]


def _test_set_view(session, task: Task) -> dict | None:
    """What the ranking is measured on, as the page and the API say it (never the labels):
    `hidden` unless it is the official test set or was taken with public labels, and what
    comparing it with the public images found."""
    if task.exercise:
        return None
    if task.test_set is None:
        return {"hidden": False, "imported": False, "images": None, "public_overlap": None}
    stored = session.get(ImportedTestSet, task.test_set)
    return {"hidden": not task.labels_public, "imported": True, "images": stored.images,
            "public_overlap": task.public_overlap}


def mark_final(engine: Engine, key: str, user: User, final: bool) -> dict:
    """Mark (or unmark) one of the user's own evaluated submissions for the private ranking;
    at most the task's final_count at once, until the task is revealed."""
    with writing(engine) as session:
        row = _own(session, key, user)
        if row.user_id != user.id:  # an admin reads any submission; only its author marks it
            raise Refused(404, f"you have no submission {key}")
        if engine.dialect.name == "postgresql":  # two marks at once cannot both pass K
            session.scalar(select(User).where(User.id == user.id).with_for_update())
        task = session.get(Task, row.task_id)
        if task.exercise:
            raise Refused(400, "an exercise task ranks every file by its score; it has no "
                               "final submissions")
        if task.revealed:
            raise Refused(403, f"task {task.name} is revealed: the final submissions were "
                               "fixed when its private ranking came out")
        if final and row.status != "finished":
            raise Refused(400, f"submission {key} is {row.status}; only an evaluated "
                               "submission can be final")
        marked = session.scalars(select(Submission.key).where(
            Submission.task_id == task.id, Submission.user_id == user.id,
            Submission.final.is_(True), Submission.id != row.id).order_by(Submission.id)).all()
        if final and len(marked) >= task.final_count:
            raise Refused(409, f"you have marked {task.final_count} final submissions already "
                               f"({', '.join(marked)}), the most task {task.name} takes; "
                               "unmark one first")
        row.final = final
        session.flush()
        finals = session.scalars(select(Submission.key).where(
            Submission.task_id == task.id, Submission.user_id == user.id,
            Submission.final.is_(True)).order_by(Submission.id)).all()
        return {"id": row.key, "final": final, "finals": list(finals)}


def _host(worker: str | None) -> str | None:
    """The machine a worker ran on (its name is host:pid)."""
    return worker.rpartition(":")[0] or worker if worker else None


def leaderboard_rows(engine: Engine, task_name: str, sort: str = "accuracy") -> dict:
    """The public ranking: `ranking`'s rows as the page and the API show them."""
    with reading(engine) as session:
        task = find_task(session, task_name)
        ranked = ranking(session, task, sort)
        return {
            "task": task.name, "dataset": task.dataset, "exercise": task.exercise,
            "test_set": _test_set_view(session, task),
            "split": "private" if task.revealed else "public", "sort": sort,
            "opens_at": _time(task.opens_at), "closes_at": _time(task.closes_at),
            "final_count": task.final_count, "min_accuracy": task.min_accuracy,
            "ladder": ladder_active(task),
            "min_accuracy_source": task.min_accuracy_source,
            "rows": [{"rank": r.rank, "user": r.user.name, "key": r.submission.key,
                      "user_id": r.user.id,
                      "label": r.submission.label, "accuracy": r.accuracy,
                      "images_per_s": r.submission.images_per_s,
                      "reference_ratio": r.submission.reference_ratio,
                      "ratio_spread": ratio_spread(r.submission),
                      "worker": _host(r.submission.worker),
                      "params": r.submission.params, "macs": r.submission.macs,
                      "submitted_at": _time(r.submission.created_at),
                      "final": r.submission.final}
                     for r in ranked],
        }
