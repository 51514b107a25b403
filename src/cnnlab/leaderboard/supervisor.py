"""Keeping `serve`'s worker running: a worker that dies (kill -9, out of memory, a crash) is
replaced at once, then after 2, 4, ... up to 30 s while replacements keep dying young, so
uploads never wait on a worker that is gone and a worker that cannot start does not spin."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time

from cnnlab.leaderboard.child import die_with_parent

CHECK_S = 0.5  # how often the worker is looked at
STABLE_S = 60  # a worker that lived this long died of something new: start again at once
MAX_DELAY_S = 30


def _ended(code: int) -> str:
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with code {code}"


class Supervisor:
    def __init__(self, command: list[str]):
        self.command = command
        self._stopping = threading.Event()
        self.process = self._spawn()
        self._thread = threading.Thread(target=self._watch, name="worker-supervisor",
                                        daemon=True)
        self._thread.start()

    def _spawn(self) -> subprocess.Popen:
        self.started = time.monotonic()
        return subprocess.Popen(self.command, preexec_fn=die_with_parent)

    def _watch(self) -> None:
        delay = 0.0
        while not self._stopping.wait(CHECK_S):
            code = self.process.poll()
            if code is None:
                continue
            lived = time.monotonic() - self.started
            delay = 0.0 if lived >= STABLE_S else min(MAX_DELAY_S, max(1.0, 2 * delay))
            print(f"leaderboard: the worker (pid {self.process.pid}) {_ended(code)} after "
                  f"{lived:.0f} s; starting another" + (f" in {delay:g} s" if delay else ""),
                  file=sys.stderr, flush=True)
            if self._stopping.wait(delay):
                return
            self.process = self._spawn()

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join()
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
