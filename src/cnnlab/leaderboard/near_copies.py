"""Near copies: a classmate's model changed just enough that its file is another (a weight
nudged, a few steps of fine-tuning, channels permuted, an Identity or an add-zero node,
another opset, batch norm left unfolded, two linear layers merged) still predicts what the
original predicts, and above all gets wrong what the original gets wrong. So each evaluated
submission's predictions on the hidden images are compared with those of every other
student's: on the images where either of two models is wrong, how often they predict the
same class. Honest models share the hard images but not their wrong answers; a copy shares
both. The later of two that agree on `NEAR_ERROR_AGREEMENT` or more of those images is
flagged as a suspected copy of the earlier one, with the figure as evidence, and left
unranked until the teacher clears it (a functionally identical copy agrees on 100%).

Measured on Fashion-MNIST's test set (benchmarks/copy_detection.py, LeNet-5 by the README
recipe, 91.9%): honest pairs from seeds 0, 1 and 2 agree on 44.9-46.6% of the images either
gets wrong (weaker LeNet-5s, 2 epochs on 2,000 images: 40.8-54.3%); a nudged, permuted or
re-exported copy on 100%, one with every weight noised by N(0, 0.01) on 85.1%, one
fine-tuned 10 steps on 72.9%: flagged. Fine-tuned 100 to 2,000 steps (62.7-67.5%), or noised
by N(0, 0.03) (61.1%), a copy's predictions are as independent as an honest model's, and it
is not flagged: only its weights, still near the original's, would tell.
"""

from __future__ import annotations

import numpy as np
from sqlalchemy import select

from cnnlab.leaderboard.schema import Submission, Task

NEAR_ERROR_AGREEMENT = 0.70
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


def flag_near_copies(session, submission_id: int) -> None:
    """Compare a submission just evaluated with every other student's evaluated one on its
    task, and flag the later of each pair at or above NEAR_ERROR_AGREEMENT (an exact copy
    flagged at upload gets its figure). Runs in the transaction that stores the result,
    with the task's row locked on PostgreSQL, so two results stored at once are compared."""
    mine = session.get(Submission, submission_id)
    if mine.predictions is None:
        return
    lock = select(Task).where(Task.id == mine.task_id)
    if session.bind.dialect.name == "postgresql":
        lock = lock.with_for_update()
    session.scalar(lock)
    others = session.execute(
        select(Submission.id, Submission.predictions).where(
            Submission.task_id == mine.task_id, Submission.status == "finished",
            Submission.user_id != mine.user_id, Submission.predictions.is_not(None),
            Submission.id != mine.id)).all()
    for other_id, predictions in others:
        share = error_agreement(mine.predictions, predictions)
        if share is None:
            continue
        earlier, later = sorted((other_id, mine.id))
        copy = mine if later == mine.id else session.get(Submission, later)
        if copy.copy_of == earlier:  # flagged already (an exact copy): the evidence
            copy.copy_agreement = share
        elif share >= NEAR_ERROR_AGREEMENT and (copy.copy_of is None or (
                copy.copy_kind == "near" and share > (copy.copy_agreement or 0.0))):
            copy.copy_of, copy.copy_kind, copy.copy_agreement = earlier, "near", share
