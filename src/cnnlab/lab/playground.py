"""The convolution arithmetic playground: one layer's settings, as the page's URL holds them,
turned into what the page shows. The arithmetic is `cnnlab shapes conv`'s explanation (so an
impossible combination gets the same sentence), the drawing is `viz animate`'s plan, and the
output values come from the scratch engine.

The settings are plain text fields (`input=5x5&kernel=3&padding=same...`), so that a link
reproduces the page exactly and the page needs no state of its own.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from urllib.parse import urlencode

import numpy as np

from cnnlab.arithmetic.explain import explain_layer, parse_padding, parse_pair, parse_size
from cnnlab.arithmetic.layers import xy
from cnnlab.arithmetic.sizes import same_padding_sides, stretched_size, transposed_border
from cnnlab.viz.arithmetic_plan import (
    INPUT,
    MAX_POSITIONS,
    Plan,
    conv_plan,
    number,
    parse_values,
    pool_plan,
)
from cnnlab.viz.gallery import COURSE_INPUT, COURSE_KERNEL, WORKED_INPUT, WORKED_KERNEL

LAYERS = ("conv", "transposed", "pool")
POOL_MODES = ("max", "avg", "sum")
MAX_SIDE = 4096  # any integer setting: far beyond a real layer, small enough to stay instant
MAX_CHANNELS = 65536
MAX_DRAWN_SIDE = 40  # cells along a side of the drawn grid (padding and inserted zeros too)
FIELDS = ("layer", "pool", "input", "kernel", "stride", "padding", "dilation",
          "output_padding", "ceil_mode", "in_channels", "out_channels", "groups", "bias", "x",
          "w")
DEFAULTS = {"layer": "conv", "pool": "max", "input": "5x5", "kernel": "3", "stride": "",
            "padding": "0", "dilation": "1", "output_padding": "0", "ceil_mode": "0",
            "in_channels": "1", "out_channels": "1", "groups": "1", "bias": "1", "x": "",
            "w": ""}

# One click each: the course's two worked examples and the cases of Dumoulin & Visin's guide.
EXAMPLES = (
    ("course-conv", "Course: binary image, kernel 1,0,1 / 0,1,0 / 1,0,1",
     {"input": "5x5", "kernel": "3", "x": COURSE_INPUT, "w": COURSE_KERNEL}),
    ("course-pool", "Course: 3x3 max pooling at stride 1",
     {"layer": "pool", "pool": "max", "input": "5x5", "kernel": "3", "stride": "1",
      "x": WORKED_INPUT}),
    ("worked", "Dumoulin & Visin's worked example",
     {"input": "5x5", "kernel": "3", "x": WORKED_INPUT, "w": WORKED_KERNEL}),
    ("no-padding", "No padding, unit strides", {"input": "4x4", "kernel": "3"}),
    ("same", "Same padding", {"input": "5x5", "kernel": "3", "padding": "same"}),
    ("full", "Full padding", {"input": "5x5", "kernel": "3", "padding": "2"}),
    ("strided", "Padding and strides", {"input": "5x5", "kernel": "3", "stride": "2",
                                        "padding": "1"}),
    ("dilated", "Dilation", {"input": "7x7", "kernel": "3", "dilation": "2"}),
    ("transposed", "Transposed, stride 2", {"layer": "transposed", "input": "3x3",
                                            "kernel": "3", "stride": "2"}),
)


@dataclass(frozen=True)
class Settings:
    """One layer and its numbers, checked for range; the combination is checked by the
    explanation."""

    layer: str
    pool: str
    input: tuple[int, int]
    kernel: tuple[int, int]
    stride: tuple[int, int] | None  # None: torch's default (the kernel for pooling, else 1)
    padding: tuple[int, int] | str
    dilation: tuple[int, int]
    output_padding: tuple[int, int]
    ceil_mode: bool
    in_channels: int
    out_channels: int
    groups: int
    bias: bool
    x: np.ndarray | None
    w: np.ndarray | None

    @classmethod
    def from_query(cls, query) -> Settings:
        given = {**DEFAULTS, **{key: str(query[key]).strip() for key in FIELDS
                                if key in query and str(query[key]).strip() != ""}}
        layer = _choice(given["layer"], LAYERS, "layer")
        pool = _choice(given["pool"], POOL_MODES, "pool")
        settings = cls(
            layer=layer, pool=pool,
            input=_bounded(parse_size(given["input"], "input"), "input", MAX_SIDE),
            kernel=_bounded(parse_pair(given["kernel"], "kernel"), "kernel", MAX_SIDE),
            stride=None if given["stride"] == "" else _bounded(
                parse_pair(given["stride"], "stride"), "stride", MAX_SIDE),
            padding=_bounded(parse_padding(given["padding"], "padding"), "padding", MAX_SIDE),
            dilation=_bounded(parse_pair(given["dilation"], "dilation"), "dilation", MAX_SIDE),
            output_padding=_bounded(parse_pair(given["output_padding"], "output_padding"),
                                    "output_padding", MAX_SIDE),
            ceil_mode=_flag(given["ceil_mode"], "ceil_mode"),
            in_channels=_count(given["in_channels"], "in_channels"),
            out_channels=_count(given["out_channels"], "out_channels"),
            groups=_count(given["groups"], "groups"),
            bias=_flag(given["bias"], "bias"),
            x=parse_values(given["x"], "input values") if given["x"] else None,
            w=parse_values(given["w"], "kernel values") if given["w"] else None)
        if settings.w is not None and layer == "pool":
            raise ValueError("kernel values apply to convolutions: a pooling window has no "
                             "weights")
        return settings

    def explanation_arguments(self) -> tuple[tuple, dict]:
        channels = {"in_channels": self.in_channels, "groups": self.groups, "bias": self.bias,
                    "out_channels": None if self.layer == "pool" else self.out_channels}
        return ((self.input, self.kernel, self.stride, self.padding, self.dilation,
                 self.layer == "transposed", self.output_padding,
                 self.pool if self.layer == "pool" else None, self.ceil_mode), channels)

    def command(self) -> str:
        """The same layer as a `cnnlab shapes conv` command line."""
        words = ["cnnlab shapes conv", f"--input {_xy(self.input)}", f"--kernel {_xy(self.kernel)}"]
        if self.stride is not None:
            words.append(f"--stride {_xy(self.stride)}")
        if self.padding != (0, 0):
            words.append(f"--padding {_xy(self.padding)}")
        if self.dilation != (1, 1):
            words.append(f"--dilation {_xy(self.dilation)}")
        if self.layer == "transposed":
            words.append("--transposed")
            if self.output_padding != (0, 0):
                words.append(f"--output-padding {_xy(self.output_padding)}")
        if self.layer == "pool":
            words.append(f"--pool {self.pool}" + (" --ceil-mode" if self.ceil_mode else ""))
            words.append(f"--in-channels {self.in_channels}")
        else:
            words += [f"--in-channels {self.in_channels}", f"--out-channels {self.out_channels}"]
            if self.groups != 1:
                words.append(f"--groups {self.groups}")
            if not self.bias:
                words.append("--no-bias")
        return " ".join(words)


def _xy(values) -> str:
    """A pair as the fields write it; 'same' stays itself."""
    return values if isinstance(values, str) else xy(values)


def _choice(value: str, choices: tuple[str, ...], what: str) -> str:
    if value not in choices:
        raise ValueError(f"{what}: expected one of {', '.join(choices)}, got {value!r}")
    return value


def _flag(value: str, what: str) -> bool:
    if value not in ("0", "1"):
        raise ValueError(f"{what}: expected 0 or 1, got {value!r}")
    return value == "1"


def _count(value: str, what: str) -> int:
    if not value.isdigit() or not 1 <= int(value) <= MAX_CHANNELS:
        raise ValueError(f"{what}: expected a whole number from 1 to {MAX_CHANNELS}, got "
                         f"{value!r}")
    return int(value)


def _bounded(values, what: str, limit: int):
    if isinstance(values, str):
        return values
    if max(values) > limit:
        raise ValueError(f"{what}: at most {limit} in the playground, got {_xy(values)}")
    return values


def default_input(shape: tuple[int, int]) -> np.ndarray:
    """Small whole numbers, the same for the same size, as in the guide's figures."""
    return np.random.default_rng(shape[0] * 10_007 + shape[1]).integers(0, 4, shape) \
        .astype(np.float64)


def default_kernel(shape: tuple[int, int]) -> np.ndarray:
    if shape == (3, 3):
        return parse_values(WORKED_KERNEL)
    return np.random.default_rng(shape[0] * 101 + shape[1]).integers(0, 3, shape) \
        .astype(np.float64)


def compute(query) -> dict:
    """Everything the page shows for these settings; a ValueError carries the one sentence
    the page shows instead (the same one `cnnlab shapes conv` prints)."""
    settings = Settings.from_query(query)
    arguments, channels = settings.explanation_arguments()
    text, facts = explain_layer(*arguments, **channels)
    answer = {"settings": _echo(settings), "explanation": facts, "text": text,
              "command": settings.command(), "drawing": None, "not_drawn": None}
    reason = _too_big_to_draw(settings, facts)
    if reason:
        answer["not_drawn"] = reason
        return answer
    plan = _plan(settings)
    answer["drawing"] = plan_json(plan)
    answer["drawing"]["channels_note"] = _channels_note(settings)
    return answer


def _echo(settings: Settings) -> dict:
    """The settings as the page's fields hold them (with the values in use filled in)."""
    x = settings.x if settings.x is not None else default_input(settings.input)
    w = settings.w if settings.w is not None else default_kernel(settings.kernel)
    return {"layer": settings.layer, "pool": settings.pool, "input": _xy(settings.input),
            "kernel": _xy(settings.kernel),
            "stride": "" if settings.stride is None else _xy(settings.stride),
            "padding": _xy(settings.padding), "dilation": _xy(settings.dilation),
            "output_padding": _xy(settings.output_padding),
            "ceil_mode": "1" if settings.ceil_mode else "0",
            "in_channels": str(settings.in_channels), "out_channels": str(settings.out_channels),
            "groups": str(settings.groups), "bias": "1" if settings.bias else "0",
            "x": values_text(x), "w": "" if settings.layer == "pool" else values_text(w)}


def values_text(values: np.ndarray) -> str:
    return "/".join(",".join(number(value) for value in row) for row in values)


def _too_big_to_draw(settings: Settings, facts: dict) -> str | None:
    out_h, out_w = facts["output"]
    if out_h * out_w > MAX_POSITIONS:
        return (f"the output has {out_h}x{out_w} = {out_h * out_w:,} positions; the drawing "
                f"shows one window per position and stops teaching beyond {MAX_POSITIONS}")
    h, w = settings.input
    if settings.layer == "transposed":
        stride = settings.stride or (1, 1)
        grid = [stretched_size(size, s) + 2 * transposed_border(k, d, p) + op for
                size, s, k, d, p, op in zip((h, w), stride, settings.kernel, settings.dilation,
                                            settings.padding, settings.output_padding,
                                            strict=True)]
    else:
        pads = ([sum(same_padding_sides(k, d))
                 for k, d in zip(settings.kernel, settings.dilation, strict=True)]
                if settings.padding == "same" else [2 * p for p in settings.padding])
        grid = [size + pad for size, pad in zip((h, w), pads, strict=True)]
    if max(grid) > MAX_DRAWN_SIDE:
        return (f"the drawn grid would be {grid[0]}x{grid[1]} cells; the drawing shows at "
                f"most {MAX_DRAWN_SIDE} a side")
    return None


def _plan(settings: Settings) -> Plan:
    x = settings.x if settings.x is not None else default_input(settings.input)
    if tuple(x.shape) != settings.input:
        raise ValueError(f"the input values are {x.shape[0]}x{x.shape[1]} but the input is "
                         f"{settings.input[0]}x{settings.input[1]}")
    if settings.layer == "pool":
        return pool_plan(x, settings.kernel, settings.stride, settings.padding, settings.pool,
                         settings.ceil_mode, settings.dilation)
    w = settings.w if settings.w is not None else default_kernel(settings.kernel)
    if tuple(w.shape) != settings.kernel:
        raise ValueError(f"the kernel values are {w.shape[0]}x{w.shape[1]} but the kernel is "
                         f"{settings.kernel[0]}x{settings.kernel[1]}")
    return conv_plan(settings.input, settings.kernel, settings.stride or 1, settings.padding,
                     settings.dilation, settings.layer == "transposed", settings.output_padding,
                     x, w)


def _channels_note(settings: Settings) -> str | None:
    if settings.layer == "pool":
        return (f"drawn: one of the {settings.in_channels} channels; pooling treats each "
                "channel alone") if settings.in_channels > 1 else None
    per_output = (settings.in_channels if settings.layer == "transposed" else
                  settings.in_channels // max(settings.groups, 1))
    if per_output <= 1 and settings.out_channels == 1:
        return None
    return (f"drawn: one input channel and one filter; each output value adds {per_output} "
            f"such window sums (one per input channel it sees)"
            + (" and its bias" if settings.bias else "")
            + f", for each of the {settings.out_channels} output channels")


def _cell(value: float) -> float | None:
    return None if value is None or math.isnan(value) else float(value)


def plan_json(plan: Plan) -> dict:
    """The drawing as JSON: the grid's kinds and values, each window's taps (row, column,
    weight), the output, and the input cells no window reaches."""
    rows, cols = plan.grid_shape
    seen = np.zeros((rows, cols), dtype=bool)
    for window in plan.windows:
        for tap in window.taps:
            if tap.row < rows and tap.col < cols:
                seen[tap.row, tap.col] = True
    unseen = [[int(r), int(c)] for r, c in zip(*np.nonzero((plan.kinds == INPUT) & ~seen),
                                               strict=True)]
    return {
        "title": plan.title, "formulas": plan.formulas, "input_label": plan.input_label,
        "notes": plan.notes, "kinds": plan.kinds.tolist(),
        "values": None if plan.values is None else
        [[_cell(value) for value in row] for row in plan.values],
        "out_shape": list(plan.out_shape),
        "output": None if plan.output is None else
        [[_cell(value) for value in row] for row in plan.output],
        "windows": [{"out": [window.out_row, window.out_col],
                     "taps": [[tap.row, tap.col, tap.weight] for tap in window.taps],
                     "value": window.value, "expression": window.expression}
                    for window in plan.windows],
        "unseen": unseen,
    }


def example_links() -> list[dict]:
    """The examples as the page lists them: a key, a label and the query each opens."""
    return [{"key": key, "label": label, "query": urlencode(settings)}
            for key, label, settings in EXAMPLES]
