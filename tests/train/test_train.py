"""`cnnlab train` on the real Fashion-MNIST: checkpoints that resume to identical weights,
Ctrl-C, a diverging loss, the configuration file, and the accuracy the recipes reach."""

import json
import os
import signal

import pytest
import torch
from safetensors.torch import load_file

from cnnlab.cli import main
from cnnlab.runs import folder as layout
from cnnlab.runs.config import TrainConfig
from cnnlab.train import loop


def _config(tmp_path, name, **overrides):
    values = dict(model="lenet5", dataset="fashion-mnist", epochs=3, batch_size=64,
                  train_size=320, val_size=200, lr=0.003, out=str(tmp_path / name))
    return TrainConfig(**{**values, **overrides}).validate()


def _quiet(line):
    pass


def _weights(folder):
    return load_file(folder / "model.safetensors")


def _metrics(folder):
    return [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines()]


def _interrupt_at(run, global_step):
    """Press Ctrl-C (a real SIGINT) while training step `global_step` runs."""
    step = run.train_step
    count = [0]

    def pressing(x, y):
        count[0] += 1
        if count[0] == global_step:
            os.kill(os.getpid(), signal.SIGINT)
        return step(x, y)

    run.train_step = pressing


@pytest.mark.parametrize("engine, augment", [("torch", "crop,flip,cutout"), ("scratch", "")])
def test_ctrl_c_then_resume_reaches_the_uninterrupted_weights(tmp_path, engine, augment):
    # dropout and augmentation draw random numbers: their generators must resume too
    config = _config(tmp_path, "straight", engine=engine, augment=augment, dropout=0.3)
    straight = loop.start(config, _quiet)
    assert straight.run() is not None

    interrupted_config = TrainConfig(**{**config.__dict__, "out": str(tmp_path / "cut")})
    run = loop.start(interrupted_config, _quiet)
    _interrupt_at(run, run.steps_per_epoch + 2)  # in the middle of epoch 2
    assert run.run() is None  # stopped cleanly, checkpoint saved
    state = torch.load(tmp_path / "cut" / layout.CHECKPOINT, weights_only=True)
    assert (state["epoch"], state["step"]) == (2, 2)
    assert len(_metrics(tmp_path / "cut")) == 1

    resumed = loop.resume(tmp_path / "cut", report=_quiet)
    assert resumed.run() is not None
    theirs, ours = _weights(tmp_path / "straight"), _weights(tmp_path / "cut")
    assert theirs.keys() == ours.keys()
    assert all(torch.equal(theirs[k], ours[k]) for k in theirs)  # bit for bit
    drop_time = [{k: v for k, v in row.items() if k != "seconds"}
                 for row in _metrics(tmp_path / "straight")]
    assert drop_time == [{k: v for k, v in row.items() if k != "seconds"}
                         for row in _metrics(tmp_path / "cut")]


def test_a_crash_between_epochs_resumes_from_the_last_checkpoint(tmp_path):
    straight = loop.start(_config(tmp_path, "straight"), _quiet)
    straight.run()
    run = loop.start(_config(tmp_path, "cut"), _quiet)
    run.train_epoch(lambda: False)
    run.finish_epoch(0.0)
    run.train_epoch(lambda: run.step >= 3)  # the process dies here: nothing more is saved
    resumed = loop.resume(tmp_path / "cut", report=_quiet)
    assert (resumed.epoch, resumed.step) == (2, 0)
    resumed.run()
    theirs, ours = _weights(tmp_path / "straight"), _weights(tmp_path / "cut")
    assert all(torch.equal(theirs[k], ours[k]) for k in theirs)


def test_a_diverging_loss_names_epoch_and_step_and_keeps_the_last_good_checkpoint(tmp_path):
    run = loop.start(_config(tmp_path, "nan"), _quiet)
    run.train_epoch(lambda: False)
    run.finish_epoch(0.0)
    saved = (tmp_path / "nan" / layout.CHECKPOINT).read_bytes()
    step = run.train_step
    run.train_step = lambda x, y: (float("nan"), 0) if run.step == 2 else step(x, y)
    with pytest.raises(loop.TrainingDiverged, match=r"loss became nan at epoch 2, step 3 .*"
                                                    r"last good checkpoint .*epoch 1"):
        run.run()
    assert (tmp_path / "nan" / layout.CHECKPOINT).read_bytes() == saved


def test_an_absurd_learning_rate_stops_the_run_with_one_line(tmp_path, capsys):
    code = main(["train", "lenet5", "--train-size", "320", "--val-size", "200", "--epochs",
                 "1", "--optimizer", "sgd", "--lr", "1e12", "--schedule", "none", "--out",
                 str(tmp_path / "boom")])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert "loss became" in err and "at epoch 1, step" in err


def test_the_command_writes_a_complete_run_folder(tmp_path, capsys):
    out = tmp_path / "run"
    code = main(["train", "lenet5", "--dataset", "fashion-mnist", "--train-size", "320",
                 "--val-size", "200", "--epochs", "2", "--batch-size", "64", "--out", str(out)])
    printed = capsys.readouterr().out
    assert code == 0
    lines = printed.splitlines()
    assert lines[1] == loop.HEADER and len(lines[2]) == len(loop.HEADER)
    accuracy = float(lines[-1].removeprefix("test accuracy: "))
    assert 0.3 < accuracy < 1.0
    assert sorted(p.name for p in out.iterdir()) == [
        "checkpoint.pt", "config.toml", "digests.json", "metrics.jsonl", "model.safetensors",
        "result.json"]
    rows = _metrics(out)
    assert [row["epoch"] for row in rows] == [1, 2]
    assert set(rows[0]) == {"epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr",
                            "seconds"}
    assert json.loads((out / "result.json").read_text())["test_accuracy"] == accuracy
    assert main(["train", "lenet5", "--out", str(out)]) == 2
    assert "already holds a run; continue it with --resume" in capsys.readouterr().err


def test_without_a_validation_split_the_table_says_so(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "lenet5", "--train-size", "320", "--val-size", "0", "--epochs", "1",
                 "--out", str(out)]) == 0
    line = capsys.readouterr().out.splitlines()[2]
    assert line.split()[3:5] == ["-", "-"] and len(line) == len(loop.HEADER)
    row = json.loads((out / "metrics.jsonl").read_text())  # strict JSON: no NaN
    assert row["val_loss"] is None and row["val_acc"] is None


def test_config_file_then_flags_and_the_saved_config_reads_back(tmp_path, capsys):
    (tmp_path / "run.toml").write_text('model = "lenet5"\nepochs = 1\nlr = 0.01\n'
                                       'train-size = 320\nval_size = 200\n')
    out = tmp_path / "run"
    assert main(["train", "--config", str(tmp_path / "run.toml"), "--lr", "0.002",
                 "--out", str(out)]) == 0
    saved = TrainConfig(**__import__("tomllib").loads((out / "config.toml").read_text()))
    assert (saved.lr, saved.epochs, saved.train_size, saved.model) == (0.002, 1, 320, "lenet5")
    capsys.readouterr()
    (tmp_path / "bad.toml").write_text('model = "lenet5"\nepoch = 3\n')
    assert main(["train", "--config", str(tmp_path / "bad.toml")]) == 2
    assert "unknown key(s) epoch" in capsys.readouterr().err


@pytest.mark.parametrize("argv, message", [
    (["train"], "name a model"),
    (["train", "lenet5", "--epochs", "0"], "epochs must be a positive int"),
    (["train", "lenet5", "--augment", "rotate"], "augment: unknown rotate"),
    (["train", "lenet5", "--nesterov"], "nesterov needs --optimizer sgd"),
    (["train", "lenet5", "--dataset", "fashion-mnist", "--train-size", "70000"],
     "train_size 70000 is more than the 55000 training images"),
    (["train", "nosuchnet"], "unknown model 'nosuchnet'"),
    (["train", "--resume", "/nonexistent/run"], "no checkpoint at /nonexistent/run"),
])
def test_bad_arguments_are_one_line(tmp_path, capsys, argv, message):
    assert main([*argv, "--out", str(tmp_path / "x")] if "--resume" not in argv else argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1, err


@pytest.mark.slow
def test_scratch_engine_one_epoch_reaches_85_percent(tmp_path, capsys):
    """LeNet-5 trained by cnnlab.scratch alone: every gradient from the NumPy engine."""
    assert main(["train", "lenet5", "--engine", "scratch", "--epochs", "1", "--batch-size",
                 "32", "--lr", "0.002", "--schedule", "none", "--out", str(tmp_path)]) == 0
    accuracy = float(capsys.readouterr().out.splitlines()[-1].removeprefix("test accuracy: "))
    assert accuracy >= 0.85


@pytest.mark.slow
def test_the_demo_recipe_reaches_90_percent(tmp_path, capsys):
    """What `make demo` runs: LeNet-5 (torch), 12 epochs of Adam with a one-cycle schedule."""
    assert main(["train", "lenet5", "--dataset", "fashion-mnist", "--epochs", "12",
                 "--out", str(tmp_path)]) == 0
    accuracy = float(capsys.readouterr().out.splitlines()[-1].removeprefix("test accuracy: "))
    assert accuracy >= 0.90


def test_scratch_on_two_threads_trains_half_of_each_batch_in_a_second_process(tmp_path,
                                                                              monkeypatch):
    from cnnlab.models.scratch_engine import ScratchEngine
    from cnnlab.scratch.halves import CAN_FORK, HalfBatch

    if not CAN_FORK:
        pytest.skip("the second process is forked (Linux)")
    nets, on_cores = [], ScratchEngine.on_cores

    def kept(self, model, threads):
        nets.append(on_cores(self, model, threads))
        return nets[-1]

    monkeypatch.setattr(ScratchEngine, "on_cores", kept)
    weights, torch_threads = {}, torch.get_num_threads()
    try:
        for threads in (1, 2):
            run = tmp_path / f"threads{threads}"
            assert main(["train", "lenet5", "--engine", "scratch", "--epochs", "1",
                         "--train-size", "512", "--val-size", "64", "--batch-size", "64",
                         "--optimizer", "sgd", "--lr", "0.05", "--threads", str(threads),
                         "--out", str(run)]) == 0
            weights[threads] = _weights(run)
    finally:
        torch.set_num_threads(torch_threads)
    assert not isinstance(nets[0], HalfBatch)
    assert isinstance(nets[1], HalfBatch) and nets[1].closed  # stopped when training ended
    for name, whole in weights[1].items():  # the same steps, summed in another order
        torch.testing.assert_close(weights[2][name], whole, rtol=1e-4, atol=1e-6)


def test_a_scratch_network_with_batch_norm_saves_weights_it_loads_again(tmp_path, capsys):
    """num_batches_tracked is 0-d: the weights file keeps it 0-d, so eval can load it."""
    (tmp_path / "net.py").write_text(
        "from cnnlab.scratch import nn\n\n\n"
        "def Net(num_classes=10):\n"
        "    return nn.Sequential(nn.Conv2d(1, 4, 3, stride=2), nn.BatchNorm2d(4), nn.ReLU(),\n"
        "                         nn.Flatten(), nn.Linear(4 * 13 * 13, num_classes))\n")
    run = tmp_path / "run"
    assert main(["train", f"{tmp_path / 'net.py'}:Net", "--engine", "scratch", "--epochs", "1",
                 "--train-size", "128", "--val-size", "64", "--out", str(run)]) == 0
    assert _weights(run)["1.num_batches_tracked"].shape == ()
    capsys.readouterr()
    assert main(["eval", str(run), "--split", "val"]) == 0
    assert "accuracy" in capsys.readouterr().out


def test_resume_from_a_damaged_random_state_is_one_line(tmp_path, capsys):
    from cnnlab.runs.checkpoint import load_checkpoint, save_checkpoint

    run = tmp_path / "run"
    assert main(["train", "lenet5", "--epochs", "1", "--train-size", "128", "--val-size", "64",
                 "--out", str(run)]) == 0
    state = load_checkpoint(run / layout.CHECKPOINT)
    state["rng"]["torch"] = torch.zeros(7, dtype=torch.uint8)  # not a generator's state
    save_checkpoint(run / layout.CHECKPOINT, state)
    capsys.readouterr()
    assert main(["train", "--resume", str(run), "--epochs", "2"]) == 2
    err = capsys.readouterr().err
    assert "checkpoint.pt is damaged and cannot be resumed" in err and err.count("\n") == 1


def test_a_crash_between_the_checkpoint_and_its_metrics_line_loses_no_epoch(tmp_path,
                                                                          monkeypatch):
    run = loop.start(_config(tmp_path, "cut"), _quiet)
    run.train_epoch(lambda: False)
    run.finish_epoch(0.0)
    run.train_epoch(lambda: False)

    def crash(folder, row):  # the process dies after epoch 2's checkpoint, before its line
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(layout, "append_history", crash)
        with pytest.raises(KeyboardInterrupt):
            run.finish_epoch(0.0)
    assert [row["epoch"] for row in _metrics(tmp_path / "cut")] == [1]
    resumed = loop.resume(tmp_path / "cut", report=_quiet)
    assert resumed.epoch == 3
    assert [row["epoch"] for row in _metrics(tmp_path / "cut")] == [1, 2]
    resumed.run()
    assert [row["epoch"] for row in _metrics(tmp_path / "cut")] == [1, 2, 3]


@pytest.mark.parametrize("checkpoint_has_history", [True, False])
def test_a_torn_last_metrics_line_is_repaired_on_resume(tmp_path, checkpoint_has_history):
    from cnnlab.runs.checkpoint import load_checkpoint, save_checkpoint

    folder = tmp_path / "torn"
    run = loop.start(_config(tmp_path, "torn"), _quiet)
    run.train_epoch(lambda: False)
    run.finish_epoch(0.0)
    with open(folder / layout.METRICS, "a") as handle:
        handle.write('{"epoch": 2, "train_lo')  # the line a crash was writing
    if not checkpoint_has_history:  # a checkpoint written before the history was kept in it
        state = load_checkpoint(folder / layout.CHECKPOINT)
        del state["history"]
        save_checkpoint(folder / layout.CHECKPOINT, state)
    resumed = loop.resume(folder, report=_quiet)
    assert [row["epoch"] for row in _metrics(folder)] == [1]
    resumed.run()
    assert [row["epoch"] for row in _metrics(folder)] == [1, 2, 3]


def test_garbage_in_a_run_file_is_named(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "lenet5", "--epochs", "1", "--train-size", "128", "--val-size", "64",
                 "--out", str(run)]) == 0
    garbage = bytes(range(128, 256)) * 4
    (run / layout.METRICS).write_bytes(garbage)
    capsys.readouterr()
    assert main(["viz", "curves", str(run), "-o", str(tmp_path / "c.png")]) == 2
    assert "metrics.jsonl: cannot read the training history: it is not UTF-8" in \
        capsys.readouterr().err
    (run / layout.EVALUATION).write_bytes(garbage)
    from cnnlab.runs.folder import read_evaluation

    with pytest.raises(ValueError, match=r"eval\.json: cannot read the evaluation: it is not"):
        read_evaluation(run)
    (run / layout.CONFIG).write_bytes(garbage)
    assert main(["eval", str(run), "--no-speed"]) == 2
    assert "config.toml: not valid TOML: it is not UTF-8 text" in capsys.readouterr().err


def test_extending_a_finished_run_replans_its_schedule_and_says_so(tmp_path, capsys):
    """--resume RUN --epochs N: the schedule re-planned for N epochs goes on from the step the
    run stands at (train/extending.py); config.toml, result.json and the history agree."""
    from cnnlab.train.schedule import learning_rate

    out = tmp_path / "run"
    quick = ["--train-size", "320", "--val-size", "200", "--batch-size", "64"]
    assert main(["train", "lenet5", "--epochs", "2", *quick, "--out", str(out)]) == 0
    assert main(["train", "--resume", str(out)]) == 2
    assert capsys.readouterr().err == (f"cnnlab train: {out} finished at epoch 2; pass "
                                       "--epochs N to go on (N more than 2)\n")
    assert main(["train", "--resume", str(out), "--epochs", "1"]) == 2
    assert "has trained 2 epochs; it cannot end at epoch 1: give at least 2" in \
        capsys.readouterr().err

    assert main(["train", "--resume", str(out), "--epochs", "4"]) == 0
    printed = capsys.readouterr().out
    steps = 5  # 320 images in batches of 64
    last, next_ = learning_rate("onecycle", 0.003, 2 * steps - 1, 2 * steps), \
        learning_rate("onecycle", 0.003, 2 * steps, 4 * steps)
    assert (f"extending the run from 2 to 4 epochs: its onecycle schedule is re-planned for "
            f"4 epochs and goes on from step {2 * steps}, the learning rate {last:.3g} at the "
            f"last step, {next_:.3g} at the next") in printed
    rows = _metrics(out)
    assert [row["epoch"] for row in rows] == [1, 2, 3, 4]
    # each epoch's last rate: the 2-epoch plan for the first two, the 4-epoch one after
    planned = [2, 2, 4, 4]
    assert [row["lr"] for row in rows] == pytest.approx(
        [learning_rate("onecycle", 0.003, epoch * steps - 1, total * steps)
         for epoch, total in zip([1, 2, 3, 4], planned, strict=True)])
    assert layout.read_config(out).epochs == 4
    assert json.loads((out / layout.RESULT).read_text())["epochs"] == 4
