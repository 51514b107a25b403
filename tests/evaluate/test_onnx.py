"""ONNX export against torch's logits, and the checks that refuse a file before it runs."""

import numpy as np
import onnx
import pytest
import torch
from onnx import helper

from cnnlab.cli import main
from cnnlab.data.contract import Preprocessing
from cnnlab.data.datasets import CIFAR10, FASHION_MNIST
from cnnlab.evaluate.onnx_check import OnnxRejected, check_onnx
from cnnlab.evaluate.onnx_export import Normalised, export_onnx
from cnnlab.evaluate.predictors import OnnxPredictor
from cnnlab.models.zoo import create_model
from tests.onnx_models import external_weight
from tests.onnx_models import minimal_classifier as _model


def _ort_and_torch(model, path, spec, batch):
    pixels = torch.rand(batch, *spec.shape, generator=torch.Generator().manual_seed(batch))
    with torch.no_grad():
        expected = Normalised(model, Preprocessing.of(spec, "dataset")).eval()(pixels).numpy()
    return OnnxPredictor(path)(pixels.numpy()), expected


@pytest.mark.parametrize(("name", "spec"), [("lenet5", FASHION_MNIST), ("resnet20", CIFAR10),
                                            ("vgg11_bn", CIFAR10), ("googlenet", CIFAR10)])
def test_exported_logits_match_torch_at_any_batch_size(tmp_path, name, spec):
    torch.manual_seed(0)
    model = create_model(name, "torch", num_classes=10, in_channels=spec.shape[0],
                         input_size=spec.shape[1:]).eval()
    path = tmp_path / f"{name}.onnx"
    export_onnx(model, Preprocessing.of(spec, "dataset"), spec.shape, path, num_classes=10)
    info = check_onnx(path, spec.shape, 10)
    assert isinstance(info.input_shape[0], str)  # a dynamic batch dimension
    assert info.input_shape[1:] == spec.shape and info.output_shape[1] == 10
    for batch in (1, 3, 4, 7):
        got, expected = _ort_and_torch(model, path, spec, batch)
        assert got.shape == (batch, 10)
        assert np.abs(got - expected).max() <= 1e-4


def test_the_file_holds_the_normalisation_so_it_takes_raw_pixels(tmp_path):
    torch.manual_seed(0)
    model = create_model("lenet5", "torch", num_classes=10, in_channels=1, input_size=28)
    path = tmp_path / "lenet5.onnx"
    export_onnx(model, Preprocessing.of(FASHION_MNIST, "dataset"), (1, 28, 28), path)
    pixels = np.random.default_rng(0).random((4, 1, 28, 28), dtype=np.float32)
    with torch.no_grad():
        by_hand = model.eval()(torch.from_numpy((pixels - 0.2860) / 0.3530)).numpy()
    assert np.abs(OnnxPredictor(path)(pixels) - by_hand).max() <= 1e-4
    operators = check_onnx(path).operators
    assert "Sub" in operators and "Div" in operators


NET = '''
import torch

class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(1, 4, 3, padding=1)
        self.fc = torch.nn.Linear(4 * 14 * 14, 10)

    def forward(self, x):
        x = torch.nn.functional.max_pool2d(torch.relu(self.conv(x)), 2)
        return self.fc(x.flatten(1))
'''


def test_the_users_own_network_with_its_checkpoint(tmp_path, capsys):
    from safetensors.torch import save_file

    (tmp_path / "net.py").write_text(NET)
    namespace = {}
    exec(NET, namespace)
    torch.manual_seed(1)
    net = namespace["Net"]().eval()
    save_file(net.state_dict(), tmp_path / "net.safetensors")
    out = tmp_path / "net.onnx"
    assert main(["export", f"{tmp_path / 'net.py'}:Net", "--weights",
                 str(tmp_path / "net.safetensors"), "--dataset", "fashion-mnist", "--normalize",
                 "dataset", "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "the fashion-mnist normalisation is inside" in printed
    pixels = np.random.default_rng(0).random((5, 1, 28, 28), dtype=np.float32)
    with torch.no_grad():
        expected = net(torch.from_numpy((pixels - 0.2860) / 0.3530)).numpy()
    assert np.abs(OnnxPredictor(out)(pixels) - expected).max() <= 1e-4


def test_a_network_that_does_not_fit_the_dataset_writes_nothing(tmp_path, capsys):
    (tmp_path / "net.py").write_text(NET)
    out = tmp_path / "net.onnx"
    assert main(["export", f"{tmp_path / 'net.py'}:Net", "--dataset", "cifar10",
                 "--normalize", "dataset", "-o", str(out)]) == 2
    assert "does not take input of shape (batch, 3, 32, 32)" in capsys.readouterr().err
    assert not out.exists()


# ----------------------------------------------------------------- files we refuse to run
def _write(tmp_path, model, name="model.onnx"):
    path = tmp_path / name
    path.write_bytes(model.SerializeToString())
    return path


def test_the_minimal_model_passes(tmp_path):
    info = check_onnx(_write(tmp_path, _model()), (1, 28, 28), 10)
    assert info.opset == 17 and info.operators == ("Flatten", "Gemm")


def _external_weight():
    return external_weight("../../etc/passwd")


def _custom_function():
    return helper.make_function("evil.ops", "Steal", ["x"], ["y"],
                                [helper.make_node("Identity", ["x"], ["y"])],
                                [helper.make_opsetid("", 17)])


BROKEN = {
    "custom operator domain": (
        lambda: _model(nodes=[helper.make_node("Flatten", ["pixels"], ["flat"]),
                              helper.make_node("FastGemm", ["flat", "weight"], ["logits"],
                                               domain="com.example")],
                       domain_opsets=["com.example"]),
        "outside standard ONNX (domain 'com.example')"),
    "model-local function": (
        lambda: _model(functions=[_custom_function()], domain_opsets=["evil.ops"]),
        "outside standard ONNX (domain 'evil.ops')"),
    "external data": (lambda: _model(initializers=[_external_weight()]),
                      "keeps tensor 'weight' in an external data file"),
    "unknown operator": (
        lambda: _model(nodes=[helper.make_node("Flatten", ["pixels"], ["flat"]),
                              helper.make_node("NoSuchOp", ["flat", "weight"], ["logits"])]),
        "not a valid ONNX model"),
    "dangling input": (
        lambda: _model(nodes=[helper.make_node("Gemm", ["nowhere", "weight"], ["logits"])]),
        "not a valid ONNX model"),
    "wrong image size": (lambda: _model(input_shape=("batch", 1, 32, 32)),
                         "has shape ('batch', 1, 32, 32); expected ('batch', 1, 28, 28)"),
    "fixed batch": (lambda: _model(input_shape=(1, 1, 28, 28)),
                    "fixed batch size of 1; expected a dynamic batch dimension"),
    "wrong class count": (lambda: _model(classes=7),
                          "output 'logits' has shape ('batch', 7); expected (batch, 10)"),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_a_file_we_should_not_run_is_refused_with_the_reason(tmp_path, case):
    build, message = BROKEN[case]
    with pytest.raises(OnnxRejected) as error:
        check_onnx(_write(tmp_path, build()), (1, 28, 28), 10)
    assert message in str(error.value)


def test_not_onnx_at_all_and_too_big(tmp_path):
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"\xff\xfe this is not protobuf" * 10)
    with pytest.raises(OnnxRejected, match="is not an ONNX model"):
        check_onnx(garbage)
    with pytest.raises(OnnxRejected, match=r"MiB; the limit is"):
        check_onnx(_write(tmp_path, _model()), max_bytes=1000)


def test_eval_refuses_before_onnx_runtime_sees_the_file(tmp_path, capsys, monkeypatch):
    import onnxruntime

    def never(*args, **kwargs):
        raise AssertionError("ONNX Runtime was handed a file that failed the checks")

    monkeypatch.setattr(onnxruntime, "InferenceSession", never)
    path = _write(tmp_path, BROKEN["custom operator domain"][0]())
    assert main(["eval", str(path), "--dataset", "fashion-mnist", "--no-speed"]) == 2
    error = capsys.readouterr().err
    assert error.startswith("cnnlab eval: ") and "outside standard ONNX" in error
    assert not (tmp_path / "eval.json").exists()


def test_onnx_checker_agrees_the_minimal_model_is_valid():
    onnx.checker.check_model(_model(), full_check=True)
