"""The grader against the mistakes students make (issue 35, point 5): every mutant of every
exercise (tests/exercises/mutants.py) loses marks on every draw of cases, and a case reports
every wrong gradient, not the first. (Measured beyond these draws: every mutant lost marks
on each of seeds 0 to 11.)"""

import numpy as np
import pytest

from cnnlab.exercises.catalog import CASES_PER_EXERCISE, EXERCISES
from cnnlab.exercises.grading import grade_file
from tests.exercises.mutants import MUTANTS
from tests.exercises.solutions import IGNORES_STRIDE, SOLUTIONS, solved

DRAWS = (0, 1, 2)


def _graded(tmp_path, name: str, body: str, seed: int):
    path = tmp_path / f"{name}.py"
    path.write_text(solved(EXERCISES[name].student_file(), name, body))
    return grade_file(EXERCISES[name], path, np.random.default_rng(seed))


def test_every_exercise_has_mutants():
    assert {name for name, _, _ in MUTANTS} == set(EXERCISES)


@pytest.mark.parametrize("name, mistake, body", MUTANTS,
                         ids=[f"{name}: {mistake}" for name, mistake, _ in MUTANTS])
def test_each_mistake_loses_marks_on_every_draw(tmp_path, name, mistake, body):
    scores = []
    for seed in DRAWS:
        result = _graded(tmp_path, name, body, seed)
        assert not result.refused, result.refused
        scores.append(result.score)
    assert max(scores) < CASES_PER_EXERCISE, (mistake, scores)
    correct = _graded(tmp_path, name, SOLUTIONS[name], DRAWS[0])
    assert correct.score == CASES_PER_EXERCISE, correct.text()


def test_a_case_reports_every_wrong_gradient(tmp_path):
    """Ignoring the stride breaks dx and dw at once: a strided case names both."""
    result = _graded(tmp_path, "conv2d", IGNORES_STRIDE, 0)
    strided = [case for case in result.cases if not case.passed]
    assert strided and all("dx differs from torch's" in case.reason and
                           "dw differs from torch's" in case.reason for case in strided), \
        [case.reason for case in strided]
    assert all("db" not in case.reason for case in strided)  # the bias's is right


def test_max_pooling_ties_go_to_the_first_winner_as_in_torch(tmp_path):
    """Every draw holds a case of tied maxima in overlapping windows (case 4)."""
    for seed in DRAWS:
        case = EXERCISES["max_pool2d"].make_case(np.random.default_rng(seed), 4)
        x = case.arrays["x"]
        assert set(np.unique(x)) <= {-1.0, 0.0, 1.0} and case.params["stride"] == (1, 1)
    every = next(body for name, mistake, body in MUTANTS if mistake.endswith("every winner"))
    failing = [c for c in _graded(tmp_path, "max_pool2d", every, 0).cases if not c.passed]
    assert [c.number for c in failing] == [4]
