"""`cnnlab runs`: one row per run folder, the settings that differ and nothing else, and
accuracy with the split it was measured on."""

import json
import shutil

from cnnlab.arithmetic.table import format_count
from cnnlab.cli import main
from cnnlab.models.summary import model_table
from cnnlab.runs import folder as layout


def _runs(capsys, *argv) -> list[list[str]]:
    assert main(["runs", *map(str, argv)]) == 0
    lines = capsys.readouterr().out.splitlines()
    return [line.split("  ") for line in lines]


def test_the_table_shows_what_differs_and_where_each_accuracy_comes_from(run_copy, tmp_path,
                                                                         capsys):
    root = tmp_path / "runs"
    root.mkdir()
    first = shutil.move(run_copy, root / "first")
    assert main(["train", "lenet5", "--train-size", "2000", "--val-size", "500", "--epochs",
                 "1", "--batch-size", "64", "--lr", "0.01", "--out", str(root / "second")]) == 0
    assert main(["eval", str(root / "second"), "--no-speed"]) == 0
    unfinished = shutil.copytree(first, root / "third")
    (unfinished / layout.RESULT).unlink()
    config = (unfinished / layout.CONFIG).read_text().replace("epochs = 2", "epochs = 3")
    (unfinished / layout.CONFIG).write_text(config)
    capsys.readouterr()

    assert main(["runs", str(root), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [row["run"].rsplit("/", 1)[1] for row in rows] == ["first", "second", "third"]
    assert all(set(row["settings"]) == {"epochs", "lr"} for row in rows)
    assert [row["settings"]["lr"] for row in rows] == [0.003, 0.01, 0.003]
    assert [row["measured_on"] for row in rows] == ["test", "val",
                                                    "val, epoch 2 of 3 (unfinished)"]
    trained = layout.training_result(first)["test_accuracy"]
    assert rows[0]["accuracy"] == trained
    assert rows[1]["accuracy"] == layout.read_evaluation(root / "second")["accuracy"]["top1"]
    assert rows[2]["accuracy"] == layout.history(first)[-1]["val_acc"]
    table = model_table("lenet5", dataset="fashion-mnist")
    assert all((row["params"], row["macs"]) == (table.params, table.macs) for row in rows)

    assert main(["runs", str(root)]) == 0
    header, rule, *lines = capsys.readouterr().out.splitlines()
    assert header.split() == ["run", "model", "dataset", "epochs", "lr", "accuracy",
                              "measured", "on", "images/s", "(bs", "4)", "params", "MACs"]
    assert set(rule) == {"-", " "} and len(lines) == 3
    assert f"{100 * trained:.2f}%" in lines[0] and "61,706" in lines[0]
    assert format_count(table.macs) in lines[1]


def test_no_run_there_is_one_line(tmp_path, capsys):
    assert main(["runs", str(tmp_path)]) == 2
    assert "no run folder (one with config.toml) in" in capsys.readouterr().err
    assert main(["runs", str(tmp_path / "missing")]) == 2
    assert "is not a folder" in capsys.readouterr().err
