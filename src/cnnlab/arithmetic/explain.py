"""One layer explained: the formula, the numbers plugged in, the result, the receptive field
and the uneven-coverage warning (what `cnnlab shapes conv` prints, and the lab's playground
shows). Rectangular kernels, per-axis strides and padding='same' are explained axis by axis;
given channels, the parameters and multiply-adds too."""

from __future__ import annotations

from cnnlab.arithmetic import layers, sizes
from cnnlab.arithmetic import receptive_field as rf
from cnnlab.arithmetic.layers import xy

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


def parse_pair(text, what: str) -> tuple[int, int]:
    """'3' or '3x5' (along H, then W) as a pair of integers; an int or a pair passes through.
    Whether the numbers are in range is the size formulas' to say."""
    if isinstance(text, int) and not isinstance(text, bool):
        return text, text
    if isinstance(text, (tuple, list)) and len(text) == 2:
        return int(text[0]), int(text[1])
    parts = str(text).strip().lower().replace("\u00d7", "x").split("x")
    try:
        numbers = [int(part) for part in parts]
    except ValueError:
        numbers = []
    if len(numbers) not in (1, 2):
        raise ValueError(f"{what}: expected a whole number like 3, or 3x5 for height x width, "
                         f"got {text!r}")
    return (numbers[0], numbers[0]) if len(numbers) == 1 else (numbers[0], numbers[1])


def parse_padding(text, what: str = "--padding") -> tuple[int, int] | str:
    """A padding: 'same', 'valid' (0) or what `parse_pair` reads."""
    if isinstance(text, str) and text.strip().lower() in ("same", "valid"):
        return "same" if text.strip().lower() == "same" else (0, 0)
    try:
        return parse_pair(text, what)
    except ValueError:
        raise ValueError(f"{what}: expected a whole number like 1, 1x2 for height x width, or "
                         f"same, got {text!r}") from None



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


def _same_formula_and_result(size, kernel, dilation, layer) -> tuple[str, str, int]:
    """padding='same' with an odd total: the two sides differ, so 2p becomes their sum."""
    before, after = sizes.same_padding_sides(kernel, dilation)
    sizes.conv_output_size(size, kernel, 1, before, dilation, layer=layer)  # checks the ranges
    return ("floor((i + p_before + p_after - d(k-1) - 1)/s) + 1",
            f"floor(({size} + {before} + {after} - {dilation}*({kernel}-1) - 1)/1) + 1", size)


def explain(input_size: tuple[int, int], kernel, stride=1, padding=0, dilation=1,
            transposed: bool = False, output_padding=0, pool: str | None = None,
            ceil_mode: bool = False, **channels) -> str:
    """What `cnnlab shapes conv` prints. kernel, stride, padding, dilation and output_padding
    are an int, a pair (along H, W) or text such as '3x5'; padding may be 'same'. With
    in_channels, out_channels, groups (and bias) it also counts parameters and multiply-adds.
    A stride of None is torch's default: the kernel for pooling, 1 otherwise."""
    lines, _ = _explained(input_size, kernel, stride, padding, dilation, transposed,
                          output_padding, pool, ceil_mode, **channels)
    return "\n".join(lines) + "\n"


def explanation(input_size: tuple[int, int], kernel, stride=1, padding=0, dilation=1,
                transposed: bool = False, output_padding=0, pool: str | None = None,
                ceil_mode: bool = False, **channels) -> dict:
    """The same facts as `explain`, as data (`cnnlab shapes conv --json`)."""
    _, facts = _explained(input_size, kernel, stride, padding, dilation, transposed,
                              output_padding, pool, ceil_mode, **channels)
    return facts


def explain_layer(input_size: tuple[int, int], kernel, stride=1, padding=0, dilation=1,
                  transposed: bool = False, output_padding=0, pool: str | None = None,
                  ceil_mode: bool = False, **channels) -> tuple[str, dict]:
    """`explain`'s text and `explanation`'s facts at once (the lab shows both)."""
    lines, facts = _explained(input_size, kernel, stride, padding, dilation, transposed,
                              output_padding, pool, ceil_mode, **channels)
    return "\n".join(lines) + "\n", facts


def _check_combination(same, transposed, output_padding, pool, ceil_mode, stride,
                       dilation) -> None:
    if pool is not None and pool not in POOL_MODES:
        raise ValueError(f"--pool: expected one of {', '.join(POOL_MODES)}, got {pool!r}")
    if transposed and pool:
        raise ValueError("choose either --transposed or --pool, not both")
    if ceil_mode and not pool:
        raise ValueError("--ceil-mode applies to pooling only (add --pool max|avg|sum)")
    if output_padding != (0, 0) and not transposed:
        raise ValueError("--output-padding applies to transposed convolutions only "
                         "(add --transposed)")
    if pool in ("avg", "sum") and dilation != (1, 1):
        raise ValueError(f"--dilation applies to max pooling only (torch's avg_pool2d has "
                         f"none), got dilation {xy(dilation)} with {pool} pooling")
    if same and (transposed or pool):
        raise ValueError("--padding same applies to convolutions only (torch's "
                         f"{'ConvTranspose2d' if transposed else 'pooling'} has no 'same')")
    if same and stride != (1, 1):
        raise ValueError(f"--padding same needs stride 1 (torch refuses it for strided "
                         f"convolutions), got stride {xy(stride)}")


def _explained(input_size, kernel, stride, padding, dilation, transposed, output_padding,
               pool, ceil_mode, in_channels=None, out_channels=None, groups=1,
               bias=True) -> tuple[list[str], dict]:
    kernel = parse_pair(kernel, "--kernel")
    # torch's pooling layers stride by their kernel unless told otherwise
    stride = parse_pair(kernel if stride is None and pool else 1 if stride is None else stride,
                        "--stride")
    dilation = parse_pair(dilation, "--dilation")
    output_padding = parse_pair(output_padding, "--output-padding")
    padding = parse_padding(padding)
    same = padding == "same"
    _check_combination(same, transposed, output_padding, pool, ceil_mode, stride, dilation)
    what = ("transposed convolution" if transposed else f"{pool} pooling" if pool
            else "convolution")
    h, w = input_size
    settings = (f"kernel {xy(kernel)}, stride {xy(stride)}, padding "
                f"{'same' if same else xy(padding)}, dilation {xy(dilation)}")
    if transposed:
        settings += f", output padding {xy(output_padding)}"
    if pool and ceil_mode:
        settings += ", ceil mode"
    lines = [f"{what} of a {h}x{w} input: {settings}"]
    facts: dict = {"layer": what, "input": [h, w], "kernel": _number_or_pair(kernel),
                   "stride": _number_or_pair(stride),
                   "padding": "same" if same else _number_or_pair(padding),
                   "dilation": _number_or_pair(dilation), "axes": {}}
    if transposed:
        facts["output_padding"] = _number_or_pair(output_padding)
    if pool:
        facts["ceil_mode"] = ceil_mode
    sides = ([sizes.same_padding_sides(k, d) for k, d in zip(kernel, dilation, strict=True)]
             if same else [(p, p) for p in padding])
    per_axis = list(zip("HW", (h, w), kernel, stride, sides, dilation, output_padding,
                        strict=True))
    if same:
        lines += _same_lines(per_axis)
    one_axis = len({values[1:] for values in per_axis}) == 1
    outputs = []
    for axis, size, k, s, (before, after), d, op in per_axis[:1] if one_axis else per_axis:
        name = "out" if one_axis else f"{axis}_out"
        layer = f"this {what} ({axis})"
        formula, plugged, result = (
            _same_formula_and_result(size, k, d, layer) if before != after else
            _formula_and_result(size, k, s, before, d, transposed, op, pool, ceil_mode, layer))
        indent = " " * len(name)
        lines += [f"{name} = {formula}", f"{indent} = {plugged}"]
        facts["axes"][axis] = {"formula": formula, "with_numbers": plugged, "output": result}
        rounded_up = -(-(size + 2 * before - d * (k - 1) - 1) // s) + 1
        if pool and ceil_mode and rounded_up != result:
            lines += [f"{indent} = {rounded_up}, but window {rounded_up} would start at "
                      f"{(rounded_up - 1) * s - before}, in the right padding (the input "
                      f"ends at {size - 1}); PyTorch drops it",
                      f"{indent} = {result}"]
            facts["axes"][axis]["dropped_window"] = rounded_up
        else:
            lines.append(f"{indent} = {result}")
        outputs.append(result)
    out_h, out_w = (outputs * 2)[:2]
    lines.append(f"output: {out_h}x{out_w}")
    facts["output"] = [out_h, out_w]
    if in_channels is not None or out_channels is not None:
        counted, counts = _counted(what, (h, w), kernel, stride, "same" if same else padding,
                                   dilation, output_padding, pool, ceil_mode, in_channels,
                                   out_channels, groups, bias)
        lines += counted
        facts.update(counts)

    step = rf.through_transposed if transposed else rf.through_window
    fields = [step(rf.INPUT_PIXEL, k, s, before, d)
              for _, _, k, s, (before, _), d, _ in per_axis]
    lines.append(_field_line(fields))
    facts["receptive_field"] = (fields[0].as_dict() if fields[0] == fields[1] else
                                {"H": fields[0].as_dict(), "W": fields[1].as_dict()})
    warnings = []
    if not transposed and not (pool and ceil_mode) and not same:
        warnings = sizes.coverage_warnings((h, w), kernel, stride, padding, dilation)
    lines += [f"warning: {message}" for message in warnings]
    facts["warnings"] = list(warnings)
    return lines, facts


def _number_or_pair(values: tuple[int, int]):
    return values[0] if values[0] == values[1] else list(values)


def _same_lines(per_axis) -> list[str]:
    described = []
    for axis, _, k, _, (before, after), d, _ in per_axis:
        split = (f"{before} on each side" if before == after else
                 f"{before} before and {after} after (torch puts the odd one "
                 f"{'at the bottom' if axis == 'H' else 'on the right'})")
        described.append((axis, f"{d}*({k}-1) = {before + after} in total, {split}"))
    if described[0][1] == described[1][1]:
        return [f"padding same: torch pads d(k-1) = {described[0][1]}, along H and W"]
    return [f"padding same along {axis}: torch pads d(k-1) = {text}" for axis, text in described]


def _counted(what, input_hw, kernel, stride, padding, dilation, output_padding, pool,
             ceil_mode, in_channels, out_channels, groups, bias) -> tuple[list[str], dict]:
    """Parameters and multiply-adds, from the layer formulas every table uses."""
    c = 1 if in_channels is None else in_channels
    shape = (c, *input_hw)
    name = f"this {what}"
    if pool:
        if out_channels is not None and out_channels != c:
            raise ValueError(f"pooling keeps the channels: {c} in gives {c} out, not "
                             f"{out_channels} (leave --out-channels out)")
        layer = layers.pool(name, shape, pool, kernel, stride, padding, dilation, ceil_mode)
        return ([f"output shape: {'x'.join(map(str, layer.output_shape))} (channels x height "
                 "x width)", "parameters: 0; multiply-adds: 0 (pooling compares or adds, it "
                 "multiplies nothing)"],
                {"output_shape": list(layer.output_shape), "params": 0, "macs": 0})
    o = 1 if out_channels is None else out_channels
    for label, value in (("--in-channels", c), ("--out-channels", o), ("--groups", groups)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{label} must be a positive integer, got {value!r}")
    if what == "transposed convolution":
        layer = layers.conv_transpose(name, shape, o, kernel, stride, padding, output_padding,
                                      dilation, groups, bias)
        per_group, positions = f"{c}*({o}/{groups})" if groups > 1 else f"{c}*{o}", \
            f"{input_hw[0]}*{input_hw[1]} input positions (each input value is spread over a " \
            f"{kernel[0]}x{kernel[1]} patch of outputs)"
        weights = c * (o // groups) * kernel[0] * kernel[1]
    else:
        layer = layers.conv(name, shape, o, kernel, stride, padding, dilation, groups, bias)
        per_group, positions = f"{o}*({c}/{groups})" if groups > 1 else f"{o}*{c}", \
            f"{layer.output_shape[1]}*{layer.output_shape[2]} output positions"
        weights = o * (c // groups) * kernel[0] * kernel[1]
    biases = f" + {o} bias{'es' * (o != 1)}" if bias else ""
    return ([f"output shape: {'x'.join(map(str, layer.output_shape))} (channels x height x "
             "width)",
             f"parameters: {per_group}*{kernel[0]}*{kernel[1]} weights{biases} = "
             f"{layer.params:,}",
             f"multiply-adds: {weights:,} weights x {positions} = {layer.macs:,}"],
            {"output_shape": list(layer.output_shape), "in_channels": c, "out_channels": o,
             "groups": groups, "params": layer.params, "macs": layer.macs})


def _field_line(fields: list[rf.ReceptiveField]) -> str:
    along_h, along_w = fields
    if along_h == along_w:
        return (f"receptive field: each output sees {along_h.pixels}x{along_h.pixels} input "
                f"pixels; neighbouring outputs are {_jump(along_h)} apart; the first one is "
                f"centred on input position {_position(along_h.start)}")
    start = f"({float(along_h.start):g}, {float(along_w.start):g})"
    if along_h.start < 0 or along_w.start < 0:
        start += " (in the padding)"
    return (f"receptive field: each output sees {along_h.pixels}x{along_w.pixels} input "
            f"pixels; neighbouring outputs are {_jump(along_h)} apart down and "
            f"{_jump(along_w)} across; the first one is centred on input position {start}")


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
