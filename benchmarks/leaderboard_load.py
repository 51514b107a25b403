"""Load on the leaderboard, loopback only and bounded: N concurrent clients each upload a model
and read the task's page while the workers evaluate. Prints p50/p95 latency of the upload and
of the page, then waits for the queue to drain and checks every submission was stored and
evaluated exactly once (one attempt each, all finished).

    .venv/bin/python benchmarks/leaderboard_load.py [--clients 100] [--workers 2] [--db URL]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from cnnlab.cli import main as cnnlab
from cnnlab.leaderboard import client
from cnnlab.leaderboard.database import open_database, reading
from cnnlab.leaderboard.schema import Submission
from cnnlab.leaderboard.tasks import add_task
from cnnlab.leaderboard.users import add_user


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def one_client(server: str, token: str, model: Path, index: int, reads: int):
    started = time.perf_counter()
    answer = client.submit(server, token, "load", model, f"client {index}")
    upload = time.perf_counter() - started
    pages = []
    for _ in range(reads):
        started = time.perf_counter()
        with urllib.request.urlopen(f"{server}/tasks/load", timeout=60) as page:
            page.read()
        pages.append(time.perf_counter() - started)
    return answer["id"], upload, pages


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--reads", type=int, default=3, help="page reads per client")
    parser.add_argument("--db", help="database URL (default: SQLite in a temporary folder)")
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="cnnlab-load-"))
    db = args.db or f"sqlite:///{folder / 'board.db'}"
    engine = open_database(db)
    add_task(engine, "load", "fashion-mnist", daily_limit=1)
    tokens = [add_user(engine, f"student {i}") for i in range(args.clients)]
    model = folder / "lenet5.onnx"
    assert cnnlab(["export", "lenet5", "--dataset", "fashion-mnist", "--normalize", "dataset",
                   "-o", str(model)]) == 0

    port = free_port()
    server = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "cnnlab.cli", "leaderboard"]
    processes = [subprocess.Popen([*command, "serve", "--db", db, "--port", str(port),
                                   "--no-worker"], start_new_session=True)]
    try:
        client.wait_for_server(server)
        began = time.perf_counter()
        with concurrent.futures.ThreadPoolExecutor(args.clients) as pool:
            results = list(pool.map(lambda i: one_client(server, tokens[i], model, i,
                                                         args.reads), range(args.clients)))
        burst = time.perf_counter() - began
        uploads = [upload for _, upload, _ in results]
        pages = [page for _, _, reads in results for page in reads]
        print(f"{args.clients} concurrent clients, {len(pages)} page reads, in {burst:.1f} s "
              f"({engine.dialect.name})")
        print(f"upload  p50 {1000 * statistics.median(uploads):7.1f} ms   "
              f"p95 {1000 * percentile(uploads, 0.95):7.1f} ms")
        print(f"page    p50 {1000 * statistics.median(pages):7.1f} ms   "
              f"p95 {1000 * percentile(pages, 0.95):7.1f} ms")

        processes += [subprocess.Popen([*command, "worker", "--db", db, "--repeats", "1"],
                                       start_new_session=True, stdout=subprocess.DEVNULL)
                      for _ in range(args.workers)]
        began = time.perf_counter()
        while True:
            with reading(engine) as session:
                rows = session.query(Submission.status, Submission.attempts).all()
                stored = session.query(Submission.key).all()
            waiting = sum(status in ("queued", "running") for status, _ in rows)
            if not waiting:
                break
            time.sleep(1)
        drained = time.perf_counter() - began
    finally:
        for process in processes:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=30)
    answered = sorted(key for key, _, _ in results)  # the keys the uploads were answered
    statuses = [status for status, _ in rows]
    attempts = [tries for _, tries in rows]
    print(f"evaluated {len(rows)} submissions with {args.workers} workers in {drained:.0f} s")
    exact = (answered == sorted(key for (key,) in stored) and len(rows) == args.clients
             and statuses == ["finished"] * args.clients and attempts == [1] * args.clients)
    print("every submission stored and evaluated exactly once:", "yes" if exact else
          f"NO (statuses {sorted(set(statuses))}, attempts {sorted(set(attempts))})")
    return 0 if exact else 1


if __name__ == "__main__":
    sys.exit(main())
