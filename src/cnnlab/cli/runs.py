"""`cnnlab runs`: parsing only; the table is cnnlab.runs.compare."""

from __future__ import annotations

import argparse
import json


def _runs(args: argparse.Namespace) -> int:
    from cnnlab.runs.compare import runs_table

    table = runs_table(args.folders or ["runs"])
    if args.json:
        print(json.dumps(table.as_dict(), indent=2))
    else:
        print(table.text(), end="")
    return 0


def add_runs(commands) -> None:
    runs = commands.add_parser(
        "runs", help="compare run folders: one row each",
        description="One row per run folder (found anywhere under each folder given): "
                    "model, dataset, the settings that differ between the runs, accuracy and "
                    "the split it was measured on (eval.json's, else training's test figure, "
                    "else the last validation epoch), images/s at batch size 4, parameters "
                    "and multiply-adds.")
    runs.add_argument("folders", nargs="*", metavar="DIR", help="default runs/")
    runs.add_argument("--json", action="store_true", help="print the rows as JSON")
    runs.set_defaults(handler=_runs)
