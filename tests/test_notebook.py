"""The Python API as a notebook uses it: the commands as functions, and results that IPython's
display formatter renders as tables and figures (what Jupyter shows), not dataclass dumps."""

import sys
from pathlib import Path

import pytest
from IPython.core.formatters import DisplayFormatter
from PIL import Image

import cnnlab
from cnnlab.runs import folder as layout

pytestmark = pytest.mark.usefixtures("fashion_mnist")


def _shown(value) -> dict:
    data, _ = DisplayFormatter().format(value)
    return data


def _png_size(data: bytes) -> tuple[int, int]:
    import io

    return Image.open(io.BytesIO(data)).size


def test_importing_cnnlab_imports_nothing_heavy():
    import subprocess

    code = "import sys, cnnlab; print('torch' in sys.modules, 'numpy' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    assert done.stdout.split() == ["False", "False"]


def _printed(capsys, *values) -> list[str]:
    """What print() writes for each value, as a terminal shows it."""
    capsys.readouterr()
    shown = []
    for value in values:
        print(value)
        shown.append(capsys.readouterr().out.removesuffix("\n"))
    return shown


def test_a_notebook_trains_evaluates_and_sees_tables_and_figures(tmp_path, capsys):
    from cnnlab.cli import main

    run = cnnlab.train("lenet5", "fashion-mnist", epochs=2, train_size=2000, val_size=500,
                       batch_size=64, out=str(tmp_path / "a"), quiet=True)
    assert run.result["test_accuracy"] > 0.6 and len(run.history) == 2
    html = _shown(run)["text/html"]
    assert "test accuracy <b>" in html and html.count("<tr>") == 1 + 2  # header + epochs
    assert 'src="data:image/png;base64,' in html  # the curves, inline

    evaluation = cnnlab.evaluate(run, "test", repeats=1)
    stored = layout.read_evaluation(tmp_path / "a")
    assert evaluation.metrics.top1 == stored["accuracy"]["top1"]
    html = _shown(evaluation)["text/html"]
    assert f"top-1 <b>{100 * evaluation.metrics.top1:.2f}%</b>" in html
    assert "Ankle boot" in html and "images/s at batch size 4 on cpu" in html

    exported = cnnlab.export(run, tmp_path / "a.onnx")
    assert (tmp_path / "a.onnx").read_bytes() == exported.data
    assert str(exported) == exported.text().rstrip("\n") and "ONNX Runtime" in str(exported)

    table = cnnlab.shapes("lenet5", dataset="fashion-mnist")
    shown = _shown(table)
    assert "<td class=\"\">CONV1</td>" in shown["text/html"]
    assert "parameters: 61,706" in shown["text/html"]
    assert shown["text/plain"] == table.text().rstrip("\n")  # a terminal prints it too

    second = cnnlab.train("lenet5", "fashion-mnist", epochs=2, train_size=2000,
                          val_size=500, batch_size=64, lr=0.01, out=str(tmp_path / "b"),
                          quiet=True)
    runs = cnnlab.runs(tmp_path)
    html = _shown(runs)["text/html"]
    printed = _printed(capsys, run, evaluation, runs)
    assert printed[0].startswith(f"lenet5 on fashion-mnist: test accuracy "
                                 f"{100 * run.result['test_accuracy']:.2f}% after 2 epochs")
    assert printed[0].splitlines()[1].split() == ["epoch", "train", "loss", "train", "acc",
                                                  "val", "loss", "val", "acc"]
    assert len(printed[0].splitlines()) == 1 + 1 + 2  # the result, the header, 2 epochs
    assert main(["eval", str(tmp_path / "a"), "--split", "test", "--repeats", "1",
                 "--out", str(tmp_path / "again.json")]) == 0
    command = capsys.readouterr().out
    figures = printed[1].split("measured on")[0]  # the timing differs between the two runs
    assert command.startswith(figures.split("speed")[0]) and "array(" not in printed[1]
    assert main(["runs", str(tmp_path)]) == 0
    assert capsys.readouterr().out == printed[2] + "\n"
    assert "<th class=\"\">lr</th>" in html and "<th class=\"\">epochs</th>" not in html
    assert [row.folder.name for row in runs.rows] == ["a", "b"]

    for figure in (cnnlab.viz.curves(run, second), cnnlab.viz.confusion(run),
                   cnnlab.viz.first_kernels(run), cnnlab.viz.feature_maps(run, image=3)):
        data = _shown(figure)["image/png"]
        assert _png_size(data)[0] > 200
    saved = cnnlab.viz.curves(run).save(tmp_path / "curves.svg")
    assert saved.read_text().lstrip().startswith("<?xml")


def test_the_packages_stay_packages_while_they_are_callable():
    from cnnlab.train import loop

    assert callable(cnnlab.train) and cnnlab.train.loop is loop
    assert callable(cnnlab.evaluate) and callable(cnnlab.runs)
    with pytest.raises(AttributeError, match="has no attribute 'nothing'"):
        cnnlab.nothing  # noqa: B018


def test_one_door_names_the_settings_as_each_caller_spells_them(tmp_path, capsys):
    """cnnlab.train and `cnnlab train` enter a run through cnnlab.train.launch alike; only
    the spelling of the settings in its errors differs."""
    from cnnlab.cli import main

    with pytest.raises(ValueError, match=r"^resume= continues a run with its saved "
                                         r"configuration; only epochs= may change "
                                         r"\(got lr=, model=\)$"):
        cnnlab.train("lenet5", resume=tmp_path, lr=0.1)
    with pytest.raises(ValueError, match=r"^name a model \(model=\)"):
        cnnlab.train(dataset="fashion-mnist")
    recipe = tmp_path / "r.toml"
    recipe.write_text('model = "lenet5"\n')
    with pytest.raises(ValueError, match=r"^recipe= and config= both give a whole"):
        cnnlab.train(recipe="fashion-mnist-60s", config=recipe)
    assert main(["train", "--resume", str(tmp_path), "--lr", "0.1", "--config",
                 str(recipe)]) == 2
    assert capsys.readouterr().err == (
        "cnnlab train: --resume continues a run with its saved configuration; only --epochs "
        "may change (got --lr, --config)\n")


def test_a_misspelt_setting_names_the_settings():
    with pytest.raises(ValueError, match=r"unknown setting\(s\) epoch; the settings are "
                                         r"amp, augment, batch_size"):
        cnnlab.train("lenet5", "fashion-mnist", epoch=3)


CELL = """import torch.nn as nn
import torch.nn.functional as F


class Net(nn.Module):
    def __init__(self, num_classes=10, in_channels=1):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, 4, 5)
        self.pool = nn.MaxPool2d(2)
        self.fc = nn.Linear(4 * 12 * 12, num_classes)

    def forward(self, x):
        return self.fc(self.pool(F.relu(self.conv(x))).flatten(1))
"""


def test_a_network_defined_in_a_notebook_cell_trains_and_its_run_keeps_the_cell(tmp_path,
                                                                                 monkeypatch):
    """A real IPython shell runs the cells: the class is handed over itself, and the run keeps
    the cell's source, so the run is evaluated after the cell is gone."""
    from IPython.core.interactiveshell import InteractiveShell

    monkeypatch.setattr("cnnlab.models.cells.CELLS", tmp_path / "cells")
    shell = InteractiveShell.instance()
    try:
        assert shell.run_cell(CELL).success
        run = shell.run_cell(f"import cnnlab\nrun = cnnlab.train(Net, 'fashion-mnist', "
                             f"epochs=1, train_size=500, val_size=100, quiet=True, "
                             f"out={str(tmp_path / 'run')!r})")
        assert run.success, run.error_in_exec
        config = layout.read_config(tmp_path / "run")
    finally:
        InteractiveShell.clear_instance()
    kept = Path(config.model.rpartition(":")[0])
    assert config.model.endswith(":Net") and kept.parent.parent == tmp_path / "cells"
    assert CELL in kept.read_text() and CELL in (tmp_path / "run" / config.source).read_text()
    assert cnnlab.evaluate(tmp_path / "run", "val", speed=False).metrics.top1 > 0.3


def test_a_cell_without_the_imports_its_class_needs_is_told_to_hold_them(tmp_path,
                                                                         monkeypatch):
    from IPython.core.interactiveshell import InteractiveShell

    monkeypatch.setattr("cnnlab.models.cells.CELLS", tmp_path / "cells")
    shell = InteractiveShell.instance()
    try:
        imports, _, body = CELL.partition("\n\n\n")
        assert shell.run_cell(imports).success and shell.run_cell(body).success
        run = shell.run_cell(f"import cnnlab\ncnnlab.train(Net, 'fashion-mnist', epochs=1, "
                             f"out={str(tmp_path / 'run')!r})")
    finally:
        InteractiveShell.clear_instance()
    assert isinstance(run.error_in_exec, ValueError)
    assert str(run.error_in_exec).endswith("NameError: name 'nn' is not defined: cnnlab keeps "
                                           "the cell that defines Net alone, so write the "
                                           "imports it needs in that cell")
    assert not (tmp_path / "run").exists()


def test_a_network_given_as_an_instance_is_asked_for_as_its_class():
    import torch

    with pytest.raises(TypeError, match=r"give the network as a class or a factory function "
                                        r"defined at the top of a file or a notebook cell"):
        cnnlab.train(torch.nn.Linear(784, 10), "fashion-mnist")
