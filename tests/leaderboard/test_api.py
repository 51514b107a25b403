"""The JSON API: what is accepted, what is refused (and why), and what is never run."""

import asyncio
import io
import pickle
import subprocess
import sys
import zipfile

import numpy as np
import pytest
from fastapi.testclient import TestClient
from onnx import helper
from sqlalchemy import select, text

from cnnlab.leaderboard.app import create_app
from cnnlab.leaderboard.database import reading
from cnnlab.leaderboard.schema import Submission
from cnnlab.leaderboard.upload import FORM_OVERHEAD, UploadRefused, read_upload
from tests.onnx_models import external_weight, minimal_classifier


@pytest.fixture
def client(board):
    engine, token = board
    http = TestClient(create_app(engine))
    http.headers["Authorization"] = f"Bearer {token}"
    return http


def _post(client, data: bytes, label: str | None = None, task: str = "fm"):
    return client.post(f"/api/tasks/{task}/submissions", files={"file": ("m.onnx", data)},
                       data={"name": label} if label is not None else None)


def _bytes(model) -> bytes:
    return model.SerializeToString()


def test_a_valid_file_is_queued_and_its_label_stored_as_given(client, board):
    label = "x'); DROP TABLE users; -- <script>alert(1)</script>"
    answer = _post(client, _bytes(minimal_classifier()), label)
    assert answer.status_code == 202
    key = answer.json()["id"]
    assert answer.json() == {"id": key, "status": "queued", "flagged_copy": False}
    assert len(key) == 22 and key != "1"  # 128 random bits, not a count
    status = client.get(f"/api/submissions/{key}").json()
    assert status["status"] == "queued" and status["label"] == label
    assert status["accuracy"] is None and status["user"] == "alice"
    with reading(board[0]) as session:
        assert session.scalar(text("select count(*) from users")) == 1


def _custom_domain():
    nodes = [helper.make_node("Flatten", ["pixels"], ["flat"]),
             helper.make_node("Gemm", ["flat", "weight"], ["raw"]),
             helper.make_node("Evil", ["raw"], ["logits"], domain="com.evil")]
    return minimal_classifier(nodes=nodes, domain_opsets=["com.evil"])


def _zip_bomb() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("model.onnx", b"\0" * (50 * 2**20))  # 50 MB of zeros, ~50 KB zipped
    return buffer.getvalue()


def _training_info() -> bytes:
    """External data inside training_info, which ONNX Runtime never reads but the file
    carries: anything the checks do not walk is refused."""
    model = minimal_classifier()
    graph = model.training_info.add().initialization
    graph.name = "init"
    graph.initializer.append(external_weight("/etc/passwd"))
    return _bytes(model)


def _raw_data_longer_than_its_shape() -> bytes:
    model = minimal_classifier()
    weight = model.graph.initializer[0]
    weight.ClearField("float_data")
    weight.raw_data = b"\0" * (7840 * 4 + 400)
    return _bytes(model)


HOSTILE = {
    "random bytes": (lambda: np.random.default_rng(0).bytes(5000), "does not parse"),
    "a pickle renamed .onnx": (lambda: pickle.dumps({"weights": [1, 2, 3]}), "does not parse"),
    "a zip bomb": (_zip_bomb, "does not parse"),
    "external data, relative path": (
        lambda: _bytes(minimal_classifier(initializers=[external_weight("../../etc/passwd")])),
        "external data file"),
    "external data, absolute path": (
        lambda: _bytes(minimal_classifier(initializers=[external_weight("/etc/passwd")])),
        "external data file"),
    "a node in a custom domain": (lambda: _bytes(_custom_domain()), "com.evil"),
    "wrong input shape": (
        lambda: _bytes(minimal_classifier(input_shape=("batch", 3, 32, 32))), "input"),
    "wrong output shape": (lambda: _bytes(minimal_classifier(classes=7)), "output"),
    "training_info": (_training_info, "sets training_info, which these checks do not read"),
    "raw data longer than its shape": (
        _raw_data_longer_than_its_shape,
        "tensor 'weight' has 31,760 bytes of data; its shape (784, 10) needs 31,360"),
}


@pytest.mark.parametrize("case", HOSTILE, ids=list(HOSTILE))
def test_hostile_files_are_refused_with_the_reason_and_never_run(case, client, board):
    make, reason = HOSTILE[case]
    answer = _post(client, make())
    assert answer.status_code == 400, answer.text
    body = answer.json()
    assert reason in body["detail"] and body["status"] == "rejected"
    status = client.get(f"/api/submissions/{body['id']}").json()
    assert status["status"] == "rejected" and reason in status["error"]
    with reading(board[0]) as session:  # the refused bytes are not kept
        assert session.scalar(text("select count(*) from model_files")) == 0


def test_the_upload_check_never_loads_onnx_runtime():
    """The child that checks an upload reads the file; nothing in it can run one."""
    code = ("import sys; from cnnlab.leaderboard.upload_check import _model_rejection; "
            "print(_model_rejection(sys.stdin.buffer.read(), 'fashion-mnist', 2**20), "
            "'onnxruntime' in sys.modules, 'torch' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], input=_bytes(minimal_classifier()),
                          capture_output=True, timeout=120)
    assert done.stdout.decode().split() == ["None", "False", "False"], done.stderr


def test_an_oversized_upload_is_cut_at_the_cap(client):
    big = b"\0" * (2 * 2**20)  # the task's cap is 1 MB
    answer = _post(client, big)
    assert answer.status_code == 413
    assert answer.json()["detail"] == "the file is larger than this task's limit of 1 MB"


def test_a_stream_without_a_length_is_read_only_up_to_the_cap():
    """An endless upload with no Content-Length: reading stops just past the cap."""
    consumed = []

    async def endless():
        yield (b"--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"m\"\r\n"
               b"\r\n")
        while True:
            consumed.append(65536)
            yield b"\0" * 65536

    with pytest.raises(UploadRefused) as refused:
        asyncio.run(read_upload("multipart/form-data; boundary=b", None, endless(), 2**20))
    assert refused.value.status == 413
    assert sum(consumed) <= 2**20 + FORM_OVERHEAD + 65536


def test_labels_too_long_and_uploads_without_a_file(client):
    answer = _post(client, _bytes(minimal_classifier()), "x" * 201)
    assert answer.status_code == 400 and "longer than 200 characters" in answer.json()["detail"]
    answer = client.post("/api/tasks/fm/submissions", data={"name": "no file"},
                         files={"other": ("x", b"1")})
    assert answer.status_code == 400 and "no field 'file'" in answer.json()["detail"]
    answer = client.post("/api/tasks/fm/submissions", content=b"raw",
                         headers={"Content-Type": "application/octet-stream"})
    assert answer.status_code == 400 and "multipart/form-data" in answer.json()["detail"]


def test_tokens_tasks_and_ids_that_do_not_exist(client, board):
    token = board[1]
    assert _post(client, b"x", task="nope").status_code == 404
    client.headers["Authorization"] = "Bearer not-a-token"
    answer = _post(client, _bytes(minimal_classifier()))
    assert answer.status_code == 401 and "token" in answer.json()["detail"]
    del client.headers["Authorization"]
    assert _post(client, _bytes(minimal_classifier())).status_code == 401
    assert client.get("/api/submissions/99").status_code == 401  # a result needs a token
    client.headers["Authorization"] = f"Bearer {token}"
    for key in ("1", "2147483648", "99999999999999999999", "0", "-1", "x" * 33, "%00"):
        answer = client.get(f"/api/submissions/{key}")
        assert answer.status_code == 404 and answer.json()["detail"].startswith(
            "you have no submission"), key
    assert client.get("/api/tasks/nope/leaderboard").status_code == 404


def test_the_daily_limit_counts_only_accepted_submissions(client, board):
    for _ in range(2):  # refused files do not count
        assert _post(client, b"junk").status_code == 400
    for index in range(3):
        assert _post(client, _bytes(minimal_classifier()), f"try {index}").status_code == 202
    answer = _post(client, _bytes(minimal_classifier()))
    assert answer.status_code == 429 and "3 submissions per day" in answer.json()["detail"]
    with reading(board[0]) as session:
        statuses = session.scalars(select(Submission.status).order_by(Submission.id)).all()
        assert statuses == ["rejected", "rejected", "queued", "queued", "queued"]
        # the same file three times is stored once
        assert session.scalar(text("select count(*) from model_files")) == 1
