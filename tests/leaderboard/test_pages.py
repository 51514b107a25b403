"""The web pages: ranked table, sorting, the scatter's Pareto front, per-submission pages, and
escaping; then the same pages in headless Chromium."""


import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from cnnlab.leaderboard.app import create_app
from cnnlab.leaderboard.database import open_database, writing
from cnnlab.leaderboard.pages import scatter
from cnnlab.leaderboard.schema import Submission, Task
from cnnlab.leaderboard.tasks import add_task, reveal
from cnnlab.leaderboard.users import add_user
from cnnlab.leaderboard.worker import Limits, claim, evaluate_in_child
from tests.browser import chromium_page, loopback
from tests.leaderboard.lookup import key_of, sign_in_page, signed_in
from tests.onnx_models import variant

LABELS = {"alice": "<b>lenet</b>", "bob": "x'); DROP TABLE users;--", "carol": "c",
          "dan": "d"}
FIGURES = {"alice": (0.911, 2.5), "bob": (0.93, 0.3), "carol": (0.88, 4.0),
           "dan": (0.90, 1.0)}  # (public accuracy, x reference); dan is dominated by alice
FLOOR = 0.89  # carol is faster than all, and below it


@pytest.fixture(scope="module")
def site(trained_onnx, tmp_path_factory):
    """Four users' submissions of the trained model (each nudged in one weight, so none is a
    copy), the first evaluated by the worker, the others given its results with distinct
    figures (the ranking needs differences)."""
    engine = open_database(f"sqlite:///{tmp_path_factory.mktemp('site') / 'board.db'}")
    add_task(engine, "fm", "fashion-mnist", min_accuracy=FLOOR)
    client = TestClient(create_app(engine))
    data = trained_onnx.read_bytes()
    tokens = {user: add_user(engine, user) for user in LABELS}
    for number, (user, label) in enumerate(LABELS.items()):
        model = variant(data, number)  # one's own model each: an identical one is a copy
        answer = client.post("/api/tasks/fm/submissions", files={"file": ("m.onnx", model)},
                             data={"name": label},
                             headers={"Authorization": f"Bearer {tokens[user]}"})
        assert answer.status_code == 202
    job = claim(engine, "w", Limits(repeats=1))
    result = evaluate_in_child(job, Limits(repeats=1))
    assert result["status"] == "finished", result
    with writing(engine) as session:
        for number, (accuracy, speed) in enumerate(FIGURES.values(), 1):
            session.execute(update(Submission).where(Submission.id == number).values(
                status="finished", params=result["params"], macs=result["macs"],
                details=result["details"], reference_ratio=speed,
                public_accuracy=accuracy, images_per_s=speed * 10_000,
                private_accuracy=1 - accuracy))
    return engine, signed_in(client, tokens["alice"]), tokens


def _users_in_order(page: str) -> list[str]:
    body = page.split('<table id="ranking">')[1].split("</table>")[0]
    return [row.split("<td>")[1].split("</td>")[0] for row in body.split("<tr>")[2:]]


def test_the_table_ranks_and_sorts_on_either_metric_and_escapes_labels(site):
    _, client, _ = site
    page = client.get("/tasks/fm").text
    assert _users_in_order(page) == ["bob", "alice", "dan", "carol"]
    by_speed = client.get("/tasks/fm?sort=speed").text
    assert _users_in_order(by_speed) == ["alice", "dan", "bob"]  # carol: below the floor
    assert "Speed ranks only submissions at or above 89.00% accuracy (set by the teacher)" \
        in " ".join(by_speed.split())
    assert "&lt;b&gt;lenet&lt;/b&gt;" in page and "<b>lenet</b>" not in page
    assert "x&#39;); DROP TABLE users;--" in page
    assert "61.7K" in page and "417K" in page  # parameters and MACs read from the file
    assert "<script" not in page
    assert client.get("/tasks/fm?sort=name").status_code == 400
    assert client.get("/tasks/nope").status_code == 404
    assert "fm" in client.get("/").text


def test_the_scatter_marks_exactly_the_pareto_front(site):
    _, client, _ = site
    page = client.get("/tasks/fm").text
    assert page.count('<circle class="front"') == 3 and page.count('<circle class="point"') == 1
    rows = [{"accuracy": a, "reference_ratio": s, "user": u} for u, (a, s) in FIGURES.items()]
    plot = scatter(rows, FLOOR)
    front = {p["row"]["user"] for p in plot["points"] if p["front"]}
    assert front == {"alice", "bob", "carol"}
    by_user = {p["row"]["user"]: p for p in plot["points"]}
    assert by_user["bob"]["y"] < by_user["alice"]["y"] < by_user["carol"]["y"]  # up = better
    assert by_user["carol"]["x"] > by_user["alice"]["x"] > by_user["bob"]["x"]  # right = faster
    assert [p["label"]["text"] for p in plot["points"]] == list(FIGURES)  # points are named
    assert by_user["dan"]["y"] < plot["floor"]["y"] < by_user["carol"]["y"]
    long = scatter([{"accuracy": 0.9, "reference_ratio": 1.0, "user": "x" * 60}])
    assert long["points"][0]["label"]["text"] == "x" * 17 + "\u2026"


def test_the_submission_page_shows_the_public_half_until_reveal(site):
    engine, client, _ = site
    alice = key_of(engine, 1)
    page = client.get(f"/submissions/{alice}").text
    assert "Public half: 5,000 images" in page and "Private half" not in page
    assert page.count("<tr><td>") >= 10 + 6  # ten classes, six figures
    assert "Ankle boot" in page and "&lt;b&gt;lenet&lt;/b&gt;" in page
    reveal(engine, "fm")
    try:
        page = client.get(f"/submissions/{alice}").text
        assert "Public half" in page and "Private half: 5,000 images" in page
        assert _users_in_order(client.get("/tasks/fm").text)[0] == "carol"  # private: 0.12
    finally:
        with writing(engine) as session:
            session.execute(update(Task).values(revealed=False))
    assert client.get("/submissions/99").status_code == 404
    assert client.get(f"/submissions/{key_of(engine, 2)}").status_code == 404  # bob's


@pytest.mark.browser
def test_the_pages_in_chromium(site):
    engine, _, tokens = site
    errors = []
    with loopback(create_app(engine)) as url, chromium_page(errors) as page:
        sign_in_page(page, url, tokens["alice"])
        page.goto(f"{url}/tasks/fm")
        assert page.locator("#scatter circle").count() == 4
        assert page.locator("#ranking tbody tr").first.locator("td").nth(1) \
            .inner_text() == "bob"
        frame = page.locator("#scatter").bounding_box()
        texts = page.locator("#scatter text")
        for index in range(texts.count()):  # ticks, names and the floor: inside the figure
            box = texts.nth(index).bounding_box()
            assert frame["x"] <= box["x"] and box["x"] + box["width"] <= \
                frame["x"] + frame["width"], texts.nth(index).text_content()
            assert frame["y"] <= box["y"] and box["y"] + box["height"] <= \
                frame["y"] + frame["height"], texts.nth(index).text_content()
        assert sorted(page.locator("#scatter text.name").all_text_contents()) == \
            sorted(LABELS)
        page.click("text=speed, x reference")
        page.wait_for_url("**sort=speed")
        assert page.locator("#ranking tbody tr").first.locator("td").nth(1) \
            .inner_text() == "alice"
        page.click("text=<b>lenet</b>")  # the label, shown as typed, links to its page
        page.wait_for_url(f"**/submissions/{key_of(engine, 1)}")
        assert page.locator("table.per-class tbody tr").count() == 10
    assert errors == []
