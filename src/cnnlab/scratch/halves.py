"""The scratch engine on two cores: half of each training batch in a second process.

Python threads cannot share a LeNet-5 step between two cores. Its NumPy calls take tens of
microseconds each, and two threads handing the GIL back and forth wait on each other more than
they gain: the step took 14.7 ms on one thread and on two (issue 33's note). Two processes have
a GIL each: with a forked process taking half of each batch, the step takes 1.00-1.15x torch's
time on two threads, against 1.42-1.81x in one process (`make bench`, 2 cores).

`HalfBatch` wraps a model. In training, the first half of a batch runs here while the second
runs in the second process; the logits come back whole, so the loss is the whole batch's. Its
backward pass sends the second half its share of the gradient, runs the first half's here
meanwhile, and then adds the second half's parameter gradients to the first's: the gradient
the whole batch gives, summed in another order.

- The parameters live in shared memory: the optimizer's in-place updates reach both halves.
- Each half normalises its batch with its own batch-norm statistics, and the running averages
  are the first half's, as DistributedDataParallel's ranks do with their share of a batch.
- The second half's dropout draws from a seed drawn here, one per step.

`HalfBatch(model, in_process=True)` computes the second half in this process, after the
first, with the same operations: the two-process run's bits are its bits (tested). The second
process is forked, on Linux; elsewhere `Engine.on_cores` leaves the model on one core.
"""

from __future__ import annotations

import contextlib
import copy
import mmap
import os
import signal
import sys
import traceback
import weakref

import numpy as np
from threadpoolctl import threadpool_limits

from cnnlab.scratch import random
from cnnlab.scratch.tensor import Tensor, _record, is_grad_enabled

# Linux only: macOS has os.fork, but Apple's frameworks (NumPy's Accelerate BLAS there) are not
# safe in a forked child, which is why Python's multiprocessing spawns on macOS.
CAN_FORK = sys.platform.startswith("linux")


def _shared_copy(array: np.ndarray) -> np.ndarray:
    """`array` copied into memory that a process forked afterwards shares with this one."""
    buffer = mmap.mmap(-1, max(array.nbytes, 1))  # anonymous and MAP_SHARED
    shared = np.frombuffer(buffer, dtype=array.dtype, count=array.size).reshape(array.shape)
    shared[...] = array
    return shared


class _InProcess:
    """The second half computed here, on a replica whose parameters are the model's arrays
    and whose buffers (batch-norm statistics) are its own, as the second process's are."""

    def __init__(self, model):
        self.model = copy.deepcopy(model)
        for mine, theirs in zip(self.model.parameters(), model.parameters(), strict=True):
            mine.data = theirs.data
        self.out: Tensor | None = None
        self.reply = None

    def forward(self, x: np.ndarray, training: bool, seed: int) -> None:
        self.out = _forward(self.model, x, training, seed)

    def logits(self) -> np.ndarray:
        return self.out.data

    def backward(self, grad: np.ndarray) -> None:
        self.reply = _backward(self.model, self.out, grad)

    def gradients(self) -> list[np.ndarray | None]:
        return self.reply

    def close(self) -> None:
        pass


def _forward(model, x: np.ndarray, training: bool, seed: int) -> Tensor:
    model.train(training)
    with random.drawing_from(seed):
        return model(Tensor(x))


def _backward(model, out: Tensor, grad: np.ndarray) -> list[np.ndarray | None]:
    model.zero_grad(set_to_none=True)
    if out.requires_grad:
        out.backward(grad)
    return [None if p.grad is None else p.grad.data for p in model.parameters()]


class _Process:
    """The second half computed in a forked process, which answers one message at a time."""

    def __init__(self, model):
        from multiprocessing import Pipe

        here, there = Pipe()
        self.pid = os.fork()
        if self.pid == 0:  # the second process: serves until told to stop, then exits
            here.close()
            status = 1
            try:
                _serve(model, there)
                status = 0
            finally:
                os._exit(status)
        there.close()
        self.connection = here
        # stopped when this object goes, if close() was not called
        self.close = weakref.finalize(self, _stop, here, self.pid)

    def forward(self, x: np.ndarray, training: bool, seed: int) -> None:
        self.connection.send(("forward", x, training, seed))

    def logits(self) -> np.ndarray:
        return self._reply()

    def backward(self, grad: np.ndarray) -> None:
        self.connection.send(("backward", grad))

    def gradients(self) -> list[np.ndarray | None]:
        return self._reply()

    def _reply(self):
        try:
            status, value = self.connection.recv()
        except (EOFError, OSError):
            raise RuntimeError("the scratch engine's second process (half of each batch) "
                               "ended unexpectedly") from None
        if status == "error":
            raise RuntimeError(f"in the second half of the batch, in its own process:\n{value}")
        return value



def _stop(connection, pid: int) -> None:
    with contextlib.suppress(OSError):  # already gone
        connection.send(("stop",))
    connection.close()
    os.waitpid(pid, 0)


def _serve(model, connection) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the first process's to handle
    out = None
    with threadpool_limits(1, user_api="blas"):  # one core each, or BLAS takes the other's
        while True:
            try:
                message = connection.recv()
            except EOFError:  # the first process has gone
                return
            if message[0] == "stop":
                return
            try:
                if message[0] == "forward":
                    out = _forward(model, *message[1:])
                    connection.send(("ok", out.data))
                else:
                    reply, out = _backward(model, out, message[1]), None
                    connection.send(("ok", reply))
            except Exception:
                out = None
                connection.send(("error", traceback.format_exc()))


class HalfBatch:
    """`model` in training with half of each batch in a second process (see the module's
    docstring); in evaluation, or without gradients, the model itself on the whole batch."""

    def __init__(self, model, in_process: bool = False):
        self.model = model
        self.params = list(model.parameters())
        for p in self.params:
            p.data = _shared_copy(p.data)
        self.shared = [p.data for p in self.params]
        self.half = _InProcess(model) if in_process or not CAN_FORK else _Process(model)
        # Both processes on one core's worth of BLAS threads each, while the halves run.
        self.limits = threadpool_limits(1, user_api="blas")
        self.closed = False

    def train(self, mode: bool = True) -> HalfBatch:
        self.model.train(mode)
        return self

    def eval(self) -> HalfBatch:
        return self.train(False)

    def __call__(self, x: Tensor) -> Tensor:
        if not (self.model.training and is_grad_enabled()) or len(x) < 2 or self.closed:
            return self.model(x)
        if x.requires_grad:
            raise ValueError("HalfBatch: the input requires grad, and the second half's "
                             "gradient with respect to its input is not sent back")
        moved = [p.shape for p, array in zip(self.params, self.shared, strict=True)
                 if p.data is not array]
        if moved:
            raise RuntimeError(f"HalfBatch: parameters of shapes {moved} were replaced, not "
                               "updated in place, so the second half no longer sees them")
        split = (len(x) + 1) // 2
        self.half.forward(x.data[split:], self.model.training,
                          int(random.generator().integers(2**63)))
        try:
            first = self.model(Tensor(x.data[:split]))
        except BaseException:
            with contextlib.suppress(RuntimeError):
                self.half.logits()  # its answer read, so that the next one is the next's
            raise
        second = self.half.logits()
        half, params = self.half, self.params

        def backward(grad: np.ndarray):
            half.backward(grad[split:])  # the second half's pass starts, there
            try:
                if first.requires_grad:
                    first.backward(grad[:split])  # and the first half's, here, meanwhile
            finally:
                gradients = half.gradients()
            for p, theirs in zip(params, gradients, strict=True):
                if theirs is not None:
                    p._accumulate(theirs)
            return (None,)  # the first half's graph has had its gradient

        return _record(np.concatenate([first.data, second]), (first,), backward)

    def close(self) -> None:
        """Stop the second process (it stops by itself too when this one ends); the model
        takes whole batches from then on."""
        if not self.closed:
            self.closed = True
            self.half.close()
            self.limits.restore_original_limits()
