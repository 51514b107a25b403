"""Near copies: a classmate's model changed just enough that its file is another (a weight
nudged, a few steps of fine-tuning, channels permuted, an Identity or an add-zero node,
another opset, batch norm left unfolded, two linear layers merged) still predicts what the
original predicts, and above all gets wrong what the original gets wrong; and its weights,
put in canonical form (leaderboard.canonical_weights), are still the original's or near them.
So each evaluated submission is compared with every other student's: on the images where
either of two models is wrong, how often they predict the same class (honest models share
the hard images but not their wrong answers; a copy shares both), and how far apart their
canonical weights are. The later of two that agree on `NEAR_ERROR_AGREEMENT` or more of
those images, or whose weights are at most `NEAR_WEIGHT_DISTANCE` apart, is flagged as a
suspected copy of the earliest it is near, with the figures as evidence, and left unranked
until the teacher clears it.

Measured on Fashion-MNIST's test set (benchmarks/copy_detection.py, LeNet-5 by the training
guide's recipe, 91.9%): honest pairs from seeds 0, 1 and 2 agree on 44.9-46.6% of the images either
gets wrong (weaker LeNet-5s, 2 epochs on 2,000 images: 40.8-54.3%) and lie 1.23-1.27 apart
by weights (the same seed by another recipe: 0.96); a nudged, permuted, rescaled or
re-exported copy agrees on 100% at a distance of 0. Fine-tuned 100 to 2,000 steps, a copy's
predictions are as independent as an honest model's (62.7-67.5%), but its weights lie only
0.027-0.084 from the original's: flagged by them.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from sqlalchemy import case, false, select

from cnnlab.leaderboard.canonical_weights import unpacked, weight_distance
from cnnlab.leaderboard.schema import Submission, Task

NEAR_ERROR_AGREEMENT = 0.70
NEAR_WEIGHT_DISTANCE = 0.5  # measured: see the docstring
HONEST_AGREEMENT, HONEST_DISTANCE = 0.55, 0.9  # what honest pairs show: at most, at least
MIN_ERRORS = 20  # images either gets wrong: fewer say nothing either way
CORRECT = 0x80  # the bit of a prediction's byte that says it was right
CLASS = 0x7F  # the bits that hold the class


def encoded(predicted: np.ndarray, labels: np.ndarray) -> bytes:
    """A byte per hidden image: the predicted class, with CORRECT set where it is right
    (so that the comparison needs no labels)."""
    return (predicted.astype(np.uint8) | np.where(predicted == labels, CORRECT, 0)
            .astype(np.uint8)).tobytes()


def error_agreement(ours: bytes, theirs: bytes) -> float | None:
    """On the hidden images either submission gets wrong, the share where both predict the
    same class (None: not comparable, or too few such images)."""
    a, b = np.frombuffer(ours, np.uint8), np.frombuffer(theirs, np.uint8)
    if len(a) != len(b) or not len(a):
        return None
    either_wrong = ((a & CORRECT) == 0) | ((b & CORRECT) == 0)
    if either_wrong.sum() < MIN_ERRORS:
        return None
    return float(np.mean((a[either_wrong] & CLASS) == (b[either_wrong] & CLASS)))


def evidence(agreement: float | None, distance: float | None) -> str:
    """What a flag rests on beyond the fingerprint, in words for the teacher (the pages, the
    CLI, the API); empty when the pair was not compared."""
    facts = []
    if agreement is not None:
        facts.append(f"the same predictions on {agreement:.2%} of the hidden images either "
                     f"gets wrong (honest models: under {HONEST_AGREEMENT:.0%})")
    if distance is not None:
        facts.append(f"a weight distance of {distance:.4f} after canonical ordering (the same "
                     f"network: 0; honest models: {HONEST_DISTANCE} or more)")
    return "; ".join(facts)


@dataclasses.dataclass(frozen=True)
class Evaluated:
    """A submission's result as the comparison needs it (before or after it is stored)."""
    id: int
    task_id: int
    user_id: int
    predictions: bytes
    weights: bytes | None
    weights_architecture: str | None


def _others(mine: Evaluated) -> list:
    """Which submissions `mine` is compared with: every other student's evaluated one on the
    task."""
    return [Submission.task_id == mine.task_id, Submission.status == "finished",
            Submission.user_id != mine.user_id, Submission.predictions.is_not(None),
            Submission.id != mine.id]


def compare(session, mine: Evaluated, only: list[int] | None = None) -> dict[int, tuple]:
    """{other's id: (error agreement, weight distance)} for every other student's evaluated
    submission (those of `only`, where given). A read: the worker makes it before the write
    transaction that stores the result, since with a class of 200 it takes seconds."""
    # weights only where the architecture is the same: a class's other networks stay unread
    same_architecture = (Submission.weights_architecture == mine.weights_architecture) \
        if mine.weights_architecture is not None else false()
    query = select(Submission.id, Submission.predictions,
                   case((same_architecture, Submission.weights), else_=None).label("weights")) \
        .where(*_others(mine))
    if only is not None:
        query = query.where(Submission.id.in_(only))
    layers = unpacked(mine.weights) if mine.weights is not None else None
    return {other.id: _evidence(mine, layers, other) for other in session.execute(query)}


def _evidence(mine: Evaluated, layers, other) -> tuple[float | None, float | None]:
    """The pair's error agreement and weight distance (None where not comparable); `layers`
    are `mine`'s canonical weights, unpacked once for all the others."""
    share = error_agreement(mine.predictions, other.predictions)
    distance = None
    if layers is not None and other.weights is not None:
        distance = weight_distance(unpacked(other.weights), layers)
    return share, distance


def is_near(share: float | None, distance: float | None) -> bool:
    return ((share is not None and share >= NEAR_ERROR_AGREEMENT)
            or (distance is not None and distance <= NEAR_WEIGHT_DISTANCE))


def flag_near_copies(session, submission_id: int, compared: dict | None = None) -> None:
    """Flag the later of each near pair of the submission just evaluated and another
    student's evaluated one on its task, as a copy of the earliest it is near (the likely
    original, when a copy was copied again; an exact copy flagged at upload gets its
    figures). `compared` is compare()'s answer from before this transaction: here only the
    submissions stored since are compared. Runs in the transaction that stores the result,
    with the task's row locked on PostgreSQL (SQLite's write lock is the database's), so two
    results stored at once are compared."""
    row = session.get(Submission, submission_id)
    if row.predictions is None:
        return
    lock = select(Task).where(Task.id == row.task_id)
    if session.bind.dialect.name == "postgresql":
        lock = lock.with_for_update()
    session.scalar(lock)
    mine = Evaluated(row.id, row.task_id, row.user_id, row.predictions, row.weights,
                     row.weights_architecture)
    others = sorted(session.scalars(select(Submission.id).where(*_others(mine))))
    compared = dict(compared or {})
    missing = [other for other in others if other not in compared]
    if missing:
        compared.update(compare(session, mine, missing))
    for other in others:
        share, distance = compared[other]
        earlier, later = sorted((other, mine.id))
        copy = row if later == mine.id else session.get(Submission, later)
        if copy.copy_of == earlier:  # flagged already (an exact copy, or before): the evidence
            copy.copy_agreement, copy.copy_weight_distance = share, distance
        elif is_near(share, distance) and (copy.copy_of is None or (
                copy.copy_kind == "near" and earlier < copy.copy_of)):
            copy.copy_of, copy.copy_kind = earlier, "near"
            copy.copy_agreement, copy.copy_weight_distance = share, distance
