"""Two metrics at once: the Pareto front of accuracy and speed (the runs or submissions that no
other one beats on both)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Point:
    name: str
    accuracy: float
    speed: float


def pareto_front(points: list[Point]) -> list[Point]:
    """The points no other point beats on both metrics (at least as accurate and as fast, and
    better on one), sorted by speed."""
    # Fastest first (the more accurate first at one speed): a point is beaten exactly when
    # one before it is at least as accurate and differs from it. One pass, not n squared.
    front, best = [], None  # best: (accuracy, speed) of the most accurate point so far
    for p in sorted(points, key=lambda p: (-p.speed, -p.accuracy)):
        if best is None or p.accuracy > best[0] or (p.accuracy, p.speed) == best:
            front.append(p)
        if best is None or p.accuracy > best[0]:
            best = (p.accuracy, p.speed)
    return sorted(front, key=lambda p: (p.speed, p.accuracy))
