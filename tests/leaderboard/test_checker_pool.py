"""The warm checker pool (issue 36, point 1): real checker processes, killed, paused and
starved of memory for real. A refused file leaves its checker usable; a checker killed mid-check
is replaced and the file checked again; one past the timeout or out of memory is replaced and
the next file checked; a pool whose checkers cannot start refuses uploads with 503 and records
nothing."""

import os
import signal
import threading
import time

import numpy as np
import pytest
from fastapi.testclient import TestClient
from onnx import numpy_helper
from sqlalchemy import func, select

from cnnlab.leaderboard import upload_check
from cnnlab.leaderboard.app import create_app
from cnnlab.leaderboard.checker_pool import CheckerPool, Unavailable
from cnnlab.leaderboard.database import reading
from cnnlab.leaderboard.schema import Submission
from tests.onnx_models import minimal_classifier

MODEL = {"dataset": "fashion-mnist", "max_bytes": 200 * 2**20}
VALID = minimal_classifier().SerializeToString()


def _verdict(result) -> dict:
    import json

    assert result.code == 0, result
    return json.loads(result.stdout)


def _idle_pid(pool: CheckerPool) -> int:
    deadline = time.monotonic() + 120
    while not pool._idle.qsize():
        assert time.monotonic() < deadline, "no checker started"
        time.sleep(0.05)
    return pool._idle.queue[0].process.pid


@pytest.fixture
def pool():
    checkers = CheckerPool(upload_check.CHILD, 1, upload_check.CHECK_MEMORY_MB)
    yield checkers
    checkers.close()


def test_a_refused_file_leaves_its_checker_to_check_the_next(pool):
    pid = _idle_pid(pool)
    assert "does not parse" in _verdict(pool.check(b"not onnx", MODEL, 60))["rejection"]
    forbidden = _verdict(pool.check(b"import torch\n", {"exercise": "conv2d"}, 60))
    assert "imports torch" in forbidden["rejection"]
    accepted = _verdict(pool.check(VALID, MODEL, 60))
    assert accepted["rejection"] is None and len(accepted["fingerprint"]) == 64
    assert _idle_pid(pool) == pid  # the same warm process throughout


def test_a_checker_killed_mid_check_is_replaced_and_the_file_checked_again(monkeypatch, pool):
    monkeypatch.setattr(upload_check, "_pool", pool)
    pid = _idle_pid(pool)
    os.kill(pid, signal.SIGSTOP)  # so that the kill lands while the file is being checked
    verdict = {}
    checking = threading.Thread(target=lambda: verdict.update(
        answer=upload_check.check(VALID, MODEL)))
    checking.start()
    time.sleep(0.5)
    os.kill(pid, signal.SIGKILL)
    checking.join(timeout=120)
    rejection, fingerprint = verdict["answer"]
    assert rejection is None and len(fingerprint) == 64
    assert _idle_pid(pool) != pid


def test_a_checker_past_the_timeout_is_replaced(monkeypatch, pool):
    monkeypatch.setattr(upload_check, "_pool", pool)
    monkeypatch.setattr(upload_check, "CHECK_TIMEOUT_S", 1)
    pid = _idle_pid(pool)
    os.kill(pid, signal.SIGSTOP)  # a check that never ends
    rejection, _ = upload_check.check(VALID, MODEL)
    assert rejection == ("checking the file took longer than 1 s; a network for this course "
                         "is checked in a second or two")
    assert _idle_pid(pool) != pid
    assert upload_check.check(VALID, MODEL)[0] is None


def test_a_checker_out_of_memory_is_replaced_and_the_next_file_checked(monkeypatch):
    """A cap a warm checker fits under (about 180 MB) but a 96 MB file's check does not."""
    starved = CheckerPool(upload_check.CHILD, 1, 320)
    monkeypatch.setattr(upload_check, "_pool", starved)
    monkeypatch.setattr(upload_check, "CHECK_MEMORY_MB", 320)
    try:
        pid = _idle_pid(starved)
        weight = numpy_helper.from_array(np.ones((784, 30_000), np.float32), "weight")
        large = minimal_classifier(classes=30_000, initializers=[weight]).SerializeToString()
        rejection, _ = upload_check.check(large, MODEL)
        assert rejection == ("checking the file needed more than 320 MB of memory; a network "
                             "for this course needs far less")
        assert _idle_pid(starved) != pid
        assert upload_check.check(VALID, MODEL)[0] is None
    finally:
        starved.close()


def test_checkers_that_cannot_start_refuse_uploads_with_503_and_record_nothing(
        monkeypatch, board):
    broken = CheckerPool(upload_check.CHILD, 1, 20)  # 20 MB: no Python interpreter starts under it
    monkeypatch.setattr(upload_check, "_pool", broken)
    try:
        with pytest.raises(Unavailable, match="no checker process can start"):
            broken.check(VALID, MODEL, 60)
        engine, token = board
        http = TestClient(create_app(engine))
        http.headers["Authorization"] = f"Bearer {token}"
        answer = http.post("/api/tasks/fm/submissions", files={"file": ("m.onnx", VALID)})
        assert answer.status_code == 503
        assert answer.json()["detail"].startswith("the leaderboard cannot check uploads now: "
                                                  "no checker process can start")
        with reading(engine) as session:
            assert session.scalar(select(func.count()).select_from(Submission)) == 0
        health = http.get("/healthz")
        assert health.status_code == 503 and health.json()["checkers"]["idle"] == 0
        assert any(problem.startswith("no upload checker can start")
                   for problem in health.json()["problems"])
    finally:
        broken.close()
