"""Issue 18: nothing a file, a database lock or a crash does stops the queue, and every fault
is said with its reason. Each test broke the leaderboard before its fix."""

import contextlib
import datetime
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import numpy as np
import pytest
from fastapi.testclient import TestClient
from onnx import TensorProto, helper
from sqlalchemy import select, text, update

from cnnlab.leaderboard import client as submit_client
from cnnlab.leaderboard import submissions, upload_check
from cnnlab.leaderboard.app import create_app
from cnnlab.leaderboard.database import connect, open_database, reading, writing
from cnnlab.leaderboard.schema import Submission, Task, User
from cnnlab.leaderboard.tasks import add_task
from cnnlab.leaderboard.users import add_user
from cnnlab.leaderboard.worker import (
    Claim,
    beat,
    claim,
    evaluate_in_child,
    finish,
    run_worker,
    storable,
    work_once,
)
from tests.browser import loopback
from tests.leaderboard.test_cli import _free_port
from tests.leaderboard.test_worker import FAST, _submit
from tests.onnx_models import minimal_classifier

HONEST = minimal_classifier().SerializeToString()


def _url(engine) -> str:
    return engine.url.render_as_string(hide_password=False)


def _row(engine, submission_id: int) -> Submission:
    with reading(engine) as session:
        return session.get(Submission, submission_id)


# --------------------------------------------------------------- what the worker stores


def test_a_figure_beyond_the_columns_is_dropped_and_said_and_the_worker_goes_on(board):
    """A file made the count 2^80 multiply-adds: the database overflowed, the worker died and
    the submission stayed `running` for ever. Now the figure is left out, and said."""
    engine, _ = board
    first, second = _submit(board, HONEST), _submit(board, HONEST)
    job = claim(engine, "w", FAST)
    result = {"status": "finished", "public_accuracy": 0.5, "private_accuracy": 0.5,
              "images_per_s": 100.0, "reference_ratio": 1.0, "params": 7840,
              "macs": 2**80, "details": {"speed": {"spread": float("nan")},
                                         "note": "nul\x00byte"}}
    assert finish(engine, job, storable(result))
    row = _row(engine, first)
    assert row.status == "finished" and row.macs is None and row.params == 7840
    assert row.details["not_stored"]["macs"] == \
        f"{2**80} is beyond what can be counted (0 to 2^63 - 1)"
    assert row.details["speed"]["spread"] is None and row.details["note"] == "nulbyte"
    assert work_once(engine, "w", FAST)  # the next one is evaluated as usual
    assert _row(engine, second).status == "finished"


def test_the_multiply_adds_come_from_the_graph_not_the_files_claims():
    """A value_info claim the checker lets through (a dimension it cannot infer) does not
    reach the count: the shapes are inferred from the input alone."""
    from cnnlab.evaluate.onnx_cost import multiply_adds

    model = minimal_classifier()
    model.graph.value_info.append(
        helper.make_tensor_value_info("flat", TensorProto.FLOAT, ["batch", 2**40]))
    assert multiply_adds(model.SerializeToString()) == 7840


def test_a_failure_of_the_server_is_said_and_does_not_count(board, tmp_path):
    """CIFAR-10's file was there when the task was made and has gone since (it cannot be
    downloaded on this machine): the task's test set is missing, which is the server's fault,
    not the student's."""
    engine, _ = board
    archive = tmp_path / "cifar-10-python.tar.gz"
    archive.write_bytes(b"")
    add_task(engine, "c10", "cifar10", daily_limit=3, max_mb=1, data_dir=str(tmp_path),
             min_accuracy=0.5)
    archive.unlink()
    with reading(engine) as session:
        task = session.scalar(select(Task).where(Task.name == "c10"))
        alice = session.scalar(select(User).where(User.name == "alice"))
    model = minimal_classifier(input_shape=("batch", 3, 32, 32)).SerializeToString()
    submission = submissions.submit(engine, task.id, alice.id, model, "")
    assert work_once(engine, "w", FAST)
    row = _row(engine, submission)
    assert row.status == "failed" and row.fault == "server"
    assert "cannot load its test set" in row.error and "does not count" in row.error
    with reading(engine) as session:
        assert submissions.counted_today(session, row.task_id, row.user_id) == 0


# ------------------------------------------------------------------------- the daily limit


def test_failed_evaluations_count_against_the_daily_limit(board):
    """Files that run into the timeout (or memory, or an error) are the student's cost: a
    student could otherwise keep the queue busy without end."""
    engine, token = board
    weight = np.zeros((784, 10))
    weight[0, 3] = np.nan
    first = _submit(board, minimal_classifier(weight=weight).SerializeToString())
    assert work_once(engine, "w", FAST)
    assert (_row(engine, first).status, _row(engine, first).fault) == ("failed", "file")
    for _ in range(2):  # two more fail, as a timed-out file does
        _submit(board, HONEST)
        job = claim(engine, "w", FAST)
        assert finish(engine, job, {"status": "failed", "fault": "file",
                                    "error": "the evaluation took longer than 600 s"})
    http = TestClient(create_app(engine))
    answer = http.post("/api/tasks/fm/submissions", files={"file": ("m.onnx", HONEST)},
                       headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 429
    assert "files that failed their evaluation do" in answer.json()["detail"]
    with reading(engine) as session:  # refused before the file was read or checked
        assert session.scalar(text("select count(*) from submissions")) == 3


def test_a_user_has_one_check_at_a_time():
    with upload_check.turn(1):
        with pytest.raises(upload_check.Busy, match="still being checked"), \
                upload_check.turn(1):
            pass
        with upload_check.turn(2):  # somebody else is not kept waiting
            pass
    with upload_check.turn(1):  # and the first user's turn ended with their check
        pass


# ---------------------------------------------------------------------- the database's faults


@contextlib.contextmanager
def _write_lock(engine):
    """Another process's transaction holding the write lock."""
    if engine.dialect.name == "sqlite":
        other = sqlite3.connect(engine.url.database, isolation_level=None)
        other.execute("BEGIN EXCLUSIVE")
        try:
            yield
        finally:
            other.execute("ROLLBACK")
            other.close()
    else:
        import psycopg

        with psycopg.connect(_url(engine).replace("+psycopg", "")) as other:
            other.execute("LOCK TABLE submissions, workers IN EXCLUSIVE MODE")
            yield
            other.rollback()


def test_the_worker_waits_out_a_locked_database_and_uploads_answer_503(board):
    engine, token = board
    impatient = open_database(_url(engine), busy_timeout_ms=200)
    submission = _submit(board, HONEST)
    stop = threading.Event()
    worker = threading.Thread(target=run_worker, args=(impatient, FAST),
                              kwargs={"poll_s": 0.1, "stop": stop.is_set, "name": "w"})
    http = TestClient(create_app(impatient))
    with _write_lock(engine):
        worker.start()
        answer = http.post("/api/tasks/fm/submissions", files={"file": ("m.onnx", HONEST)},
                           headers={"Authorization": f"Bearer {token}"})
        assert answer.status_code == 503 and answer.headers["retry-after"] == "30"
        assert "nothing was saved" in answer.json()["detail"]
        assert http.get("/api/tasks/fm/leaderboard").status_code == 200  # reads go on
        time.sleep(3)  # the worker's tries fail for a while
        assert worker.is_alive()
        assert _row(engine, submission).status == "queued"
    deadline = time.monotonic() + 120
    while _row(engine, submission).status != "finished":
        assert time.monotonic() < deadline and worker.is_alive()
        time.sleep(0.2)
    stop.set()
    worker.join(timeout=60)
    with reading(engine) as session:  # the refused upload left no row
        assert session.scalar(text("select count(*) from submissions")) == 1


def _read_only_engine(engine):
    """A second engine on the same database that cannot write: SQLite opened read-only,
    PostgreSQL with read-only transactions (a standby, or an operator's switch)."""
    if engine.dialect.name == "sqlite":
        return connect(f"sqlite:///file:{engine.url.database}?mode=ro&uri=true")
    with engine.connect() as connection:
        connection.exec_driver_sql(f'ALTER DATABASE "{engine.url.database}" SET '
                                   "default_transaction_read_only = on")
        connection.commit()
    return connect(_url(engine))


def test_a_read_only_database_answers_503_and_the_server_keeps_serving(board):
    engine, token = board
    http = TestClient(create_app(_read_only_engine(engine)))
    answer = http.post("/api/tasks/fm/submissions", files={"file": ("m.onnx", HONEST)},
                       headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 503 and answer.headers["retry-after"] == "30"
    assert any(reason in answer.json()["detail"] for reason in (
        "attempt to write a readonly database", "in a read-only transaction"))
    assert http.get("/api/tasks/fm/leaderboard").status_code == 200
    assert http.get("/tasks/fm").status_code == 200
    with reading(engine) as session:
        assert session.scalar(text("select count(*) from submissions")) == 0


def test_the_workers_own_trouble_fails_that_submission_alone(board, tmp_path, monkeypatch):
    """A worker that cannot make its temporary folder (a full or missing disk) fails the
    submission as the server's fault, not counted, and goes on to the next."""
    import tempfile

    engine, _ = board
    first = _submit(board, HONEST)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "gone"))
    assert work_once(engine, "w", FAST)
    row = _row(engine, first)
    assert (row.status, row.fault) == ("failed", "server")
    assert row.error.startswith("the leaderboard could not evaluate this file "
                                "(FileNotFoundError: ")
    assert "does not count against your daily limit" in row.error
    monkeypatch.undo()
    second = _submit(board, HONEST)
    assert work_once(engine, "w", FAST) and _row(engine, second).status == "finished"


@contextlib.contextmanager
def _read_only(path):
    """`path` made read-only for whoever runs the tests: root writes whatever the mode, but
    not an immutable file (chattr +i)."""
    if os.geteuid() != 0:
        mode = path.stat().st_mode
        path.chmod(0o555 if path.is_dir() else 0o444)
        try:
            yield
        finally:
            path.chmod(mode)
        return
    made = subprocess.run(["chattr", "+i", str(path)], capture_output=True, text=True)
    if made.returncode:
        pytest.skip(f"cannot make a file read-only for root here: {made.stderr.strip()}")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=True)


@pytest.mark.parametrize("what", ["file", "folder"])
def test_serve_refuses_to_start_on_a_read_only_database_with_the_reason(what, tmp_path):
    path = tmp_path / "board.db"
    open_database(f"sqlite:///{path}")
    command = [sys.executable, "-m", "cnnlab", "leaderboard", "serve", "--db",
               f"sqlite:///{path}", "--port", str(_free_port())]
    with _read_only(path if what == "file" else tmp_path):
        done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    expected = {"file": f"{path} is read-only; the leaderboard writes to its database (give "
                        "it write permission, or a copy that is writable)",
                "folder": f"the folder {tmp_path} is read-only; SQLite writes its journal "
                          "beside the database, so the folder must be writable too"}[what]
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines() == [f"cnnlab leaderboard: --db: {expected}"]


# ----------------------------------------------------------------------------- the uploads


def _chain(nodes: int, extra_identities: int = 0) -> bytes:
    """A valid classifier with `nodes` Identity nodes between Flatten and Gemm (and, when
    asked, that many more Identity nodes appended, which only a count would notice)."""
    chain = [helper.make_node("Flatten", ["pixels"], ["v0"])]
    chain += [helper.make_node("Identity", [f"v{i}"], [f"v{i + 1}"]) for i in range(nodes)]
    chain.append(helper.make_node("Gemm", [f"v{nodes}", "weight"], ["logits"]))
    model = minimal_classifier(nodes=chain)
    model.graph.node.extend([helper.make_node("Identity", ["v0"], ["v0"])] * extra_identities)
    return model.SerializeToString()


def test_uploads_are_checked_in_a_child_while_the_server_keeps_answering(tmp_path):
    engine = open_database(f"sqlite:///{tmp_path / 'board.db'}")
    add_task(engine, "big", "fashion-mnist", daily_limit=10, max_mb=30)
    tokens = {"huge": add_user(engine, "alice"), "valid": add_user(engine, "bob")}
    huge, valid = _chain(1, extra_identities=1_000_000), _chain(15_000)  # 23 MiB, 0.5 MiB
    with loopback(create_app(engine)) as url:
        answers, latencies = {}, []

        def upload(name, data):
            path = tmp_path / f"{name}.onnx"
            path.write_bytes(data)
            try:
                answers[name] = submit_client.submit(url, tokens[name], "big", path)
            except submit_client.SubmitError as error:
                answers[name] = str(error)

        # a warm checker takes milliseconds: paused for a second, its checks take a while
        checkers = upload_check.pool()
        while checkers.state()["idle"] < checkers.size:
            time.sleep(0.05)
        paused = [checker.process.pid for checker in list(checkers._idle.queue)]
        for pid in paused:
            os.kill(pid, signal.SIGSTOP)
        uploads = [threading.Thread(target=upload, args=item)
                   for item in (("huge", huge), ("valid", valid))]
        for thread in uploads:
            thread.start()
        resume_at = time.monotonic() + 1.0
        while any(thread.is_alive() for thread in uploads):
            if paused and time.monotonic() > resume_at:
                for pid in paused:
                    os.kill(pid, signal.SIGCONT)
                paused = []
            started = time.monotonic()
            with contextlib.suppress(urllib.error.HTTPError):  # 503: no worker here
                urllib.request.urlopen(f"{url}/healthz", timeout=10).close()
            latencies.append(time.monotonic() - started)
            time.sleep(0.02)
    assert "more than 20,000 nodes in its graph" in answers["huge"]
    assert answers["valid"]["status"] == "queued"
    assert len(latencies) >= 10  # the checks took a while: each in a child...
    assert max(latencies) < 1.0, latencies  # ...and the server answered all along


def test_an_oversized_upload_hears_413_not_a_reset(board, tmp_path):
    engine, token = board
    model = tmp_path / "big.onnx"
    model.write_bytes(os.urandom(30 * 2**20))  # the task's cap is 1 MB
    with loopback(create_app(engine)) as url:
        with pytest.raises(submit_client.SubmitError) as refused:
            submit_client.submit(url, token, "fm", model)
        assert str(refused.value) == \
            "the server answered 413: the file is larger than this task's limit of 1 MB"
        model.write_bytes(HONEST)
        assert submit_client.submit(url, token, "fm", model)["status"] == "queued"


# ------------------------------------------------------------------- the evaluation's reasons


def _claim(data: bytes) -> Claim:
    return Claim(submission_id=1, attempt=1, worker="w", dataset="fashion-mnist", seed=0,
                 max_bytes=2**20, data=data)


def _gemm_after(extra_nodes, extra_initializers):
    weight = helper.make_tensor("weight", TensorProto.FLOAT, [784, 10], np.zeros(7840))
    nodes = [helper.make_node("Flatten", ["pixels"], ["flat"]), *extra_nodes,
             helper.make_node("Gemm", ["flat2", "weight"], ["logits"])]
    return minimal_classifier(nodes=nodes, initializers=[weight, *extra_initializers])


def _out_of_range_gather():
    indices = helper.make_tensor("i", TensorProto.INT64, [784], np.arange(784) + 10**6)
    return _gemm_after([helper.make_node("Gather", ["flat", "i"], ["flat2"], axis=1)],
                       [indices])


def _scatter_far_away():
    index = helper.make_tensor("i", TensorProto.INT64, [1, 1], [10**6])
    value = helper.make_tensor("u", TensorProto.FLOAT, [1, 1], [1.0])
    return _gemm_after([helper.make_node("ScatterElements", ["flat", "i", "u"], ["flat2"],
                                         axis=1)], [index, value])


def _huge_sparse_constant():
    sparse = helper.make_sparse_tensor(helper.make_tensor("v", TensorProto.FLOAT, [1], [1.0]),
                                       helper.make_tensor("i", TensorProto.INT64, [1], [0]),
                                       [2**31])
    return _gemm_after([helper.make_node("Constant", [], ["big"], sparse_value=sparse),
                        helper.make_node("Identity", ["flat"], ["flat2"])], [])


@pytest.mark.parametrize(("model", "reason"), [
    (_out_of_range_gather, "Gather node. Name:'' Status Message: indices element out of data "
                           "bounds, idx=1000000 must be within the inclusive range [-784,783]"),
    (_scatter_far_away, "ScatterElements node. Name:'' Status Message: indices element out "
                        "of data bounds, idx=1000000"),
    (_huge_sparse_constant, "Sparse tensor: v dense data size of 8589934592 bytes exceeds "
                            "the 2147483648 byte limit for embedded initializer data."),
])
def test_a_failed_evaluation_keeps_the_reason(model, reason):
    result = evaluate_in_child(_claim(model().SerializeToString()), FAST)
    assert result["status"] == "failed" and result["fault"] == "file"
    assert result["error"].startswith("ONNX Runtime could not run the model: ")
    assert reason in result["error"]
    assert "/tmp" not in result["error"] and "[ONNXRuntimeError]" not in result["error"]


# ------------------------------------------------------------------------ the worker's life


def _health(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(f"{url}/healthz", timeout=10) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def _wait_for(condition, seconds: float, what: str):
    deadline = time.monotonic() + seconds
    while True:
        value = condition()
        if value:
            return value
        assert time.monotonic() < deadline, what
        time.sleep(0.2)


@pytest.mark.slow
def test_a_killed_worker_is_replaced_and_healthz_says_so_meanwhile(board, tmp_path):
    engine, token = board
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [sys.executable, "-m", "cnnlab", "leaderboard", "serve", "--db", _url(engine),
         "--port", str(port), "--repeats", "1", "--lease", "6"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        start_new_session=True)
    try:
        submit_client.wait_for_server(url, 60)
        _, body = _wait_for(lambda: (h := _health(url))[0] == 200 and h, 60,
                            "the first worker never reported")
        assert body["queue"] == {"waiting": 0, "running": 0, "oldest_waiting_s": None}
        first = body["workers"][0]["name"]
        os.kill(int(first.rsplit(":", 1)[1]), signal.SIGKILL)
        # The dead worker stops reporting: /healthz says no worker, until its replacement
        # reports.
        _wait_for(lambda: _health(url)[0] == 503 or
                  any(w["alive"] and w["name"] != first for w in _health(url)[1]["workers"]),
                  60, "the dead worker was reported alive")
        _, body = _wait_for(
            lambda: (h := _health(url))[0] == 200 and
            any(w["alive"] and w["name"] != first for w in h[1]["workers"]) and h,
            90, "no new worker")
        model = tmp_path / "m.onnx"
        model.write_bytes(HONEST)
        answer = submit_client.submit(url, token, "fm", model)
        assert submit_client.wait(url, token, answer["id"], 0.5, 180)["status"] == "finished"
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        _, errors = server.communicate(timeout=60)
    assert f"the worker (pid {first.rsplit(':', 1)[1]}) was killed by SIGKILL" in errors


def test_healthz_reports_the_queue_and_the_workers(board):
    engine, _ = board
    http = TestClient(create_app(engine))
    answer = http.get("/healthz")
    assert answer.status_code == 503 and answer.json()["status"] == "unavailable"
    assert "no verification worker has reported" in answer.json()["problems"][0]
    first = _submit(board, HONEST)
    with writing(engine) as session:
        session.execute(update(Submission).where(Submission.id == first).values(
            created_at=datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=5)))
    _submit(board, HONEST)
    beat(engine, "host:1", first)
    body = http.get("/healthz").json()
    assert body["status"] == "ok" and body["problems"] == []
    assert body["workers"][0]["name"] == "host:1" and body["workers"][0]["evaluating"] == first
    assert body["queue"]["waiting"] == 2 and 299 < body["queue"]["oldest_waiting_s"] < 400
