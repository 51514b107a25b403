"""`cnnlab leaderboard ...`: the teacher's side of the leaderboard (tasks, roster, grades,
copies, the server and its workers). The student's side, `cnnlab submit` and `cnnlab final`,
is cli/submit.py."""

from __future__ import annotations

import sys

from cnnlab.cli.board_options import (
    database_url,
    open_board,
    port,
    require_extra,
    with_db,
)
from cnnlab.cli.roster import add_roster_actions


def _add_task(args) -> int:
    require_extra()
    from cnnlab.leaderboard.tasks import add_task

    test_set = None
    if args.test_images is not None or args.test_labels is not None:
        if args.dataset is None:
            raise ValueError("--test-images needs --dataset: the dataset whose shape and "
                             "classes the imported images and labels have")
        if args.test_images is None:
            raise ValueError("--test-labels needs --test-images")
        from cnnlab.data.datasets import get_spec
        from cnnlab.leaderboard.imported_sets import read_test_set

        test_set = read_test_set(args.test_images, args.test_labels, get_spec(args.dataset))
    from cnnlab.leaderboard.tasks import parse_accuracy, parse_time

    opens = parse_time(args.opens, "--opens") if args.opens else None
    closes = parse_time(args.closes, "--closes") if args.closes else None
    floor = parse_accuracy(args.min_accuracy) if args.min_accuracy is not None else None
    task = add_task(open_board(args), args.name, args.dataset, args.daily_limit, args.max_mb,
                    args.exercise, test_set, args.data_dir, opens, closes, args.final, floor,
                    args.allow_public, args.ladder)
    if task.exercise:
        print(f"task {task.name}: the {task.exercise} exercise, each file graded on the "
              f"task's hidden cases (the same for every file), ranked by score; "
              f"{task.daily_limit} submissions a day, files up to {args.max_mb:g} MB")
    elif test_set is not None:
        print(f"task {task.name}: {task.dataset}-shaped models ranked on the test set imported "
              f"from {test_set.source} ({len(test_set.labels):,} images, kept in the "
              f"database only), public/private halves (seed {task.seed}), {task.daily_limit} "
              f"submissions a day, files up to {args.max_mb:g} MB")
        print(f"compared with {task.dataset}'s public images: {task.public_overlap}")
        if task.labels_public:
            print("warning: taken with --allow-public: its labels may be public, and the "
                  "task's page says so")
    else:
        print(f"task {task.name}: {task.dataset} test set, public/private halves (seed "
              f"{task.seed}), {task.daily_limit} submissions a day, files up to "
              f"{args.max_mb:g} MB")
        print(f"warning: the labels of {task.dataset}'s test set are public: every student "
              "has them (cnnlab itself loads them), and a model trained on them ranks above "
              "honest ones. For a ranking they cannot buy, import a test set they do not have: "
              "--test-images FILE --test-labels FILE (IDX), --test-images FILE.npz, or "
              "--test-images FOLDER (a subfolder of images per class)")
    if task.ladder:
        print("public scores go through the Ladder: a new one is shown only when it beats the "
              "student's best by more than the standard error of the difference")
    if task.min_accuracy is not None:
        print(f"speed ranks only submissions at or above {100 * task.min_accuracy:.2f}% "
              f"accuracy ({task.min_accuracy_source})")
    if opens or closes:
        print(f"task {task.name} takes submissions "
              + (f"from {opens.isoformat()} " if opens else "")
              + (f"until {closes.isoformat()}" if closes else "from then on"))
    return 0


def _export(args) -> int:
    require_extra()
    from cnnlab.leaderboard.grades import grades_csv
    from cnnlab.leaderboard.refusals import Refused

    try:
        text = grades_csv(open_board(args), args.task)
    except Refused as refused:  # the task's name
        raise ValueError(refused.detail) from None
    if args.output == "-":
        sys.stdout.write(text)
        return 0
    from cnnlab.files import write_atomically

    write_atomically(args.output, text.encode("utf-8"))
    print(f"{args.output}: {text.count(chr(10)) - 1} students of task {args.task}")
    return 0


def _reveal(args) -> int:
    require_extra()
    from cnnlab.leaderboard.tasks import reveal

    task = reveal(open_board(args), args.name, args.force)
    print(f"task {task.name} is now ranked on its private half, and closed: it takes no more "
          "submissions")
    return 0


def _copies(args) -> int:
    require_extra()
    from cnnlab.leaderboard.tasks import flagged_copies

    rows = flagged_copies(open_board(args), args.task)
    if not rows:
        print(f"task {args.task}: no submission is flagged as a copy")
    for row in rows:
        state = "cleared (ranked)" if row["cleared"] else \
            "confirmed (not ranked)" if row["confirmed"] else "not ranked until judged"
        print(f"{row['key']} by {row['user']} ({row['label'] or 'no label'}, {row['status']}) "
              f"copies {row['copy_of']} by {row['original_user']} ({row['kind']}"
              f"{': ' + row['evidence'] if row['evidence'] else ''}): {state}")
    return 0


def _judge_copy(args) -> int:
    require_extra()
    from cnnlab.leaderboard.tasks import judge_copy

    honest = args.action == "clear-copy"
    row = judge_copy(open_board(args), args.submission, honest)
    print(f"submission {row.key}: " + ("cleared; it is ranked from now on" if honest else
                                        "confirmed a copy; it stays out of the ranking"))
    return 0


def _limits(args):
    from cnnlab.leaderboard.worker import HEARTBEAT_S, Limits

    for name in ("timeout", "memory_mb", "threads", "repeats", "lease"):
        if getattr(args, name) < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be at least 1")
    if args.lease <= HEARTBEAT_S:
        raise ValueError(f"--lease must be longer than the {HEARTBEAT_S} s between renewals")
    return Limits(args.timeout, args.memory_mb, args.threads, args.repeats, args.lease)


def _worker_command(args) -> list[str]:
    return [sys.executable, "-m", "cnnlab", "leaderboard", "worker", "--db", database_url(args),
            "--timeout", str(args.timeout), "--memory-mb", str(args.memory_mb),
            "--threads", str(args.threads), "--repeats", str(args.repeats),
            "--lease", str(args.lease)] + \
        (["--data-dir", args.data_dir] if args.data_dir else [])


def _worker(args) -> int:
    require_extra()
    from cnnlab.leaderboard.worker import run_worker

    engine = open_board(args)
    print(f"worker evaluating submissions from {database_url(args)}", flush=True)
    run_worker(engine, _limits(args), data_dir=args.data_dir)
    return 0


def _serve(args) -> int:
    require_extra()
    import uvicorn

    from cnnlab.leaderboard import upload_check
    from cnnlab.leaderboard.app import create_app
    from cnnlab.leaderboard.board_cache import SERVED_FRESH_S
    from cnnlab.leaderboard.supervisor import Supervisor

    engine = open_board(args)  # migrations run here, before the worker starts
    _limits(args)
    upload_check.pool()  # the checkers warm up while the server starts
    worker = None if args.no_worker else Supervisor(_worker_command(args))
    try:
        uvicorn.run(create_app(engine, SERVED_FRESH_S), host=args.host, port=args.port,
                    log_level="warning")
    finally:
        if worker is not None:
            worker.stop()
    return 0


def add_leaderboard(commands) -> None:
    board = commands.add_parser(
        "leaderboard", help="run a verified leaderboard (server side)",
        description="A leaderboard that evaluates every ONNX submission itself on a hidden "
                    "test split: accuracy, and speed at batch size 4. Needs "
                    "`pip install cnnlab[leaderboard]`.")
    actions = board.add_subparsers(dest="action", required=True, parser_class=type(board))

    task = with_db(actions.add_parser("add-task", help="create a task"))
    task.add_argument("name")
    task.add_argument("--dataset", choices=["fashion-mnist", "mnist", "cifar10"],
                      help="a model task: ONNX files evaluated on this dataset's hidden split")
    task.add_argument("--exercise", help="an exercise task instead: `cnnlab exercise` files "
                                         "(NAME.py) graded and ranked by score")
    task.add_argument("--test-images", metavar="PATH",
                      help="rank on a test set the students do not have: IDX images (with "
                           "--test-labels), an .npz holding images and labels, or a folder "
                           "with a subfolder of images per class; checked against --dataset "
                           "and stored in the database")
    task.add_argument("--test-labels", metavar="FILE", help="the IDX labels of --test-images")
    task.add_argument("--ladder", action="store_true",
                      help="show a student a new public score only when it beats their best "
                           "by more than the standard error of the difference (the Ladder, "
                           "Blum & Hardt 2015): keeping lucky variants gains nothing")
    task.add_argument("--allow-public", action="store_true",
                      help="take --test-images although more than 1%% of its images are the "
                           "dataset's public ones (same pixels or near copies), or although "
                           "they cannot be compared here; the task's page says so")
    task.add_argument("--data-dir", help="where the dataset's own files are (a task on its "
                                         "official test set is refused when they cannot be "
                                         "loaded; an imported set is compared with them)")
    task.add_argument("--opens", metavar="TIME", help="take submissions from this ISO 8601 "
                                                      "time with its zone (2026-12-01T09:00+01:00)")
    task.add_argument("--closes", metavar="TIME", help="and until this one; reveal waits for it")
    task.add_argument("--final", type=int, default=2, metavar="K",
                      help="how many submissions each student marks for the private ranking "
                           "(default 2, as Kaggle); with none marked, their best K on the "
                           "public half count")
    task.add_argument("--min-accuracy", metavar="ACCURACY",
                      help="speed ranks only submissions at least this accurate (91.13%% or "
                           "0.9113; 0 ranks all); default on fashion-mnist: the training "
                           "guide's LeNet-5 recipe, 91.13%%")
    task.add_argument("--daily-limit", type=int, default=5)
    task.add_argument("--max-mb", type=float, default=100, help="largest upload (default 100)")
    task.set_defaults(handler=_add_task)

    add_roster_actions(actions)

    export = with_db(actions.add_parser(
        "export", help="write a task's grades as CSV",
        description="One row per student (those who sent nothing too): their final "
                    "submissions, the submission each ranking uses, public and private "
                    "accuracy, speed, and their ranks, as the task's page ranks them."))
    export.add_argument("task")
    export.add_argument("-o", "--output", required=True, metavar="FILE.csv",
                        help="the CSV to write (- for standard output)")
    export.set_defaults(handler=_export)

    reveal = with_db(actions.add_parser("reveal", help="rank a task on its private half"))
    reveal.add_argument("name")
    reveal.add_argument("--force", action="store_true",
                        help="reveal before the task's closing time, closing it now")
    reveal.set_defaults(handler=_reveal)

    copies = with_db(actions.add_parser(
        "copies", help="list the submissions flagged as copies of another student's",
        description="Every submission whose model (graph and weights, whatever its names and "
                    "metadata) equals another student's earlier submission to the task, or "
                    "that predicts the same class on nearly every hidden image (a near copy: "
                    "a weight nudged, fine-tuned, channels permuted, nodes added), with the "
                    "evidence: left out of the ranking until cleared with clear-copy."))
    copies.add_argument("task")
    copies.set_defaults(handler=_copies)
    clear = with_db(actions.add_parser("clear-copy", help="rank a flagged submission after "
                                                          "all"))
    clear.add_argument("submission", help="the submission's key (as copies lists it)")
    clear.set_defaults(handler=_judge_copy)
    confirm = with_db(actions.add_parser("confirm-copy", help="confirm a flagged submission "
                                                              "is a copy (it stays unranked)"))
    confirm.add_argument("submission", help="the submission's key (as copies lists it)")
    confirm.set_defaults(handler=_judge_copy)

    def with_limits(parser):
        parser.add_argument("--timeout", type=int, default=600, help="seconds per evaluation")
        parser.add_argument("--memory-mb", type=int, default=4096,
                            help="address-space limit of an evaluation (default 4096)")
        parser.add_argument("--threads", type=int, default=1, help="ONNX Runtime threads")
        parser.add_argument("--repeats", type=int, default=3, help="timed passes")
        parser.add_argument("--lease", type=int, default=30,
                            help="seconds before a dead worker's submission goes back to "
                                 "the queue (renewed every 5 s while it runs; default 30)")
        parser.add_argument("--data-dir", help="folder holding the dataset files")
        return parser

    serve = with_limits(with_db(actions.add_parser(
        "serve", help="serve the API and pages (and run a worker)")))
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=port, default=8000, help="1 to 65535 (default 8000)")
    serve.add_argument("--no-worker", action="store_true", help="serve only")
    serve.set_defaults(handler=_serve)

    worker = with_limits(with_db(actions.add_parser("worker", help="run one more worker")))
    worker.set_defaults(handler=_worker)
