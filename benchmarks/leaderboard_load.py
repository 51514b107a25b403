"""Load on the leaderboard, loopback only and bounded: N concurrent clients each upload a model
and read the task's page at once (a deadline rush), while the server's own worker evaluates
(more join it after the burst, to drain the queue sooner). Prints what one upload check
costs alone (a cold child, as every check once was, and a warm checker of the pool), the
p50/p95 latency of the upload and of the page and the requests that failed, then waits for
the queue to drain and checks every submission was stored and evaluated exactly once (one
attempt each, all finished).

    .venv/bin/python benchmarks/leaderboard_load.py [--clients 50] [--workers 1] [--db URL]
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
    """(the key answered or None, upload seconds, page seconds, what failed)."""
    failures = []
    started = time.perf_counter()
    try:
        key = client.submit(server, token, "load", model, f"client {index}", timeout=60)["id"]
    except (client.SubmitError, OSError) as error:
        key = None
        failures.append(f"upload: {error}")
    upload = time.perf_counter() - started
    pages = []
    for _ in range(reads):
        started = time.perf_counter()
        try:
            with urllib.request.urlopen(f"{server}/tasks/load", timeout=60) as page:
                page.read()
            pages.append(time.perf_counter() - started)
        except OSError as error:
            failures.append(f"page: {error}")
    return key, upload, pages, failures


def cpu_seconds(pid: int) -> float | None:
    """The process's CPU time so far (Linux), to say what the burst cost the server."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def check_cost(model: Path, times: int = 20) -> tuple[float, float]:
    """(a cold child's check, a warm checker's), in seconds, medians."""
    from cnnlab.leaderboard.checker_pool import _Checker
    from cnnlab.leaderboard.upload_check import CHECK_MEMORY_MB, CHECK_TIMEOUT_S, CHILD

    data, kind = model.read_bytes(), {"dataset": "fashion-mnist", "max_bytes": 2**20}
    cold, warm = [], []
    for _ in range(3):
        started = time.perf_counter()
        checker = _Checker(CHILD, CHECK_MEMORY_MB)  # start, imports and warm-up: what a cold child
        checker.check(data, kind, CHECK_TIMEOUT_S)  # paid before its one check
        cold.append(time.perf_counter() - started)
        for _ in range(times):
            started = time.perf_counter()
            assert checker.check(data, kind, CHECK_TIMEOUT_S).code == 0
            warm.append(time.perf_counter() - started)
        checker.stop()
    return statistics.median(cold), statistics.median(warm)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--workers", type=int, default=1,
                        help="workers that join serve's own after the burst, to drain it")
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

    cold, warm = check_cost(model)
    print(f"one upload check of LeNet-5 alone: a cold child {1000 * cold:.0f} ms, a warm "
          f"checker {1000 * warm:.1f} ms ({cold / warm:.0f}x)")

    port = free_port()
    server = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "cnnlab", "leaderboard"]
    logs = (folder / "logs.txt").open("ab")  # the server's and the workers', to read after
    logged = {"stdout": logs, "stderr": subprocess.STDOUT}
    processes = [subprocess.Popen([*command, "serve", "--db", db, "--port", str(port),
                                   "--repeats", "1"], start_new_session=True, **logged)]
    try:
        client.wait_for_server(server)
        warm_up = add_user(engine, "warm-up")  # the first upload waits for the checkers
        warmed = client.submit(server, warm_up, "load", model, "warm-up", timeout=120)["id"]
        began, cpu_before = time.perf_counter(), cpu_seconds(processes[0].pid)
        with concurrent.futures.ThreadPoolExecutor(args.clients) as pool:
            results = list(pool.map(lambda i: one_client(server, tokens[i], model, i,
                                                         args.reads), range(args.clients)))
        burst = time.perf_counter() - began
        cpu_after = cpu_seconds(processes[0].pid)
        uploads = [upload for _, upload, _, _ in results]
        pages = [page for _, _, reads, _ in results for page in reads]
        failures = [failure for *_, failed in results for failure in failed]
        print(f"{args.clients} concurrent clients, {len(pages)} page reads, in {burst:.1f} s "
              f"({engine.dialect.name}, serve's worker evaluating meanwhile)")
        print(f"upload  p50 {1000 * statistics.median(uploads):7.1f} ms   "
              f"p95 {1000 * percentile(uploads, 0.95):7.1f} ms")
        print(f"page    p50 {1000 * statistics.median(pages):7.1f} ms   "
              f"p95 {1000 * percentile(pages, 0.95):7.1f} ms")
        if cpu_before is not None and cpu_after is not None:
            spent = cpu_after - cpu_before
            print(f"the server's process used {spent:.2f} s of CPU in the burst "
                  f"({1000 * spent / args.clients:.1f} ms per client: an upload and "
                  f"{args.reads} page reads)")
        print(f"requests failed: {len(failures)}" + "".join(
            f"\n  {failure}" for failure in failures[:5]))
        processes += [subprocess.Popen([*command, "worker", "--db", db, "--repeats", "1"],
                                       start_new_session=True, **logged)
                      for _ in range(args.workers)]  # to drain the queue sooner
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
        logs.close()
    answered = [*(key for key, *_ in results if key), warmed]  # the keys answered
    statuses = [status for status, _ in rows]
    attempts = [tries for _, tries in rows]
    print(f"evaluated {len(rows)} submissions: serve's worker in the burst, then "
          f"{1 + args.workers} workers for {drained:.0f} s")
    expected = args.clients + 1  # and the warm-up's
    exact = (sorted(answered) == sorted(key for (key,) in stored) and len(rows) == expected
             and statuses == ["finished"] * expected and attempts == [1] * expected
             and not failures)
    print("every submission stored and evaluated exactly once:", "yes" if exact else
          f"NO (statuses {sorted(set(statuses))}, attempts {sorted(set(attempts))}; the "
          f"server's and workers' logs: {folder / 'logs.txt'})")
    return 0 if exact else 1


if __name__ == "__main__":
    sys.exit(main())
