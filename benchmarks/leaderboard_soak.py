"""A soak of the leaderboard: honest and hostile uploads for a while, with kill -9 of the server
(and its worker), of a worker alone, or of an upload checker in the middle of an honest
upload's check, at random moments, as a crashing machine and a careless operator would. Then
the queue is left to drain and every submission is accounted for.

    .venv/bin/python benchmarks/leaderboard_soak.py [--minutes 30] [--kill-every 20] [--db URL]

It prints the counts (uploads, answers, kills, evaluations) and the five that must be 0:
submissions lost (answered 202, never stored), stuck (still waiting after the drain),
evaluated twice (two evaluations of one submission ran to the end), honest ones marked
failed, and honest ones refused at upload (a checker killed under one is no verdict).
Hostile files: random bytes, a 1,000,000-node chain and an oversized file (refused at
upload), an out-of-range Gather (fails with ONNX Runtime's reason), a model slower than the
evaluation's timeout, and one that needs more memory than the evaluation's limit.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper

from cnnlab.cli import main as cnnlab
from cnnlab.leaderboard import client
from cnnlab.leaderboard.database import open_database, reading
from cnnlab.leaderboard.schema import Submission
from cnnlab.leaderboard.tasks import add_task
from cnnlab.leaderboard.users import add_user

LIMITS = ["--repeats", "1", "--lease", "10", "--timeout", "20", "--memory-mb", "2048"]
HONEST_USERS, HOSTILE_USERS = 3, 2


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# ------------------------------------------------------------------------- the files


def _classifier(nodes, initializers, last: str) -> bytes:
    weight = helper.make_tensor("weight", TensorProto.FLOAT, [784, 10],
                                np.random.default_rng(0).normal(0, 0.01, 7840))
    graph = helper.make_graph(
        [helper.make_node("Flatten", ["pixels"], ["flat"]), *nodes,
         helper.make_node("Gemm", [last, "weight"], ["logits"])], "soak",
        [helper.make_tensor_value_info("pixels", TensorProto.FLOAT, ["batch", 1, 28, 28])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 10])],
        initializer=[weight, *initializers])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)],
                             ir_version=8).SerializeToString()


def out_of_range_gather() -> bytes:
    indices = helper.make_tensor("i", TensorProto.INT64, [784], np.arange(784) + 10**6)
    return _classifier([helper.make_node("Gather", ["flat", "i"], ["g"], axis=1)], [indices],
                       "g")


def needs_too_much_memory() -> bytes:
    """Tiles each image 200,000 times (2.5 GB a batch) and slices one copy back."""
    repeats = helper.make_tensor("r", TensorProto.INT64, [2], [1, 200_000])
    starts = helper.make_tensor("s", TensorProto.INT64, [1], [0])
    ends = helper.make_tensor("e", TensorProto.INT64, [1], [784])
    axes = helper.make_tensor("a", TensorProto.INT64, [1], [1])
    return _classifier([helper.make_node("Tile", ["flat", "r"], ["tiled"]),
                        helper.make_node("Slice", ["tiled", "s", "e", "a"], ["back"])],
                       [repeats, starts, ends, axes], "back")


def slower_than_the_timeout() -> bytes:
    """Two 256-channel 3x3 convolutions at 28x28: about 0.5 G multiply-adds an image."""
    rng = np.random.default_rng(1)
    first = helper.make_tensor("w1", TensorProto.FLOAT, [256, 1, 3, 3],
                               rng.normal(0, 0.1, 256 * 9))
    second = helper.make_tensor("w2", TensorProto.FLOAT, [256, 256, 3, 3],
                                rng.normal(0, 0.01, 256 * 256 * 9))
    head = helper.make_tensor("head", TensorProto.FLOAT, [256, 10], rng.normal(0, 0.1, 2560))
    graph = helper.make_graph(
        [helper.make_node("Conv", ["pixels", "w1"], ["c1"], pads=[1, 1, 1, 1]),
         helper.make_node("Conv", ["c1", "w2"], ["c2"], pads=[1, 1, 1, 1]),
         helper.make_node("GlobalAveragePool", ["c2"], ["pooled"]),
         helper.make_node("Flatten", ["pooled"], ["flat"]),
         helper.make_node("Gemm", ["flat", "head"], ["logits"])], "slow",
        [helper.make_tensor_value_info("pixels", TensorProto.FLOAT, ["batch", 1, 28, 28])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 10])],
        initializer=[first, second, head])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)],
                             ir_version=8).SerializeToString()


def million_node_chain() -> bytes:
    """A classifier with 1,000,000 Identity nodes appended (23 MiB)."""
    model = onnx.ModelProto.FromString(_classifier([], [], "flat"))
    model.graph.node.extend([helper.make_node("Identity", ["flat"], ["flat"])] * 1_000_000)
    return model.SerializeToString()


HOSTILE = {"random bytes": lambda: os.urandom(5000), "1M-node chain": million_node_chain,
           "oversized": lambda: os.urandom(8 * 2**20), "out-of-range Gather": out_of_range_gather,
           "slower than the timeout": slower_than_the_timeout,
           "needs too much memory": needs_too_much_memory}


# ------------------------------------------------------------------------- the processes


class Fleet:
    """`serve` (with its supervised worker) and extra workers, each restarted by this script
    after it kills one, as an init system would; every process logs to a file of its own."""

    def __init__(self, db: str, folder: Path, extra_workers: int):
        self.db, self.logs, self.port = db, folder / "logs", free_port()
        self.logs.mkdir()
        self.url = f"http://127.0.0.1:{self.port}"
        self.started = 0
        self.server = self._start(["serve", "--port", str(self.port)])
        self.workers = [self._start(["worker"]) for _ in range(extra_workers)]

    def _start(self, action: list[str]) -> subprocess.Popen:
        self.started += 1
        log = open(self.logs / f"{self.started:04d}-{action[0]}.log", "w")  # noqa: SIM115
        return subprocess.Popen(
            [sys.executable, "-m", "cnnlab", "leaderboard", *action, "--db", self.db,
             *LIMITS], stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"})

    def kill_server(self) -> None:
        os.killpg(self.server.pid, signal.SIGKILL)  # the server, its worker, its evaluation
        self.server.wait()
        self.server = self._start(["serve", "--port", str(self.port)])

    def kill_servers_worker(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/healthz", timeout=10) as answer:
                workers = json.loads(answer.read())["workers"]
        except (OSError, ValueError):
            return False
        extra = {process.pid for process in self.workers}
        pids = [int(w["name"].rsplit(":", 1)[1]) for w in workers if w["alive"]]
        pids = [pid for pid in pids if pid not in extra]
        if not pids:
            return False
        try:
            os.kill(pids[0], signal.SIGKILL)  # serve is left running: it must replace it
        except ProcessLookupError:
            return False
        return True

    def kill_extra_worker(self) -> None:
        index = random.randrange(len(self.workers))
        os.killpg(self.workers[index].pid, signal.SIGKILL)
        self.workers[index].wait()
        self.workers[index] = self._start(["worker"])

    def checkers(self) -> list[int]:
        """The server's warm upload checkers (in its process group)."""
        pids = []
        for entry in Path("/proc").iterdir():
            try:
                if entry.name.isdigit() and b"upload_check\x00--serve" in (
                        entry / "cmdline").read_bytes() and \
                        os.getpgid(int(entry.name)) == self.server.pid:
                    pids.append(int(entry.name))
            except OSError:  # ended meanwhile
                pass
        return pids

    def kill_checker_mid_check(self, upload) -> bool:
        """Pause every checker, start `upload` (it waits on one of them), kill one with
        kill -9 and let the others go on: when the killed one held the upload, the server
        must check it again elsewhere and take it."""
        pids = self.checkers()
        if not pids:
            return False
        for pid in pids:
            os.kill(pid, signal.SIGSTOP)
        sending = threading.Thread(target=upload)
        sending.start()
        time.sleep(0.5)
        os.kill(random.choice(pids), signal.SIGKILL)
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)
        sending.join()
        return True

    def stop(self) -> None:
        for process in [self.server, *self.workers]:
            try:
                os.killpg(process.pid, signal.SIGTERM)
                process.wait(timeout=30)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                os.killpg(process.pid, signal.SIGKILL)

    def outcomes(self) -> tuple[collections.Counter, collections.Counter]:
        """(evaluations run to the end, results written) per submission, from the logs."""
        ended, written = collections.Counter(), collections.Counter()
        line = re.compile(r"submission (\d+) \(claim \d+\) \w+; result (written|discarded)")
        for path in self.logs.iterdir():
            for match in line.finditer(path.read_text(errors="replace")):
                ended[int(match[1])] += 1
                written[int(match[1])] += match[2] == "written"
        return ended, written


# ------------------------------------------------------------------------- the run


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30)
    parser.add_argument("--kill-every", type=float, default=20,
                        help="mean seconds between two kill -9 (default 20)")
    parser.add_argument("--upload-every", type=float, default=1.5,
                        help="mean seconds between two uploads (default 1.5)")
    parser.add_argument("--workers", type=int, default=1, help="workers beside serve's")
    parser.add_argument("--db", help="database URL (default: SQLite in a temporary folder)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    random.seed(args.seed)

    folder = Path(tempfile.mkdtemp(prefix="cnnlab-soak-"))
    db = args.db or f"sqlite:///{folder / 'board.db'}"
    engine = open_database(db)
    add_task(engine, "soak", "fashion-mnist", daily_limit=100_000, max_mb=5)
    honest = [add_user(engine, f"honest {i}") for i in range(HONEST_USERS)]
    hostile = [add_user(engine, f"hostile {i}") for i in range(HOSTILE_USERS)]
    model = folder / "lenet5.onnx"
    assert cnnlab(["export", "lenet5", "--dataset", "fashion-mnist", "--normalize", "dataset",
                   "-o", str(model)]) == 0
    files = {"honest": model}
    for name, make in HOSTILE.items():
        files[name] = folder / f"{name.replace(' ', '-')}.onnx"
        files[name].write_bytes(make())

    fleet = Fleet(db, folder, args.workers)
    answers: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    accepted: dict[str, str] = {}  # honest label -> key answered
    unanswered: list[str] = []  # honest labels whose upload got no answer (a kill)
    kills = collections.Counter()
    slowest_health = 0.0
    try:
        client.wait_for_server(fleet.url, 60)
        end = time.monotonic() + 60 * args.minutes
        next_kill = time.monotonic() + random.expovariate(1 / args.kill_every)
        count = 0
        def upload(kind: str) -> None:
            nonlocal count
            count += 1
            token = random.choice(honest if kind == "honest" else hostile)
            label = f"{kind} {count}"
            try:
                answer = client.submit(fleet.url, token, "soak", files[kind], label,
                                       timeout=60)
                answers[kind]["202"] += 1
                if kind == "honest":
                    accepted[label] = answer["id"]
            except client.SubmitError as error:
                code = re.match(r"the server answered (\d+)", str(error))
                answers[kind][code[1] if code else "no answer"] += 1
                if kind == "honest":
                    unanswered.append(label)

        while time.monotonic() < end:
            upload("honest" if random.random() < 0.5 else random.choice(list(HOSTILE)))
            started = time.monotonic()
            try:
                urllib.request.urlopen(f"{fleet.url}/healthz", timeout=30).close()
            except urllib.error.HTTPError:
                pass
            except OSError:
                started = None  # the server is down (killed): not a latency
            if started is not None:
                slowest_health = max(slowest_health, time.monotonic() - started)
            if time.monotonic() >= next_kill:
                target = random.choice(["server", "server's worker", "a worker",
                                        "a checker mid-check"])
                if target == "server":
                    fleet.kill_server()
                elif target == "a checker mid-check":
                    if not fleet.kill_checker_mid_check(lambda: upload("honest")):
                        target = "none (no checker running)"
                elif target == "a worker" and fleet.workers:
                    fleet.kill_extra_worker()
                elif not fleet.kill_servers_worker():
                    target = "none (no worker of serve's alive)"
                kills[target] += 1
                next_kill = time.monotonic() + random.expovariate(1 / args.kill_every)
                if target == "server":
                    client.wait_for_server(fleet.url, 60)
            time.sleep(random.expovariate(1 / args.upload_every))
        soaked = time.monotonic()
        while True:  # the drain: no more kills, the workers finish the queue
            with reading(engine) as session:
                waiting = session.query(Submission).filter(
                    Submission.status.in_(("queued", "running"))).count()
            if not waiting or time.monotonic() - soaked > 900:
                break
            time.sleep(2)
        drained = time.monotonic() - soaked
    finally:
        fleet.stop()

    with reading(engine) as session:
        rows = {row.label: row for row in session.query(Submission).all()}
    ended, written = fleet.outcomes()
    lost = [label for label in accepted if label not in rows]
    stuck = [label for label, row in rows.items() if row.status in ("queued", "running")]
    twice = [submission for submission, runs in ended.items() if runs > 1]
    written_twice = [submission for submission, times in written.items() if times > 1]
    honest_failed = [(label, row.error) for label, row in rows.items()
                     if label.startswith("honest") and row.status == "failed"]
    statuses = collections.Counter((label.rsplit(" ", 1)[0], row.status, row.error and
                                    row.error.split(":")[0][:60]) for label, row in rows.items())

    uploads = sum(sum(counter.values()) for counter in answers.values())
    print(f"soak: {args.minutes:g} min on {engine.dialect.name}, {uploads} uploads, "
          f"{sum(kills.values())} kill -9, drained in {drained:.0f} s")
    for kind, counter in answers.items():
        print(f"  {kind:24s} answers: {dict(counter)}")
    print(f"  kills: {dict(kills)}")
    print(f"  honest uploads with no answer (a kill during the upload): {len(unanswered)}, "
          f"of which stored: {sum(label in rows for label in unanswered)}")
    for (kind, status, error), number in sorted(statuses.items(), key=str):
        print(f"  {number:5d} {kind:24s} {status:9s} {error or ''}")
    print(f"  slowest /healthz while up: {1000 * slowest_health:.0f} ms")
    honest_refused = [(label, row.error) for label, row in rows.items()
                      if label.startswith("honest") and row.status == "rejected"]
    print(f"submissions lost {len(lost)}, stuck {len(stuck)}, evaluated twice {len(twice)} "
          f"(results written twice {len(written_twice)}), honest ones marked failed "
          f"{len(honest_failed)}, honest ones refused at upload {len(honest_refused)}")
    for label, error in (honest_failed + honest_refused)[:5]:
        print(f"  honest failed or refused: {label}: {error}")
    return 0 if not (lost or stuck or twice or written_twice or honest_failed
                     or honest_refused) else 1


if __name__ == "__main__":
    sys.exit(main())
