"""`cnnlab shapes`: golden tables for the zoo, the user's own networks, one-layer explanations
and the one-line errors."""

import json
import os
from pathlib import Path

import pytest

from cnnlab.cli import main
from cnnlab.models.summary import model_table, summarize
from cnnlab.models.zoo import create_model

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("CNNLAB_UPDATE_GOLDEN") == "1"  # rewrite the files, then review the diff


def _run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if UPDATE:
        path.write_text(text)
    assert text == path.read_text(), f"{name} changed; rerun with CNNLAB_UPDATE_GOLDEN=1 and " \
                                     "review the diff"


GOLDEN_TABLES = {
    "alexnet.txt": ["shapes", "alexnet"],
    "lenet5.txt": ["shapes", "lenet5"],
    "lenet5_28_all.txt": ["shapes", "lenet5", "--input", "1x28x28", "--all"],
    "vgg16.txt": ["shapes", "vgg16"],
    "resnet20.txt": ["shapes", "resnet20"],
    "googlenet_cifar.txt": ["shapes", "googlenet", "--input", "3x32x32", "--num-classes", "10"],
    "conv_course_example.txt": ["shapes", "conv", "--input", "5x5", "--kernel", "3", "--stride",
                                "2", "--padding", "1"],
    "conv_transposed.txt": ["shapes", "conv", "--input", "5x5", "--kernel", "3", "--stride", "2",
                            "--padding", "1", "--transposed", "--output-padding", "1"],
    "conv_dilated_uneven.txt": ["shapes", "conv", "--input", "7x6", "--kernel", "3", "--stride",
                                "2", "--dilation", "2"],
    "pool_ceil_mode.txt": ["shapes", "conv", "--input", "5x5", "--kernel", "2", "--stride", "2",
                           "--padding", "1", "--pool", "max", "--ceil-mode"],
}


@pytest.mark.parametrize("name", GOLDEN_TABLES)
def test_golden_tables(capsys, name):
    code, out, err = _run(capsys, *GOLDEN_TABLES[name])
    assert (code, err) == (0, "")
    _check_golden(name, out)


def test_alexnet_reproduces_the_course_table(capsys):
    _, out, _ = _run(capsys, "shapes", "alexnet")
    rows = {line.split()[0]: line for line in out.splitlines() if line[:1].isupper()}
    course = {"INPUT": "227x227x3", "CONV1": "55x55x96", "POOL1": "27x27x96",
              "CONV2": "27x27x256", "POOL2": "13x13x256", "CONV3": "13x13x384",
              "CONV4": "13x13x384", "CONV5": "13x13x256", "POOL3": "6x6x256", "FC6": "4096",
              "FC7": "4096", "FC8": "1000"}
    for label, shape in course.items():
        assert f" {shape} " in rows[label] + " ", (label, rows[label])
    assert "96 11x11 filters at stride 4, pad 0" in rows["CONV1"]
    assert "3x3 max pool at stride 2" in rows["POOL1"]
    assert "parameters: 62,378,344" in out


@pytest.mark.parametrize("name, macs, tolerance", [("vgg16", 15.5e9, 0.01),
                                                   ("resnet18", 1.8e9, 0.02)])
def test_published_multiply_adds(name, macs, tolerance):
    table = model_table(name)
    assert abs(table.macs - macs) <= tolerance * macs


@pytest.mark.parametrize("name, shape", [("lenet5", (1, 28, 28)), ("resnet20", (3, 32, 32)),
                                         ("googlenet", (3, 32, 32)), ("vgg11_bn", (1, 28, 28))])
def test_both_engines_give_the_same_table(name, shape):
    theirs = summarize(create_model(name, "torch", in_channels=shape[0],
                                    input_size=shape[1:]), shape, name)
    ours = summarize(create_model(name, "scratch", in_channels=shape[0],
                                  input_size=shape[1:]), shape, name)
    assert ours.as_dict() | {"engine": ""} == theirs.as_dict() | {"engine": ""}
    assert ours.text().splitlines()[1:] == theirs.text().splitlines()[1:]


def test_receptive_field_of_a_residual_network_is_the_gradients_reach():
    """ResNet-20 on 128x128: the field of the last convolution, checked by backpropagating
    from one central output with positive weights (so no ReLU is off and nothing cancels)."""
    import torch

    model = create_model("resnet20", input_size=128).eval()
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.copy_(parameter.abs() + 1e-3)
    table = summarize(model, (3, 128, 128))
    last_conv = [layer for layer in table.layers if layer.kind == "conv"][-1]
    field = last_conv.receptive_field[0]
    features = torch.nn.Sequential(*list(model.children())[:-3])  # up to layer3
    x = torch.ones(1, 3, 128, 128, requires_grad=True)
    out = features(x)
    centre = out.shape[-1] // 2
    out[0, :, centre, centre].sum().backward()
    rows = torch.nonzero(x.grad[0].abs().sum(dim=(0, 2))).flatten()
    assert int(rows.max() - rows.min() + 1) == field.pixels
    assert (int(rows.max()) + int(rows.min())) / 2 == field.start + centre * field.jump


NET = '''
import torch
from torch import nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.pool = nn.MaxPool2d(2)
        self.fc = nn.Linear(8 * 16 * 16, 10)

    def forward(self, x):
        x = self.pool(torch.relu(self.conv(x)))
        x = x.view(x.size(0), -1)  # a reshape inside forward, seen only by a real pass
        return self.fc(x)


class NeedsArgs(nn.Module):
    def __init__(self, width):
        super().__init__()


def not_a_model():
    return 3
'''

SCRATCH_NETS = '''
from cnnlab.scratch import nn


def build():
    return nn.Sequential(nn.Conv2d(1, 4, 5), nn.ReLU(), nn.AvgPool2d(2), nn.Flatten(),
                         nn.Linear(4 * 12 * 12, 3))
'''


@pytest.fixture
def net_file(tmp_path):
    path = tmp_path / "net.py"
    path.write_text(NET)
    return path


def test_users_torch_network_is_traced_through_its_forward(capsys, net_file):
    code, out, err = _run(capsys, "shapes", f"{net_file}:Net", "--input", "3x32x32", "--json")
    assert (code, err) == (0, "")
    table = json.loads(out)
    # every call site is a row: the functional ReLU and the view in forward() too
    assert [(row["label"], row["name"], row["output"]) for row in table["layers"]] == [
        ("CONV1", "conv", "32x32x8"), ("RELU", "F.relu", "32x32x8"),
        ("POOL1", "pool", "16x16x8"), ("FLATTEN", "view", "2048"), ("FC2", "fc", "10")]
    assert table["totals"]["macs"] == 8 * 27 * 32 * 32 + 2048 * 10
    assert table["totals"]["params"] == 8 * 27 + 8 + 2048 * 10 + 10


def test_users_scratch_network_from_a_module(capsys, tmp_path, monkeypatch):
    (tmp_path / "my_scratch_nets.py").write_text(SCRATCH_NETS)
    monkeypatch.syspath_prepend(str(tmp_path))
    code, out, err = _run(capsys, "shapes", "my_scratch_nets:build", "--input", "1x28x28")
    assert (code, err) == (0, "")
    assert "(scratch engine)" in out and "24x24x4" in out and "12x12x4" in out


@pytest.mark.parametrize("argv_tail, expected", [
    (["NET:Missing", "--input", "3x32x32"], "does not define 'Missing'; it defines NeedsArgs, "
                                            "Net, not_a_model"),
    (["NET:NeedsArgs", "--input", "3x32x32"], "must be callable with no arguments other than "
                                              "num_classes, in_channels"),
    (["NET:not_a_model", "--input", "3x32x32"], "returned a int, not a torch.nn.Module"),
    (["NET:Net"], "give the input of"),
    (["NET:Net", "--input", "1x32x32"], "conv (Conv2d) expects 3 input channels but its "
                                        "input is 32x32x1"),
    (["NET:Net", "--input", "3x20x20"], "fc (Linear) expects 2048 input features but its "
                                        "input is 800"),
    (["NET:Net", "--input", "3x1x1"], "pool (H) does not fit its input of size 1: "
                                      "floor((1 + 2*0 - 1*(2-1) - 1)/2) + 1 = 0"),
    (["NET:Net", "--input", "3xtwo"], "--input: expected CxHxW"),
    (["nowhere/net.py:Net", "--input", "3x32x32"], "nowhere/net.py does not exist"),
    (["no_such_module_xyz:f", "--input", "3x32x32"], "cannot import module 'no_such_module_xyz'"),
    (["resnet81"], "unknown model 'resnet81'; did you mean resnet18"),
    (["alexnet", "--input", "3x5x5"], "alexnet POOL2 does not fit its input of size 2"),
    (["lenet5", "--kernel", "3"], "--kernel only applies to `cnnlab shapes conv`"),
    (["conv", "--input", "5x5"], "shapes conv needs --input HxW and --kernel K"),
    (["conv", "--input", "4x4", "--kernel", "5"], "floor((4 + 2*0 - 1*(5-1) - 1)/1) + 1 = 0"),
    (["conv", "--input", "5x5", "--kernel", "3", "--ceil-mode"], "--ceil-mode applies to "
                                                                 "pooling only"),
    (["conv", "--input", "5x5", "--kernel", "3", "--stride", "2", "--transposed",
      "--output-padding", "2"], "output_padding (2) must be smaller than the stride (2)"),
])
def test_bad_input_is_one_line_and_exit_code_2(capsys, net_file, argv_tail, expected):
    argv = [str(net_file) + arg[3:] if arg.startswith("NET:") else arg for arg in argv_tail]
    code, out, err = _run(capsys, "shapes", *argv)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and "Traceback" not in err
    assert expected in err, err


def test_usage_errors_are_one_line_too(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["shapes", "lenet5", "--bogus"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unrecognized arguments: --bogus" in err


def test_models_lists_the_zoo(capsys):
    code, out, _ = _run(capsys, "models", "vgg16*")
    assert code == 0
    assert [line.split()[:2] for line in out.splitlines()] == [["vgg16", "224x224x3"],
                                                               ["vgg16_bn", "224x224x3"]]


FUNCTIONAL_NETS = '''
import torch.nn.functional as F
from torch import nn

from cnnlab.scratch import nn as snn
from cnnlab.scratch.nn import functional as SF


class Pooled(nn.Module):
    """PyTorch's MNIST example style: the pooling is a call in forward, not a layer."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 4, 5)
        self.conv2 = nn.Conv2d(4, 8, 5)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        return F.relu(self.conv2(x))


class ScratchPooled(snn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = snn.Conv2d(1, 4, 5)
        self.conv2 = snn.Conv2d(4, 8, 5)

    def forward(self, x):
        x = SF.max_pool2d(SF.relu(self.conv1(x)), 2)
        return SF.relu(self.conv2(x))


class WithIndices(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 4, 5)
        self.pool = nn.MaxPool2d(2, return_indices=True)
        self.conv2 = nn.Conv2d(4, 8, 5)

    def forward(self, x):
        x, _ = self.pool(self.conv1(x))
        return self.conv2(x)


class Interpolated(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 4, 3)
        self.conv2 = nn.Conv2d(4, 8, 3)

    def forward(self, x):
        return self.conv2(F.interpolate(self.conv1(x), scale_factor=2))
'''


@pytest.fixture
def functional_nets(tmp_path):
    path = tmp_path / "functional_nets.py"
    path.write_text(FUNCTIONAL_NETS)
    return path


def _rows(capsys, spec):
    code, out, err = _run(capsys, "shapes", spec, "--input", "1x28x28", "--json")
    assert (code, err) == (0, "")
    table = json.loads(out)
    return table, [(row["label"], row["name"], row["output"],
                    row["receptive_field"] and row["receptive_field"]["height"]["size"])
                   for row in table["layers"] if row["kind"] in ("conv", "pool")]


@pytest.mark.parametrize("net", ["Pooled", "ScratchPooled"])
def test_a_pooling_called_in_forward_is_a_row_and_moves_the_receptive_field(capsys,
                                                                           functional_nets,
                                                                           net):
    _, rows = _rows(capsys, f"{functional_nets}:{net}")
    # 5 pixels, then 6 after the 2x2 pool (jump 2), then 6 + (5-1)*2 = 14: not 5 + 4 = 9
    assert rows == [("CONV1", "conv1", "24x24x4", 5), ("POOL1", "F.max_pool2d", "12x12x4", 6),
                    ("CONV2", "conv2", "8x8x8", 14)]


def test_the_functional_pool_field_is_what_the_output_sees(functional_nets):
    """The 14 above, checked on the real network: raising any input row inside the field
    changes one central output (a max pool lets a raised pixel win), and no row outside does."""
    import importlib.util

    import torch

    spec = importlib.util.spec_from_file_location("functional_nets", functional_nets)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    model = module.Pooled()
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.copy_(parameter.abs() + 1e-3)  # nothing cancels, no ReLU is off
        x = torch.ones(1, 1, 28, 28)
        centre = model(x)[0, :, 4, 4]
        seen = []
        for row in range(28):
            raised = x.clone()
            raised[..., row, :] += 100
            if not torch.equal(model(raised)[0, :, 4, 4], centre):
                seen.append(row)
    assert seen == list(range(seen[0], seen[0] + 14))


def test_max_pool_with_indices_keeps_its_row_and_the_fields_after_it(capsys, functional_nets):
    _, rows = _rows(capsys, f"{functional_nets}:WithIndices")
    assert rows == [("CONV1", "conv1", "24x24x4", 5), ("POOL1", "pool", "12x12x4", 6),
                    ("CONV2", "conv2", "8x8x8", 14)]


def test_a_field_that_cannot_be_computed_says_so(capsys, functional_nets):
    table, rows = _rows(capsys, f"{functional_nets}:Interpolated")
    assert rows == [("CONV1", "conv1", "26x26x4", 3), ("CONV2", "conv2", "50x50x8", None)]
    assert any("after interpolate" in note and "unknown" in note for note in table["notes"])
    code, out, _ = _run(capsys, "shapes", f"{functional_nets}:Interpolated", "--input",
                        "1x28x28")
    conv2 = next(line for line in out.splitlines() if line.startswith("CONV2"))
    assert code == 0 and conv2.endswith("unknown")


def test_shapes_conv_json_gives_the_explanations_figures(capsys):
    argv = ["shapes", "conv", "--input", "5x5", "--kernel", "3", "--stride", "2", "--padding",
            "1"]
    code, text, _ = _run(capsys, *argv)
    code_json, out, err = _run(capsys, *argv, "--json")
    assert (code, code_json, err) == (0, 0, "")
    facts = json.loads(out)
    assert facts["output"] == [3, 3] and "output: 3x3" in text
    assert facts["axes"]["H"]["with_numbers"] in text
    assert facts["receptive_field"] == {"size": 3, "jump": 2.0, "start": 0.0}
    code, out, err = _run(capsys, "shapes", "conv", "--input", "5x5", "--kernel", "7", "--json")
    assert code == 2 and out == "" and err.count("\n") == 1
