import pytest

from cnnlab.cli import main
from cnnlab.leaderboard.database import open_database
from cnnlab.leaderboard.tasks import add_task
from cnnlab.leaderboard.users import add_user
from tests.leaderboard import postgres


@pytest.fixture(scope="session")
def postgres_server():
    reason = postgres.unavailable()
    if reason:
        pytest.skip(f"PostgreSQL: {reason}")
    server = postgres.Server()
    yield server
    server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request, tmp_path):
    """The leaderboard's database, empty and migrated: each test runs on both."""
    if request.param == "sqlite":
        return open_database(f"sqlite:///{tmp_path / 'board.db'}")
    return open_database(request.getfixturevalue("postgres_server").new_database())


@pytest.fixture
def board(engine):
    """A Fashion-MNIST task and a user with their token."""
    add_task(engine, "fm", "fashion-mnist", daily_limit=3, max_mb=1)
    return engine, add_user(engine, "alice")


@pytest.fixture(scope="session")
def trained_onnx(trained_run, tmp_path_factory):
    """The trained LeNet-5 run, exported as a submission would be."""
    path = tmp_path_factory.mktemp("onnx") / "lenet5.onnx"
    assert main(["export", str(trained_run), "-o", str(path)]) == 0
    return path


@pytest.fixture(scope="session")
def second_trained_onnx(trained_run, tmp_path_factory):
    """Another LeNet-5 trained as the first was, from another seed, and exported: a model a
    second student could honestly reach (the near-copy check must leave the two alone)."""
    folder = tmp_path_factory.mktemp("runs") / "lenet5-seed1"
    assert main(["train", "lenet5", "--dataset", "fashion-mnist", "--train-size", "2000",
                 "--val-size", "500", "--epochs", "2", "--batch-size", "64", "--seed", "1",
                 "--out", str(folder)]) == 0
    path = folder.parent / "lenet5-seed1.onnx"
    assert main(["export", str(folder), "-o", str(path)]) == 0
    return path
