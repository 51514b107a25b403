"""A student's own network, end to end on the real Fashion-MNIST: a file written here (not one
from the repo) is trained through the command line, killed, edited, resumed, evaluated,
reported and exported, and every command applies the run's preprocessing contract."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from cnnlab.cli import main
from cnnlab.data import datasets
from cnnlab.evaluate.onnx_export import file_contract
from cnnlab.models.build import check_fits
from cnnlab.models.user import load_user_model
from cnnlab.runs import folder as layout
from tests.scratch.test_tutorials import TUTORIAL

# What a student writes after the PyTorch tutorial: torch.nn, a class that takes the number
# of classes, and `.view()` to flatten (which needs the NCHW layout).
NET = '''
import torch
from torch import nn


class Net(nn.Module):
    def __init__(self, num_classes=10, in_channels=1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 8, 3, padding=1)
        self.conv2 = nn.Conv2d(8, 16, 3, padding=1)
        self.fc = nn.Linear(16 * 7 * 7, num_classes)

    def forward(self, x):
        x = torch.max_pool2d(torch.relu(self.conv1(x)), 2)
        x = torch.max_pool2d(torch.relu(self.conv2(x)), 2)
        return self.fc(x.view(x.size(0), -1))
'''

# The same file after the student changed it: another architecture, which the run's weights
# do not fit.
EDITED = NET.replace("nn.Conv2d(in_channels, 8", "nn.Conv2d(in_channels, 12").replace(
    "nn.Conv2d(8, 16", "nn.Conv2d(12, 16")

SCRATCH_NET = '''
from cnnlab.scratch import nn


def build(num_classes):
    return nn.Sequential(nn.Conv2d(1, 4, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                         nn.Linear(4 * 12 * 12, num_classes))
'''


pytestmark = pytest.mark.usefixtures("fashion_mnist")


def _run(capsys, *argv):
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return captured.out


def _kill_after_first_epoch(tmp_path, out, normalize):
    """Train in a child process and kill -9 it once the first epoch's checkpoint is down."""
    command = [sys.executable, "-m", "cnnlab", "train", "net.py:Net", "--dataset",
               "fashion-mnist", "--epochs", "2", "--train-size", "30000", "--val-size", "1000",
               "--batch-size", "64", "--normalize", normalize, "--out", str(out)]
    child = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, env={**os.environ, "OMP_NUM_THREADS": "1"})
    deadline = time.monotonic() + 240
    while not ((out / layout.METRICS).is_file() and (out / layout.METRICS).read_text()):
        assert child.poll() is None, child.communicate()[1].decode()
        assert time.monotonic() < deadline, "the first epoch did not finish in 240 s"
        time.sleep(0.01)
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert not (out / layout.RESULT).exists(), "killed too late: the run had finished"


@pytest.mark.parametrize("normalize", ["dataset", "none"])
def test_own_network_killed_edited_resumed_then_evaluated_reported_exported(
        tmp_path, capsys, monkeypatch, normalize):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "net.py").write_text(NET)
    out = tmp_path / "runs" / "mine"
    _kill_after_first_epoch(tmp_path, out, normalize)
    config = layout.read_config(out)
    assert (config.model, config.normalize, config.source) == ("net.py:Net", normalize,
                                                               "source/net.py")
    assert (out / "source" / "net.py").read_text() == NET
    assert config.source_sha256 == layout.sha256_of(out / "source" / "net.py")

    (tmp_path / "net.py").write_text(EDITED)  # the student goes on working on their file
    printed = _run(capsys, "train", "--resume", out)
    assert "net.py has changed since this run started" in printed
    assert "continues with its own copy" in printed and "resuming" in printed
    assert len(layout.history(out)) == 2
    trained = layout.training_result(out)["test_accuracy"]
    assert trained > 0.75  # two epochs of a small CNN on 30,000 images

    _run(capsys, "eval", out, "--split", "test", "--repeats", "1")
    evaluation = layout.read_evaluation(out)
    assert evaluation["preprocessing"]["normalize"] == normalize
    assert evaluation["accuracy"]["top1"] == pytest.approx(trained, abs=2e-4)
    assert evaluation["environment"]["device"] == "cpu"

    _run(capsys, "report", out)
    page = (out / "report.html").read_text()
    assert ("normalised by the fashion-mnist mean" in page) == (normalize == "dataset")
    assert "<h2>First-layer kernels</h2>" in page

    onnx = tmp_path / "mine.onnx"
    printed = _run(capsys, "export", out, "-o", onnx)
    assert "checked on 1,000 fashion-mnist validation images" in printed
    assert file_contract(onnx)["cnnlab.normalize"] == normalize
    _run(capsys, "eval", onnx, "--dataset", "fashion-mnist", "--split", "test", "--no-speed",
         "--out", tmp_path / "onnx.json")
    from_file = json.loads((tmp_path / "onnx.json").read_text())["accuracy"]["top1"]
    assert abs(from_file - evaluation["accuracy"]["top1"]) <= 0.001  # within 0.1 points


def test_bare_weights_need_normalize_and_a_wrong_one_writes_nothing(tmp_path, capsys,
                                                                     monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "net.py").write_text(NET)
    _run(capsys, "train", "net.py:Net", "--epochs", "2", "--train-size", "4000",
         "--val-size", "500", "--normalize", "none", "--out", "run")
    weights = tmp_path / "run" / layout.WEIGHTS
    onnx = tmp_path / "bare.onnx"
    bare = ["export", "net.py:Net", "--weights", weights, "--dataset", "fashion-mnist",
            "-o", onnx]

    assert main([str(a) for a in bare]) == 2
    assert "say what net.py:Net receives with --normalize" in capsys.readouterr().err
    assert main([str(a) for a in [*bare, "--normalize", "dataset"]]) == 2
    error = capsys.readouterr().err
    assert "not written" in error and "the weights look trained with --normalize none" in error
    assert error.count("\n") == 1 and not onnx.exists()

    printed = _run(capsys, *bare, "--normalize", "none")
    assert "no normalisation inside (--normalize none)" in printed
    assert "with --normalize dataset the torch model would score" in printed
    assert file_contract(onnx)["cnnlab.normalize"] == "none"

    assert main(["export", "run", "--normalize", "dataset", "-o", "x.onnx"]) == 2
    assert "was trained with --normalize none" in capsys.readouterr().err


def test_a_scratch_network_of_ones_own_trains_evaluates_and_reports(tmp_path, capsys,
                                                                     monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "scratch_net.py").write_text(SCRATCH_NET)
    printed = _run(capsys, "train", "scratch_net.py:build", "--epochs", "1", "--train-size",
                   "1000", "--val-size", "200", "--batch-size", "50", "--out", "run")
    assert "scratch engine on cpu" in printed
    assert layout.read_config(tmp_path / "run").engine == "scratch"
    _run(capsys, "eval", "run", "--no-speed")
    assert layout.read_evaluation(tmp_path / "run")["engine"] == "scratch"
    _run(capsys, "report", "run")
    assert "<h2>Feature maps of test image 0</h2>" in (tmp_path / "run/report.html").read_text()
    top1 = layout.read_evaluation(tmp_path / "run")["accuracy"]["top1"]
    # on torch, the file rebuilt with its imports swapped: the same network, the same answers
    _run(capsys, "eval", "run", "--engine", "torch", "--no-speed", "--out", "torch.json")
    assert json.loads((tmp_path / "torch.json").read_text())["accuracy"]["top1"] == top1
    _run(capsys, "export", "run", "-o", "x.onnx")
    assert main(["train", "scratch_net.py:build", "--device", "cuda", "--out", "y"]) == 2
    error = capsys.readouterr().err
    assert "the scratch engine is NumPy and runs on the CPU only" in error
    assert error.count("\n") == 1, error


PACKAGE_BLOCKS = '''
import torch


def block(channels_in, channels_out):
    return torch.nn.Sequential(torch.nn.Conv2d(channels_in, channels_out, 3, padding=1),
                               torch.nn.ReLU(), torch.nn.MaxPool2d(2))
'''

PACKAGE_NETS = '''
import torch

from .blocks import block


def small(num_classes, in_channels, dropout=0.0):
    return torch.nn.Sequential(block(in_channels, 6), torch.nn.Flatten(),
                               torch.nn.Dropout(dropout), torch.nn.Linear(6 * 14 * 14,
                                                                          num_classes))
'''


def test_a_factory_in_a_package_is_rebuilt_from_the_runs_copy(tmp_path, capsys, monkeypatch):
    package = tmp_path / "course_nets"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "blocks.py").write_text(PACKAGE_BLOCKS)
    (package / "nets.py").write_text(PACKAGE_NETS)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.chdir(tmp_path)
    _run(capsys, "train", "course_nets.nets:small", "--epochs", "1", "--train-size", "1000",
         "--val-size", "200", "--dropout", "0.2", "--out", "run")
    assert (tmp_path / "run/source/nets.py").read_text() == PACKAGE_NETS
    (package / "nets.py").write_text("this is not Python any more")
    _run(capsys, "eval", "run", "--no-speed")  # the copy, with its relative import, still loads
    assert layout.read_evaluation(tmp_path / "run")["accuracy"]["images"] == 200


def test_a_factory_receives_what_it_asks_for_and_refuses_what_it_cannot_take(tmp_path):
    (tmp_path / "nets.py").write_text('''
import torch

def takes_all(num_classes, in_channels):
    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(in_channels * 784,
                                                                   num_classes))

def fixed():
    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 5))
''')
    model = load_user_model(f"{tmp_path}/nets.py:takes_all", num_classes=7, in_channels=1)
    assert model[1].out_features == 7
    with pytest.raises(ValueError, match="does not take dropout"):
        load_user_model(f"{tmp_path}/nets.py:fixed", 10, 1, {"dropout": 0.5})
    with pytest.raises(ValueError, match=r"gives output of shape \(2, 5\) for a batch of 2; "
                                         r"expected logits of shape \(2, 10\)"):
        check_fits(load_user_model(f"{tmp_path}/nets.py:fixed", 10, 1), "fixed", (1, 28, 28),
                   10)


def test_bench_times_ones_own_network_on_its_engines(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "net.py").write_text(NET)
    rows = json.loads(_run(capsys, "bench", "net.py:Net", "--dataset", "fashion-mnist",
                           "--engine", "torch,onnx", "--images", "8", "--repeats", "1",
                           "--json"))
    assert [(row["engine"], row["device"], row["input"]) for row in rows] == [
        ("torch", "cpu", [1, 28, 28]), ("onnx", "cpu", [1, 28, 28])]
    assert all(row["images_per_second"]["median"] > 0 for row in rows)
    (tmp_path / "a_network_with_a_long_name.py").write_text(NET)
    table = _run(capsys, "bench", "lenet5", "a_network_with_a_long_name.py:Net", "--dataset",
                 "fashion-mnist", "--engine", "torch", "--images", "8", "--repeats", "1")
    lines = table.splitlines()[:3]
    assert lines[2].startswith("a_network_with_a_long_name.py:Net  torch")  # not cut
    assert len({line.index("images/s") + len("images/s") if i == 0 else
                line.index(line.split()[4]) + len(line.split()[4])
                for i, line in enumerate(lines)}) == 1  # the figures end under their header
    assert main(["bench", "net.py:Net", "--dataset", "fashion-mnist", "--engine",
                 "scratch"]) == 2
    assert ("net.py:Net is written for the torch engine and could not be rebuilt on scratch "
            "with its imports swapped: AttributeError: module 'cnnlab.scratch' has no "
            "attribute 'max_pool2d'") in capsys.readouterr().err
    assert main(["bench", "net.py:Net"]) == 2
    assert "give the input of net.py:Net with --dataset" in capsys.readouterr().err


def test_every_train_option_shows_its_default(capsys):
    from cnnlab.cli import build_parser

    commands = next(action for action in build_parser()._actions
                    if action.dest == "command").choices
    settings = [action for action in commands["train"]._actions
                if action.option_strings and action.dest not in ("help", "config", "recipe",
                                                                 "resume")]
    from dataclasses import fields

    from cnnlab.runs.config import TrainConfig

    # every setting TrainConfig has, but the model (an argument), the recipe (named by
    # --recipe) and the source file's copy (set by train itself)
    assert {action.dest for action in settings} == \
        {field.name for field in fields(TrainConfig)} - {"model", "recipe", "source",
                                                         "source_sha256"}
    for action in settings:
        assert "default" in (action.help or ""), action.option_strings
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    assert "warms up from lr/25 to lr" in " ".join(capsys.readouterr().out.split())


def test_the_loaded_images_have_the_layout_a_view_needs():
    """The IDX loader's channel axis gets its row-major stride: torch would otherwise read a
    (N, 1, 28, 28) batch as channels-last and convolutions would return maps `.view()`
    cannot flatten."""
    images = datasets.load(datasets.FASHION_MNIST)["test"][0]
    assert images.strides == (784, 784, 28, 1)
    assert images[np.array([3, 1, 2])].strides == (784, 784, 28, 1)


def test_a_network_that_makes_its_weights_in_its_first_forward_trains(tmp_path, capsys,
                                                                      monkeypatch):
    """nn.LazyLinear saves counting the flattened size. The blank batch that checks a network
    fits runs it first: under inference mode its weights would never train."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "lazy.py").write_text(NET.replace("nn.Linear(16 * 7 * 7, num_classes)",
                                                  "nn.LazyLinear(num_classes)"))
    _run(capsys, "train", "lazy.py:Net", "--epochs", "1", "--train-size", "1000",
         "--val-size", "200", "--out", "run")
    assert layout.training_result(tmp_path / "run")["test_accuracy"] > 0.3
    _run(capsys, "export", "run", "-o", "lazy.onnx")


# PyTorch's CIFAR-10 tutorial network, as a student brings it to Fashion-MNIST: one input
# channel, but `16 * 5 * 5`, the flattened size on 32x32 images, not on 28x28 ones.
TUTORIAL_NET = TUTORIAL.split("\n\nnet = Net()")[0].replace(
    "nn.Conv2d(3, 6, 5)", "nn.Conv2d(1, 6, 5)").replace("import torch.optim as optim\n", "")

FLATTENED = ("fc1 (Linear) expects 400 input features but its input is 256, the 16x4x4 "
             "feature map flattened: for a 28x28 input the flattened size is 16*4*4; write "
             "nn.Linear(16 * 4 * 4, 120)")


@pytest.mark.parametrize("engine", ["torch", "scratch"])
def test_train_names_the_layer_and_the_fix_before_any_epoch(tmp_path, capsys, engine):
    source = TUTORIAL_NET if engine == "torch" else TUTORIAL_NET.replace(
        "import torch\nimport torch.nn as nn\nimport torch.nn.functional as F",
        "import cnnlab.scratch as torch\nimport cnnlab.scratch.nn as nn\n"
        "import cnnlab.scratch.nn.functional as F")
    net = tmp_path / "net.py"
    net.write_text(source)
    out = tmp_path / "run"
    code = main(["train", f"{net}:Net", "--dataset", "fashion-mnist", "--epochs", "1",
                 "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and err == (f"cnnlab train: {net}:Net does not take input of shape "
                                 f"(batch, 1, 28, 28): {FLATTENED}\n")
    assert not (out / layout.CHECKPOINT).exists()
    assert main(["shapes", f"{net}:Net", "--dataset", "fashion-mnist"]) == 2
    assert capsys.readouterr().err == f"cnnlab shapes: {FLATTENED}\n"


SCRATCH_TUTORIAL_NET = TUTORIAL_NET.replace(
    "import torch\nimport torch.nn as nn\nimport torch.nn.functional as F",
    "import cnnlab.scratch as torch\nimport cnnlab.scratch.nn as nn\n"
    "import cnnlab.scratch.nn.functional as F").replace("16 * 5 * 5", "16 * 4 * 4")


def test_a_scratch_network_exports_with_the_scratch_engines_logits(tmp_path, capsys):
    """Written for the scratch engine, trained on it, exported through torch (its file
    rebuilt with the imports swapped): the .onnx file computes the scratch logits."""
    from cnnlab.evaluate.predictors import ModelPredictor, OnnxPredictor, predict_all
    from cnnlab.evaluate.targets import load_target
    from cnnlab.models.engines import engine_of

    net = tmp_path / "net.py"
    net.write_text(SCRATCH_TUTORIAL_NET)
    run = tmp_path / "run"
    _run(capsys, "train", f"{net}:Net", "--dataset", "fashion-mnist", "--epochs", "1",
         "--train-size", "1000", "--val-size", "300", "--out", run)
    _run(capsys, "export", run, "-o", tmp_path / "net.onnx")
    target = load_target(str(run))
    model = target.build()
    assert engine_of(model).name == "scratch"  # what is compared is the scratch network
    images = datasets.load(target.spec, None)["test"][0][:200]
    pixels = images.astype(np.float32) / 255.0
    scratch = predict_all(ModelPredictor(model, target.contract), pixels)
    onnx = predict_all(OnnxPredictor(tmp_path / "net.onnx"), pixels)
    assert np.max(np.abs(onnx - scratch)) < 1e-4 * max(1.0, np.max(np.abs(scratch)))
    assert (onnx.argmax(1) == scratch.argmax(1)).all()


def test_a_scratch_layer_torch_lacks_is_named_when_exporting(tmp_path, capsys):
    net = tmp_path / "net.py"
    net.write_text(SCRATCH_NET.replace("nn.MaxPool2d(2)", "nn.SumPool2d(2)"))
    run = tmp_path / "run"
    _run(capsys, "train", f"{net}:build", "--dataset", "fashion-mnist", "--epochs", "1",
         "--train-size", "256", "--val-size", "64", "--out", run)
    assert main(["export", str(run), "-o", str(tmp_path / "net.onnx")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"cnnlab export: {net}:build is written for the scratch engine and "
                          "could not be rebuilt on torch with its imports swapped: ")
    assert "SumPool2d" in err and not (tmp_path / "net.onnx").exists()


def test_the_tutorial_network_s_every_call_is_in_the_figures_the_report_and_the_explorer(
        tmp_path, capsys):
    """The walk of issue 31: F.relu after each convolution and one pooling layer called twice.
    The feature maps, the report's layer table, the explorer's stages and rows, and Grad-CAM's
    choices name every call, the pool's first call (12x12) apart from its second (4x4)."""
    from cnnlab.evaluate.targets import load_target
    from cnnlab.lab.explorer import ExploredModel

    net = tmp_path / "net.py"
    net.write_text(TUTORIAL_NET.replace("16 * 5 * 5", "16 * 4 * 4"))
    run = tmp_path / "run"
    _run(capsys, "train", f"{net}:Net", "--dataset", "fashion-mnist", "--epochs", "1",
         "--train-size", "1000", "--val-size", "300", "--out", run)
    calls = ["conv1", "F.relu", "pool", "conv2", "F.relu (2nd call)", "pool (2nd call)"]
    printed = _run(capsys, "viz", "features", run, "-o", tmp_path / "f.png")
    assert ("through CONV1: conv1; RELU1: F.relu; POOL1: pool; CONV2: conv2; RELU2: F.relu "
            "(2nd call); POOL2: pool (2nd call)") in printed
    _run(capsys, "report", run)
    report = (run / "report.html").read_text()
    for name in [*calls, "flatten", "fc1", "F.relu (3rd call)", "F.relu (4th call)"]:
        assert f">{name}</td>" in report, name
    explored = ExploredModel("net", load_target(str(run)))
    about = explored.describe()
    assert [stage["module"] for stage in about["stages"]] == calls
    assert about["cam_layers"] == calls
    links = dict(zip([row[1] for row in about["table"]["rows"]], about["table"]["stages"],
                     strict=True))
    assert [links[name] for name in calls] == [0, 1, 2, 3, 4, 5] and links["fc1"] is None
    first = explored.features("test:0", "POOL1")["stage"]
    assert (first["module"], first["shape"]) == ("pool", [6, 12, 12])
    assert explored.attribution("test:0", layer="pool")["layer"] == "pool"
