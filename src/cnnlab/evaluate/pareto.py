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
    front = [p for p in points
             if not any(q.accuracy >= p.accuracy and q.speed >= p.speed
                        and (q.accuracy > p.accuracy or q.speed > p.speed) for q in points)]
    return sorted(front, key=lambda p: (p.speed, p.accuracy))
