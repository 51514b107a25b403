import pytest

from cnnlab.cli import main
from cnnlab.data import datasets


@pytest.fixture(scope="session")
def fashion_mnist():
    """The real Fashion-MNIST, or the test skips saying why (make test installs it)."""
    try:
        datasets.locate(datasets.FASHION_MNIST, allow_download=False)
    except FileNotFoundError:
        pytest.skip("Fashion-MNIST is not installed (make test installs it)")


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory, fashion_mnist):
    """A small LeNet-5 run on the real Fashion-MNIST (make test installs it)."""
    folder = tmp_path_factory.mktemp("runs") / "lenet5"
    assert main(["train", "lenet5", "--dataset", "fashion-mnist", "--train-size", "2000",
                 "--val-size", "500", "--epochs", "2", "--batch-size", "64",
                 "--out", str(folder)]) == 0
    return folder


@pytest.fixture
def run_copy(trained_run, tmp_path):
    """A private copy of the trained run as training left it (without what other tests may have
    added: eval.json, model.onnx, report.html), for tests that write into the run folder."""
    import shutil

    return shutil.copytree(trained_run, tmp_path / trained_run.name,
                           ignore=shutil.ignore_patterns("eval.json", "*.onnx", "report.html"))
