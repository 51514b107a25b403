"""The command line: creating tasks and users, serving, and `cnnlab submit` end to end."""

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request

import pytest
from sqlalchemy import select, text

from cnnlab.cli import main
from cnnlab.leaderboard.client import wait_for_server
from cnnlab.leaderboard.database import open_database, reading


def test_add_task_add_user_and_reveal(tmp_path, capsys):
    db = f"sqlite:///{tmp_path / 'b.db'}"
    assert main(["leaderboard", "add-task", "fm", "--dataset", "fashion-mnist",
                 "--daily-limit", "2", "--db", db]) == 0
    assert "2 submissions a day" in capsys.readouterr().out
    assert main(["leaderboard", "add-user", "Ana Lima", "--db", db]) == 0
    token = capsys.readouterr().out.strip().splitlines()[-1]
    assert token.startswith("cnnlab_") and len(token) >= 40 and " " not in token
    with reading(open_database(db)) as session:  # only the hash is stored
        stored = session.execute(text("select name, token_hash from users")).all()
        dump = str(session.execute(text("select * from users")).all())
    assert stored[0][0] == "Ana Lima" and token not in dump
    assert main(["leaderboard", "reveal", "fm", "--db", db]) == 0
    assert "private half" in capsys.readouterr().out
    for arguments, message in (
            (["add-task", "fm", "--dataset", "mnist"], "exists already"),
            (["add-task", "a b", "--dataset", "mnist"], "task name 'a b'"),
            (["add-task", "t2", "--dataset", "mnist", "--daily-limit", "0"], "--daily-limit"),
            (["add-user", "Ana Lima"], "exists already"),
            (["reveal", "nope"], "no task named 'nope'")):
        assert main(["leaderboard", *arguments, "--db", db]) == 2
        error = capsys.readouterr().err.strip()
        assert message in error and len(error.splitlines()) == 1


def test_submit_stays_light_and_says_when_the_server_is_down(tmp_path):
    model = tmp_path / "m.onnx"
    model.write_bytes(b"x")
    code = ("import sys; from cnnlab.cli import main; "
            "rc = main(['submit', sys.argv[1], '--server', 'http://127.0.0.1:9', "
            "'--token', 't', '--task', 'fm']); "
            "print('torch' in sys.modules, 'numpy' in sys.modules, rc)")
    done = subprocess.run([sys.executable, "-c", code, str(model)], capture_output=True,
                          text=True, timeout=60)
    assert done.stdout.split() == ["False", "False", "1"]
    assert "cannot reach http://127.0.0.1:9" in done.stderr


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def _serving(db: str):
    """`cnnlab leaderboard serve` on a free loopback port, and its worker; both stopped after."""
    port = _free_port()
    server = subprocess.Popen([sys.executable, "-m", "cnnlab", "leaderboard", "serve",
                               "--db", db, "--port", str(port), "--repeats", "1"],
                              env={**os.environ, "PYTHONUNBUFFERED": "1"})
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_server(url)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)
    time.sleep(0.5)  # the worker child follows its parent
    leftover = subprocess.run(["pgrep", "-f", f"leaderboard worker --db {db}"],
                              capture_output=True, text=True)
    assert leftover.stdout.strip() == ""


def _board(tmp_path, capsys) -> tuple[str, str]:
    db = f"sqlite:///{tmp_path / 'b.db'}"
    assert main(["leaderboard", "add-task", "fm", "--dataset", "fashion-mnist", "--db", db]) == 0
    assert main(["leaderboard", "add-user", "alice", "--db", db]) == 0
    return db, capsys.readouterr().out.strip().splitlines()[-1]


def _key(db: str) -> str:
    with reading(open_database(db)) as session:
        return session.execute(text("select key from submissions where id = 1")).scalar()


def _stored(url: str, token: str, key: str) -> dict:
    request = urllib.request.Request(f"{url}/api/submissions/{key}",
                                     headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=5) as answer:
        return json.loads(answer.read())


@pytest.mark.slow
def test_serve_and_submit_end_to_end(tmp_path, trained_onnx, capsys):
    db, token = _board(tmp_path, capsys)
    with _serving(db) as url:
        assert main(["submit", str(trained_onnx), "--server", url, "--token", token,
                     "--task", "fm", "--name", "lenet", "--wait", "--poll", "0.5"]) == 0
        printed = capsys.readouterr().out
        key = _key(db)
        stored = _stored(url, token, key)
        assert f"submission {key}: queued" in printed and f"submission {key}: finished" in printed
        assert f"accuracy {100 * stored['accuracy']:.2f}%" in printed
        assert stored["label"] == "lenet" and stored["params"] == 61706
        assert main(["submit", str(trained_onnx), "--server", url, "--token", "wrong",
                     "--task", "fm"]) == 1
        assert "401" in capsys.readouterr().err


@pytest.mark.slow
def test_a_run_folder_is_exported_under_its_own_contract_and_scores_as_in_torch(
        tmp_path, capsys, monkeypatch):
    """The issue's case: a network trained on plain [0, 1] pixels scored 81.3% in torch and
    41.4% on the leaderboard, because export always normalised. Submitted as its run folder,
    it must score on the server what the torch model scores on the same images."""
    from cnnlab.evaluate.predictors import ModelPredictor, predict_all
    from cnnlab.evaluate.targets import load_target
    from cnnlab.leaderboard.hidden import hidden_split
    from cnnlab.leaderboard.schema import Task
    from tests.test_own_network import NET

    monkeypatch.chdir(tmp_path)
    (tmp_path / "net.py").write_text(NET)
    assert main(["train", "net.py:Net", "--epochs", "2", "--train-size", "4000", "--val-size",
                 "500", "--normalize", "none", "--out", "run"]) == 0
    db, token = _board(tmp_path, capsys)
    with _serving(db) as url:
        assert main(["submit", "run", "--server", url, "--token", token, "--task", "fm",
                     "--wait", "--poll", "0.5"]) == 0
        printed = capsys.readouterr().out
        stored = _stored(url, token, _key(db))
    assert "the model receiving pixels in [0, 1], not normalised" in printed
    assert (tmp_path / "run" / "model.onnx").is_file()

    with reading(open_database(db)) as session:
        seed = session.scalars(select(Task)).one().seed
    images, labels, public, _ = hidden_split("fashion-mnist", seed)
    target = load_target("run")
    logits = predict_all(ModelPredictor(target.build(), target.contract),
                         images[public].astype("float32") / 255)
    in_torch = float((logits.argmax(1) == labels[public]).mean())
    assert in_torch > 0.6
    assert stored["accuracy"] == pytest.approx(in_torch, abs=1.5 / len(public))


def test_the_server_commands_name_the_missing_extra(tmp_path, capsys, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "fastapi" else real(name, *a))
    assert main(["leaderboard", "add-user", "x", "--db", f"sqlite:///{tmp_path / 'b.db'}"]) == 2
    assert capsys.readouterr().err.strip() == (
        "cnnlab leaderboard: the leaderboard needs its extra: pip install "
        "'cnnlab[leaderboard]' (fastapi missing)")
    assert not (tmp_path / "b.db").exists()
