"""Fine-tuning (`--init RUN_OR_WEIGHTS --freeze PREFIX ...`) on the real Fashion-MNIST: the
layers that match load, a head for another number of classes starts afresh and says so,
another network's weights are refused naming the layer, and frozen layers (batch norm's
statistics included) end the run bit-identical to how they began, on both engines."""

import numpy as np
import pytest
import torch
from safetensors.numpy import load_file, save_file

from cnnlab.cli import main
from cnnlab.models import create_model
from cnnlab.runs import folder as layout

pytestmark = pytest.mark.usefixtures("fashion_mnist")

QUICK = ["--dataset", "fashion-mnist", "--epochs", "1", "--train-size", "512", "--val-size",
         "128", "--batch-size", "64"]


def _weights_file(path, **options) -> dict[str, np.ndarray]:
    model = create_model("lenet5", "torch", **options)
    state = {key: value.numpy().copy() for key, value in model.state_dict().items()}
    save_file(state, str(path))
    return state


def _trained(folder) -> dict[str, np.ndarray]:
    return load_file(str(folder / "model.safetensors"))


@pytest.mark.parametrize("engine", ["torch", "scratch"])
def test_frozen_layers_end_as_they_began_and_the_rest_trains(tmp_path, capsys, engine):
    first, second = tmp_path / "first", tmp_path / "second"
    assert main(["train", "lenet5", *QUICK, "--engine", engine, "--out", str(first)]) == 0
    capsys.readouterr()
    assert main(["train", "lenet5", *QUICK, "--engine", engine, "--seed", "1", "--init",
                 str(first), "--freeze", "0", "3", "--out", str(second)]) == 0
    printed = capsys.readouterr().out
    assert f"initialised from {first}: 10 of 10 tensors loaded\n" in printed
    assert "frozen: 0, 3 (2,572 parameters stay as they are; 59,134 train)" in printed
    before, after = _trained(first), _trained(second)
    for key in before:
        assert np.array_equal(before[key], after[key]) == key.startswith(("0.", "3.")), key
    saved = layout.read_config(second)  # what a resume freezes again
    assert (saved.init, saved.freeze) == (str(first), ["0", "3"])
    assert main(["runs", str(tmp_path)]) == 0 and "second" in capsys.readouterr().out


def test_a_head_for_other_classes_starts_afresh_and_the_rest_loads(tmp_path, capsys):
    given = _weights_file(tmp_path / "five.safetensors", num_classes=5)
    out = tmp_path / "run"
    assert main(["train", "lenet5", *QUICK, "--init", str(tmp_path / "five.safetensors"),
                 "--freeze", "0", "3", "8", "11", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert (f"initialised from {tmp_path / 'five.safetensors'}: 8 of 10 tensors loaded; the "
            "head (14.weight, 14.bias) starts afresh: 5 classes in the init, 10 here") in printed
    trained = _trained(out)
    assert all(np.array_equal(given[key], trained[key]) for key in given
               if not key.startswith("14."))  # loaded, then kept by the freeze
    assert trained["14.weight"].shape == (10, 84)


def test_another_networks_weights_are_refused_naming_the_layer(tmp_path, capsys):
    _weights_file(tmp_path / "rgb.safetensors", in_channels=3)
    assert main(["train", "lenet5", *QUICK, "--init", str(tmp_path / "rgb.safetensors"),
                 "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"cnnlab train: --init {tmp_path / 'rgb.safetensors'} was made for "
                          "another network: 0.weight (here (6, 1, 5, 5), in the init "
                          "(6, 3, 5, 5))")
    (tmp_path / "not-a-run").mkdir()
    assert main(["train", "lenet5", *QUICK, "--init", str(tmp_path / "not-a-run"), "--out",
                 str(tmp_path / "third")]) == 2
    assert capsys.readouterr().err == (f"cnnlab train: {tmp_path / 'not-a-run'} holds neither "
                                       "model.safetensors nor checkpoint.pt; is it a run "
                                       "folder?\n")
    import cnnlab

    with pytest.raises(ValueError, match="init must name a run folder, a weights file or "
                                         "pretrained:NAME, got 3"):
        cnnlab.train("lenet5", "fashion-mnist", init=3, out=str(tmp_path / "fourth"))
    assert main(["train", "lenet5", *QUICK, "--freeze", "conv1", "--out",
                 str(tmp_path / "other")]) == 2
    assert "--freeze conv1: no parameter is under it; the model's layers are 0, 3, 8, 11, " \
        "14" in capsys.readouterr().err


def test_a_frozen_batch_norm_keeps_its_statistics(tmp_path, capsys):
    first, second = tmp_path / "first", tmp_path / "second"
    assert main(["train", "resnet20", *QUICK, "--train-size", "256", "--out", str(first)]) == 0
    assert main(["train", "resnet20", *QUICK, "--train-size", "256", "--init", str(first),
                 "--freeze", "conv1", "bn1", "layer1", "--out", str(second)]) == 0
    before, after = _trained(first), _trained(second)
    frozen = [key for key in before if key.startswith(("conv1.", "bn1.", "layer1."))]
    assert any(key.endswith("running_mean") for key in frozen)
    assert all(np.array_equal(before[key], after[key]) for key in frozen)
    assert not np.array_equal(before["layer2.0.bn1.running_mean"],
                              after["layer2.0.bn1.running_mean"])
    assert not torch.equal(torch.from_numpy(before["fc.weight"]),
                           torch.from_numpy(after["fc.weight"]))


def test_five_classes_fine_tuned_from_five_others_start_a_fresh_head(tmp_path, capsys):
    """--classes: a run on some classes sees them alone (numbered 0, 1, ... in the order
    given) in training, evaluation and its confusion matrix; fine-tuned from a run on other
    classes of the same count, its head starts afresh, the classes named."""
    first, second = tmp_path / "first", tmp_path / "second"
    assert main(["train", "lenet5", *QUICK, "--classes", "0", "1", "2", "3", "4", "--out",
                 str(first)]) == 0
    capsys.readouterr()
    assert main(["train", "lenet5", *QUICK, "--classes", "9", "5", "7", "6", "8", "--init",
                 str(first), "--out", str(second)]) == 0
    printed = capsys.readouterr().out
    assert "lenet5 on fashion-mnist classes Ankle boot, Sandal, Sneaker, Shirt, Bag (" in printed
    assert (f"initialised from {first}: 8 of 10 tensors loaded; the head (14.weight, 14.bias) "
            "starts afresh: the init's classes are T-shirt/top, Trouser, Pullover, Dress, "
            "Coat, this run's Ankle boot, Sandal, Sneaker, Shirt, Bag") in printed
    assert _trained(second)["14.weight"].shape == (5, 84)
    assert layout.read_config(second).classes == [9, 5, 7, 6, 8]
    assert main(["eval", str(second), "--split", "test", "--no-speed"]) == 0
    shown = capsys.readouterr().out
    assert "(5000 images)" in shown and "0 Ankle boot" in shown and "4 Bag" in shown
    assert "Trouser" not in shown


def test_the_classes_of_a_view_are_the_datasets_images_of_those_classes():
    from cnnlab.data import datasets

    spec = datasets.get_spec("fashion-mnist")
    every = datasets.load(spec)
    view = datasets.load(spec.only([9, 5]))
    for split in ("train", "test"):
        images, labels = every[split]
        kept = np.isin(labels, [9, 5])
        assert np.array_equal(view[split][0], images[kept])
        assert np.array_equal(view[split][1], np.where(labels[kept] == 9, 0, 1))
    assert spec.only([9, 5]).classes == ("Ankle boot", "Sandal")


@pytest.mark.parametrize("classes, expected", [
    (["3", "3"], "classes [3, 3]: give two or more different class numbers of fashion-mnist "
                 "(0 T-shirt/top, 1 Trouser,"),
    (["10", "2"], "classes [10, 2]: give two or more different class numbers"),
    (["4"], "classes [4]: give two or more"),
])
def test_classes_a_dataset_lacks_are_one_clear_error(tmp_path, capsys, classes, expected):
    assert main(["train", "lenet5", *QUICK, "--classes", *classes, "--out",
                 str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert expected in err and err.count("\n") == 1, err
    assert not (tmp_path / "run").exists()
