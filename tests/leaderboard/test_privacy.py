"""Privacy (issue 15, point 6), on SQLite and PostgreSQL against the real app and in Chromium: a
student signs in on the page with their token (a cookie session; every form carries a CSRF
token), sees all of their own submissions with the reasons of the refused and failed ones,
and nobody else's; submissions are named by random keys, and another student's page or result
answers 404 whether it exists or not; the public rows name no submission; the teacher's admin
page lists everything."""

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from cnnlab.leaderboard import client, submissions
from cnnlab.leaderboard.app import create_app
from cnnlab.leaderboard.database import reading, writing
from cnnlab.leaderboard.schema import KEY, SignedIn, Submission, Task, User, new_key
from cnnlab.leaderboard.signin import SESSION_COOKIE
from cnnlab.leaderboard.tasks import reveal
from cnnlab.leaderboard.users import add_user, reset_token, set_disabled
from cnnlab.leaderboard.worker import Limits, work_once
from tests.browser import chromium_page, loopback
from tests.leaderboard.lookup import key_of, sign_in_page, signed_in
from tests.onnx_models import minimal_classifier

FAST = Limits(repeats=1)


def _send(engine, user: str, data: bytes, label: str) -> str:
    """Submitted as the API does it; the key, or for a refused file the key it is kept by."""
    with reading(engine) as session:
        task = session.scalar(select(Task).where(Task.name == "fm")).id
        owner = session.scalar(select(User).where(User.name == user)).id
    try:
        return key_of(engine, submissions.submit(engine, task, owner, data, label))
    except submissions.Refused as refused:
        return refused.submission_id


@pytest.fixture
def course(board):
    """alice: an evaluated file, a refused one and a failed one; bob: one evaluated file."""
    engine, alice = board
    bob = add_user(engine, "bob")
    teacher = add_user(engine, "Teacher", admin=True)
    keys = {"good": _send(engine, "alice", minimal_classifier().SerializeToString(), "good"),
            "junk": _send(engine, "alice", b"not a model", "junk")}
    nan = np.zeros((784, 10))
    nan[0, 3] = np.nan
    keys["nan"] = _send(engine, "alice", minimal_classifier(weight=nan).SerializeToString(),
                        "nan")
    keys["bob"] = _send(engine, "bob", minimal_classifier(
        weight=np.full(7840, 1e-6)).SerializeToString(), "bob's")
    while work_once(engine, "w", FAST):
        pass
    return engine, {"alice": alice, "bob": bob, "teacher": teacher}, keys


def test_a_student_sees_all_of_their_own_submissions_and_nobody_else_s(course):
    engine, tokens, keys = course
    http = TestClient(create_app(engine))
    assert http.get("/me").status_code == 401  # not signed in
    signed_in(http, tokens["alice"])
    cookie = next(c for c in http.cookies.jar if c.name == SESSION_COOKIE)
    assert cookie.has_nonstandard_attr("HttpOnly") and len(cookie.value) >= 40
    with reading(engine) as session:  # the cookie itself is never stored
        assert cookie.value not in str(session.scalars(select(SignedIn)).all()[0].__dict__)
    page = http.get("/me").text
    rows = page.split('<table id="mine">')[1].split("</table>")[0]
    assert [key in rows for key in keys.values()] == [True, True, True, False]
    assert "rejected" in rows and "the model is not an ONNX model" in rows  # its reason
    assert "failed" in rows and "not finite (NaN or infinity)" in rows  # the child's own line
    assert "exit code" not in rows
    own = http.get(f"/submissions/{keys['good']}")
    assert own.status_code == 200 and "Submission" in own.text
    for others in (keys["bob"], "1", "x" * 22):  # another's, a number, a key nobody has
        answer = http.get(f"/submissions/{others}")
        assert answer.status_code == 404 and "you have no submission" in answer.text


def test_the_api_gives_a_result_to_its_author_and_the_teacher_only(course):
    engine, tokens, keys = course
    http = TestClient(create_app(engine))

    def get(key, who):
        headers = {"Authorization": f"Bearer {tokens[who]}"} if who else {}
        return http.get(f"/api/submissions/{key}", headers=headers)

    assert get(keys["bob"], "bob").json()["label"] == "bob's"
    assert get(keys["bob"], None).status_code == 401
    mine, missing = get(keys["bob"], "alice"), get("A" * 22, "alice")
    assert mine.status_code == missing.status_code == 404
    assert mine.json()["detail"].replace(keys["bob"], "K") == \
        missing.json()["detail"].replace("A" * 22, "K")  # the same answer, exists or not
    teacher = get(keys["bob"], "teacher").json()
    assert teacher["label"] == "bob's" and "copy_of" in teacher
    assert "copy_of" not in get(keys["bob"], "bob").json()  # whose it copies: the teacher's
    rows = http.get("/api/tasks/fm/leaderboard").json()["rows"]
    assert rows and all(not {"submission", "key", "user_id"} & set(row) for row in rows)
    public = http.get("/tasks/fm").text  # the ranking links nobody's page for a stranger
    assert all(key not in public for key in keys.values())
    with reading(engine) as session:
        stored = session.scalars(select(Submission.key)).all()
    assert len(set(stored)) == len(stored) == 4 and all(len(k) == 22 for k in stored)


def test_every_form_needs_its_csrf_token(course):
    engine, tokens, keys = course
    http = TestClient(create_app(engine))
    page = http.get("/signin").text
    csrf = page.split('name="csrf" value="')[1].split('"')[0]
    forged = TestClient(create_app(engine))  # another site's form: no sign-in cookie
    answer = forged.post("/signin", data={"token": tokens["alice"], "csrf": csrf})
    assert answer.status_code == 403 and "security token" in answer.text
    assert http.post("/signin", data={"token": tokens["alice"], "csrf": "guess"}) \
        .status_code == 403
    wrong = http.post("/signin", data={"token": "cnnlab_wrong", "csrf": csrf})
    assert wrong.status_code == 401 and "unknown token" in wrong.text  # the form, saying why
    signed_in(http, tokens["alice"])
    for form in ({"key": keys["good"], "final": "1"},
                 {"key": keys["good"], "final": "1", "csrf": csrf}):  # the sign-in form's
        answer = http.post("/me/final", data=form)
        assert answer.status_code == 403, form
    assert submissions.private_view(engine, keys["good"], _user(engine, "alice"))["final"] \
        is False
    me = http.get("/me").text
    session_csrf = me.split('name="csrf" value="')[1].split('"')[0]
    answer = http.post("/me/final", data={"key": keys["good"], "final": "1",
                                          "csrf": session_csrf}, follow_redirects=False)
    assert answer.status_code == 303
    assert submissions.private_view(engine, keys["good"], _user(engine, "alice"))["final"]
    answer = http.post("/me/final", data={"key": keys["bob"], "final": "1",
                                          "csrf": session_csrf})
    assert answer.status_code == 404  # bob's: not hers to mark
    assert http.post("/signout", data={}).status_code == 403  # signing out is a form too
    assert http.post("/signout", data={"csrf": session_csrf}).status_code == 200
    assert http.get("/me").status_code == 401


def _user(engine, name):
    with reading(engine) as session:
        return session.scalar(select(User).where(User.name == name))


def test_a_session_ends_with_a_reset_token_a_disabled_user_or_its_expiry(course):
    engine, tokens, _ = course
    http = signed_in(TestClient(create_app(engine)), tokens["alice"])
    assert http.get("/me").status_code == 200
    reset_token(engine, "alice")
    assert http.get("/me").status_code == 401
    bob = signed_in(TestClient(create_app(engine)), tokens["bob"])
    set_disabled(engine, "bob", True)
    assert bob.get("/me").status_code == 401
    set_disabled(engine, "bob", False)
    assert bob.get("/me").status_code == 200  # the same token: the session holds again
    with writing(engine) as session:
        for row in session.scalars(select(SignedIn)):
            row.expires_at = row.created_at
    assert bob.get("/me").status_code == 401


def test_the_admin_page_lists_everything_for_the_teacher_only(course):
    engine, tokens, keys = course
    assert signed_in(TestClient(create_app(engine)), tokens["bob"]).get("/admin") \
        .status_code == 403
    assert TestClient(create_app(engine)).get("/admin").status_code == 401
    teacher = signed_in(TestClient(create_app(engine)), tokens["teacher"])
    page = teacher.get("/admin").text
    everything = page.split('<table id="everything">')[1]
    assert all(f"/submissions/{key}" in everything for key in keys.values())
    assert "not finite (NaN or infinity)" in everything and "is not an ONNX model" in everything
    assert "2 refused or failed" in " ".join(page.split())
    assert teacher.get(f"/submissions/{keys['bob']}").status_code == 200


@pytest.mark.browser
@pytest.mark.parametrize("engine", ["sqlite"], indirect=True)
def test_signing_in_marking_final_and_signing_out_in_chromium(course):
    engine, tokens, keys = course
    errors = []
    with loopback(create_app(engine)) as url, chromium_page(errors) as page:
        page.goto(f"{url}/submissions/{keys['good']}")
        assert "sign in with your token" in page.content()
        sign_in_page(page, url, tokens["alice"])
        assert "signed in as alice" in " ".join(page.locator("nav").inner_text().split())
        row = page.locator(f"tr[data-key='{keys['good']}']")
        row.locator("button:has-text('mark final')").click()
        page.wait_for_url("**/me")
        assert page.locator(f"tr[data-key='{keys['good']}'] b").inner_text() == "final"
        assert page.locator(f"tr[data-key='{keys['junk']}'] .reason").inner_text() \
            .startswith("the model is not an ONNX model")
        page.click("text=good")
        page.wait_for_url(f"**/submissions/{keys['good']}")
        assert "Marked final by its author" in page.content()
        page.click("button:has-text('sign out')")
        page.wait_for_url(f"{url}/")
        assert page.locator("#sign-in").count() == 1
        page.goto(f"{url}/me")
        assert "sign in with your token" in page.content()
    # the two pages asked for signed out answered 401, as they should; nothing else went wrong
    assert errors == ["Failed to load resource: the server responded with a status of 401 "
                      "(Unauthorized)"] * 2


PRIVATE_MARKS = ("81.25", "0.8125", "Private half", "4,321", "4321")


def _every_route_a_student_has(engine, url: str, token: str, key: str) -> dict[str, str]:
    """What each route answers a signed-in student about their own submission and the task:
    the pages, the API, the grades (refused) and marking final."""
    http = signed_in(TestClient(create_app(engine)), token)
    bearer = {"Authorization": f"Bearer {token}"}
    answers = {path: http.get(path).text for path in (
        "/", "/tasks/fm", "/tasks/fm?sort=speed", "/me", f"/submissions/{key}")}
    for path in (f"/api/submissions/{key}", "/api/tasks/fm/leaderboard",
                 "/api/tasks/fm/leaderboard?sort=speed", "/api/tasks/fm/grades.csv",
                 "/api/tasks/nope/leaderboard", "/api/submissions/nope"):
        answers[path] = http.get(path, headers=bearer).text
    answers["final"] = http.post(f"/api/submissions/{key}/final", json={"final": True},
                                 headers=bearer).text
    return answers


def test_no_route_shows_a_student_a_private_half_figure_before_reveal(course, tmp_path):
    """Issue 35, point 3: marked figures on the private half (81.25%, 4,321 images) appear in
    no answer to the student before reveal, and on their page after it; reveal closes the
    task, so nobody can probe the private half with new files afterwards."""
    engine, tokens, keys = course
    with writing(engine) as session:
        row = session.scalar(select(Submission).where(Submission.key == keys["good"]))
        private = dict(row.details["private"], top1=0.8125, images=4321)
        private["per_class"] = [dict(private["per_class"][0], precision=0.8125),
                                *private["per_class"][1:]]
        row.details = dict(row.details, private=private)
        row.public_accuracy, row.private_accuracy = 0.7525, 0.8125
    with loopback(create_app(engine)) as url:
        before = _every_route_a_student_has(engine, url, tokens["alice"], keys["good"])
        for route, text in before.items():
            assert not any(mark in text for mark in PRIVATE_MARKS), (route, text[:300])
        assert "75.25%" in before[f"/submissions/{keys['good']}"]  # the public figure is there
        reveal(engine, "fm")  # no closing time was set: reveal closes it now
        after = _every_route_a_student_has(engine, url, tokens["alice"], keys["good"])
        page = after[f"/submissions/{keys['good']}"]
        assert "Private half: 4,321 images" in page and "81.25%" in page
        probe = tmp_path / "probe.onnx"
        probe.write_bytes(minimal_classifier(weight=np.full(7840, 5e-6)).SerializeToString())
        with pytest.raises(client.SubmitError) as refused:
            client.submit(url, tokens["alice"], "fm", probe)
    assert "403: task fm is revealed: its private ranking is out, and it takes no more " \
           "submissions" in str(refused.value)


def test_a_key_never_starts_with_a_dash():
    """It is typed as a command's argument (cnnlab final KEY), where a dash starts an option."""
    keys = [new_key() for _ in range(2000)]  # about 1 in 64 would start with one otherwise
    assert not any(key.startswith("-") for key in keys)
    assert all(KEY.fullmatch(key) and len(key) == 22 for key in keys)
