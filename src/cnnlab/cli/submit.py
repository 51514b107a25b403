"""`cnnlab submit` and `cnnlab final`: the student's side of a leaderboard, light to start
(neither torch nor NumPy is imported to send an .onnx file). The teacher's side is
cli/leaderboard.py."""

from __future__ import annotations

import argparse
import os
import sys


def _submitted_file(given: str) -> str:
    """The .onnx file to upload: the file given, or a run folder's export under the run's
    preprocessing contract (made, and checked on real images, when missing or stale)."""
    if not os.path.isdir(given):
        return given
    from cnnlab.evaluate.exporting import run_onnx
    from cnnlab.evaluate.targets import load_target

    target = load_target(given)
    path = run_onnx(target, target.config.data_dir)
    print(f"submitting {path}: {target.name} from {given}, the model receiving "
          f"{target.contract.describe()}")
    return str(path)


def _token(args) -> str:
    token = args.token or os.environ.get("CNNLAB_TOKEN")
    if not token:
        raise ValueError("give your token with --token or the CNNLAB_TOKEN variable")
    return token


def _submit(args) -> int:
    from cnnlab.leaderboard import client

    token = _token(args)
    model = _submitted_file(args.model)
    try:
        answer = client.submit(args.server, token, args.task, model, args.name or "")
        print(f"submission {answer['id']}: {answer['status']}")
        if answer.get("flagged_copy"):
            print("note: its model equals a submission sent earlier by another student: it "
                  "is flagged as a copy and not ranked unless the teacher clears it")
        if not args.wait:
            return 0
        result = client.wait(args.server, token, answer["id"], args.poll)
    except client.SubmitError as error:
        print(f"cnnlab submit: {error}", file=sys.stderr)
        return 1
    print(f"submission {result['id']}: {result['status']}")
    if result["status"] != "finished":
        print(f"reason: {result['error']}")
        return 1
    if result.get("exercise"):
        print(f"score {100 * result['accuracy']:.1f}% of the task's hidden cases (see its "
              "page for each case)")
        return 0
    print(f"accuracy {100 * result['accuracy']:.2f}%, {result['images_per_s']:,.0f} images/s "
          f"at batch size 4, {result['reference_ratio']:.3f}x the reference, "
          f"{result['params']:,} parameters")
    return 0


def _final(args) -> int:
    from cnnlab.leaderboard import client

    token = _token(args)
    try:
        answer = client.mark_final(args.server, token, args.submission, not args.unmark)
    except client.SubmitError as error:
        print(f"cnnlab final: {error}", file=sys.stderr)
        return 1
    finals = ", ".join(map(str, answer["finals"])) or "none"
    print(f"submission {answer['id']}: {'marked' if answer['final'] else 'unmarked'} final; "
          f"your final submissions on its task: {finals}")
    return 0


def add_submit(commands) -> None:
    submit = commands.add_parser(
        "submit", help="upload a run, an .onnx model or an exercise file to a leaderboard",
        description="Upload a model (as written by `cnnlab export`: float32 pixels in [0, 1], "
                    "the preprocessing inside, logits out) to a leaderboard server. A run "
                    "folder is exported first under its own preprocessing contract.")
    submit.add_argument("model", metavar="MODEL.onnx|RUN|NAME.py",
                        help="an .onnx file or a run folder; on an exercise task, your "
                             "exercise file")
    submit.add_argument("--server", required=True, help="e.g. http://127.0.0.1:8000")
    submit.add_argument("--token", help="your token (or set CNNLAB_TOKEN)")
    submit.add_argument("--task", required=True)
    submit.add_argument("--name", help="a label for this submission")
    submit.add_argument("--wait", action="store_true", help="wait for the result")
    submit.add_argument("--poll", type=float, default=2.0, help=argparse.SUPPRESS)
    submit.set_defaults(handler=_submit)

    final = commands.add_parser(
        "final", help="mark one of your leaderboard submissions for the private ranking",
        description="Mark (or with --unmark, unmark) one of your evaluated submissions as "
                    "final: the private ranking uses your final submissions (up to the task's "
                    "limit, 2 by default), or your best ones on the public half when you "
                    "mark none.")
    final.add_argument("submission", metavar="ID",
                       help="the submission's id, as cnnlab submit printed it")
    final.add_argument("--server", required=True, help="e.g. http://127.0.0.1:8000")
    final.add_argument("--token", help="your token (or set CNNLAB_TOKEN)")
    final.add_argument("--unmark", action="store_true")
    final.set_defaults(handler=_final)
