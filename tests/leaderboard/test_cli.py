"""The command line: creating tasks and users, serving, and `cnnlab submit` end to end."""

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request

import pytest
from sqlalchemy import text

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


@pytest.mark.slow
def test_serve_and_submit_end_to_end(tmp_path, trained_onnx, capsys):
    db = f"sqlite:///{tmp_path / 'b.db'}"
    assert main(["leaderboard", "add-task", "fm", "--dataset", "fashion-mnist", "--db", db]) == 0
    assert main(["leaderboard", "add-user", "alice", "--db", db]) == 0
    token = capsys.readouterr().out.strip().splitlines()[-1]
    port = _free_port()
    server = subprocess.Popen([sys.executable, "-m", "cnnlab.cli", "leaderboard", "serve",
                               "--db", db, "--port", str(port), "--repeats", "1"],
                              env={**os.environ, "PYTHONUNBUFFERED": "1"})
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_server(url)
        assert main(["submit", str(trained_onnx), "--server", url, "--token", token,
                     "--task", "fm", "--name", "lenet", "--wait", "--poll", "0.5"]) == 0
        printed = capsys.readouterr().out
        with urllib.request.urlopen(f"{url}/api/submissions/1", timeout=5) as answer:
            stored = json.loads(answer.read())
        assert "submission 1: queued" in printed and "submission 1: finished" in printed
        assert f"accuracy {100 * stored['accuracy']:.2f}%" in printed
        assert stored["label"] == "lenet" and stored["params"] == 61706
        assert main(["submit", str(trained_onnx), "--server", url, "--token", "wrong",
                     "--task", "fm"]) == 1
        assert "401" in capsys.readouterr().err
    finally:
        server.terminate()
        server.wait(timeout=30)
    time.sleep(0.5)  # the worker child follows its parent
    leftover = subprocess.run(["pgrep", "-f", f"leaderboard worker --db {db}"],
                              capture_output=True, text=True)
    assert leftover.stdout.strip() == ""


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
