"""Exercise tasks: the leaderboard grades `cnnlab exercise` files itself, on the task's hidden
cases (the same for every file, from a secret seed), and ranks them by score (SQLite and
PostgreSQL; the pages in Chromium too)."""

import json

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from cnnlab.cli import main
from cnnlab.exercises.catalog import CASES_PER_EXERCISE, get_exercise
from cnnlab.leaderboard import submissions
from cnnlab.leaderboard.app import create_app
from cnnlab.leaderboard.database import reading
from cnnlab.leaderboard.schema import Submission
from cnnlab.leaderboard.tasks import SPLIT_SEED, add_task
from cnnlab.leaderboard.users import add_user
from cnnlab.leaderboard.worker import Limits, work_once
from tests.browser import chromium_page, loopback
from tests.exercises.solutions import IGNORES_STRIDE, solved
from tests.leaderboard.lookup import key_of, sign_in_page, signed_in

CONV2D = get_exercise("conv2d").student_file()
FILES = {"alice": solved(CONV2D, "conv2d"), "bob": solved(CONV2D, "conv2d", IGNORES_STRIDE),
         "carol": CONV2D}  # carol's is the stub `start` wrote
LIMITS = Limits(timeout_s=300)


def _upload(client, token, text: str, label: str):
    return client.post("/api/tasks/bp/submissions",
                       files={"file": ("conv2d.py", text.encode())}, data={"name": label},
                       headers={"Authorization": f"Bearer {token}"})


@pytest.fixture
def graded(engine):
    add_task(engine, "bp", None, exercise="conv2d")
    client = TestClient(create_app(engine))
    tokens = {user: add_user(engine, user) for user in FILES}
    for user, text in FILES.items():
        answer = _upload(client, tokens[user], text, f"{user}'s")
        assert answer.status_code == 202, answer.text
    for _ in FILES:
        assert work_once(engine, "w", LIMITS)
    return engine, signed_in(TestClient(create_app(engine)), tokens["bob"])


def test_exercise_files_are_graded_and_ranked_by_score(graded):
    engine, client = graded
    table = submissions.leaderboard_rows(engine, "bp")
    assert table["exercise"] == "conv2d"
    assert [(row["user"], row["rank"]) for row in table["rows"]] == [
        ("alice", 1), ("bob", 2), ("carol", 3)]
    scores = [row["accuracy"] for row in table["rows"]]
    assert scores[0] == 1.0 and 0 < scores[1] < 1 and scores[2] == 0.0
    assert client.get("/api/tasks/bp/leaderboard?sort=speed").status_code == 400
    bob = client.get(f"/submissions/{table['rows'][1]['key']}").text
    assert bob.count("passed") == round(scores[1] * CASES_PER_EXERCISE)
    assert "differs from torch&#39;s by up to" in bob  # the failing cases, with the reason
    assert "exercise: conv2d" in client.get("/tasks/bp").text
    assert "exercise: conv2d" in client.get("/").text


def test_a_wrong_file_sent_again_scores_the_same_on_the_task_s_hidden_cases(engine):
    """Issue 35, point 5: four submissions of one wrong file differing in a comment (the
    issue's lottery gave 40%, 60%, 70%, 40%) get one score and one verdict per case, and the
    seed they come from is on no page."""
    task = add_task(engine, "bp", None, exercise="conv2d")
    assert task.seed != SPLIT_SEED  # the public split seed would let anybody draw the cases
    client = TestClient(create_app(engine))
    token = add_user(engine, "bob")
    wrong = solved(CONV2D, "conv2d", IGNORES_STRIDE)
    for attempt in range(4):
        answer = _upload(client, token, f"{wrong}\n# attempt {attempt}\n", f"try {attempt}")
        assert answer.status_code == 202, answer.text
        assert work_once(engine, "w", LIMITS)
    with reading(engine) as session:
        rows = session.scalars(select(Submission).order_by(Submission.id)).all()
        verdicts = {json.dumps(row.details["cases"]) for row in rows}
        scores = {row.public_accuracy for row in rows}
    assert len(rows) == 4 and len(scores) == 1 and len(verdicts) == 1
    assert 0 < scores.pop() < 1
    page = signed_in(TestClient(create_app(engine)), token).get(f"/submissions/{rows[0].key}")
    assert "the same ones, so sending this one again gives the same score" in \
        " ".join(page.text.split())
    assert str(task.seed) not in page.text and "seed" not in page.text


def test_a_file_that_imports_torch_is_refused_at_upload(engine):
    add_task(engine, "bp", None, exercise="conv2d")
    client = TestClient(create_app(engine))
    token = add_user(engine, "mallory")
    cheat = solved(CONV2D, "conv2d", "    import torch\n    return None\n")
    answer = _upload(client, token, cheat, "autograd")
    assert answer.status_code == 400
    assert "NumPy only" in answer.json()["detail"] and "imports torch" in answer.json()["detail"]
    binary = client.post("/api/tasks/bp/submissions", files={"file": ("m.onnx", b"\xff\xfe")},
                         headers={"Authorization": f"Bearer {token}"})
    assert binary.status_code == 400 and "UTF-8" in binary.json()["detail"]
    assert not work_once(engine, "w", LIMITS)  # nothing was queued


def test_add_task_takes_a_dataset_or_an_exercise(tmp_path, capsys):
    db = ["--db", f"sqlite:///{tmp_path / 'b.db'}"]
    assert main(["leaderboard", "add-task", "bp", "--exercise", "max_pool2d", *db]) == 0
    assert "the max_pool2d exercise" in capsys.readouterr().out
    for extra, message in ((["--exercise", "pooling"], "unknown exercise 'pooling'"),
                           ([], "either --dataset"),
                           (["--exercise", "relu", "--dataset", "mnist"], "not both")):
        assert main(["leaderboard", "add-task", "t2", *extra, *db]) == 2
        assert message in capsys.readouterr().err


@pytest.mark.browser
def test_the_exercise_pages_in_chromium(tmp_path):
    from cnnlab.leaderboard.database import open_database

    engine = open_database(f"sqlite:///{tmp_path / 'board.db'}")
    add_task(engine, "bp", None, exercise="conv2d")
    client = TestClient(create_app(engine))
    tokens = {user: add_user(engine, user) for user in ("alice", "carol")}
    for user, token in tokens.items():
        assert _upload(client, token, FILES[user], f"{user}'s").status_code == 202
        assert work_once(engine, "w", LIMITS)
    errors = []
    with loopback(create_app(engine)) as url, chromium_page(errors) as page:
        sign_in_page(page, url, tokens["carol"])  # her own submission's page is hers
        page.goto(f"{url}/tasks/bp")
        rows = page.locator("#ranking tbody tr")
        assert rows.count() == 2
        assert rows.first.locator("td").nth(1).inner_text() == "alice"
        assert rows.first.locator("td").nth(3).inner_text() == "100.00%"
        page.click("text=carol's")
        page.wait_for_url(f"**/submissions/{key_of(engine, 2)}")
        assert page.locator("table.cases tbody tr").count() == CASES_PER_EXERCISE
        assert "the backward is not written yet" in page.locator("table.cases").inner_text()
    assert errors == []
