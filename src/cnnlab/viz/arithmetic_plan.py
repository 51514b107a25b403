"""What an animation of convolution arithmetic shows, computed before anything is drawn: the
grid the window slides over (padded, dilated taps, or zero-inserted for a transposed
convolution), every window position with its taps, and the output values from the scratch
engine. Drawing is `animate.py`'s job; this module is plain integers and arrays.

A transposed convolution is shown as Dumoulin & Visin show it: the direct convolution it equals,
at stride 1 over the input with s-1 zeros inserted between its cells and d(k-1)-p cells of
padding around it (plus the output padding at the bottom and right), with the kernel flipped.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from cnnlab import scratch
from cnnlab.arithmetic import sizes
from cnnlab.arithmetic.explain import explanation, parse_padding, parse_pair
from cnnlab.arithmetic.layers import xy
from cnnlab.scratch.nn import functional as F

INPUT, PADDING, INSERTED = "input", "padding", "inserted"
BEYOND = "beyond"  # past the padded input: where a ceil-mode window hangs over, never counted
POOL_MODES = ("max", "avg", "sum")
TIMES = "\u00d7"  # the multiplication sign
MAX_POSITIONS = 400  # one frame per output position: beyond this an animation stops teaching


@dataclass
class Tap:
    row: int  # in the drawn grid
    col: int
    weight: float | None  # the kernel value multiplying this cell (None when not given)


@dataclass
class Window:
    out_row: int
    out_col: int
    taps: list[Tap]
    value: float | None  # the output cell's value (None without input values)
    expression: str  # how the value comes out of the window, e.g. "max(3, 3, 2, ...) = 3"
    # max pooling: the cell (row, col in the drawn grid) whose value the output takes, the
    # first of equal ones in the window's row-major order, as torch's indices say
    winner: tuple[int, int] | None = None


@dataclass
class Plan:
    title: str
    formulas: list[str]  # the output-size formula with the numbers plugged in
    kinds: np.ndarray  # (rows, cols) of INPUT, PADDING or INSERTED: the drawn grid
    values: np.ndarray | None  # (rows, cols) the number in each cell, nan where none is shown
    out_shape: tuple[int, int]
    windows: list[Window] = field(default_factory=list)  # in raster order of the output
    output: np.ndarray | None = None  # (out_h, out_w) values, from the engine
    notes: list[str] = field(default_factory=list)
    input_label: str = "input"

    @property
    def grid_shape(self) -> tuple[int, int]:
        return self.kinds.shape


def parse_values(text: str, what: str = "--values") -> np.ndarray:
    """'3,3,2/0,0,1' (rows split by '/', values by ',') as a 2-D float array."""
    rows = [row.strip() for row in text.strip().split("/")]
    if not text.strip() or any(not row for row in rows):
        raise ValueError(f"{what}: expected rows of numbers separated by '/', each row's "
                         f"numbers by ',' (e.g. 3,3,2/0,0,1/3,1,2), got {text!r}")
    table = []
    for number, row in enumerate(rows, 1):
        cells = [cell.strip() for cell in row.split(",")]
        try:
            parsed = [float(cell) for cell in cells]
        except ValueError:
            bad = next(cell for cell in cells if not _is_number(cell))
            raise ValueError(f"{what}: row {number} has {bad!r}, which is not a number") \
                from None
        if not np.all(np.isfinite(parsed)):
            raise ValueError(f"{what}: row {number} has a value that is not finite")
        table.append(parsed)
    widths = {len(row) for row in table}
    if len(widths) != 1:
        counts = ", ".join(str(len(row)) for row in table)
        raise ValueError(f"{what}: every row needs the same number of values; the rows have "
                         f"{counts}")
    return np.array(table, dtype=np.float64)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def number(value: float) -> str:
    """3 for 3.0, 1.67 for 5/3: what a cell shows."""
    if float(value).is_integer():
        return str(int(value))
    return f"{value:.3g}"


def _output_sizes(facts: dict) -> tuple[list[int], list[str]]:
    """The output size and its formula per axis, from the explanation `cnnlab shapes conv`
    prints (so both commands compute, and refuse, alike)."""
    axes = facts["axes"]
    if len(axes) == 1:
        return list(facts["output"]), [f"o = {axes['H']['with_numbers']} = {facts['output'][0]}"]
    return list(facts["output"]), [f"o_{axis} = {axes[axis]['with_numbers']} = "
                                   f"{axes[axis]['output']}" for axis in "HW"]


def _check_positions(out_h: int, out_w: int) -> None:
    if out_h * out_w > MAX_POSITIONS:
        raise ValueError(f"the output has {out_h}x{out_w} = {out_h * out_w} positions, one "
                         f"frame each; animations are for small examples (at most "
                         f"{MAX_POSITIONS} positions): use a smaller --input")



def conv_plan(input_hw: tuple[int, int], kernel, stride=1, padding=0, dilation=1,
              transposed: bool = False, output_padding=0, values: np.ndarray | None = None,
              weights: np.ndarray | None = None) -> Plan:
    """A convolution (or transposed convolution) of one channel, as it will be animated.
    kernel, stride, padding, dilation and output_padding are an int or a pair (H, W);
    padding may be 'same'."""
    kernel, stride = parse_pair(kernel, "--kernel"), parse_pair(stride, "--stride")
    dilation = parse_pair(dilation, "--dilation")
    output_padding = parse_pair(output_padding, "--output-padding")
    padding = parse_padding(padding)
    if values is not None:
        values = np.asarray(values, dtype=np.float64)
        if tuple(values.shape) != tuple(input_hw):
            raise ValueError(f"--values is {values.shape[0]}x{values.shape[1]} but --input "
                             f"says {input_hw[0]}x{input_hw[1]}")
    if weights is not None:
        weights = np.asarray(weights, dtype=np.float64)
        if weights.shape != kernel:
            raise ValueError(f"--kernel-values is {weights.shape[0]}x{weights.shape[1]} but "
                             f"--kernel says {kernel[0]}x{kernel[1]}")
        if values is None:
            raise ValueError("--kernel-values needs --values: the input they multiply")
    facts = explanation(input_hw, kernel, stride, padding, dilation, transposed,
                        output_padding)
    what = facts["layer"]
    (out_h, out_w), formulas = _output_sizes(facts)
    _check_positions(out_h, out_w)
    same = padding == "same"
    settings = (f"kernel {xy(kernel)}, stride {xy(stride)}, padding "
                f"{'same' if same else xy(padding)}")
    if dilation != (1, 1):
        settings += f", dilation {xy(dilation)}"
    if transposed and output_padding != (0, 0):
        settings += f", output padding {xy(output_padding)}"
    h, w = input_hw
    if transposed:
        plan_kinds, source = _transposed_grid(input_hw, kernel, stride, padding, dilation,
                                              output_padding)
    else:
        sides = ([sizes.same_padding_sides(k, d) for k, d in zip(kernel, dilation, strict=True)]
                 if same else [(p, p) for p in padding])
        plan_kinds, source = _padded_grid(input_hw, sides)
    plan = Plan(f"{what} of a {h}x{w} input: {settings}", formulas, plan_kinds, None,
                (out_h, out_w))
    if values is not None:
        plan.values = np.zeros(plan_kinds.shape)  # padding and inserted zeros are 0
        inside = plan_kinds == INPUT
        plan.values[inside] = values[source[inside][:, 0], source[inside][:, 1]]
        plan.output = _engine_conv(values, weights, stride, padding, dilation, transposed,
                                   output_padding)
    step, taps_weight = ((1, 1), _flipped(weights)) if transposed else (stride, weights)
    if transposed:
        near = [sizes.transposed_border(k, d, p)
                for k, d, p in zip(kernel, dilation, padding, strict=True)]
        border = (f"padded by {near[0]}" if near[0] >= 0 else f"cropped by {-near[0]}") \
            if near[0] == near[1] else f"padded by {near[0]}x{near[1]}"
        inserted = [s - 1 for s in stride]
        plan.input_label = (f"input {h}x{w} with {xy(tuple(inserted))} "
                            f"zero{'s' * (inserted != [1, 1])} inserted between cells, {border}"
                            if max(stride) > 1 else f"input {h}x{w}, {border}")
        plan.notes.append("a transposed convolution equals this direct convolution at stride 1"
                          + (", kernel flipped" if weights is not None else ""))
        cropped = max(0, -min(near))
        if cropped:
            plan.notes.append(f"its padding ({xy(padding)}) exceeds d(k-1): the outer "
                              f"{cropped} cell{'s' * (cropped != 1)} of the stretched input "
                              "never reach the output")
    else:
        plan.input_label = f"input {h}x{w}" + (
            ", padding same" if same else f", padding {xy(padding)}" if padding != (0, 0)
            else "")
    for out_row in range(out_h):
        for out_col in range(out_w):
            taps = [Tap(out_row * step[0] + a * dilation[0], out_col * step[1] + b * dilation[1],
                        None if taps_weight is None else float(taps_weight[a, b]))
                    for a in range(kernel[0]) for b in range(kernel[1])]
            value = None if plan.output is None else float(plan.output[out_row, out_col])
            expression = ""
            if value is not None and weights is not None:
                expression = " + ".join(
                    f"{number(plan.values[t.row, t.col])}{TIMES}{number(t.weight)}"
                    for t in taps) + f" = {number(value)}"
            plan.windows.append(Window(out_row, out_col, taps, value, expression))
    return plan


def _flipped(weights):
    return None if weights is None else weights[::-1, ::-1]


def _padded_grid(input_hw, sides):
    """The input inside its padding; `sides` is (before, after) along H, then W."""
    h, w = input_hw
    (top, bottom), (left, right) = sides
    kinds = np.full((h + top + bottom, w + left + right), PADDING, dtype=object)
    kinds[top:top + h, left:left + w] = INPUT
    source = np.zeros((*kinds.shape, 2), dtype=np.int64)
    rows, cols = np.indices((h, w))
    source[top:top + h, left:left + w] = np.stack([rows, cols], axis=-1)
    return kinds, source


def _transposed_grid(input_hw, kernel, stride, padding, dilation, output_padding):
    """The zero-inserted, padded grid of the equivalent direct convolution. A padding larger
    than d(k-1) crops the stretched input instead (the grid starts inside it)."""
    near = [sizes.transposed_border(k, d, p)
            for k, d, p in zip(kernel, dilation, padding, strict=True)]
    stretched = [sizes.stretched_size(size, s) for size, s in zip(input_hw, stride, strict=True)]
    shape = [length + 2 * n + op
             for length, n, op in zip(stretched, near, output_padding, strict=True)]
    kinds = np.full(shape, PADDING, dtype=object)
    source = np.zeros((*shape, 2), dtype=np.int64)
    for row in range(shape[0]):
        for col in range(shape[1]):
            r, c = row - near[0], col - near[1]  # position in the stretched input
            if not (0 <= r < stretched[0] and 0 <= c < stretched[1]):
                continue
            if r % stride[0] or c % stride[1]:
                kinds[row, col] = INSERTED
            else:
                kinds[row, col] = INPUT
                source[row, col] = (r // stride[0], c // stride[1])
    return kinds, source


def _engine_conv(values, weights, stride, padding, dilation, transposed, output_padding):
    """The output from cnnlab's scratch engine; without kernel values, there is none."""
    if weights is None:
        return None
    x = scratch.tensor(values[None, None])
    w = scratch.tensor(weights[None, None])
    if transposed:
        y = F.conv_transpose2d(x, w, stride=stride, padding=padding,
                               output_padding=output_padding, dilation=dilation)
    else:
        y = F.conv2d(x, w, stride=stride, padding=padding, dilation=dilation)
    return np.asarray(y.numpy(), dtype=np.float64)[0, 0]


def pool_plan(values: np.ndarray, kernel, stride=None, padding=0, mode: str = "max",
              ceil_mode: bool = False, dilation=1) -> Plan:
    """Pooling over given values, each window's result from the scratch engine. In ceil mode
    the last window may hang past the padded input: those cells are drawn and not counted
    (max ignores them, average divides by the cells inside the padded input, as torch).
    kernel, stride, padding and dilation (max pooling only) are an int or a pair (H, W)."""
    if mode not in POOL_MODES:
        raise ValueError(f"--mode: expected one of {', '.join(POOL_MODES)}, got {mode!r}")
    values = np.asarray(values, dtype=np.float64)
    kernel = parse_pair(kernel, "--kernel")
    stride = kernel if stride is None else parse_pair(stride, "--stride")
    padding, dilation = parse_pair(padding, "--padding"), parse_pair(dilation, "--dilation")
    facts = explanation(values.shape, kernel, stride, padding, dilation, pool=mode,
                        ceil_mode=ceil_mode)
    (out_h, out_w), formulas = _output_sizes(facts)
    _check_positions(out_h, out_w)
    kinds, source = _padded_grid(values.shape, [(p, p) for p in padding])
    overhang = [max(0, sizes.window_extent(out, k, s, d) - grid)
                for out, s, d, k, grid in zip((out_h, out_w), stride, dilation, kernel,
                                              kinds.shape, strict=True)]
    if any(overhang):
        kinds = np.pad(kinds, ((0, overhang[0]), (0, overhang[1])), constant_values=BEYOND)
        source = np.pad(source, ((0, overhang[0]), (0, overhang[1]), (0, 0)))
    shown = np.full(kinds.shape, np.nan)
    inside = kinds == INPUT
    shown[inside] = values[source[inside][:, 0], source[inside][:, 1]]
    h, w = values.shape
    plan = Plan(f"{kernel[0]}x{kernel[1]} {mode} pooling of a {h}x{w} input: stride "
                f"{xy(stride)}" + (f", padding {xy(padding)}" if padding != (0, 0) else "")
                + (f", dilation {xy(dilation)}" if dilation != (1, 1) else "")
                + (", ceil mode" if ceil_mode else ""), formulas, kinds, shown,
                (out_h, out_w),
                output=_engine_pool(values, kernel, stride, padding, mode, ceil_mode, dilation))
    plan.input_label = f"input {h}x{w}" + (f", padding {xy(padding)}"
                                           if padding != (0, 0) else "")
    if padding != (0, 0):
        plan.notes.append("max pooling never picks the padding; average pooling counts it as 0"
                          if mode != "sum" else "the padding adds 0")
    if any(overhang):
        plan.notes.append("ceil mode: the last window hangs past the padded input; those "
                          "cells count for nothing" + (" (the average divides by the cells "
                                                       "inside)" if mode == "avg" else ""))
    for out_row in range(out_h):
        for out_col in range(out_w):
            taps = [Tap(out_row * stride[0] + a * dilation[0],
                        out_col * stride[1] + b * dilation[1], None)
                    for a in range(kernel[0]) for b in range(kernel[1])]
            value = float(plan.output[out_row, out_col])
            counted = [t for t in taps if plan.kinds[t.row, t.col] != BEYOND]
            winner = next(((t.row, t.col) for t in counted if plan.values[t.row, t.col] == value),
                          None) if mode == "max" else None
            plan.windows.append(Window(out_row, out_col, taps, value,
                                       _pool_expression(plan.values, counted, mode, value),
                                       winner))
    return plan


def _pool_expression(shown, taps, mode, value) -> str:
    inside = [number(shown[t.row, t.col]) for t in taps if not np.isnan(shown[t.row, t.col])]
    padded = len(taps) - len(inside)
    if mode == "max":
        return f"max({', '.join(inside)}) = {number(value)}"
    terms = " + ".join(inside + ["0"] * padded)
    if mode == "sum":
        return f"{terms} = {number(value)}"
    return f"({terms}) / {len(taps)} = {number(value)}"


def _engine_pool(values, kernel, stride, padding, mode, ceil_mode=False, dilation=(1, 1)):
    x = scratch.tensor(values[None, None])
    if mode == "max":
        y = F.max_pool2d(x, kernel, stride, padding, dilation, ceil_mode=ceil_mode)
    else:
        pool = {"avg": F.avg_pool2d, "sum": F.sum_pool2d}[mode]
        y = pool(x, kernel, stride, padding, ceil_mode=ceil_mode)
    return np.asarray(y.numpy(), dtype=np.float64)[0, 0]
