"""A course's roster and its grades (issue 15, points 5 and 8), on SQLite and PostgreSQL:
importing a roster twice gives the same users and no new token, two students may share a
name, a reset token stops the old one, a disabled user is refused and unranked, an admin
token opens the grades CSV (the export's rows are the page's ranking) and a student's does
not."""

import csv
import io
import os
import urllib.error
import urllib.request

import pytest
from sqlalchemy import select

from cnnlab.cli import main
from cnnlab.leaderboard import client
from cnnlab.leaderboard.app import create_app
from cnnlab.leaderboard.database import reading, writing
from cnnlab.leaderboard.grades import grades_csv
from cnnlab.leaderboard.refusals import Refused
from cnnlab.leaderboard.roster import import_roster, read_roster
from cnnlab.leaderboard.schema import Submission, Task, User
from cnnlab.leaderboard.submissions import leaderboard_rows
from cnnlab.leaderboard.tasks import add_task, reveal
from cnnlab.leaderboard.users import add_user, caller, list_users, reset_token, set_disabled
from tests.browser import loopback

ROSTER = "student_id,name,email\nS1,Ana Lima,ana@uni.edu\nS2,Ben Ode,\nS3,Ana Lima,al2@uni.edu\n"


def _roster(tmp_path, text=ROSTER, name="roster.csv", encoding="utf-8"):
    path = tmp_path / name
    path.write_text(text, encoding=encoding)
    return str(path)


def _tokens(path) -> dict[str, str]:
    with open(path, newline="", encoding="utf-8") as file:
        return {row["student_id"]: row["token"] for row in csv.DictReader(file)}


def _signed_in(engine, token):
    with reading(engine) as session:
        return caller(session, token).student_id


def test_importing_a_roster_twice_gives_the_same_users_and_tokens(engine, tmp_path):
    roster = read_roster(_roster(tmp_path))
    first = import_roster(engine, roster, str(tmp_path / "tokens.csv"))
    assert [(r.student.student_id, r.action) for r in first] == \
        [("S1", "created"), ("S2", "created"), ("S3", "created")]
    tokens = _tokens(tmp_path / "tokens.csv")
    assert oct(os.stat(tmp_path / "tokens.csv").st_mode & 0o777) == "0o600"
    assert {sid: _signed_in(engine, token) for sid, token in tokens.items()} == \
        {"S1": "S1", "S2": "S2", "S3": "S3"}  # two Ana Limas, each their own user
    again = import_roster(engine, roster, str(tmp_path / "tokens2.csv"))
    assert [r.action for r in again] == ["unchanged"] * 3
    assert not (tmp_path / "tokens2.csv").exists()  # nobody new: no file
    users = list_users(engine)
    assert [(u["student_id"], u["name"], u["email"]) for u in users] == \
        [("S1", "Ana Lima", "ana@uni.edu"), ("S2", "Ben Ode", None),
         ("S3", "Ana Lima", "al2@uni.edu")]
    assert all(_signed_in(engine, token) == sid for sid, token in tokens.items())
    # a corrected roster: one name fixed, one student added
    fixed = ROSTER.replace("Ben Ode,", "Ben Odé,") + "S4,Cy Wu,cy@uni.edu\n"
    third = import_roster(engine, read_roster(_roster(tmp_path, fixed, "r2.csv")),
                          str(tmp_path / "tokens3.csv"))
    assert [r.action for r in third] == ["unchanged", "updated", "unchanged", "created"]
    assert list(_tokens(tmp_path / "tokens3.csv")) == ["S4"]
    assert [u["name"] for u in list_users(engine)] == ["Ana Lima", "Ben Odé", "Ana Lima",
                                                       "Cy Wu"]


def test_an_import_that_cannot_keep_its_tokens_creates_nobody(engine, tmp_path):
    roster = read_roster(_roster(tmp_path))
    (tmp_path / "tokens.csv").write_text("earlier tokens\n")
    with pytest.raises(ValueError, match=r"tokens\.csv exists already: it may hold the tokens"):
        import_roster(engine, roster, str(tmp_path / "tokens.csv"))
    (tmp_path / ".new.csv.partial").write_text("student_id,name,email,token\n")
    with pytest.raises(ValueError, match="left from an interrupted import"):
        import_roster(engine, roster, str(tmp_path / "new.csv"))
    assert list_users(engine) == []
    assert (tmp_path / "tokens.csv").read_text() == "earlier tokens\n"


@pytest.mark.parametrize("engine", ["sqlite"], indirect=True)
def test_rosters_as_school_systems_write_them(engine, tmp_path):
    excel = "\ufeffStudent ID;Full Name;E-mail;Programme\r\n42;Zoë Brandt;zb@uni.edu;CS\r\n" \
            "43;Li Wei;;CS\r\n;;;\r\n"
    students = read_roster(_roster(tmp_path, excel, "excel.csv"))
    assert [(s.student_id, s.name, s.email, s.line) for s in students] == \
        [("42", "Zoë Brandt", "zb@uni.edu", 2), ("43", "Li Wei", None, 3)]
    tabs = read_roster(_roster(tmp_path, "name\tid\nMo Sa\tx9\n", "tabs.csv"))
    assert [(s.student_id, s.name) for s in tabs] == [("x9", "Mo Sa")]


@pytest.mark.parametrize("engine", ["sqlite"], indirect=True)
def test_a_malformed_roster_is_refused_whole_with_every_line_at_fault(engine, tmp_path):
    bad = ("student_id,name,email\nS1,Ana,ana@uni.edu\n,Nobody,\nS3,,x@y.z\n"
           "S1,Ana again,\nS5,Eve,not-an-address\n")
    with pytest.raises(ValueError) as error:
        read_roster(_roster(tmp_path, bad))
    assert str(error.value) == (
        f"roster {tmp_path / 'roster.csv'}: nothing imported; line 3: student id '': use 1 to "
        "100 printable characters; line 4: user name '': use 1 to 100 printable characters; "
        "line 5: student id 'S1' is on line 2 too; line 6: email 'not-an-address' is not an "
        "address (expected name@host.domain)")
    for text, message in (("name,email\nAna,a@b.c\n", "missing: student_id"),
                          ("", "the file is empty"),
                          ("1,Ana\n2,Bo\n", "its first line must name the columns; found '1', "
                                            "'Ana'"),
                          ("student_id,name\n", "no student in it")):
        with pytest.raises(ValueError, match=message):
            read_roster(_roster(tmp_path, text, "r.csv"))
    latin = _roster(tmp_path, "student_id,name\n1,Zoë\n", "latin.csv", encoding="latin-1")
    with pytest.raises(ValueError, match=r"not UTF-8 text .*save it as CSV UTF-8"):
        read_roster(latin)
    with pytest.raises(ValueError, match="no such file"):
        read_roster(str(tmp_path / "missing.csv"))
    assert list_users(engine) == []


def test_a_reset_token_stops_the_old_one_and_a_disabled_user_is_refused(board, tmp_path):
    engine, alice = board
    model = tmp_path / "m.onnx"
    model.write_bytes(b"not onnx")  # refused at upload, after the token is accepted
    with loopback(create_app(engine)) as url:
        with pytest.raises(client.SubmitError, match="400"):
            client.submit(url, alice, "fm", model)
        user, new = reset_token(engine, "alice")
        with pytest.raises(client.SubmitError, match="401: missing or unknown token"):
            client.submit(url, alice, "fm", model)
        with pytest.raises(client.SubmitError, match="400"):
            client.submit(url, new, "fm", model)
        set_disabled(engine, "alice", True)
        with pytest.raises(client.SubmitError, match="403: this account is disabled"):
            client.submit(url, new, "fm", model)
        set_disabled(engine, f"#{user.id}", False)
        with pytest.raises(client.SubmitError, match="400"):
            client.submit(url, new, "fm", model)


def test_users_are_named_by_student_id_a_unique_name_or_their_number(engine):
    add_user(engine, "Ana Lima", student_id="S1")
    add_user(engine, "Ana Lima", student_id="S2")
    add_user(engine, "Bo")
    with pytest.raises(ValueError, match="a user with student id 'S1' exists already"):
        add_user(engine, "Someone", student_id="S1")
    with pytest.raises(ValueError, match="a user named 'Bo' exists already; give --student-id"):
        add_user(engine, "Bo")
    assert set_disabled(engine, "S2", True).student_id == "S2"
    assert set_disabled(engine, "Bo", True).name == "Bo"
    with pytest.raises(ValueError, match=r"2 users are named 'Ana Lima': #\d+ \(student id S1\)"
                                         r", #\d+ \(student id S2\)"):
        reset_token(engine, "Ana Lima")
    for reference in ("nobody", "#999"):
        with pytest.raises(ValueError, match="list-users shows them"):
            reset_token(engine, reference)


def _finished(engine, user_id, public, private, speed, final=False,
              copies: str | None = None) -> str:
    """A finished submission as the worker leaves one (the ranking and grades read these
    columns; the evaluation itself is tested in test_worker), flagged as a copy of the
    submission whose key is `copies`; its key."""
    with writing(engine) as session:
        task = session.scalar(select(Task).where(Task.name == "fm"))
        original = session.scalar(select(Submission.id).where(Submission.key == copies)) \
            if copies else None
        row = Submission(task_id=task.id, user_id=user_id, label="", size=1, status="finished",
                         attempts=1, public_accuracy=public, private_accuracy=private,
                         images_per_s=speed, reference_ratio=speed / 1000, final=final,
                         copy_of=original)
        session.add(row)
        session.flush()
        return row.key


def test_the_grades_csv_is_the_page_s_ranking_and_only_an_admin_reads_it(board, tmp_path,
                                                                       capsys):
    engine, alice = board
    roster = "student_id,name,email\nS1,Ana Lima,a@u.edu\nS2,Ana Lima,b@u.edu\nS3,Cy,\nS4,Di,\n"
    import_roster(engine, read_roster(_roster(tmp_path, roster)), str(tmp_path / "t.csv"))
    teacher = add_user(engine, "Teacher", admin=True)
    with reading(engine) as session:
        ids = {u.student_id or u.name: u.id for u in session.scalars(select(User))}
    s1_first = _finished(engine, ids["S1"], 0.90, 0.88, 900.0)
    s1_fast = _finished(engine, ids["S1"], 0.80, 0.95, 2000.0, final=True)
    s2 = _finished(engine, ids["S2"], 0.92, 0.70, 1500.0)
    # S2's copy of S1's model, marked final: neither ranked nor counted among her finals
    s2_copy = _finished(engine, ids["S2"], 0.90, 0.88, 900.0, final=True, copies=s1_first)
    _finished(engine, ids["S3"], 0.95, 0.95, 3000.0)
    _finished(engine, ids["alice"], 0.99, 0.99, 5000.0)  # added by name, no student id
    _finished(engine, ids["Teacher"], 1.0, 1.0, 9000.0)  # an admin is never ranked
    set_disabled(engine, "S3", True)  # nor a disabled student
    db = engine.url.render_as_string(hide_password=False)
    for revealed in (False, True):
        if revealed:
            reveal(engine, "fm")
        page = {r["key"]: r for r in leaderboard_rows(engine, "fm")["rows"]}
        speed = {r["key"]: r for r in leaderboard_rows(engine, "fm", "speed")["rows"]}
        rows = list(csv.DictReader(io.StringIO(grades_csv(engine, "fm"))))
        assert [r["student_id"] for r in rows] == ["S1", "S2", "S3", "S4", ""]
        for row in rows:
            if not row["accuracy_rank"]:
                continue
            shown = page[row["submission"]]
            assert int(row["accuracy_rank"]) == shown["rank"]
            assert row["accuracy_pct"] == f"{100 * shown['accuracy']:.2f}"
            assert row["name"] == shown["user"]
            if row["speed_submission"]:  # ranked by speed: at or above the floor (91.13%)
                assert int(speed[row["speed_submission"]]["rank"]) == \
                    int(row["speed_rank"])
            assert bool(row["speed_rank"]) == (float(row["accuracy_pct"]) >= 91.13)
        by_id = {r["student_id"]: r for r in rows}
        assert by_id["S3"]["state"] == "disabled" and by_id["S3"]["accuracy_rank"] == ""
        assert by_id["S4"]["submissions"] == "0" and by_id["S4"]["accuracy_rank"] == ""
        assert (by_id["S1"]["finals"], by_id["S1"]["flagged_copies"]) == (s1_fast, "")
        assert (by_id["S2"]["finals"], by_id["S2"]["flagged_copies"]) == ("", s2_copy)
        assert by_id["S2"]["submissions"] == "2" and by_id["S2"]["submission"] == s2
        assert len(page) == 3  # alice, S1, S2: not the admin, not the disabled S3
    # after reveal: S1 is ranked by the final she marked (private 0.95), S2 by her best public
    assert (by_id["S1"]["submission"], by_id["S1"]["accuracy_pct"],
            by_id["S1"]["public_accuracy_pct"]) == (s1_fast, "95.00", "80.00")
    assert (by_id["S2"]["submission"], by_id["S2"]["accuracy_pct"]) == (s2, "70.00")
    output = tmp_path / "results.csv"
    assert main(["leaderboard", "export", "fm", "-o", str(output), "--db", db]) == 0
    assert "5 students of task fm" in capsys.readouterr().out
    assert output.read_text() == grades_csv(engine, "fm")
    with loopback(create_app(engine)) as url:
        request = urllib.request.Request(f"{url}/api/tasks/fm/grades.csv",
                                         headers={"Authorization": f"Bearer {teacher}"})
        with urllib.request.urlopen(request, timeout=30) as response:
            assert response.headers["Content-Type"].startswith("text/csv")
            assert response.read().decode() == output.read_text()
        for token, status in ((None, 401), (alice, 403)):
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            with pytest.raises(urllib.error.HTTPError) as refused:
                urllib.request.urlopen(urllib.request.Request(
                    f"{url}/api/tasks/fm/grades.csv", headers=headers), timeout=30)
            assert refused.value.code == status


def test_a_teacher_s_roster_commands(engine, tmp_path, capsys):
    db = engine.url.render_as_string(hide_password=False)
    add_task(engine, "fm", "fashion-mnist")
    roster = _roster(tmp_path)
    tokens = tmp_path / "tokens.csv"
    assert main(["leaderboard", "add-users", roster, "--tokens", str(tokens), "--db", db]) == 0
    out = capsys.readouterr().out
    assert "3 students; 3 created, 0 updated (name or email), 0 unchanged" in out
    assert main(["leaderboard", "add-users", roster, "--tokens", str(tokens), "--db", db]) == 2
    assert "exists already" in capsys.readouterr().err
    assert main(["leaderboard", "add-users", roster, "--tokens", str(tmp_path / "b.csv"),
                 "--db", db]) == 0
    assert "0 created, 0 updated (name or email), 3 unchanged" in capsys.readouterr().out
    assert main(["leaderboard", "add-user", "Teach", "--admin", "--db", db]) == 0
    assert capsys.readouterr().out.startswith("admin Teach created")
    assert main(["leaderboard", "list-users", "--db", db]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["#", "student", "id", "name", "email", "role", "state",
                                "submissions"]
    assert lines[1].split()[2:] == ["Teach", "-", "admin", "active", "0"]
    assert lines[2].split()[1:] == ["S1", "Ana", "Lima", "ana@uni.edu", "student", "active",
                                    "0"]
    old = _tokens(tokens)["S2"]
    assert main(["leaderboard", "reset-token", "S2", "--db", db]) == 0
    new = capsys.readouterr().out.splitlines()[-1]
    with reading(engine) as session:
        assert caller(session, new).student_id == "S2"
        with pytest.raises(Refused, match="unknown token"):
            caller(session, old)
    assert main(["leaderboard", "disable-user", "S2", "--db", db]) == 0
    assert "disabled; their token is refused" in capsys.readouterr().out
    with reading(engine) as session, pytest.raises(Refused, match="disabled"):
        caller(session, new)
    assert main(["leaderboard", "reset-token", "Ana Lima", "--db", db]) == 2
    assert "2 users are named 'Ana Lima'" in capsys.readouterr().err
    assert main(["leaderboard", "export", "nope", "-o", "-", "--db", db]) == 2
    assert "no task named 'nope'" in capsys.readouterr().err
