"""A backward that differentiates the forward numerically is no derivation (issue 35, point
5): calling the given forward over and over is counted, and a copy of it is stopped at the
time budget on the photo-sized case; either scores zero, saying why. A slow backward that is
derived (plain Python loops) is not mistaken for one."""

import numpy as np

from cnnlab.exercises.catalog import EXERCISES, LARGE
from cnnlab.exercises.grading import BACKWARD_BUDGET_S, MAX_FORWARD_CALLS, grade_file
from tests.exercises.solutions import LOOPS, NUMERICAL, solved, with_forward_copy

CONV2D = EXERCISES["conv2d"]


def _grade(tmp_path, text: str):
    path = tmp_path / "conv2d.py"
    path.write_text(text)
    return grade_file(CONV2D, path, np.random.default_rng(0))


def test_calling_the_forward_to_take_differences_scores_zero(tmp_path):
    result = _grade(tmp_path, solved(CONV2D.student_file(), "conv2d", NUMERICAL))
    assert result.score == 0
    assert result.refused.startswith("the backward called conv2d_forward ")
    calls = int(result.refused.split("conv2d_forward ")[1].split()[0])
    assert calls > MAX_FORWARD_CALLS
    assert "differentiates the forward numerically" in result.refused


def test_a_copy_of_the_forward_is_stopped_at_the_time_budget(tmp_path):
    result = _grade(tmp_path, with_forward_copy(CONV2D.student_file()))
    assert result.score == 0
    assert "the backward was stopped after" in result.refused
    assert f"on case {LARGE} (" in result.refused and "x 1x1x256x256" in result.refused
    seconds = float(result.refused.split("stopped after ")[1].split(" s")[0])
    assert seconds >= BACKWARD_BUDGET_S - 0.1


def test_a_derived_backward_in_plain_python_loops_gets_full_marks(tmp_path):
    result = _grade(tmp_path, solved(CONV2D.student_file(), "conv2d", LOOPS))
    assert not result.refused and result.score == result.max_score, result.text()


def test_the_file_may_not_turn_the_counting_off(tmp_path):
    body = "    import sys\n    sys.setprofile(None)\n" + NUMERICAL.lstrip("\n")
    result = _grade(tmp_path, solved(CONV2D.student_file(), "conv2d", body))
    assert result.score == 0
    assert "may not use sys.setprofile" in result.text()
