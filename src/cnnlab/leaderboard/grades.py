"""The grades of a task: one row per student on the roster (those who sent nothing too), with
their final submissions, the submission each ranking uses, its accuracies, speed and ranks,
exactly as the ranking computes them (`ranking.ranking`)."""

from __future__ import annotations

import csv
import io

from sqlalchemy import Engine, func, select

from cnnlab.leaderboard.database import reading
from cnnlab.leaderboard.ranking import ranking
from cnnlab.leaderboard.schema import Submission, User
from cnnlab.leaderboard.submissions import find_task

COLUMNS = ("student_id", "name", "email", "state", "submissions", "evaluated", "finals",
           "flagged_copies", "accuracy_rank", "submission", "accuracy_pct", "public_accuracy_pct",
           "private_accuracy_pct", "images_per_s", "reference_ratio", "speed_rank",
           "speed_submission", "speed_images_per_s")


def _percent(value: float | None) -> str:
    return "" if value is None else f"{100 * value:.2f}"


def grades(engine: Engine, task_name: str) -> list[dict]:
    """The rows, in student-id order. `accuracy_pct` is what the ranking uses (the public half
    before reveal, the private after; an exercise task's score); the teacher sees both halves.
    A student who is disabled, or has no evaluated submission, has no rank. Submissions are
    named by their keys; `flagged_copies` lists a student's copies the teacher has not
    cleared, which are neither ranked nor counted among the finals."""
    with reading(engine) as session:
        task = find_task(session, task_name)
        by_accuracy = {r.user.id: r for r in ranking(session, task, "accuracy")}
        by_speed = {} if task.exercise else \
            {r.user.id: r for r in ranking(session, task, "speed")}
        counts = dict(session.execute(
            select(Submission.user_id, func.count()).where(Submission.task_id == task.id)
            .group_by(Submission.user_id)).all())
        evaluated = dict(session.execute(
            select(Submission.user_id, func.count()).where(
                Submission.task_id == task.id, Submission.status == "finished")
            .group_by(Submission.user_id)).all())
        # submissions by their keys; a copy not cleared is listed as such and never as a final
        finals: dict[int, list[str]] = {}
        copies: dict[int, list[str]] = {}
        for row in session.scalars(select(Submission).where(
                Submission.task_id == task.id,
                Submission.final.is_(True) | Submission.copy_of.is_not(None))
                .order_by(Submission.id)):
            if row.copy_of is not None and not row.copy_cleared:
                copies.setdefault(row.user_id, []).append(row.key)
            elif row.final:
                finals.setdefault(row.user_id, []).append(row.key)
        students = session.scalars(select(User).where(User.admin.is_(False)).order_by(
            User.student_id.is_(None), User.student_id, User.id)).all()
        rows = []
        for user in students:
            ranked, fast = by_accuracy.get(user.id), by_speed.get(user.id)
            chosen = ranked.submission if ranked else None
            rows.append({
                "student_id": user.student_id or "", "name": user.name,
                "email": user.email or "", "state": "disabled" if user.disabled else "active",
                "submissions": counts.get(user.id, 0), "evaluated": evaluated.get(user.id, 0),
                "finals": ";".join(finals.get(user.id, [])),
                "flagged_copies": ";".join(copies.get(user.id, [])),
                "accuracy_rank": ranked.rank if ranked else "",
                "submission": chosen.key if chosen else "",
                "accuracy_pct": _percent(ranked.accuracy) if ranked else "",
                "public_accuracy_pct": "" if task.exercise or not chosen else
                _percent(chosen.public_accuracy),
                "private_accuracy_pct": "" if task.exercise or not chosen else
                _percent(chosen.private_accuracy),
                "images_per_s": f"{chosen.images_per_s:.0f}" if chosen and
                chosen.images_per_s else "",
                "reference_ratio": f"{chosen.reference_ratio:.3f}" if chosen and
                chosen.reference_ratio else "",
                "speed_rank": fast.rank if fast else "",
                "speed_submission": fast.submission.key if fast else "",
                "speed_images_per_s": f"{fast.submission.images_per_s:.0f}" if fast else "",
            })
        return rows


def grades_csv(engine: Engine, task_name: str) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(grades(engine, task_name))
    return out.getvalue()
