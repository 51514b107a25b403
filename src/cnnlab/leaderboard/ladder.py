"""The Ladder (Blum & Hardt, "The Ladder: A Reliable Leaderboard for Machine Learning
Competitions", ICML 2015), parameter-free: a student is shown a new public score only when
their submission beats their best so far by more than the standard error of the paired
difference between the two on the public images; otherwise they see their best again. Trying
many variants and keeping the lucky ones then learns nothing of the public half's labels
(benchmarks/ladder_attack.py runs the paper's boosting attack with and without it).

Here the mechanism, on per-image correctness; a task made with `add-task --ladder` shows and
ranks by what it shows (leaderboard.submissions), until reveal."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Step:
    shown: float  # the public accuracy the student sees after this submission
    accepted: bool  # whether this submission's own score is what is shown
    margin: float  # how much it had to beat the best by (the standard error), 0 for the first


def ladder(correct: list[np.ndarray]) -> list[Step]:
    """The scores shown for one student's submissions in the order sent, each given as its
    per-image correctness (bool, the public images, one order for all)."""
    steps: list[Step] = []
    best: np.ndarray | None = None
    for outcome in correct:
        outcome = np.asarray(outcome, dtype=np.float64)
        score = float(outcome.mean())
        if best is None:
            best = outcome
            steps.append(Step(score, True, 0.0))
            continue
        difference = outcome - best
        margin = float(difference.std(ddof=1)) / math.sqrt(len(outcome)) \
            if len(outcome) > 1 else 0.0
        if score > float(best.mean()) + margin:
            best = outcome
            steps.append(Step(score, True, margin))
        else:
            steps.append(Step(float(best.mean()), False, margin))
    return steps
