"""Runs side by side in the lab, against the real server on loopback: two LeNet-5 runs on the
real Fashion-MNIST that differ in their epochs and learning rate; the curves, the table and the
accuracy-vs-speed points are checked against the run folders and their evaluations."""

import json
import re
import shutil
import urllib.error
import urllib.request

import pytest

from cnnlab.cli import main
from cnnlab.lab.explorer import Explorer
from cnnlab.runs import folder as layout
from tests.browser import chromium_page, loopback

pytest.importorskip("fastapi")


@pytest.fixture(scope="module")
def two_runs(trained_run, tmp_path_factory):
    """A copy of the session's run (the lab writes eval.json into it) and a shorter run with
    another learning rate, sharing its validation split."""
    folder = tmp_path_factory.mktemp("side-by-side")
    first = shutil.copytree(trained_run, folder / "lenet5-a",
                            ignore=shutil.ignore_patterns("eval.json", "*.onnx", "report.html"))
    second = folder / "lenet5-b"
    assert main(["train", "lenet5", "--dataset", "fashion-mnist", "--train-size", "1000",
                 "--val-size", "500", "--epochs", "1", "--batch-size", "64", "--lr", "0.01",
                 "--out", str(second)]) == 0
    return first, second


@pytest.fixture(scope="module")
def lab(two_runs):
    from cnnlab.lab.app import create_app

    with loopback(create_app(Explorer([str(run) for run in two_runs]))) as url:
        yield url


def call(url: str):
    try:
        with urllib.request.urlopen(url, timeout=300) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_the_overview_holds_each_run_s_history_and_the_runs_table(lab, two_runs):
    status, answer = call(f"{lab}/api/runs")
    assert status == 200, answer
    assert [run["name"] for run in answer["runs"]] == ["lenet5-a", "lenet5-b"]
    for run, folder in zip(answer["runs"], two_runs, strict=True):
        assert run["history"] == layout.history(folder)
    assert {"epochs", "lr", "train_size"} <= set(answer["differing"])
    header = answer["header"]
    rows = [dict(zip(header, cells, strict=True)) for cells in answer["cells"]]
    assert [(row["epochs"], row["lr"]) for row in rows] == [("2", "0.003"), ("1", "0.01")]


def test_accuracy_against_speed_is_measured_on_the_split_asked(lab, two_runs):
    status, answer = call(f"{lab}/api/runs/pareto?split=test&speed=images")
    assert status == 200, answer
    assert answer["split"] == "fashion-mnist test"
    for point, folder in zip(answer["points"], two_runs, strict=True):
        evaluation = layout.read_evaluation(folder / layout.EVALUATION)
        assert evaluation["split"] == "test"
        assert point["name"] == f"{folder.name} (lenet5)"
        assert point["accuracy"] == evaluation["accuracy"]["top1"]
        assert point["speed"] == evaluation["speed"]["images_per_second"]["median"]
    best = max(answer["points"], key=lambda p: p["accuracy"])
    assert best["front"]  # the most accurate run is never beaten on both


@pytest.mark.parametrize("query, message", [
    ("split=train", "split: expected test or val, got 'train'"),
    ("speed=fast", "speed: expected images"),
])
def test_a_bad_choice_is_named(lab, query, message):
    status, answer = call(f"{lab}/api/runs/pareto?{query}")
    assert status == 400 and message in answer["detail"], answer


def test_runs_side_by_side_in_chromium(lab):
    expect = pytest.importorskip("playwright.sync_api").expect
    errors: list[str] = []
    with chromium_page(errors) as page:
        page.goto(f"{lab}/runs")
        expect(page.locator("body")).to_have_attribute("data-state", "ready")
        expect(page.locator("#curves path.curve")).to_have_count(2)
        expect(page.locator("#legend li")).to_have_count(2)
        expect(page.locator("#runs-table tbody tr")).to_have_count(2)
        expect(page.locator("#curves .tick")).to_contain_text(["1", "2"])  # whole epochs
        assert "1.5" not in page.locator("#curves").text_content()
        first = page.locator("#curves path.curve").first.get_attribute("d")
        page.select_option("#metric", "train_loss")
        assert page.locator("#curves path.curve").first.get_attribute("d") != first
        page.locator("#legend input").first.uncheck()
        expect(page.locator("#curves path.curve")).to_have_count(1)
        page.click("#plot")
        expect(page.locator("#pareto-status")).to_have_text("measured on fashion-mnist test",
                                                              timeout=120_000)
        expect(page.locator("#pareto g.point")).to_have_count(2)
        column = page.locator("#runs-table th").all_text_contents().index("images/s (bs 4)")
        speeds = page.locator(f"#runs-table tbody tr td:nth-child({column + 1})")
        expect(speeds).to_have_text([re.compile(r"^\d[\d,]*$")] * 2)
        expect(page.locator("#pareto .point-label")).to_have_text(
            ["lenet5-a (lenet5)", "lenet5-b (lenet5)"])
        expect(page.locator("#pareto")).to_be_visible()
        frame = page.locator("#pareto").bounding_box()
        outside = []
        for text in page.locator("#pareto text").all():
            box = text.bounding_box()
            if box["x"] < frame["x"] or box["y"] < frame["y"] or \
                    box["x"] + box["width"] > frame["x"] + frame["width"] or \
                    box["y"] + box["height"] > frame["y"] + frame["height"]:
                outside.append(text.text_content())
        assert outside == []
    assert errors == []
