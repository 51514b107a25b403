"""What a careful user meets on a mistake (issue 18's CLI cases): one line that names what was
wrong and what was expected, exit code 2, and nothing lost or left behind."""

import pickle
import sqlite3

import pytest
import torch

from cnnlab.cli import main
from cnnlab.files import write_atomically


def _fails(capsys, argv, *expected):
    try:
        code = main(argv)
    except SystemExit as stop:  # a usage mistake, answered by the parser itself
        code = stop.code
    assert code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    for text in expected:
        assert text in err, err
    return err


@pytest.mark.parametrize("argv, expected", [
    (["train", "lenet5", "--seed", "-1"], "seed must be an integer from 0 to 4294967295"),
    (["train", "lenet5", "--seed", str(2**70)], "seed must be an integer from 0"),
    (["train", "lenet5", "--lr", "inf"], "lr must be a finite positive number, got inf"),
    (["train", "lenet5", "--train-size", "5"], "train_size 5 is fewer images than the 10"),
    (["bench", "lenet5", "--engine", ","], "--engine: expected one or more of"),
    (["bench", "lenet5", "--num-classes", "0"], "--num-classes must be at least 1, got 0"),
    (["bench", "vgg16", "--input", "3x20000x20000"], "894.1 GiB as float32"),
    (["leaderboard", "serve", "--port", "99999"], "a TCP port is a number from 1 to 65535"),
])
def test_settings_out_of_range_are_one_line(capsys, argv, expected):
    _fails(capsys, argv, expected)


def test_train_out_naming_a_file_leaves_it_alone(tmp_path, capsys):
    notes = tmp_path / "notes.txt"
    notes.write_text("mine")
    _fails(capsys, ["train", "lenet5", "--out", str(notes)], "is a file; a run is a folder")
    assert notes.read_text() == "mine"


def test_export_to_a_folder_is_refused_and_leaves_nothing_behind(tmp_path, capsys):
    folder = tmp_path / "exports"
    folder.mkdir()
    _fails(capsys, ["export", "lenet5", "--dataset", "fashion-mnist", "--normalize", "dataset",
                    "-o", str(folder)], "is a folder; give the file to write in it",
           "model.onnx")
    assert list(folder.iterdir()) == []


def test_an_atomic_write_that_cannot_land_removes_its_temporary_file(tmp_path):
    (tmp_path / "taken").mkdir()
    with pytest.raises(OSError):
        write_atomically(tmp_path / "taken", b"data")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken"]


def test_export_into_a_new_folder_says_it_makes_it(tmp_path, capsys, fashion_mnist):
    target = tmp_path / "new" / "lenet5.onnx"
    assert main(["export", "lenet5", "--dataset", "fashion-mnist", "--normalize", "dataset",
                 "-o", str(target)]) == 0
    assert f"creating folder {target.parent}" in capsys.readouterr().out
    assert target.is_file()


def test_a_random_bytes_checkpoint_is_named(tmp_path, capsys):
    path = tmp_path / "checkpoint.pt"
    path.write_bytes(bytes(range(256)) * 20)
    _fails(capsys, ["eval", str(path), "--dataset", "fashion-mnist", "--no-speed"],
           "is not a checkpoint", "neither a torch.save archive nor a pickle")


class Payload:
    """What a hostile file would carry: an object, not a tensor."""


def test_a_pickle_is_not_loaded_and_torchs_advice_is_not_passed_on(tmp_path):
    from cnnlab.models.zoo import create_model

    path = tmp_path / "weights.pt"
    torch.save({"conv1.weight": torch.ones(1), "payload": Payload()}, path)
    with pytest.raises(ValueError) as error:
        create_model("lenet5", weights=str(path))
    message = str(error.value)
    assert "was not loaded" in message and "safetensors" in message
    assert "Re-running" not in message and "will likely succeed" not in message
    assert pickle.dumps(Payload)  # (the payload class is real, only the loader refused it)


def test_a_network_file_that_raises_on_import_is_one_line(tmp_path, capsys):
    net = tmp_path / "net.py"
    net.write_text("import torch\n\nraise RuntimeError('half-written file')\n")
    _fails(capsys, ["shapes", f"{net}:Net", "--input", "1x28x28"],
           f"importing {net} failed (line 3): RuntimeError: half-written file")


def test_db_never_writes_over_a_file_that_is_not_ours(tmp_path, capsys):
    notes = tmp_path / "notes.txt"
    notes.write_text("my notes\nline two\n")
    _fails(capsys, ["leaderboard", "add-user", "bob", "--db", f"sqlite:///{notes}"],
           "exists and is not a SQLite database")
    assert notes.read_text() == "my notes\nline two\n"
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as connection:
        connection.execute("create table invoices (amount)")
    _fails(capsys, ["leaderboard", "add-user", "bob", "--db", f"sqlite:///{other}"],
           "holds another application's tables (invoices)")
    with sqlite3.connect(other) as connection:
        tables = connection.execute("select name from sqlite_master").fetchall()
    assert tables == [("invoices",)]


def test_db_in_a_missing_folder_or_unreachable_is_one_line(tmp_path, capsys):
    missing = tmp_path / "typo" / "board.db"
    _fails(capsys, ["leaderboard", "add-user", "bob", "--db", f"sqlite:///{missing}"],
           f"the folder {missing.parent} does not exist")
    assert not missing.parent.exists()
    _fails(capsys, ["leaderboard", "add-user", "bob", "--db",
                    "postgresql://nobody@127.0.0.1:1/board"], "--db: cannot open",
           "Connection refused")
