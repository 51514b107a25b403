"""The server-rendered pages: the task list, a task's ranked table with the accuracy-vs-speed
scatter (inline SVG, Pareto front marked), and one page per submission with its per-class
table and confusion matrix. No script on any page; everything a user typed is escaped by
Jinja2's autoescaping. A submission's page, a student's own list and the admin page are for
the signed-in (`signin`); every form on them carries the session's CSRF token."""

from __future__ import annotations

import math
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy import Engine, func, select

from cnnlab.evaluate.pareto import Point, pareto_front
from cnnlab.leaderboard.board_cache import BoardCache
from cnnlab.leaderboard.database import reading
from cnnlab.leaderboard.refusals import Refused
from cnnlab.leaderboard.schema import Submission, Task
from cnnlab.leaderboard.submissions import history, leaderboard_rows, private_reports
from cnnlab.leaderboard.users import list_users

TEMPLATES = Environment(loader=FileSystemLoader(Path(__file__).parent / "templates"),
                        autoescape=select_autoescape(["html"]))

# the scatter's drawing area, in SVG units
WIDTH, HEIGHT, LEFT, RIGHT, TOP, BOTTOM = 720, 420, 70, 20, 20, 50


def _count(value: int | None) -> str:
    if value is None:
        return "-"
    for unit, scale in (("G", 10**9), ("M", 10**6), ("K", 10**3)):
        if value >= scale:
            return f"{value / scale:.3g}{unit}"
    return str(value)


TEMPLATES.filters["count"] = _count
TEMPLATES.filters["percent"] = lambda v: "-" if v is None else f"{100 * v:.2f}%"
TEMPLATES.filters["number"] = lambda v, digits=0: "-" if v is None else f"{v:,.{digits}f}"


def _render(template: str, viewer, **values) -> str:
    """A page, with who is signed in (and their forms' CSRF token) for the header."""
    user, csrf = viewer or (None, None)
    return TEMPLATES.get_template(template).render(viewer=user, csrf=csrf, **values)


def index_page(engine: Engine, viewer=None) -> str:
    with reading(engine) as session:
        tasks = session.execute(
            select(Task, func.count(Submission.id))
            .outerjoin(Submission, Submission.task_id == Task.id)
            .group_by(Task.id).order_by(Task.name)).all()
    return _render(
        "index.html", viewer, tasks=[{"name": t.name, "submissions": n,
                "dataset": f"exercise: {t.exercise}" if t.exercise else t.dataset,
                "ranked_on": "score on the task's hidden cases" if t.exercise else
                f"{'private' if t.revealed else 'public'} half of the test set"}
               for t, n in tasks])


LABEL_CHARS, CHAR_PX = 18, 7  # a point's name: at most this many characters, about this wide


def _name_label(name: str, x: float, y: float) -> dict:
    """A point's name beside it, on whichever side keeps it inside the figure."""
    text = name if len(name) <= LABEL_CHARS else name[:LABEL_CHARS - 1] + "\u2026"
    right = x + 8 + CHAR_PX * len(text) <= WIDTH - 2
    return {"text": text, "x": round(x + 8 if right else x - 8, 1),
            "y": round(y - 8 if y - 8 > TOP + 10 else y + 16, 1),
            "anchor": "start" if right else "end"}


def scatter(rows: list[dict], floor: float | None = None) -> dict:
    """Positions (SVG units) of every ranked row (named), of the Pareto front's staircase, and
    of the accuracy floor's line where it is in view. Speed is the ratio to the reference:
    images/s measured by different workers are not comparable."""
    points = [Point(str(i), r["accuracy"], r["reference_ratio"]) for i, r in enumerate(rows)
              if r["accuracy"] is not None and r["reference_ratio"]]
    if not points:
        return {"points": [], "front": "", "ticks_x": [], "ticks_y": []}
    speeds = [p.speed for p in points]
    accuracies = [p.accuracy for p in points]
    log = max(speeds) > 10 * min(speeds)
    fx = math.log10 if log else (lambda v: v)
    x0, x1 = fx(min(speeds)), fx(max(speeds))
    y0, y1 = min(accuracies), max(accuracies)
    x0, x1 = (x0 - 0.5, x1 + 0.5) if x0 == x1 else (x0 - 0.05 * (x1 - x0), x1 + 0.05 * (x1 - x0))
    y0, y1 = (y0 - 0.01, y1 + 0.01) if y0 == y1 else (y0 - 0.05 * (y1 - y0), y1 + 0.05 * (y1 - y0))
    if not log and x0 < 0:  # a ratio is never below zero, whatever the margin makes
        x0 = 0.0

    def x(speed):
        return LEFT + (fx(speed) - x0) / (x1 - x0) * (WIDTH - LEFT - RIGHT)

    def y(accuracy):
        return HEIGHT - BOTTOM - (accuracy - y0) / (y1 - y0) * (HEIGHT - TOP - BOTTOM)

    front = pareto_front(points)
    on_front = {p.name for p in front}
    drawn = []
    for p in points:
        px, py, row = x(p.speed), y(p.accuracy), rows[int(p.name)]
        drawn.append({"x": round(px, 1), "y": round(py, 1), "front": p.name in on_front,
                      "row": row, "label": _name_label(row["user"], px, py)})
    stairs = []
    for point in sorted(front, key=lambda p: -p.speed):
        if stairs:
            stairs.append((x(point.speed), stairs[-1][1]))
        stairs.append((x(point.speed), y(point.accuracy)))
    ticks_y = [y0 + (y1 - y0) * i / 4 for i in range(5)]
    ticks_x = [x0 + (x1 - x0) * i / 4 for i in range(5)]
    return {
        "points": drawn,
        "front": " ".join(f"{a:.1f},{b:.1f}" for a, b in stairs),
        "ticks_y": [{"y": round(y(v), 1), "label": f"{100 * v:.1f}%"} for v in ticks_y],
        "ticks_x": [{"x": round(LEFT + (v - x0) / (x1 - x0) * (WIDTH - LEFT - RIGHT), 1),
                     "label": f"{(10 ** v if log else v):.3g}"} for v in ticks_x],
        "floor": {"y": round(y(floor), 1), "label": f"floor {100 * floor:.2f}%"}
        if floor is not None and y0 <= floor <= y1 else None,
        "log": log,
    }


def task_page(engine: Engine, task: str, sort: str, viewer=None,
              boards: BoardCache | None = None) -> str:
    """The board; with `boards`, computed once per change of its data (and rendered once per
    change for visitors not signed in)."""
    boards = boards or BoardCache(engine)

    def parts() -> tuple[dict, dict]:
        table = leaderboard_rows(engine, task, sort)
        return table, scatter(table["rows"], table.get("min_accuracy"))

    def render() -> str:
        table, plot = boards.get(task, ("page", sort), parts)
        user = viewer[0] if viewer else None
        # a submission's page is its author's (and the teacher's)
        links = {row["key"] for row in table["rows"]
                 if user is not None and (user.admin or row["user_id"] == user.id)}
        return _render("task.html", viewer, table=table, plot=plot, links=links,
                       size={"width": WIDTH, "height": HEIGHT, "left": LEFT, "right": RIGHT,
                             "top": TOP, "bottom": BOTTOM})

    return render() if viewer else boards.get(task, ("html", sort), render)


def submission_page(engine: Engine, key: str, viewer) -> str:
    """The author's (or an admin's) page of one submission."""
    user = _signed_in(viewer, "see your submissions")
    view, details = private_reports(engine, key, user)
    halves = [half for half in ("public", "private") if half in details]
    reports = []
    for half in halves:
        report = details.get(half)
        if not report:
            continue
        confusion = report["confusion"]
        shares = [[cell / max(1, sum(line)) for cell in line] for line in confusion]
        reports.append({"half": half, "report": report, "confusion": confusion,
                        "shares": shares,
                        "classes": [entry["class"] for entry in report["per_class"]]})
    return _render(
        "submission.html", viewer, view=view, reports=reports, speed=details.get("speed"),
        environment=details.get("environment"), grading=details if view["exercise"] else None)


def _signed_in(viewer, purpose: str):
    if viewer is None:
        raise Refused(401, f"sign in with your token to {purpose}")
    return viewer[0]


def signin_page(csrf: str, problem: str | None = None) -> str:
    return _render("signin.html", None, signin_csrf=csrf, problem=problem)


def own_page(engine: Engine, viewer) -> str:
    """Every submission of the signed-in user, refused and failed ones with the reason, and
    the forms that mark the final ones."""
    user = _signed_in(viewer, "see your submissions")
    return _render("me.html", viewer, submissions=history(engine, user))


def admin_page(engine: Engine, viewer) -> str:
    """Everything, for the teacher: every submission of everybody with its status and reason,
    the copies flagged, the users."""
    user = _signed_in(viewer, "open the admin page")
    if not user.admin:
        raise Refused(403, "the admin page is the teacher's (an admin token: add-user NAME "
                           "--admin)")
    everything = history(engine)
    return _render("admin.html", viewer, submissions=everything,
                   copies=[s for s in everything if s["copy_of"] is not None],
                   failures=[s for s in everything if s["status"] in ("failed", "rejected")],
                   users=list_users(engine))


def error_page(status: int, detail: str, viewer=None) -> str:
    return _render("error.html", viewer, status=status, detail=detail)
