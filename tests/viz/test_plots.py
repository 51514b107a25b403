"""Plots of runs: the Pareto front, the files each format writes, and clear refusals."""

import json
import shutil

import numpy as np
import pytest
from PIL import Image

from cnnlab.cli import main
from cnnlab.evaluate.pareto import Point, pareto_front
from cnnlab.runs import folder as layout
from cnnlab.viz import plots


def test_pareto_front_keeps_exactly_the_points_nothing_beats_on_both_metrics():
    points = [Point("slow-accurate", 0.93, 100), Point("fast-rough", 0.85, 5000),
              Point("balanced", 0.91, 1500), Point("dominated", 0.90, 1200),
              Point("tie-on-speed-worse", 0.84, 5000), Point("copy", 0.91, 1500)]
    front = pareto_front(points)
    assert [p.name for p in front] == ["slow-accurate", "balanced", "copy", "fast-rough"]
    assert pareto_front([Point("alone", 0.5, 1.0)])[0].name == "alone"


def _eval_json(folder, top1, speed, ratio, model="lenet5"):
    folder.mkdir(parents=True)
    (folder / "eval.json").write_text(json.dumps({
        "model": model, "split": "test", "accuracy": {"top1": top1},
        "speed": {"images_per_second": {"median": speed}, "reference": {"ratio": ratio}}}))
    return folder


def test_cli_pareto_names_the_front_on_either_speed_axis(tmp_path, capsys):
    runs = [_eval_json(tmp_path / "a", 0.91, 6000, 1.0),
            _eval_json(tmp_path / "b", 0.93, 900, 0.15, "resnet20"),
            _eval_json(tmp_path / "c", 0.90, 800, 0.12, "vgg11_bn")]
    out = tmp_path / "pareto.png"
    assert main(["viz", "pareto", *map(str, runs), "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "a (lenet5)" in printed and "b (resnet20)" in printed and "c (" not in printed
    assert Image.open(out).size == (800, 550)
    assert main(["viz", "pareto", *map(str, runs), "--speed", "ratio", "-o",
                 str(tmp_path / "p.svg")]) == 0
    assert "1 x reference" in capsys.readouterr().out
    assert (tmp_path / "p.svg").read_text().lstrip().startswith("<?xml")


def test_cli_pareto_refuses_runs_it_cannot_place(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert main(["viz", "pareto", str(tmp_path / "empty"), "-o", str(tmp_path / "p.png")]) == 2
    assert "has no eval.json: run `cnnlab eval" in capsys.readouterr().err
    folder = tmp_path / "nospeed"
    folder.mkdir()
    (folder / "eval.json").write_text(json.dumps({"model": "m", "accuracy": {"top1": 0.5},
                                                   "speed": None}))
    assert main(["viz", "pareto", str(folder), "-o", str(tmp_path / "p.png")]) == 2
    assert "accuracy only" in capsys.readouterr().err
    (folder / "eval.json").write_text("{not json")
    assert main(["viz", "pareto", str(folder), "-o", str(tmp_path / "p.png")]) == 2
    assert "cannot read the evaluation" in capsys.readouterr().err
    assert not (tmp_path / "p.png").exists()


def test_curves_of_a_trained_run_in_three_formats(trained_run, tmp_path):
    for suffix, magic in ((".png", b"\x89PNG"), (".svg", b"<?xml"), (".pdf", b"%PDF")):
        out = tmp_path / f"curves{suffix}"
        assert main(["viz", "curves", str(trained_run), "-o", str(out)]) == 0
        assert out.read_bytes().startswith(magic)
    assert main(["viz", "curves", str(trained_run), "-o", str(tmp_path / "c.jpg")]) == 2


def test_confusion_matrix_colours_follow_the_rows_share():
    confusion = np.array([[8, 2], [0, 10]])
    figure = plots.confusion_figure(confusion, ["a", "b"], "t")
    image = figure.axes[0].images[0]
    np.testing.assert_allclose(image.get_array(), [[0.8, 0.2], [0.0, 1.0]])
    with pytest.raises(ValueError, match="must be 3x3"):
        plots.confusion_figure(confusion, ["a", "b", "c"], "t")


def test_confusion_cli_evaluates_a_run_without_eval_json(run_copy, tmp_path, capsys):
    assert not (run_copy / "eval.json").exists()
    out = tmp_path / "confusion.png"
    assert main(["viz", "confusion", str(run_copy), "-o", str(out)]) == 0
    assert "evaluating lenet5 on the val split" in capsys.readouterr().out
    saved = json.loads((run_copy / "eval.json").read_text())
    assert saved["split"] == "val" and np.sum(saved["accuracy"]["confusion"]) == 500
    assert Image.open(out).size[0] >= 500


def test_curves_of_several_runs_overlay_a_colour_each(trained_run, run_copy, tmp_path, capsys):
    history = [("a", layout.history(trained_run)), ("b", layout.history(run_copy)[:1])]
    figure = plots.curves_figure(history, "two runs")
    for axes in figure.axes:
        labels = [line.get_label() for line in axes.get_lines()]
        assert labels == ["a training", "a validation", "b training", "b validation"]
        colours = [line.get_color() for line in axes.get_lines()]
        assert colours[0] == colours[1] != colours[2] == colours[3]
        assert [line.get_linestyle() for line in axes.get_lines()] == ["-", "--", "-", "--"]
    out = tmp_path / "both.png"
    assert main(["viz", "curves", str(trained_run), str(run_copy), "-o", str(out)]) == 0
    assert "wrote" in capsys.readouterr().out and Image.open(out).size == (900, 420)


def test_pareto_puts_every_run_on_one_split_or_names_the_ones_that_differ(run_copy, tmp_path,
                                                                          capsys):
    other = shutil.copytree(run_copy, tmp_path / "other")
    assert main(["eval", str(run_copy), "--split", "test", "--repeats", "1"]) == 0
    assert main(["eval", str(other), "--split", "val", "--repeats", "1"]) == 0
    capsys.readouterr()
    out = tmp_path / "p.png"
    assert main(["viz", "pareto", str(run_copy), str(other), "-o", str(out)]) == 2
    error = capsys.readouterr().err
    assert "measured on different images" in error
    assert f"{run_copy.name}: fashion-mnist test" in error
    assert "other: fashion-mnist val (500 images, seed 0)" in error
    assert not out.exists()

    assert main(["viz", "pareto", str(run_copy), str(other), "--split", "test", "-o",
                 str(out)]) == 0
    printed = capsys.readouterr().out
    assert "evaluating lenet5 on the test split" in printed  # `other` only
    assert printed.count("evaluating lenet5") == 1 and "is of another split" in printed
    assert "every accuracy measured on the fashion-mnist test split" in printed
    assert layout.read_evaluation(other)["split"] == "test"
    import cnnlab

    title = cnnlab.viz.pareto(run_copy, other).figure.axes[0].get_title()
    assert title.endswith("fashion-mnist test split")
