"""LeNet-5 trained with the scratch engine on the real Fashion-MNIST, and the demo command."""

import pytest

from cnnlab.cli import main
from cnnlab.data import fashion_mnist
from cnnlab.train.scratch_job import JobConfig, run


def _require_data():
    try:
        fashion_mnist.locate()
    except FileNotFoundError:
        pytest.skip("Fashion-MNIST is not installed (make test installs it)")


@pytest.mark.slow
def test_one_epoch_of_lenet5_reaches_85_percent_on_real_fashion_mnist():
    _require_data()
    result = run(JobConfig(), report=lambda line: None)
    assert result["test_accuracy"] >= 0.85, result


def test_demo_prints_the_test_accuracy(capsys):
    _require_data()
    assert main(["demo", "--train-size", "3200"]) == 0
    out = capsys.readouterr().out
    accuracy = float(out.strip().splitlines()[-1].removeprefix("test accuracy: "))
    assert 0.5 < accuracy < 1.0  # 100 steps already beat chance (0.1) by far


@pytest.mark.parametrize("argv, message", [
    (["demo", "--train-size", "0"], "training-set size must be between 1 and 60000, got 0"),
    (["demo", "--lr", "-1"], "learning rate must be positive, got -1.0"),
    (["demo", "--batch-size", "0"], "batch size must be at least 1, got 0"),
    (["demo", "--data-dir", "/nonexistent", "--epochs", "0"], "epochs must be at least 1"),
])
def test_demo_refuses_bad_arguments_with_one_line(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_demo_without_data_says_how_to_get_it(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(fashion_mnist, "candidate_dirs", lambda data_dir=None: [tmp_path])
    assert main(["demo"]) == 2
    assert "apt-get install dataset-fashion-mnist" in capsys.readouterr().err
