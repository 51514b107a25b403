"""kill -9 the server and its worker while submissions are queued and running, start again:
every submission ends finished, exactly once."""

import os
import signal
import subprocess
import sys
import time

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from cnnlab.leaderboard.app import create_app
from cnnlab.leaderboard.client import SubmitError, wait_for_server
from cnnlab.leaderboard.database import reading
from tests.leaderboard.test_cli import _free_port

LEASE_S = 6


def _serve(db: str, port: int) -> subprocess.Popen:
    process = subprocess.Popen(
        [sys.executable, "-m", "cnnlab", "leaderboard", "serve", "--db", db, "--port",
         str(port), "--repeats", "1", "--lease", str(LEASE_S)],
        env={**os.environ, "PYTHONUNBUFFERED": "1"}, start_new_session=True)
    try:
        wait_for_server(f"http://127.0.0.1:{port}")
    except SubmitError:
        process.kill()
        raise
    return process


def _statuses(engine) -> list[tuple]:
    with reading(engine) as session:
        return session.execute(text(
            "select id, status, attempts, public_accuracy from submissions order by id")).all()


@pytest.mark.slow
def test_kill_9_while_running_then_restart_finishes_every_submission_once(board, trained_onnx,
                                                                          tmp_path):
    engine, token = board
    db = str(engine.url)
    client = TestClient(create_app(engine))
    model = trained_onnx.read_bytes()
    for index in range(3):
        answer = client.post("/api/tasks/fm/submissions", files={"file": ("m.onnx", model)},
                             data={"name": f"copy {index}"},
                             headers={"Authorization": f"Bearer {token}"})
        assert answer.status_code == 202
    port = _free_port()
    server = _serve(db, port)
    deadline = time.monotonic() + 120
    while not any(status == "running" for _, status, _, _ in _statuses(engine)):
        assert time.monotonic() < deadline, _statuses(engine)
        time.sleep(0.05)
    os.killpg(server.pid, signal.SIGKILL)  # the server, its worker and the evaluation
    server.wait()
    interrupted = [row for row in _statuses(engine) if row[1] == "running"]
    assert len(interrupted) == 1
    time.sleep(1)
    server = _serve(db, _free_port())
    try:
        deadline = time.monotonic() + 240
        while any(status != "finished" for _, status, _, _ in _statuses(engine)):
            assert time.monotonic() < deadline, _statuses(engine)
            assert all(status in ("queued", "running", "finished")
                       for _, status, _, _ in _statuses(engine)), _statuses(engine)
            time.sleep(0.2)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    rows = _statuses(engine)
    assert [status for _, status, _, _ in rows] == ["finished"] * 3
    assert len({accuracy for _, _, _, accuracy in rows}) == 1  # the same file, the same score
    attempts = {submission: tries for submission, _, tries, _ in rows}
    assert attempts[interrupted[0][0]] == 2  # taken again once its lease ran out
    assert sorted(attempts.values()) == [1, 1, 2]
