"""The ranking of a task: each student's best finished submission in the order the course
ranks them, by accuracy or by speed (the ratio to the reference, speeds within their measured
spread sharing a rank), or by score on an exercise task; the Ladder's public scores and the
final submissions after reveal decide which submissions take part."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np
from sqlalchemy import or_, select
from sqlalchemy.orm import undefer

from cnnlab.leaderboard.ladder import Step, ladder
from cnnlab.leaderboard.near_copies import CORRECT
from cnnlab.leaderboard.refusals import Refused
from cnnlab.leaderboard.schema import Submission, Task, User


def ladder_active(task: Task) -> bool:
    """Whether public scores go through the Ladder now (after reveal the private half ranks)."""
    return task.ladder and not task.revealed and not task.exercise


def _public_outcomes(row: Submission) -> np.ndarray | None:
    """Right or wrong on each public image, from the stored predictions (public half first)."""
    images = ((row.details or {}).get("public") or {}).get("images")
    if row.predictions is None or not images:
        return None
    return (np.frombuffer(row.predictions, np.uint8)[:images] & CORRECT) != 0


def ladder_steps(session, task: Task, user_id: int) -> dict[int, Step]:
    """What the Ladder shows for each of the student's evaluated submissions to the task (by
    id), in the order sent; copies not cleared are not theirs to climb with."""
    rows = session.scalars(
        select(Submission).options(undefer(Submission.predictions)).where(
            Submission.task_id == task.id, Submission.user_id == user_id,
            Submission.status == "finished",
            or_(Submission.copy_of.is_(None), Submission.copy_cleared.is_(True)))
        .order_by(Submission.id)).all()
    known = [(row.id, outcomes) for row in rows
             if (outcomes := _public_outcomes(row)) is not None]
    steps = ladder([outcomes for _, outcomes in known])
    return {submission_id: step for (submission_id, _), step in
            zip(known, steps, strict=True)}


def ranked_accuracy(task: Task, row: Submission) -> float | None:
    """The accuracy the ranking uses: the public half until reveal, the private one after.
    Before reveal the private figure is never shown."""
    return row.private_accuracy if task.revealed else row.public_accuracy


def ratio_spread(submission: Submission) -> float | None:
    """How far apart (max - min, over the median) the repeats' ratios to the reference
    landed: the speed figure's own noise."""
    speed = (submission.details or {}).get("speed") or {}
    return (speed.get("reference") or {}).get("ratio_spread")


@dataclasses.dataclass(frozen=True)
class Ranked:
    rank: int  # shared by speeds within their measured spread
    user: User
    submission: Submission
    accuracy: float | None  # on the half the ranking uses

    @property
    def score(self) -> float:
        return self.accuracy or 0.0

    @property
    def ratio(self) -> float:
        return self.submission.reference_ratio or 0.0

    @property
    def sent(self) -> int:  # the submission's id: the earlier is the smaller
        return self.submission.id


def _private_candidates(rows: list[tuple[Submission, User]],
                        count: int) -> list[tuple[Submission, User]]:
    """Each student's marked final submissions, or where they marked none their best `count`
    on the public half (the earlier first on a tie): the private half never chooses."""
    by_user: dict[int, list] = {}
    for submission, user in rows:
        by_user.setdefault(user.id, []).append((submission, user))
    kept = []
    for own in by_user.values():
        kept += [(s, u) for s, u in own if s.final] or \
            sorted(own, key=lambda pair: (-(pair[0].public_accuracy or 0.0), pair[0].id))[:count]
    return kept


def _within_spread(faster: Submission, slower: Submission) -> bool:
    """Whether two speeds differ by no more than either one's measured spread (two speeds
    not measured at all are alike; a measured one and an unmeasured one are not)."""
    if faster.reference_ratio is None or slower.reference_ratio is None:
        return faster.reference_ratio is None and slower.reference_ratio is None
    margin = max(faster.reference_ratio * (ratio_spread(faster) or 0.0),
                 slower.reference_ratio * (ratio_spread(slower) or 0.0))
    return abs(faster.reference_ratio - slower.reference_ratio) <= margin


def _shared_ranks(entries: list[Ranked], tied: Callable[[Ranked, Ranked], bool],
                  inside: Callable[[Ranked], tuple]) -> list[Ranked]:
    """`entries` ranked in their order, where an entry `tied` to the first of the group
    before it joins that group and shares its rank; a group is ordered by `inside`, whose
    last resort is always the submission's id, so that on a tie the earlier submission comes
    first and a later one never passes it by timing noise."""
    groups: list[list[Ranked]] = []
    for entry in entries:
        if groups and tied(groups[-1][0], entry):
            groups[-1].append(entry)
        else:
            groups.append([entry])
    ordered, rank = [], 1
    for group in groups:
        group.sort(key=inside)
        ordered += [dataclasses.replace(entry, rank=rank) for entry in group]
        rank += len(group)
    return ordered


def _speed_order(best: list[Ranked]) -> list[Ranked]:
    """By speed: a speed within the spread of its group's fastest shares that rank; inside a
    group the more accurate comes first, then the earlier."""
    entries = sorted(best, key=lambda e: (-e.ratio, -e.score, e.sent))
    return _shared_ranks(entries, lambda first, e: _within_spread(first.submission,
                                                                  e.submission),
                         lambda e: (-e.score, e.sent))


def _accuracy_order(best: list[Ranked]) -> list[Ranked]:
    """By accuracy: at an equal accuracy the faster comes first only where the speeds differ
    by more than their measured spread; otherwise the two share the rank and the earlier
    submission comes first."""
    entries = sorted(best, key=lambda e: (-e.score, -e.ratio, e.sent))
    return _shared_ranks(entries, lambda first, e: first.accuracy == e.accuracy and
                         _within_spread(first.submission, e.submission), lambda e: (e.sent,))


def _score_order(best: list[Ranked]) -> list[Ranked]:
    """On an exercise task: an equal score shares the rank, earlier first."""
    entries = sorted(best, key=lambda e: (-e.score, e.sent))
    return _shared_ranks(entries, lambda first, e: first.accuracy == e.accuracy,
                         lambda e: (e.sent,))


def _preference(task: Task, sort: str, entry: Ranked) -> tuple:
    """How a student's own submissions compare, the best the largest."""
    if task.exercise:  # the score; on a tie the earlier submission
        return entry.accuracy, -entry.sent
    if sort == "accuracy":
        return entry.accuracy, entry.ratio
    return entry.submission.reference_ratio, entry.accuracy


def ranking(session, task: Task, sort: str = "accuracy") -> list[Ranked]:
    """The best finished submission per student, ranked by accuracy (ties: faster first
    where the speeds differ beyond their measured spread), or by speed as the course ranks
    it: the ratio to the reference (comparable across workers' machines, unlike images/s),
    only at or above the task's accuracy floor, speeds within their measured spread sharing
    a rank (more accurate first among them); on an exercise task, by the share of cases
    passed. Every tie shares its rank with the earlier submission first. Disabled users,
    admins and uncleared copies are not ranked."""
    if sort not in ("accuracy", "speed"):
        raise Refused(400, f"sort must be accuracy or speed, got {sort!r}")
    if task.exercise and sort != "accuracy":
        raise Refused(400, "an exercise task is ranked by score only (sort=accuracy)")
    rows = session.execute(
        select(Submission, User).join(User, User.id == Submission.user_id)
        .where(Submission.task_id == task.id, Submission.status == "finished",
               User.disabled.is_(False), User.admin.is_(False))).all()
    # another student's model is shown to the teacher, never ranked
    rows = [(s, u) for s, u in rows if s.copy_of is None or s.copy_cleared]
    if task.revealed and not task.exercise:
        rows = _private_candidates(rows, task.final_count)
    if ladder_active(task):  # a student is ranked by the scores the Ladder showed them
        shown = {}
        for user_id in {u.id for _, u in rows}:
            shown |= ladder_steps(session, task, user_id)
        rows = [(s, u) for s, u in rows if s.id not in shown or shown[s.id].accepted]
    if sort == "speed":  # "faster while keeping the same prediction" is the improvement
        rows = [(s, u) for s, u in rows if s.reference_ratio is not None and (
            task.min_accuracy is None or (ranked_accuracy(task, s) or 0.0) >= task.min_accuracy)]
    best: dict[int, Ranked] = {}
    for submission, user in rows:
        entry = Ranked(0, user, submission, ranked_accuracy(task, submission))
        if user.id not in best or \
                _preference(task, sort, entry) > _preference(task, sort, best[user.id]):
            best[user.id] = entry
    order = _score_order if task.exercise else \
        _speed_order if sort == "speed" else _accuracy_order
    return order(list(best.values()))
