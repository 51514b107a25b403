"""The pre-trained networks cnnlab ships: each file is the one its sha256 says, each recorded
test accuracy is what the weights score on the real test set today, and `pretrained:NAME`
works wherever a run does (eval, export, train --init), writing nothing into the package."""

import hashlib
import json
import shutil

import pytest

from cnnlab.cli import main
from cnnlab.models import pretrained as shipped

pytestmark = pytest.mark.usefixtures("fashion_mnist")

NAMES = sorted(shipped.catalog())


def test_the_catalog_lists_files_with_their_digests_and_commands():
    assert "lenet5-fashion-mnist" in NAMES
    for entry in shipped.catalog().values():
        assert hashlib.sha256(entry.path.read_bytes()).hexdigest() == entry.sha256
        assert entry.command.startswith(f"cnnlab train {entry.model} --dataset {entry.dataset}")
    assert sum(e.path.stat().st_size for e in shipped.catalog().values()) < 5 * 2**20


@pytest.mark.parametrize("name", NAMES)
def test_the_recorded_accuracy_is_recomputed(name, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["eval", f"pretrained:{name}", "--split", "test", "--no-speed", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["accuracy"]["top1"] == pytest.approx(shipped.catalog()[name].test_accuracy,
                                                       abs=1e-9)
    assert result["preprocessing"]["normalize"] == shipped.catalog()[name].normalize
    written = list(tmp_path.iterdir())  # here, never inside the installed package
    assert [path.name for path in written] == [f"{shipped.catalog()[name].model}-"
                                               f"{shipped.catalog()[name].dataset}-eval.json"]


def test_a_damaged_or_unknown_network_is_named(tmp_path, monkeypatch, capsys):
    copy = tmp_path / "pretrained"
    shutil.copytree(shipped.HERE, copy)
    entry = shipped.catalog()["lenet5-fashion-mnist"]
    data = bytearray((copy / entry.file).read_bytes())
    data[-1] ^= 1
    (copy / entry.file).write_bytes(bytes(data))
    monkeypatch.setattr(shipped, "HERE", copy)
    assert main(["eval", "pretrained:lenet5-fashion-mnist", "--no-speed"]) == 2
    assert "lenet5-fashion-mnist.safetensors is damaged (sha256" in capsys.readouterr().err
    assert main(["train", "lenet5", "--init", "pretrained:nothing"]) == 2
    assert ("pretrained:nothing: no such pre-trained network; cnnlab has "
            "pretrained:lenet5-fashion-mnist") in capsys.readouterr().err


def test_fine_tuning_starts_from_a_shipped_network(tmp_path, capsys):
    assert main(["train", "lenet5", "--dataset", "fashion-mnist", "--epochs", "1",
                 "--train-size", "256", "--val-size", "64", "--init",
                 "pretrained:lenet5-fashion-mnist", "--out", str(tmp_path / "run")]) == 0
    assert ("initialised from pretrained:lenet5-fashion-mnist: 10 of 10 tensors loaded"
            in capsys.readouterr().out)
    assert main(["export", "pretrained:lenet5-fashion-mnist", "-o",
                 str(tmp_path / "net.onnx")]) == 0
    assert capsys.readouterr().out.startswith(
        f"exported lenet5 (pretrained:lenet5-fashion-mnist) to {tmp_path / 'net.onnx'} (")


def test_the_lab_explores_a_shipped_network():
    """`cnnlab lab pretrained:NAME`: the explorer's confusion matrix is the recorded figure."""
    from cnnlab.lab.explorer import Explorer

    explorer = Explorer(["pretrained:lenet5-fashion-mnist"])
    model = explorer.get("lenet5")
    confusion = model.confusion()
    assert confusion["accuracy"] == pytest.approx(
        shipped.catalog()["lenet5-fashion-mnist"].test_accuracy, abs=1e-9)
    assert len(model.kernels()["title"]) > 0
