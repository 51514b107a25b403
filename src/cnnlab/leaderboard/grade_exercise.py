"""The child process that grades one exercise submission for the worker:
`python -m cnnlab.leaderboard.grade_exercise JOB.json` prints one JSON line, the result in the
form `worker.finish` writes. The score (the share of cases passed) is stored in both
accuracy columns: an exercise has no public or private half. The cases are the task's, drawn
from its seed, which stays on the server (with it, anybody could draw them at home)."""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

import numpy as np

from cnnlab.exercises.catalog import get_exercise
from cnnlab.exercises.grading import grade_file


def grade(job: dict) -> dict:
    exercise = get_exercise(job["exercise"])
    result = grade_file(exercise, Path(job["file_path"]), np.random.default_rng(job["seed"]))
    if result.refused:
        return {"status": "failed", "error": result.refused}
    share = result.score / result.max_score
    return {"status": "finished", "public_accuracy": share, "private_accuracy": share,
            "images_per_s": None, "reference_ratio": None, "params": None, "macs": None,
            "details": {"exercise": exercise.name, "score": result.score,
                        "max_score": result.max_score,
                        "cases": [dataclasses.asdict(case) for case in result.cases]}}


if __name__ == "__main__":
    print(json.dumps(grade(json.loads(Path(sys.argv[1]).read_text()))))
