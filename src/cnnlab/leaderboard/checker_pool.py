"""Warm checker processes for uploads: each is a child started once, under the same memory
cap as a one-shot check, that imports onnx and the checks, checks a small model to warm them,
and then checks one file after another (upload_check.CHILD: the checks' own module, which
starts this pool, names the program).

A cold child pays about 0.8 s of interpreter start and imports before a LeNet-5 check that
takes about 2 ms; in a deadline rush that cost, two at a time, made the uploads queue for
tens of seconds (benchmarks/leaderboard_load.py prints both). The isolation stays: a file's
check runs in a child, never in the server; past the timeout the child is killed, and a
child that crashes, runs out of memory or times out is replaced, as is one that has done
CHECKS_PER_PROCESS checks (what a hostile file may have left in it lasts no longer).

Protocol on the child's pipes: it prints "ready" once warm; then per file the parent writes
one JSON line {"kind": ..., "size": N} and N bytes, and the child answers one JSON line."""

from __future__ import annotations

import contextlib
import json
import os
import queue
import select
import subprocess
import sys
import tempfile
import threading
import time

from cnnlab.leaderboard.child import KEPT_OUTPUT, ChildResult, limits_for_child, tail

CHECKS_PER_PROCESS = 200
START_TIMEOUT_S = 120  # a cold start on a busy machine takes seconds, not minutes
EXIT_WAIT_S = 10  # for a child that closed its output to exit by itself


class Unavailable(Exception):
    """No checker can start: the machine or the installation is at fault."""


class _Checker:
    """One warm child; not shared: the pool hands it to one check at a time."""

    def __init__(self, command: list[str], memory_mb: int):
        self.stderr = tempfile.TemporaryFile()  # noqa: SIM115 (closed by stop)
        self.process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.stderr,
            preexec_fn=limits_for_child(memory_mb))
        self.checks = 0
        self.warm = self._line(START_TIMEOUT_S) == "ready"

    def _line(self, timeout_s: float) -> str | None:
        """The child's next line; "" when it closed its output (it ended), None past the
        timeout."""
        out = self.process.stdout
        if not select.select([out], [], [], max(0.0, timeout_s))[0]:
            return None
        return out.readline().decode("utf-8", "replace").strip()

    def check(self, data: bytes, kind: dict, timeout_s: float) -> ChildResult:
        errors_from = self.stderr.seek(0, os.SEEK_END)
        self.checks += 1
        try:
            self.process.stdin.write(json.dumps({"kind": kind, "size": len(data)}).encode()
                                     + b"\n" + data)
            self.process.stdin.flush()
        except (BrokenPipeError, OSError):
            pass  # it died: its exit code and stderr say why, below
        line = self._line(timeout_s)
        if line:
            try:
                json.loads(line)
                return ChildResult(0, line, "")
            except ValueError:  # not our answer: the pipe is out of step, end this checker
                self._end()
                return ChildResult(1, "", f"the checker gave an unreadable answer: {line[:200]}")
        timed_out = line is None
        if not timed_out:  # it is ending: let it finish writing why
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=EXIT_WAIT_S)
        self._end()
        self.stderr.seek(errors_from)
        errors = self.stderr.read()[-KEPT_OUTPUT:].decode("utf-8", "replace")
        return ChildResult(self.process.returncode, "", errors, timed_out)

    @property
    def usable(self) -> bool:
        return self.warm and self.process.poll() is None and self.checks < CHECKS_PER_PROCESS

    def _end(self) -> None:
        with contextlib.suppress(OSError):
            self.process.kill()
        self.process.wait()

    def stop(self) -> None:
        self._end()
        with contextlib.suppress(OSError):
            self.process.stdin.close()
            self.process.stdout.close()
        self.stderr.close()


class CheckerPool:
    """`size` warm checkers: a check takes an idle one (waiting for its turn, as checks did
    for the CHECKS_AT_ONCE slots), and a used-up or broken one is replaced in the
    background so that the next check does not wait for the replacement's start."""

    def __init__(self, command: list[str], size: int, memory_mb: int):
        self.command, self.size, self.memory_mb = command, size, memory_mb
        self._idle: queue.Queue[_Checker] = queue.Queue()
        self._wanted: queue.Queue[None] = queue.Queue()
        self._closed = False
        self.start_error: str | None = None  # why the last checker failed to start, if it did
        # One thread starts them all and lives as long as the pool: the kernel ends a child
        # when the thread that started it ends (PR_SET_PDEATHSIG), not only its process
        threading.Thread(target=self._start_wanted, name="checker-starter", daemon=True).start()
        for _ in range(size):
            self._replace()

    def _replace(self) -> None:
        self._wanted.put(None)

    def _start_wanted(self) -> None:
        while True:
            self._wanted.get()
            try:
                checker = _Checker(self.command, self.memory_mb)
            except OSError as error:  # no process at all (no memory, no file descriptors)
                self.start_error = str(error)
                time.sleep(1.0)
                self._replace()
                continue
            if self._closed:
                checker.stop()
            elif not checker.warm:  # it could not even start: say why, try again shortly
                reason = (tail(checker.stderr).strip().splitlines()[-1:] or ["no output"])[0]
                if reason != self.start_error:
                    print(f"cnnlab leaderboard: a checker process failed to start ({reason}); "
                          "starting another", file=sys.stderr, flush=True)
                self.start_error = reason
                checker.stop()
                time.sleep(1.0)
                self._replace()
            else:
                self.start_error = None
                self._idle.put(checker)

    def check(self, data: bytes, kind: dict, timeout_s: float) -> ChildResult:
        """The child's answer; Unavailable while no checker can start (the server's fault,
        not the file's: the upload is refused with 503 and not recorded)."""
        while True:
            try:
                checker = self._idle.get(timeout=1.0)
                break
            except queue.Empty:
                if self.start_error is not None:
                    raise Unavailable(f"no checker process can start ({self.start_error})") \
                        from None
        try:
            result = checker.check(data, kind, timeout_s)
        except BaseException:
            checker.stop()
            self._replace()
            raise
        if checker.usable:
            self._idle.put(checker)
        else:
            if checker.process.poll() is None:
                checker.stop()
            self._replace()
        return result

    def state(self) -> dict:
        """For /healthz: how many checkers, how many idle now, why starting one failed."""
        return {"size": self.size, "idle": self._idle.qsize(), "start_error": self.start_error}

    def close(self) -> None:
        self._closed = True
        while True:
            try:
                self._idle.get_nowait().stop()
            except queue.Empty:
                return
