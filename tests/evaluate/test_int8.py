"""`cnnlab export --quantize int8` (issue 19, point 2): the int8 file predicts what the float file
predicts on real images within the accuracy it states, stays standard ONNX (the leaderboard's
upload check takes it), and says its accuracy beside the float file's. Speed is measured in
benchmarks/int8_speed.py, not here."""

import collections
import re

import numpy as np
import onnx
import pytest

from cnnlab.cli import main
from cnnlab.evaluate.exporting import check_images
from cnnlab.evaluate.predictors import OnnxPredictor, predict_all
from cnnlab.evaluate.targets import load_target
from cnnlab.leaderboard import upload_check


def _predictions(path, pixels):
    return predict_all(OnnxPredictor(path.read_bytes()), pixels).argmax(1)


def test_an_int8_export_predicts_as_the_float_one_and_says_so(trained_run, tmp_path, capsys):
    float_file, int8_file = tmp_path / "float.onnx", tmp_path / "int8.onnx"
    assert main(["export", str(trained_run), "-o", str(float_file)]) == 0
    capsys.readouterr()
    assert main(["export", str(trained_run), "-o", str(int8_file), "--quantize", "int8"]) == 0
    printed = capsys.readouterr().out
    images, labels, _ = check_images(load_target(str(trained_run)))
    pixels = images.astype(np.float32) / 255
    float_predictions = _predictions(float_file, pixels)
    int8_predictions = _predictions(int8_file, pixels)
    float_accuracy = np.mean(float_predictions == labels)
    int8_accuracy = np.mean(int8_predictions == labels)
    agreement = np.mean(int8_predictions == float_predictions)
    stated = re.search(r"int8 \(static QDQ, calibrated on 512 training images\): ([\d.]+)% on "
                       r"the same images, the float file ([\d.]+)% \(([-+][\d.]+) points; the "
                       r"same class predicted for ([\d.]+)% of them\)", printed)
    assert stated, printed
    assert [float(g) for g in stated.groups()] == pytest.approx(
        [100 * int8_accuracy, 100 * float_accuracy, 100 * (int8_accuracy - float_accuracy),
         100 * agreement], abs=0.006)
    assert agreement >= 0.95 and abs(int8_accuracy - float_accuracy) <= 0.02
    model = onnx.load(str(int8_file))
    operators = collections.Counter(node.op_type for node in model.graph.node)
    assert operators["QuantizeLinear"] > 0 and operators["DequantizeLinear"] > 0
    weights = [t for t in model.graph.initializer if t.data_type == onnx.TensorProto.INT8]
    assert weights, "no int8 weights"
    assert {o.domain for o in model.opset_import} <= {"", "ai.onnx"}
    rejection, _ = upload_check.check(int8_file.read_bytes(),
                                      {"dataset": "fashion-mnist", "max_bytes": 2**20})
    assert rejection is None  # a leaderboard takes it
    assert int8_file.stat().st_size < float_file.stat().st_size / 2


def test_batch_norm_is_folded_by_the_export_and_a_resnet_quantises(tmp_path, capsys):
    run = tmp_path / "resnet"
    assert main(["train", "resnet20", "--dataset", "fashion-mnist", "--train-size", "1000",
                 "--val-size", "300", "--epochs", "1", "--batch-size", "100",
                 "--out", str(run)]) == 0
    float_file, int8_file = tmp_path / "f.onnx", tmp_path / "q.onnx"
    assert main(["export", str(run), "-o", str(float_file)]) == 0
    operators = {node.op_type for node in onnx.load(str(float_file)).graph.node}
    assert "BatchNormalization" not in operators and "Conv" in operators
    assert main(["export", str(run), "-o", str(int8_file), "--quantize", "int8"]) == 0
    assert "int8 (static QDQ" in capsys.readouterr().out
    images, _, _ = check_images(load_target(str(run)))
    pixels = images.astype(np.float32) / 255
    agreement = np.mean(_predictions(int8_file, pixels) == _predictions(float_file, pixels))
    assert agreement >= 0.9


def test_only_int8_is_offered(trained_run, tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["export", str(trained_run), "-o", str(tmp_path / "x.onnx"), "--quantize",
              "int4"])
    assert "invalid choice: 'int4'" in capsys.readouterr().err
