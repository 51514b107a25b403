"""The Pareto front in one pass equals its definition (no other point at least as accurate
and as fast, and better on one), on any set of points, duplicates and ties included."""

from hypothesis import given
from hypothesis import strategies as st

from cnnlab.evaluate.pareto import Point, pareto_front

# few distinct values, so that ties and duplicates are common
VALUES = st.sampled_from([0.1, 0.5, 0.9, 0.95, 1.0])


def by_definition(points: list[Point]) -> list[Point]:
    front = [p for p in points
             if not any(q.accuracy >= p.accuracy and q.speed >= p.speed
                        and (q.accuracy > p.accuracy or q.speed > p.speed) for q in points)]
    return sorted(front, key=lambda p: (p.speed, p.accuracy))


@given(st.lists(st.tuples(VALUES, VALUES), max_size=30))
def test_the_front_is_the_points_no_other_beats(pairs):
    points = [Point(str(i), accuracy, speed) for i, (accuracy, speed) in enumerate(pairs)]
    assert sorted((p.speed, p.accuracy, p.name) for p in pareto_front(points)) == \
        sorted((p.speed, p.accuracy, p.name) for p in by_definition(points))


def test_a_worked_example():
    points = [Point("slow, best", 0.92, 1.0), Point("fast, worse", 0.90, 2.0),
              Point("beaten", 0.89, 1.5), Point("tie of the best", 0.92, 1.0)]
    assert [p.name for p in pareto_front(points)] == ["slow, best", "tie of the best",
                                                       "fast, worse"]
