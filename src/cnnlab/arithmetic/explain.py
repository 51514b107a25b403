"""One layer explained: the formula, the numbers plugged in, the result, the receptive field
and the uneven-coverage warning (what `cnnlab shapes conv` prints)."""

from __future__ import annotations

from cnnlab.arithmetic import receptive_field as rf
from cnnlab.arithmetic import sizes

POOL_MODES = ("max", "avg", "sum")


def _dimensions(text: str) -> tuple[int, ...]:
    """'3x32x32' as (3, 32, 32); () when it is not 1 to 3 positive integers."""
    parts = text.lower().replace("\u00d7", "x").split("x")  # a pasted multiplication sign too
    try:
        numbers = tuple(int(part) for part in parts)
    except ValueError:
        return ()
    return numbers if 1 <= len(numbers) <= 3 and min(numbers) >= 1 else ()


def parse_size(text: str, what: str = "--input") -> tuple[int, int]:
    """'5' or '5x5' (HxW); a trailing channel count ('5x5x3') is accepted and ignored."""
    numbers = _dimensions(text)
    if not numbers:
        raise ValueError(f"{what}: expected a size like 5 or 5x5 (height x width, positive "
                         f"integers), got {text!r}")
    return (numbers[0], numbers[0]) if len(numbers) == 1 else (numbers[0], numbers[1])


def _formula_and_result(size, kernel, stride, padding, dilation, transposed, output_padding,
                        pool, ceil_mode, layer) -> tuple[str, str, int]:
    if transposed:
        return ("(i-1)s - 2p + d(k-1) + output_padding + 1",
                sizes.conv_transpose_formula(size, kernel, stride, padding, output_padding,
                                             dilation),
                sizes.conv_transpose_output_size(size, kernel, stride, padding, output_padding,
                                                 dilation, layer=layer))
    if pool:
        rounding = "ceil" if ceil_mode else "floor"
        return (f"{rounding}((i + 2p - d(k-1) - 1)/s) + 1",
                sizes.pool_formula(size, kernel, stride, padding, dilation, ceil_mode),
                sizes.pool_output_size(size, kernel, stride, padding, dilation, ceil_mode,
                                       layer=layer))
    return ("floor((i + 2p - d(k-1) - 1)/s) + 1",
            sizes.conv_formula(size, kernel, stride, padding, dilation),
            sizes.conv_output_size(size, kernel, stride, padding, dilation, layer=layer))


def explain(input_size: tuple[int, int], kernel: int, stride: int = 1, padding: int = 0,
            dilation: int = 1, transposed: bool = False, output_padding: int = 0,
            pool: str | None = None, ceil_mode: bool = False) -> str:
    """What `cnnlab shapes conv` prints."""
    lines, _ = _explained(input_size, kernel, stride, padding, dilation, transposed,
                          output_padding, pool, ceil_mode)
    return "\n".join(lines) + "\n"


def explanation(input_size: tuple[int, int], kernel: int, stride: int = 1, padding: int = 0,
                dilation: int = 1, transposed: bool = False, output_padding: int = 0,
                pool: str | None = None, ceil_mode: bool = False) -> dict:
    """The same facts as `explain`, as data (`cnnlab shapes conv --json`)."""
    _, facts = _explained(input_size, kernel, stride, padding, dilation, transposed,
                          output_padding, pool, ceil_mode)
    return facts


def _explained(input_size, kernel, stride, padding, dilation, transposed, output_padding,
               pool, ceil_mode) -> tuple[list[str], dict]:
    if pool is not None and pool not in POOL_MODES:
        raise ValueError(f"--pool: expected one of {', '.join(POOL_MODES)}, got {pool!r}")
    if transposed and pool:
        raise ValueError("choose either --transposed or --pool, not both")
    if ceil_mode and not pool:
        raise ValueError("--ceil-mode applies to pooling only (add --pool max|avg|sum)")
    if output_padding and not transposed:
        raise ValueError("--output-padding applies to transposed convolutions only "
                         "(add --transposed)")
    what = ("transposed convolution" if transposed else f"{pool} pooling" if pool
            else "convolution")
    h, w = input_size
    settings = f"kernel {kernel}, stride {stride}, padding {padding}, dilation {dilation}"
    if transposed:
        settings += f", output padding {output_padding}"
    if pool and ceil_mode:
        settings += ", ceil mode"
    lines = [f"{what} of a {h}x{w} input: {settings}"]
    facts: dict = {"layer": what, "input": [h, w], "kernel": kernel, "stride": stride,
                   "padding": padding, "dilation": dilation, "axes": {}}
    if transposed:
        facts["output_padding"] = output_padding
    if pool:
        facts["ceil_mode"] = ceil_mode
    outputs = []
    axes = [("H", h)] if h == w else [("H", h), ("W", w)]
    for axis, size in axes:
        name = "out" if h == w else f"{axis}_out"
        formula, plugged, result = _formula_and_result(
            size, kernel, stride, padding, dilation, transposed, output_padding, pool,
            ceil_mode, f"this {what} ({axis})")
        indent = " " * len(name)
        lines += [f"{name} = {formula}", f"{indent} = {plugged}"]
        facts["axes"][axis] = {"formula": formula, "with_numbers": plugged, "output": result}
        rounded_up = -(-(size + 2 * padding - dilation * (kernel - 1) - 1) // stride) + 1
        if pool and ceil_mode and rounded_up != result:
            lines += [f"{indent} = {rounded_up}, but window {rounded_up} would start at "
                      f"{(rounded_up - 1) * stride - padding}, in the right padding (the input "
                      f"ends at {size - 1}); PyTorch drops it",
                      f"{indent} = {result}"]
            facts["axes"][axis]["dropped_window"] = rounded_up
        else:
            lines.append(f"{indent} = {result}")
        outputs.append(result)
    out_h, out_w = (outputs * 2)[:2]
    lines.append(f"output: {out_h}x{out_w}")
    facts["output"] = [out_h, out_w]

    step = rf.through_transposed if transposed else rf.through_window
    field = step(rf.INPUT_PIXEL, kernel, stride, padding, dilation)
    lines.append(f"receptive field: each output sees {field.pixels}x{field.pixels} input pixels; "
                 f"neighbouring outputs are {_jump(field)} apart; the first one is centred on "
                 f"input position {_position(field.start)}")
    facts["receptive_field"] = field.as_dict()
    warnings = []
    if not transposed and not (pool and ceil_mode):
        warnings = sizes.coverage_warnings(
            (h, w), (kernel, kernel), (stride, stride), (padding, padding), (dilation, dilation))
    lines += [f"warning: {message}" for message in warnings]
    facts["warnings"] = list(warnings)
    return lines, facts


def _jump(field: rf.ReceptiveField) -> str:
    jump = field.jump
    return f"{jump.numerator} input pixel{'s' if jump != 1 else ''}" if jump.denominator == 1 \
        else f"{float(jump):g} input pixels"


def _position(value) -> str:
    text = f"{float(value):g}"
    return text + (" (in the padding)" if value < 0 else "")


def parse_shape(text: str, what: str = "--input") -> tuple[int, ...]:
    """A model input: 'CxHxW' (torch's order, e.g. 3x227x227), 'HxW' or 'H'."""
    numbers = _dimensions(text)
    if not numbers:
        raise ValueError(f"{what}: expected CxHxW (channels first, e.g. 3x227x227), HxW or a "
                         f"single size, all positive integers; got {text!r}")
    return numbers
