"""The scratch engine's speed against torch's, measured side by side in one run.

Each case runs the same computation in both engines on the same float32 arrays, with both
limited to the same number of threads, interleaving the two so that machine noise hits
both alike; it prints the median times and their ratio (scratch / torch). glibc's allocator
is first set to keep freed memory (`steady_allocator`): otherwise whichever case runs first
page-faults its buffers in on every call, which read as a 4x slower C1 forward.

The `products alone` lines are the floor of the scratch engine's ratio with NumPy's BLAS: the
convolution's matrix products by themselves (its input already unfolded), and the time a
LeNet-5 training step spends in the convolutions' products, each over torch's whole
computation. No rewrite of the copies around them can bring a ratio below its floor. The
`unfold copy alone` line is the one copy a forward needs on top: the two together are the
floor of the forward's ratio. On 2 threads or more, `half of each batch in a second process`
is the step as `cnnlab train --engine scratch --threads 2` runs it (cnnlab.scratch.halves).

    .venv/bin/python benchmarks/scratch_vs_torch.py [--threads N] [--repeats R]
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import time

import numpy as np
import torch
import torch.nn.functional as TF
from threadpoolctl import threadpool_limits

import cnnlab.scratch as scratch
from cnnlab.evaluate.speed import steady_allocator
from cnnlab.models.lenet import lenet5
from cnnlab.scratch import optim as scratch_optim
from cnnlab.scratch.halves import CAN_FORK, HalfBatch
from cnnlab.scratch.nn import functional as F
from cnnlab.scratch.nn.functional import conv as conv_kernels

PRODUCTS = ("weights_times_cols", "weights_t_times", "grad_times_cols_t")


def median_seconds(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


# After a parallel call, OpenBLAS's worker threads (NumPy's) and OpenMP's (torch's) spin for
# a while before they sleep. On 2 cores the one engine's spinning workers took the core the
# other's second thread needed: torch's LeNet-5 step measured 13.8 ms right after the scratch
# engine's, 6.8 ms after its own. So each engine's rounds start once the other's workers sleep.
SETTLE_SECONDS = 0.25


def settled(fn, repeats: int) -> float:
    time.sleep(SETTLE_SECONDS)
    return median_seconds(fn, repeats)


def compare(name: str, ours, theirs, repeats: int) -> tuple[float, float]:
    """Print and return the median seconds of `ours` and `theirs`."""
    # Warm-up, a full round each: allocations, lazy initialisation, caches.
    settled(ours, repeats), settled(theirs, repeats)
    ours_times, theirs_times = [], []
    for _ in range(3):  # interleave rounds so drift affects both engines
        ours_times.append(settled(ours, repeats))
        theirs_times.append(settled(theirs, repeats))
    a, b = statistics.median(ours_times), statistics.median(theirs_times)
    print(f"{name:<50} {a * 1e3:9.2f} ms {b * 1e3:9.2f} ms {a / b:7.2f}x")
    return a, b


def conv_cases(x_shape, w_shape, padding):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(x_shape, dtype=np.float32)
    w = rng.standard_normal(w_shape, dtype=np.float32)
    b = rng.standard_normal(w_shape[0], dtype=np.float32)
    sx, sw, sb = (scratch.Tensor(a, requires_grad=True) for a in (x, w, b))
    tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    out_shape = F.conv2d(sx, sw, sb, padding=padding).shape
    g = rng.standard_normal(out_shape, dtype=np.float32)
    tg = torch.tensor(g)

    def forward_ours():
        with scratch.no_grad():
            F.conv2d(sx, sw, sb, padding=padding)

    xp = conv_kernels.zero_pad(x, ((padding, padding), (padding, padding)))
    windows = conv_kernels.Windows(xp.shape, w_shape[2:], (1, 1), (1, 1), out_shape[2:])
    cols = windows.unfold(xp)

    def products_ours():
        conv_kernels.weights_times_cols(w, cols, windows, 1)

    def unfold_ours():
        windows.unfold(xp)

    def forward_theirs():
        with torch.no_grad():
            TF.conv2d(tx, tw, tb, padding=padding)

    def both_ours():
        F.conv2d(sx, sw, sb, padding=padding).backward(g)

    def both_theirs():
        TF.conv2d(tx, tw, tb, padding=padding).backward(tg)

    return ((forward_ours, forward_theirs), (products_ours, forward_theirs),
            (unfold_ours, forward_theirs), (both_ours, both_theirs))


def pool_case(shape):
    x = np.random.default_rng(0).standard_normal(shape, dtype=np.float32)
    sx, tx = scratch.Tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    g = np.random.default_rng(1).standard_normal(
        (shape[0], shape[1], shape[2] // 2, shape[3] // 2), dtype=np.float32)
    tg = torch.tensor(g)
    return (lambda: F.max_pool2d(sx, 2).backward(g),
            lambda: TF.max_pool2d(tx, 2).backward(tg))


@contextlib.contextmanager
def products_timed(seconds: list[float]):
    """Add to `seconds` the time each call of the convolutions' product functions takes."""
    originals = {name: getattr(conv_kernels, name) for name in PRODUCTS}

    def timed(function):
        def run(*args):
            start = time.perf_counter()
            result = function(*args)
            seconds.append(time.perf_counter() - start)
            return result
        return run

    for name, function in originals.items():
        setattr(conv_kernels, name, timed(function))
    try:
        yield
    finally:
        for name, function in originals.items():
            setattr(conv_kernels, name, function)


def step_products(step, repeats: int) -> float:
    """The median time one call of `step` spends in the convolutions' products."""
    per_step = []
    for _ in range(repeats):
        seconds: list[float] = []
        with products_timed(seconds):
            step()
        per_step.append(sum(seconds))
    return statistics.median(per_step)


def lenet_step_case(batch: int, halves: bool = False):
    """The two engines' training steps, and what the scratch step calls: its model, or with
    `halves` the model's HalfBatch, which the caller closes."""
    rng = np.random.default_rng(0)
    images = rng.standard_normal((batch, 1, 28, 28), dtype=np.float32)
    labels = rng.integers(0, 10, batch)
    ours_model = lenet5("scratch", input_size=28)
    theirs_model = lenet5("torch", input_size=28)
    ours_model.load_state_dict(theirs_model.state_dict())
    ours_opt = scratch_optim.SGD(ours_model.parameters(), lr=0.01, momentum=0.9)
    theirs_opt = torch.optim.SGD(theirs_model.parameters(), lr=0.01, momentum=0.9)
    t_images, t_labels = torch.from_numpy(images), torch.from_numpy(labels)

    net = HalfBatch(ours_model) if halves else ours_model

    def step_ours():
        ours_opt.zero_grad()
        F.cross_entropy(net(scratch.Tensor(images)), labels).backward()
        ours_opt.step()

    def step_theirs():
        theirs_opt.zero_grad()
        TF.cross_entropy(theirs_model(t_images), t_labels).backward()
        theirs_opt.step()

    return step_ours, step_theirs, net


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    steady_allocator()
    with threadpool_limits(args.threads):
        print(f"threads: {args.threads} (numpy BLAS and torch), float32, "
              f"numpy {np.__version__}, torch {torch.__version__}")
        print(f"{'case':<50} {'scratch':>12} {'torch':>12} {'ratio':>8}")
        cases = {
            "conv2d LeNet C1 1->6 5x5 pad 2, 128x28x28": ((128, 1, 28, 28), (6, 1, 5, 5), 2),
            "conv2d LeNet C3 6->16 5x5, 128x14x14": ((128, 6, 14, 14), (16, 6, 5, 5), 0),
            "conv2d CIFAR 64->64 3x3 pad 1, 128x32x32": ((128, 64, 32, 32), (64, 64, 3, 3), 1),
        }
        for name, (x_shape, w_shape, padding) in cases.items():
            forward, products, unfold, both = conv_cases(x_shape, w_shape, padding)
            compare(f"{name} fwd", *forward, args.repeats)
            compare("  its products alone", *products, args.repeats)
            compare("  its unfold copy alone", *unfold, args.repeats)
            compare(f"{name} fwd+bwd", *both, args.repeats)
        compare("max_pool2d 2x2 fwd+bwd, 128x6x28x28", *pool_case((128, 6, 28, 28)),
                args.repeats)
        compare("max_pool2d 2x2 fwd+bwd, 128x64x32x32", *pool_case((128, 64, 32, 32)),
                args.repeats)
        step_ours, step_theirs, _ = lenet_step_case(128)
        whole, theirs = compare("LeNet-5 training step, batch 128 (SGD)", step_ours,
                                step_theirs, args.repeats)
        inside = step_products(step_ours, args.repeats)
        print(f"{'  its convolutions products alone':<50} {inside * 1e3:9.2f} ms "
              f"{theirs * 1e3:9.2f} ms {inside / theirs:7.2f}x  ({inside / whole:.0%} of "
              "the step)")
        if args.threads >= 2 and CAN_FORK:  # what `cnnlab train --threads 2` runs
            halves_ours, halves_theirs, net = lenet_step_case(128, halves=True)
            compare("  half of each batch in a second process", halves_ours, halves_theirs,
                    args.repeats)
            net.close()


if __name__ == "__main__":
    main()
