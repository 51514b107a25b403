"""`cnnlab exercise`: a correct solution gets full marks, a wrong stride case partial marks, a
stub zero, a file that calls torch or cnnlab is refused, and --results writes Gradescope's
format."""

import json
from pathlib import Path

import jsonschema
import pytest

from cnnlab.cli import main
from cnnlab.exercises.catalog import CASES_PER_EXERCISE, EXERCISES
from cnnlab.exercises.grading import check
from tests.exercises.solutions import IGNORES_STRIDE, solved

SCHEMA = json.loads((Path(__file__).parent / "gradescope_results.schema.json").read_text())


def _start(capsys, folder: Path, name: str) -> Path:
    assert main(["exercise", "start", name, str(folder)]) == 0
    assert f"write {name}_backward" in capsys.readouterr().out
    return folder / f"{name}.py"


@pytest.fixture
def solved_folder(tmp_path, capsys):
    for name in EXERCISES:
        path = _start(capsys, tmp_path, name)
        path.write_text(solved(path.read_text(), name))
    return tmp_path


def test_list_names_every_exercise(capsys):
    assert main(["exercise", "list"]) == 0
    listed = [line.split()[0] for line in capsys.readouterr().out.splitlines()]
    assert listed == list(EXERCISES) == ["relu", "linear", "conv2d", "conv_transpose2d",
                                         "max_pool2d", "avg_pool2d", "batch_norm",
                                         "softmax_cross_entropy"]


def test_start_writes_the_task_and_never_overwrites_work(tmp_path, capsys):
    path = _start(capsys, tmp_path, "conv2d")
    text = path.read_text()
    assert "def conv2d_forward" in text and "def conv2d_backward" in text
    assert "(BP4)" in text and "NumPy only" in text
    path.write_text(text + "\n# my work\n")
    assert main(["exercise", "start", "conv2d", str(tmp_path)]) == 2
    assert "exists" in capsys.readouterr().err
    assert path.read_text().endswith("# my work\n")


@pytest.mark.parametrize("seed", [0, 1, None])
def test_correct_solutions_get_full_marks_on_unseen_cases(solved_folder, seed):
    report = check(solved_folder, seed=seed)
    assert [r.file.name for r in report.results] == [f"{n}.py" for n in EXERCISES]
    assert report.score == report.max_score == len(EXERCISES) * CASES_PER_EXERCISE, \
        report.text()


def test_the_cases_cover_every_setting():
    import numpy as np

    rng = np.random.default_rng(0)
    conv = [EXERCISES["conv2d"].make_case(rng, k).params for k in range(CASES_PER_EXERCISE)]
    for setting, plain in (("stride", (1, 1)), ("padding", (0, 0)), ("dilation", (1, 1)),
                           ("groups", 1)):
        assert any(p[setting] != plain for p in conv), setting
    transposed = [EXERCISES["conv_transpose2d"].make_case(rng, k).params
                  for k in range(CASES_PER_EXERCISE)]
    assert any(p["output_padding"] != (0, 0) for p in transposed)


def test_a_solution_wrong_on_strides_gets_partial_marks_naming_the_cases(tmp_path, capsys):
    path = _start(capsys, tmp_path, "conv2d")
    path.write_text(solved(path.read_text(), "conv2d", IGNORES_STRIDE))
    result = check(tmp_path, seed=3).results[0]
    assert 0 < result.score < result.max_score, result.text()
    failing = [case for case in result.cases if not case.passed]
    assert all("stride 1," not in case.description for case in failing)
    assert all(case.passed for case in result.cases if "stride 1," in case.description)
    assert "differs from torch's by up to" in failing[0].reason
    assert "numerical gradient" in failing[0].reason
    assert f"case {failing[0].number} (stride " in result.text()


def test_a_wrong_stride_costs_marks_whatever_the_draw(tmp_path, capsys):
    """Every strided case has two outputs or more along the strided axis, so a solution that
    ignores the stride cannot pass it by luck; the unstrided cases still pass."""
    path = _start(capsys, tmp_path, "conv2d")
    path.write_text(solved(path.read_text(), "conv2d", IGNORES_STRIDE))
    scores = {check(tmp_path, seed=seed).score for seed in range(15)}
    assert min(scores) > 0 and max(scores) < CASES_PER_EXERCISE, scores


def test_a_stub_scores_zero(tmp_path, capsys):
    _start(capsys, tmp_path, "max_pool2d")
    result = check(tmp_path).results[0]
    assert result.score == 0
    assert "every case: the backward is not written yet" in result.text()


def test_a_changed_forward_fails_even_with_a_matching_backward(tmp_path, capsys):
    path = _start(capsys, tmp_path, "relu")
    text = solved(path.read_text(), "relu").replace("out = np.maximum(x, 0)",
                                                     "out = np.maximum(x, 0) + 1")
    path.write_text(text)
    result = check(tmp_path).results[0]
    assert result.score == 0 and "the forward differs from torch's" in result.text()


@pytest.mark.parametrize("body, refusal", [
    ("    import torch\n    return torch.ones(1)\n", "imports torch (line"),
    ("    from cnnlab.scratch.nn import functional\n    return dout\n",
     "imports cnnlab.scratch.nn"),
    ("    m = __import__('tor' + 'ch')\n    return dout\n", "imports __import__"),
])
def test_a_file_that_calls_an_autograd_library_is_refused_before_it_runs(tmp_path, capsys,
                                                                         body, refusal):
    path = _start(capsys, tmp_path, "relu")
    path.write_text(solved(path.read_text(), "relu", body))
    result = check(tmp_path).results[0]
    assert result.score == 0 and refusal in result.refused


def test_a_disguised_import_is_refused_while_it_runs(tmp_path, capsys):
    path = _start(capsys, tmp_path, "linear")
    body = ("    load = getattr(__builtins__, '__imp' + 'ort__', None) or "
            "__builtins__['__imp' + 'ort__']\n"
            "    torch = load('to' + 'rch')\n    return dout\n")
    path.write_text(solved(path.read_text(), "linear", body))
    result = check(tmp_path).results[0]
    assert result.score == 0
    assert all("NumPy only; this one imports torch" in c.reason for c in result.cases)


def test_check_writes_gradescope_results(solved_folder, tmp_path, capsys):
    (solved_folder / "relu.py").write_text((solved_folder / "relu.py").read_text().replace(
        "return dout * (x > 0)", "return dout * (x >= 0)"))  # wrong only at exactly 0
    results = tmp_path / "results.json"
    assert main(["exercise", "check", str(solved_folder), "--only", "relu,conv2d", "--seed",
                 "5", "--results", str(results)]) == 1  # below full marks: not done yet
    out = capsys.readouterr().out
    data = json.loads(results.read_text())
    jsonschema.validate(data, SCHEMA)
    assert len(data["tests"]) == 2 * CASES_PER_EXERCISE
    assert data["score"] == sum(t["score"] for t in data["tests"])
    assert f"score: {int(data['score'])}/{2 * CASES_PER_EXERCISE}" in out
    relu = [t for t in data["tests"] if t["name"].startswith("relu")]
    assert any(t["status"] == "failed" for t in relu)  # the cases with exact zeros
    assert all(t["status"] == "passed" for t in data["tests"] if t["name"].startswith("conv2d"))
    assert main(["exercise", "check", str(solved_folder), "--only", "conv2d"]) == 0


def test_bad_input_is_one_line(tmp_path, capsys):
    assert main(["exercise", "check", str(tmp_path)]) == 2
    assert "no exercise files in" in capsys.readouterr().err
    assert main(["exercise", "check", str(tmp_path), "--only", "convolution"]) == 2
    assert "unknown exercise 'convolution'" in capsys.readouterr().err
    assert main(["exercise", "start", "pooling", str(tmp_path)]) == 2
    assert "unknown exercise 'pooling'" in capsys.readouterr().err
    (tmp_path / "relu.py").write_text("def relu_forward(:\n")
    result = check(tmp_path).results[0]
    assert "not valid Python" in result.refused


def test_a_runaway_allocation_fails_in_the_child_and_the_grader_goes_on(tmp_path, capsys):
    path = _start(capsys, tmp_path, "relu")
    # 6 GiB: it would fit this machine's memory, but not the 4 GiB the child may have
    path.write_text(solved(path.read_text(), "relu",
                           "    huge = np.ones(3 * 2**28)\n    return dout * (x > 0)\n"))
    result = check(tmp_path).results[0]
    assert result.score == 0
    assert all("MemoryError" in case.reason for case in result.cases), result.text()


@pytest.mark.parametrize(("attack", "refused"), [
    ("import os, signal\n    os.kill(os.getppid(), signal.SIGKILL)", "may not use os.kill"),
    ("import subprocess\n    subprocess.run(['true'])", "may not use subprocess.Popen"),
    ("import socket\n    socket.create_connection(('127.0.0.1', 9))", "may not use socket."),
    ("open('elsewhere.txt', 'w').write('x')", "may not write files"),
    ("import os\n    os.remove(__file__)", "may not use os.remove"),
    ("import ctypes\n    ctypes.CDLL(None)", "may not use ctypes."),
])
def test_a_file_cannot_turn_on_the_machine_that_grades_it(attack, refused, tmp_path, capsys):
    """The leaderboard's worker runs these files: a file that could signal its parents,
    start processes, open sockets or write files could stop the queue for everybody."""
    path = _start(capsys, tmp_path, "relu")
    path.write_text(solved(path.read_text(), "relu",
                           f"    {attack}\n    return dout * (x > 0)\n"))
    result = check(tmp_path).results[0]
    assert result.score == 0 and not result.refused  # graded, case by case: the grader lives
    assert all(refused in case.reason for case in result.cases), result.text()
    assert path.exists() and not (tmp_path / "elsewhere.txt").exists()
