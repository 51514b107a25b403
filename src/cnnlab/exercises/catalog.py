"""The course's backpropagation exercises: what each asks, its hints, and the cases it is
graded on.

Every exercise is a forward pass (given, in NumPy) and a backward pass (the student's). Its
cases are drawn from a seed (afresh at each local check; a leaderboard task's own, hidden),
so a solution cannot be fitted to them: case 0 is the plain layer, the next few each exercise
one setting (stride, padding, dilation, groups, output padding, ties), the rest mix them all.
Whatever the draw, each case that exercises a setting is one where getting that setting wrong
changes a gradient: a batch of two or more (a bias summed over one example), a non-square
kernel (axes swapped, a kernel flipped), groups with unequal input and output channels per
group (the two mixed up), windows with tied maxima (the gradient sent to every winner, or to
the last). tests/exercises/test_mutants.py holds those mistakes and checks that each loses
marks on every draw. The reference is torch's autograd in float64.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cnnlab.arithmetic.sizes import effective_kernel, window_count, window_extent

TEMPLATES = Path(__file__).parent / "templates"
CASES_PER_EXERCISE = 10
LARGE = CASES_PER_EXERCISE - 1  # a convolution's last case: a photo-sized image (see _large)
LARGE_SIDE = 256

EQUATIONS = """\
The four fundamental equations of backpropagation, for a layer l with pre-activation
z^l = w^l a^(l-1) + b^l, activation a^l = sigma(z^l), and delta^l = dC/dz^l:

  (BP1)  delta^L = grad_a C * sigma'(z^L)                    the error at the output
  (BP2)  delta^l = ((w^(l+1))^T delta^(l+1)) * sigma'(z^l)   the error moves back one layer
  (BP3)  dC/db^l_j = delta^l_j                               a bias gets its unit's error
  (BP4)  dC/dw^l_jk = a^(l-1)_k delta^l_j                    a weight: its input times the error

Here `dout` is the gradient arriving at this layer's output; return the gradient of each
input, of the same shape as that input. Check each by hand on a tiny case first."""


@dataclass
class Case:
    params: dict  # ints and pairs, passed to the forward by name
    arrays: dict[str, np.ndarray]  # the forward's array inputs, by name
    directions: dict[str, np.ndarray] = field(default_factory=dict)  # for the numerical check

    def describe(self) -> str:
        settings = ", ".join(f"{k} {_text(v)}" for k, v in self.params.items())
        shapes = ", ".join(f"{k} {'x'.join(map(str, a.shape)) or 'scalar'}"
                           for k, a in self.arrays.items())
        return f"{settings}; {shapes}" if settings else shapes


def _text(value) -> str:
    if isinstance(value, tuple):
        return str(value[0]) if len(set(value)) == 1 else "x".join(map(str, value))
    return f"{value:g}" if isinstance(value, float) else str(value)


@dataclass(frozen=True)
class Exercise:
    name: str
    title: str
    inputs: tuple[str, ...]  # the forward's array arguments, in order
    differentiable: tuple[str, ...]  # what backward returns gradients for, in order
    hints: str
    make_case: Callable[[np.random.Generator, int], Case]
    reference: Callable[[Case], tuple[np.ndarray, Callable]]  # torch: out, dout -> grads

    @property
    def forward(self) -> str:
        return f"{self.name}_forward"

    @property
    def backward(self) -> str:
        return f"{self.name}_backward"

    def student_file(self) -> str:
        """The file `cnnlab exercise start` writes: the task, the hints, the code."""
        header = (f'"""Exercise: {self.title}.\n\n'
                  f"Write `{self.backward}`; `{self.forward}` is given and is what it "
                  f"differentiates.\nUse NumPy only (torch and cnnlab are refused). Grade it "
                  f"with `cnnlab exercise check`.\n\nHints: {self.hints}\n\n{EQUATIONS}\n"
                  '"""\n\n')
        return header + (TEMPLATES / f"{self.name}.py").read_text()


# ----------------------------------------------------------------------------- drawing cases


def _pair(rng, low: int, high: int) -> tuple[int, int]:
    return int(rng.integers(low, high + 1)), int(rng.integers(low, high + 1))


def _at_least(rng, first: int, low: int, high: int) -> tuple[int, int]:
    """A pair whose first value is `first` (so the setting is really exercised)."""
    pair = (first, int(rng.integers(low, high + 1)))
    return pair if rng.random() < 0.5 else pair[::-1]


def _setting(rng, k: int, index: int, special, plain, mixed):
    """Case `index` exercises this setting; cases past the specials mix every setting."""
    if k == index:
        return special()
    return mixed() if k >= CASES_PER_EXERCISE // 2 else plain


def _size(rng, dilation: int, kernel: int, padding: int, stride: int) -> int:
    """An input size the window fits, with at least two outputs along a strided axis (where
    a single output would hide a solution that ignores the stride)."""
    least = stride if stride > 1 else 0
    return max(1, effective_kernel(kernel, dilation) - 2 * padding) + int(
        rng.integers(least, least + 5))


def _kernel(rng, dilation: tuple[int, int], smallest: int = 1) -> tuple[int, int]:
    """A kernel of 2 or more along a dilated axis (dilation does nothing to a 1-tap kernel)."""
    return tuple(int(rng.integers(max(smallest, 2 if d > 1 else 1), 5))  # type: ignore[return-value]
                 for d in dilation)


def _non_square(rng) -> tuple[int, int]:
    """A kernel of 2 by 3 or 3 by 2: swapped axes or a flipped kernel show in it."""
    return (2, 3) if rng.random() < 0.5 else (3, 2)


def _group_sizes(rng, unequal: bool) -> tuple[int, int]:
    """Input and output channels per group; `unequal`: never the same, so a solution that
    slices one with the other's size fails."""
    if unequal:
        return (1, 2) if rng.random() < 0.5 else (2, 1)
    return int(rng.integers(1, 3)), int(rng.integers(1, 3))


def _large(rng, transposed: bool) -> Case:
    """One grey 256x256 image and two 3x3 filters: a derived backward takes milliseconds (a
    loop over every position and tap in plain Python, seconds), one that differentiates the
    forward numerically needs a forward per pixel, tens of thousands (the grader's time
    budget, grading.BACKWARD_BUDGET_S, tells them apart)."""
    x = rng.standard_normal((1, 1, LARGE_SIDE, LARGE_SIDE))
    w = rng.standard_normal((1, 2, 3, 3) if transposed else (2, 1, 3, 3))
    params = dict(stride=(1, 1), padding=(1, 1), dilation=(1, 1), groups=1)
    if transposed:
        params = dict(stride=(1, 1), padding=(1, 1), output_padding=(0, 0), dilation=(1, 1),
                      groups=1)
    return Case(params, dict(x=x, w=w, b=rng.standard_normal(2)))


def _conv2d_case(rng, k) -> Case:
    if k == LARGE:
        return _large(rng, transposed=False)
    stride = _setting(rng, k, 1, lambda: _at_least(rng, 2, 1, 3), (1, 1),
                      lambda: _pair(rng, 1, 3))
    padding = _setting(rng, k, 2, lambda: _at_least(rng, 1, 0, 2), (0, 0),
                       lambda: _pair(rng, 0, 2))
    dilation = _setting(rng, k, 3, lambda: _at_least(rng, 2, 1, 2), (1, 1),
                        lambda: _pair(rng, 1, 2))
    groups = _setting(rng, k, 4, lambda: int(rng.integers(2, 4)), 1,
                      lambda: int(rng.choice([1, 1, 2, 3])))
    kh, kw = _non_square(rng) if k == 0 else _kernel(rng, dilation)
    c_group, o_group = _group_sizes(rng, unequal=k == 4)
    c, o = groups * c_group, groups * o_group
    n = 2 if k == 0 else int(rng.integers(1, 3))
    h = _size(rng, dilation[0], kh, padding[0], stride[0])
    w = _size(rng, dilation[1], kw, padding[1], stride[1])
    return Case(dict(stride=stride, padding=padding, dilation=dilation, groups=groups),
                dict(x=rng.standard_normal((n, c, h, w)),
                     w=rng.standard_normal((o, c // groups, kh, kw)),
                     b=rng.standard_normal(o)))


def _conv_transpose2d_case(rng, k) -> Case:
    if k == LARGE:
        return _large(rng, transposed=True)
    stride = _setting(rng, k, 1, lambda: _at_least(rng, 2, 1, 3), (1, 1),
                      lambda: _pair(rng, 1, 3))
    dilation = _setting(rng, k, 4, lambda: _at_least(rng, 2, 1, 2), (1, 1),
                        lambda: _pair(rng, 1, 2))
    if k == 3:  # output padding needs a stride (or dilation) above it
        stride = _pair(rng, 2, 3)
    output_padding = tuple(
        int(rng.integers(1 if k == 3 else 0, max(s, d)))
        if (k == 3 or k >= CASES_PER_EXERCISE // 2) else 0
        for s, d in zip(stride, dilation, strict=True))
    groups = _setting(rng, k, 5, lambda: int(rng.integers(2, 4)), 1,
                      lambda: int(rng.choice([1, 1, 2])))
    kh, kw = _non_square(rng) if k == 0 else \
        _kernel(rng, dilation, smallest=3 if k == 2 else 1)  # room to crop when k == 2
    # two inputs or more along a strided axis, or the stride would change nothing
    n = 2 if k == 0 else int(rng.integers(1, 3))
    h, w = (int(rng.integers(2 if s > 1 else 1, 5)) for s in stride)
    # padding crops the output: keep at least one row and column
    full = [window_extent(size, kk, s, d) + op for size, s, d, kk, op in
            zip((h, w), stride, dilation, (kh, kw), output_padding, strict=True)]
    padding = tuple(int(rng.integers(0, (f - 1) // 2 + 1)) if k >= 5 else 0 for f in full)
    if k == 2:
        padding = tuple(int(rng.integers(1, (f - 1) // 2 + 1)) if f >= 3 else 0 for f in full)
    c_group, o_group = _group_sizes(rng, unequal=k == 5)
    c, o = groups * c_group, groups * o_group
    return Case(dict(stride=stride, padding=padding, output_padding=output_padding,
                     dilation=dilation, groups=groups),
                dict(x=rng.standard_normal((n, c, h, w)),
                     w=rng.standard_normal((c, o // groups, kh, kw)),
                     b=rng.standard_normal(o)))


def _pool_case(rng, k, dilated: bool) -> Case:
    if dilated and k == 4:
        return _tied_pool_case(rng)
    dilation = (1, 1)
    if dilated:
        dilation = _setting(rng, k, 3, lambda: _at_least(rng, 2, 1, 2), (1, 1),
                            lambda: _pair(rng, 1, 2))
    kernel = _non_square(rng) if k == 0 else \
        _kernel(rng, dilation, smallest=2 if k == 2 else 1)  # padding needs 2 or more
    stride = _setting(rng, k, 1, lambda: _at_least(rng, 2, 1, 3), kernel,
                      lambda: _pair(rng, 1, 3))
    padding = _setting(rng, k, 2, lambda: tuple(min(1, kk // 2) for kk in kernel), (0, 0),
                       lambda: tuple(int(rng.integers(0, kk // 2 + 1)) for kk in kernel))
    params = dict(kernel_size=kernel, stride=stride, padding=padding)
    if dilated:
        params["dilation"] = dilation
    n, c = int(rng.integers(1, 3)), int(rng.integers(1, 4))
    h, w = (_size(rng, d, kk, p, s)
            for d, kk, p, s in zip(dilation, kernel, padding, stride, strict=True))
    # A dilated window can fall wholly in the padding: its maximum is -inf, and torch's
    # backward then writes out of bounds (heap corruption); such a layer has no meaning.
    while _padding_only_window(h, kernel[0], stride[0], padding[0], dilation[0]):
        h += 1
    while _padding_only_window(w, kernel[1], stride[1], padding[1], dilation[1]):
        w += 1
    return Case(params, dict(x=rng.standard_normal((n, c, h, w))))


def _tied_pool_case(rng) -> Case:
    """Max pooling over whole numbers from -1 to 1: most windows hold their maximum twice or
    more, and overlap, so the gradient must go to each window's first winner only (torch's
    choice, as the forward's argmax). No direction for the numerical check: a maximum held
    twice has no derivative."""
    kernel = (2, 2) if rng.random() < 0.5 else (3, 2)
    n, c = 2, int(rng.integers(1, 3))
    h, w = (int(rng.integers(kk + 2, kk + 5)) for kk in kernel)
    x = rng.integers(-1, 2, (n, c, h, w)).astype(np.float64)
    return Case(dict(kernel_size=kernel, stride=(1, 1), padding=(0, 0), dilation=(1, 1)),
                dict(x=x), directions=dict(x=np.zeros_like(x)))


def _padding_only_window(size: int, kernel: int, stride: int, padding: int,
                         dilation: int) -> bool:
    out = window_count(size, kernel, stride, padding, padding, dilation)
    return any(all(not padding <= o * stride + i * dilation < padding + size
                   for i in range(kernel)) for o in range(out))


def _relu_case(rng, k) -> Case:
    x = rng.standard_normal(tuple(int(s) for s in rng.integers(1, 5, int(rng.integers(1, 5)))))
    x[rng.random(x.shape) < 0.1] = 0.0  # torch's choice: the gradient at exactly 0 is 0
    if k == 0:
        x.flat[int(rng.integers(x.size))] = 0.0  # at least one
    return Case({}, dict(x=x), directions=dict(x=np.where(x == 0, 0.0,
                                                          rng.standard_normal(x.shape))))


def _linear_case(rng, k) -> Case:
    n, d, m = (int(v) for v in rng.integers(1, 7, 3))
    if k == 0:  # a batch, and a weight matrix that is not square
        n, d, m = int(rng.integers(2, 7)), 2, 3
    return Case({}, dict(x=rng.standard_normal((n, d)), w=rng.standard_normal((m, d)),
                         b=rng.standard_normal(m)))


def _batch_norm_case(rng, k) -> Case:
    n, c, h, w = int(rng.integers(2, 5)), int(rng.integers(1, 4)), *(
        int(v) for v in rng.integers(2 if k == 0 else 1, 4, 2))
    return Case(dict(eps=float(rng.choice([1e-5, 1e-3, 0.1]))),
                dict(x=rng.standard_normal((n, c, h, w)) * 2 + 1,
                     gamma=rng.standard_normal(c), beta=rng.standard_normal(c)))


def _cross_entropy_case(rng, k) -> Case:
    n, c = int(rng.integers(2 if k == 0 else 1, 7)), int(rng.integers(2, 9))
    return Case({}, dict(logits=rng.standard_normal((n, c)) * 3,
                         targets=rng.integers(0, c, n)))


# ----------------------------------------------------------------------------- references


def _torch_reference(case: Case, differentiable, compute):
    import torch

    tensors = {name: torch.tensor(array, requires_grad=name in differentiable)
               for name, array in case.arrays.items()}
    out = compute(torch, tensors, case.params)

    def backward(dout: np.ndarray) -> list[np.ndarray]:
        grads = torch.autograd.grad(out, [tensors[name] for name in differentiable],
                                    torch.tensor(dout), retain_graph=True)
        return [g.numpy() for g in grads]

    return out.detach().numpy(), backward


def _reference(differentiable, compute):
    return lambda case: _torch_reference(case, differentiable, compute)


EXERCISES = {e.name: e for e in [
    Exercise(
        "relu", "the backward pass of ReLU", ("x",), ("x",),
        "ReLU is its own sigma: by BP2, dx = dout * sigma'(x), and sigma'(x) is 1 where x > 0 "
        "and 0 elsewhere (torch takes 0 at exactly x = 0).",
        _relu_case, _reference(("x",), lambda t, v, p: t.relu(v["x"]))),
    Exercise(
        "linear", "the backward pass of a fully connected layer", ("x", "w", "b"),
        ("x", "w", "b"),
        "BP4 gives dw (each weight: its input times the output error, summed over the batch), "
        "BP3 gives db (summed over the batch), BP2 gives dx (the error sent back through w).",
        _linear_case,
        _reference(("x", "w", "b"),
                   lambda t, v, p: t.nn.functional.linear(v["x"], v["w"], v["b"]))),
    Exercise(
        "conv2d", "the backward pass of a 2-D convolution (stride, padding, dilation, groups)",
        ("x", "w", "b"), ("x", "w", "b"),
        "a convolution is a linear layer whose weights are shared across positions. BP4: dw "
        "sums, over every output position, the input patch that position saw times dout "
        "there; BP3: db sums dout over the batch and positions; BP2: dx sends each dout value "
        "back through the same weights onto the pixels its patch covered (a transposed "
        "convolution), then drops the padding. Follow the forward's loop over kernel taps.",
        _conv2d_case,
        _reference(("x", "w", "b"), lambda t, v, p: t.nn.functional.conv2d(
            v["x"], v["w"], v["b"], p["stride"], p["padding"], p["dilation"], p["groups"]))),
    Exercise(
        "conv_transpose2d", "the backward pass of a 2-D transposed convolution",
        ("x", "w", "b"), ("x", "w", "b"),
        "the forward scatters each input value times the kernel onto the output; its "
        "backward gathers: dx at an input position is the kernel dotted with the dout patch it "
        "was scattered onto (an ordinary convolution of dout), dw pairs each input value with "
        "that patch, db sums dout. Pad dout back to the uncropped size first.",
        _conv_transpose2d_case,
        _reference(("x", "w", "b"), lambda t, v, p: t.nn.functional.conv_transpose2d(
            v["x"], v["w"], v["b"], p["stride"], p["padding"], p["output_padding"],
            p["groups"], p["dilation"]))),
    Exercise(
        "max_pool2d", "the backward pass of max pooling", ("x",), ("x",),
        "max has no weights: each window passes its gradient to the one input that won it "
        "(the maximum), the others get nothing from that window; windows that overlap add "
        "up. Find the winner by comparing each tap's slice with the output.",
        lambda rng, k: _pool_case(rng, k, dilated=True),
        _reference(("x",), lambda t, v, p: t.nn.functional.max_pool2d(
            v["x"], p["kernel_size"], p["stride"], p["padding"], p["dilation"]))),
    Exercise(
        "avg_pool2d", "the backward pass of average pooling", ("x",), ("x",),
        "each output is a sum of its window's inputs times 1/(KH*KW), so each input gets "
        "dout/(KH*KW) from every window that contains it; overlapping windows add up, and "
        "the padding's share is dropped.",
        lambda rng, k: _pool_case(rng, k, dilated=False),
        _reference(("x",), lambda t, v, p: t.nn.functional.avg_pool2d(
            v["x"], p["kernel_size"], p["stride"], p["padding"]))),
    Exercise(
        "batch_norm", "the backward pass of batch normalisation (training mode)",
        ("x", "gamma", "beta"), ("x", "gamma", "beta"),
        "dgamma and dbeta are BP4 and BP3 per channel (with x_hat as the input). For dx, "
        "remember that every x of a channel moves the mean and the variance: with m values per "
        "channel, dx = inv_std/m * (m*dx_hat - sum(dx_hat) - x_hat*sum(dx_hat*x_hat)), "
        "dx_hat = dout*gamma; derive it before you trust it.",
        _batch_norm_case,
        _reference(("x", "gamma", "beta"), lambda t, v, p: t.nn.functional.batch_norm(
            v["x"], None, None, v["gamma"], v["beta"], True, 0.0, p["eps"]))),
    Exercise(
        "softmax_cross_entropy", "the backward pass of softmax cross-entropy",
        ("logits", "targets"), ("logits",),
        "this is BP1 for the output layer: the gradient of the mean loss with respect to the "
        "logits is (softmax(logits) - onehot(targets)) / N, times dout.",
        _cross_entropy_case,
        _reference(("logits",), lambda t, v, p: t.nn.functional.cross_entropy(
            v["logits"], v["targets"]))),
]}


def get_exercise(name: str) -> Exercise:
    if name not in EXERCISES:
        raise ValueError(f"unknown exercise {name!r}; choose one of {', '.join(EXERCISES)}")
    return EXERCISES[name]
