"""`cnnlab eval` and `cnnlab bench` end to end on a real (small) training run."""

import json
import shutil
from importlib import metadata

import numpy as np
import pytest
import torch

from cnnlab.cli import main
from cnnlab.data import datasets
from cnnlab.models.zoo import create_model


def _eval(capsys, *argv):
    code = main(["eval", *map(str, argv)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return captured.out


def test_test_accuracy_matches_an_independent_computation(trained_run, capsys):
    printed = _eval(capsys, trained_run, "--split", "test", "--repeats", "1")
    result = json.loads((trained_run / "eval.json").read_text())
    model = create_model("lenet5", "torch", num_classes=10, in_channels=1, input_size=28,
                         weights=str(trained_run / "model.safetensors")).eval()
    images, labels = datasets.load(datasets.FASHION_MNIST)["test"]
    pixels = (torch.from_numpy(images).float() / 255 - 0.2860) / 0.3530
    with torch.no_grad():
        predicted = model(pixels).argmax(1).numpy()
    accuracy = result["accuracy"]
    assert accuracy["images"] == 10000
    assert accuracy["top1"] == pytest.approx(np.mean(predicted == labels), abs=2e-4)
    trained = json.loads((trained_run / "result.json").read_text())["test_accuracy"]
    assert accuracy["top1"] == pytest.approx(trained, abs=2e-4)
    assert accuracy["top1"] <= accuracy["top5"] <= 1
    assert sum(row["support"] for row in accuracy["per_class"]) == 10000
    assert np.array(accuracy["confusion"]).sum() == 10000
    assert [row["class"] for row in accuracy["per_class"]] == list(
        datasets.FASHION_MNIST.classes)
    assert "Ankle boot" in printed and f"top-1 accuracy: {accuracy['top1']:.4f}" in printed

    speed, env = result["speed"], result["environment"]
    assert (speed["batch_size"], speed["images"], speed["batches"]) == (4, 10000, 2500)
    assert speed["threads"] == env["threads"] == 1 and env["engine"] == "torch"
    assert speed["reference"]["model"].startswith("lenet5") and speed["reference"]["ratio"] > 0
    assert 0 < speed["ms_per_batch"]["p50"] <= speed["ms_per_batch"]["p90"] \
        <= speed["ms_per_batch"]["p99"]
    assert env["cpu"] and env["versions"]["torch"] == metadata.version("torch")


def test_the_three_engines_agree_on_the_validation_split(trained_run, capsys):
    tops = {}
    for engine in ("torch", "scratch", "onnx"):
        out = trained_run / f"eval-{engine}.json"
        _eval(capsys, trained_run, "--engine", engine, "--no-speed", "--out", out)
        result = json.loads(out.read_text())
        assert result["split"] == "val" and result["accuracy"]["images"] == 500
        assert result["speed"] is None
        tops[engine] = result["accuracy"]["top1"]
    assert (trained_run / "model.onnx").is_file()  # exported on the way, then reused
    assert max(tops.values()) - min(tops.values()) <= 2 / 500


def test_an_exported_run_evaluates_as_an_onnx_file(trained_run, tmp_path, capsys):
    onnx_file = tmp_path / "submission.onnx"
    assert main(["export", str(trained_run), "-o", str(onnx_file)]) == 0
    assert "fashion-mnist normalisation is inside" in capsys.readouterr().out
    _eval(capsys, onnx_file, "--dataset", "fashion-mnist", "--split", "test", "--repeats", "1")
    from_file = json.loads((tmp_path / "eval.json").read_text())
    _eval(capsys, trained_run, "--split", "test", "--no-speed", "--out", tmp_path / "t.json")
    from_run = json.loads((tmp_path / "t.json").read_text())
    assert from_file["engine"] == "onnx" and from_file["speed"]["engine"] == "onnx"
    assert from_file["accuracy"]["top1"] == pytest.approx(from_run["accuracy"]["top1"],
                                                          abs=2e-4)


def test_a_checkpoint_evaluates_like_its_run_folder(trained_run, tmp_path, capsys):
    _eval(capsys, trained_run / "checkpoint.pt", "--no-speed", "--out", tmp_path / "c.json")
    _eval(capsys, trained_run, "--no-speed", "--out", tmp_path / "r.json")
    checkpoint = json.loads((tmp_path / "c.json").read_text())["accuracy"]
    folder = json.loads((tmp_path / "r.json").read_text())["accuracy"]
    assert checkpoint["confusion"] == folder["confusion"]


@pytest.mark.parametrize(("argv", "message"), [
    (["{run}", "--dataset", "cifar10"], "cannot run on cifar10"),
    (["{tmp}/nothing"], "does not exist"),
    (["{tmp}/empty"], "has no config.toml beside it"),
    (["{run}/result.json"], "is not a checkpoint"),
    (["{run}", "--threads", "0"], "threads must be"),
])
def test_bad_targets_are_one_line(trained_run, tmp_path, capsys, argv, message):
    (tmp_path / "empty").mkdir()
    argv = [a.format(run=trained_run, tmp=tmp_path) for a in argv]
    assert main(["eval", *argv, "--no-speed"]) == 2
    error = capsys.readouterr().err
    assert error.startswith("cnnlab eval: ") and message in error and error.count("\n") == 1


def test_a_run_without_a_validation_split_says_to_use_test(trained_run, tmp_path, capsys):
    copy = tmp_path / "run"
    shutil.copytree(trained_run, copy)
    config = (copy / "config.toml").read_text().replace("val_size = 500", "val_size = 0")
    (copy / "config.toml").write_text(config)
    assert main(["eval", str(copy), "--no-speed"]) == 2
    assert "evaluate with --split test" in capsys.readouterr().err


def test_bench_times_every_engine_without_a_dataset(capsys):
    assert main(["bench", "lenet5", "--engine", "torch,onnx,scratch", "--images", "8",
                 "--repeats", "1", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [row["engine"] for row in rows] == ["torch", "onnx", "scratch"]
    for row in rows:
        assert row["input"] == [1, 32, 32] and row["images"] == 8 and row["batches"] == 2
        assert row["images_per_second"]["median"] > 0 and row["reference"]["ratio"] > 0
    assert main(["bench", "resnet20", "--dataset", "cifar10", "--images", "4",
                 "--repeats", "1"]) == 0
    table = capsys.readouterr().out
    assert table.splitlines()[1].split()[:4] == ["resnet20", "torch", "cpu", "3x32x32"]
