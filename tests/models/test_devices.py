"""Devices and mixed precision: what is not there is one clear line, the device is recorded
with every result, and the CPU path of the device code runs here (a GPU session runs the
same commands with --device cuda)."""

import json

import pytest
import torch

from cnnlab.cli import main
from cnnlab.evaluate.environment import cpu_model
from cnnlab.models.engines import get_engine

NO_GPU = not torch.cuda.is_available()


pytestmark = pytest.mark.usefixtures("fashion_mnist")


@pytest.mark.skipif(not NO_GPU, reason="this machine has a CUDA GPU")
@pytest.mark.parametrize("argv", [
    ["train", "lenet5", "--device", "cuda"],
    ["eval", "lenet5", "--normalize", "dataset", "--dataset", "fashion-mnist", "--device",
     "cuda:1"],
    ["bench", "lenet5", "--device", "cuda"],
])
def test_asking_for_a_gpu_that_is_not_there_is_one_clear_line(argv, tmp_path, capsys):
    assert main([*argv, *(["--out", str(tmp_path / "x")] if argv[0] != "bench" else [])]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1
    assert f"--device {argv[-1]}: torch {torch.__version__}" in error
    assert "sees no CUDA GPU here; use --device cpu" in error
    assert not (tmp_path / "x").exists()  # refused before a run folder was made


def test_devices_are_named_as_torch_names_them():
    torch_engine, scratch = get_engine("torch"), get_engine("scratch")
    assert torch_engine.device("cpu") == torch.device("cpu")
    if NO_GPU and not torch.backends.mps.is_available():
        assert torch_engine.device("auto") == torch.device("cpu")
    with pytest.raises(ValueError, match="unknown device 'tpu'"):
        torch_engine.device("tpu")
    assert scratch.device("auto") == scratch.device("cpu") == torch.device("cpu")
    with pytest.raises(ValueError, match="the scratch engine is NumPy and runs on the CPU"):
        scratch.device("mps")


@pytest.mark.parametrize("amp", [None, "bf16", "fp16"])
def test_training_on_an_explicit_device_records_it(tmp_path, capsys, amp):
    out = tmp_path / "run"
    argv = ["train", "lenet5", "--epochs", "2", "--train-size", "2000", "--val-size", "500",
            "--device", "cpu", "--out", str(out)] + (["--amp", amp] if amp else [])
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "torch engine on cpu" in printed
    assert (f"{amp} mixed precision" in printed) == (amp is not None)
    result = json.loads((out / "result.json").read_text())
    assert (result["device"], result["amp"]) == ("cpu", amp)
    assert result["test_accuracy"] > 0.6  # mixed precision still learns
    assert main(["eval", str(out), "--device", "cpu", "--repeats", "1"]
                + (["--amp", amp] if amp else [])) == 0
    environment = json.loads((out / "eval.json").read_text())["environment"]
    assert (environment["device"], environment["device_name"]) == ("cpu", cpu_model())
    resumed = main(["train", "--resume", str(out), "--epochs", "3"])
    assert resumed == 0  # the grad scaler's state comes back with fp16
