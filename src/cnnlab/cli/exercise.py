"""`cnnlab exercise list | start NAME [DIR] | check [DIR]`: parsing only; the work is in
cnnlab.exercises."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from cnnlab.files import write_atomically


def _list(args: argparse.Namespace) -> int:
    from cnnlab.exercises.catalog import EXERCISES

    width = max(map(len, EXERCISES))
    for name, exercise in EXERCISES.items():
        print(f"{name:<{width}}  {exercise.title}")
    return 0


def _start(args: argparse.Namespace) -> int:
    from cnnlab.exercises.catalog import get_exercise

    exercise = get_exercise(args.name)
    folder = Path(args.dir)
    path = folder / f"{exercise.name}.py"
    if path.exists():
        raise ValueError(f"{path} exists; it may hold your work, so it is left as it is "
                         "(remove it or choose another folder)")
    if not folder.is_dir():
        print(f"creating folder {folder}")
    write_atomically(path, exercise.student_file().encode())
    print(f"wrote {path}: write {exercise.backward}, then run `cnnlab exercise check "
          f"{folder}`")
    return 0


def _check(args: argparse.Namespace) -> int:
    from cnnlab.exercises.grading import check

    only = [name.strip() for name in args.only.split(",")] if args.only else None
    report = check(Path(args.dir), only, args.seed)
    print(report.text(), end="")
    if args.results:
        write_atomically(args.results, (json.dumps(report.gradescope(), indent=2) + "\n")
                         .encode())
        print(f"wrote {args.results} (Gradescope's autograder format)")
    return 0 if report.score == report.max_score else 1  # a script can tell it is not done


def add_exercise(commands) -> None:
    exercise = commands.add_parser(
        "exercise", help="the course's backpropagation exercises, graded automatically",
        description="Write the backward pass of a layer yourself: `start` writes the file "
                    "(forward given, hints included), `check` grades it against torch's "
                    "autograd and a numerical gradient on cases you have not seen.")
    actions = exercise.add_subparsers(dest="action", required=True,
                                      parser_class=type(exercise))
    listing = actions.add_parser("list", help="the exercises")
    listing.set_defaults(handler=_list)
    start = actions.add_parser("start", help="write an exercise's file for you to complete")
    start.add_argument("name", metavar="NAME", help="an exercise (see `cnnlab exercise list`)")
    start.add_argument("dir", metavar="DIR", nargs="?", default=".",
                       help="where to write NAME.py (default: here)")
    start.set_defaults(handler=_start)
    grade = actions.add_parser("check", help="grade the exercise files in a folder")
    grade.add_argument("dir", metavar="DIR", nargs="?", default=".",
                       help="the folder holding your NAME.py files (default: here)")
    grade.add_argument("--only", help="comma-separated exercises to grade (default: every "
                                      "exercise file in DIR)")
    grade.add_argument("--seed", type=int, default=None,
                       help="draw the same cases again (the report prints the seed it used)")
    grade.add_argument("--results", metavar="FILE",
                       help="also write the grades in Gradescope's results.json format")
    grade.set_defaults(handler=_check)
