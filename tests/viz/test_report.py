"""The HTML run report: complete, self-contained, and loaded by a real browser."""

import html
import json
import re

import pytest

from cnnlab.cli import main
from cnnlab.evaluate.targets import load_target
from cnnlab.models.summary import summarize
from tests.browser import chromium_page


@pytest.fixture
def report(run_copy, capsys):
    assert main(["report", str(run_copy)]) == 0
    printed = capsys.readouterr().out
    path = run_copy / "report.html"
    assert f"wrote {path}" in printed
    return path, printed


def test_report_evaluates_a_run_without_eval_json_and_holds_every_section(report):
    path, printed = report
    run = path.parent
    assert "evaluating lenet5 on the val split" in printed
    result = json.loads((run / "eval.json").read_text())
    page = path.read_text()
    for heading in ("Configuration", "Layers", "Training", "Accuracy", "Speed at batch size 4",
                    "First-layer kernels", "Feature maps of test image 0"):
        assert f"<h2>{heading}</h2>" in page, heading
    top1 = f"{100 * result['accuracy']['top1']:.2f}%"
    assert f"top-1 {top1}" in page
    table = summarize(load_target(str(run)).build(), (1, 28, 28), "lenet5")
    assert f"<td class=\"n\">{table.params:,}</td>" in page  # the layer table's total
    for label in ("CONV1", "POOL1", "CONV2", "POOL2", "FC3", "FC4", "FC5"):
        assert f"<td class=\"\">{label}</td>" in page
    classes = [row["class"] for row in result["accuracy"]["per_class"]]
    assert all(f"<td class=\"\">{html.escape(name)}</td>" in page for name in classes)
    assert result["environment"]["cpu"] in page
    # self-contained: no address anywhere, every image embedded
    assert not re.search(r"(?:src|href)=\"(?!data:)", page)
    assert "http://" not in page and "https://" not in page
    # curves, confusion matrix, kernels, feature maps
    assert page.count('<img src="data:image/png;base64,') == page.count("<img ") == 4


def test_report_refuses_an_onnx_file(trained_run, tmp_path, capsys):
    onnx = tmp_path / "m.onnx"
    assert main(["export", str(trained_run), "-o", str(onnx)]) == 0
    capsys.readouterr()
    assert main(["report", str(onnx)]) == 2
    assert "cannot be looked into layer by layer" in capsys.readouterr().err


@pytest.mark.browser
def test_chromium_loads_the_report_with_every_image_decoded_and_no_console_error(report):
    path, _ = report
    errors, requests = [], []
    with chromium_page(errors) as page:
        page.on("request", lambda r: requests.append(r.url))
        page.goto(path.as_uri(), wait_until="load")
        images = page.eval_on_selector_all(
            "img", "els => els.map(e => [e.alt, e.complete, e.naturalWidth])")
        rows = page.eval_on_selector_all("table tbody tr", "els => els.length")
    assert len(images) == 4
    assert all(complete and width > 0 for _, complete, width in images), images
    assert errors == []
    assert all(url.startswith(("file:", "data:")) for url in requests), requests
    assert rows > 40

