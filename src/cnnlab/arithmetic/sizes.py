"""Output sizes of convolution, transposed convolution and pooling, with PyTorch's semantics:
the one home of every size formula (tests/test_architecture.py finds one written elsewhere).

Two functions hold the arithmetic: `window_count`, how many positions a sliding window takes
over a padded input, and `window_extent`, the input a number of positions covers. Convolution
and pooling sizes are window counts, a transposed convolution's size is an extent, and 'same'
padding is what makes the count equal the input. Every function works on one spatial axis and
integers only. A layer that cannot fit raises
`LayerDoesNotFit`, whose message names the layer, its input size and the formula with the
numbers plugged in, because "output size 0" alone does not tell a student which term is wrong.
"""

from __future__ import annotations


class LayerDoesNotFit(ValueError):
    """A layer's window does not fit its input (or its arguments are out of range)."""


def _check_positive(layer: str, **values: int) -> None:
    for name, value in values.items():
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise LayerDoesNotFit(f"{layer}: {name} must be a positive integer, got {value!r}")


def _check_non_negative(layer: str, **values: int) -> None:
    for name, value in values.items():
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise LayerDoesNotFit(f"{layer}: {name} must be an integer >= 0, got {value!r}")


def effective_kernel(kernel: int, dilation: int = 1) -> int:
    """The span a dilated kernel covers: d(k-1) + 1."""
    return dilation * (kernel - 1) + 1


def window_count(size: int, kernel: int, stride: int = 1, pad_before: int = 0,
                 pad_after: int | None = None, dilation: int = 1,
                 ceil_mode: bool = False) -> int:
    """How many positions a window of `kernel` cells (`dilation` apart) takes at `stride`
    over `size` cells padded by `pad_before` and `pad_after` (default: the same):
    `floor((i + p_before + p_after - d(k-1) - 1)/s) + 1`. With `ceil_mode` the division rounds
    up, but the last window must start inside the input or the padding before it, never in
    the padding after it alone (i=5, k=2, s=2, p=1 gives 3, not 4), as torch's pooling does.
    Below 1 when the window does not fit; the callers that name a layer say why."""
    pad_after = pad_before if pad_after is None else pad_after
    span = size + pad_before + pad_after - effective_kernel(kernel, dilation)
    if not ceil_mode:
        return span // stride + 1
    count = -(-span // stride) + 1
    if count >= 1 and (count - 1) * stride >= size + pad_before:
        count -= 1  # that window would start in the padding after the input: torch drops it
    return count


def window_extent(count: int, kernel: int, stride: int = 1, dilation: int = 1) -> int:
    """How many cells `count` window positions at `stride` cover, from the first window's
    first cell to the last one's last: `(n-1)s + d(k-1) + 1`."""
    return (count - 1) * stride + effective_kernel(kernel, dilation)


def stretched_size(size: int, stride: int) -> int:
    """A transposed convolution seen as a stride-1 one: its input with s-1 zeros between
    neighbouring cells, `i + (i-1)(s-1)` cells."""
    return size + (size - 1) * (stride - 1)


def transposed_border(kernel: int, dilation: int = 1, padding: int = 0) -> int:
    """The zeros a transposed convolution's stride-1 form adds on each side of the stretched
    input, `d(k-1) - p` (negative: it crops instead)."""
    return effective_kernel(kernel, dilation) - 1 - padding


def same_padding_sides(kernel: int, dilation: int = 1) -> tuple[int, int]:
    """padding='same' at stride 1 along one axis: torch pads d(k-1) in total, the odd cell on
    the far side (bottom or right): (before, after)."""
    total = dilation * (kernel - 1)
    return total // 2, total - total // 2


def conv_formula(size: int, kernel: int, stride: int, padding: int, dilation: int) -> str:
    """`floor((i + 2p - d(k-1) - 1)/s) + 1` with the numbers plugged in."""
    return (f"floor(({size} + 2*{padding} - {dilation}*({kernel}-1) - 1)/{stride}) + 1")


def conv_output_size(size: int, kernel: int, stride: int = 1, padding: int = 0,
                     dilation: int = 1, *, layer: str = "conv") -> int:
    """`floor((i + 2p - d(k-1) - 1)/s) + 1`, as torch.nn.Conv2d computes it."""
    _check_positive(layer, input=size, kernel_size=kernel, stride=stride, dilation=dilation)
    _check_non_negative(layer, padding=padding)
    out = window_count(size, kernel, stride, padding, padding, dilation)
    if out < 1:
        raise LayerDoesNotFit(
            f"{layer} does not fit its input of size {size}: "
            f"{conv_formula(size, kernel, stride, padding, dilation)} = {out}; the "
            f"{effective_kernel(kernel, dilation)}-wide window is larger than the padded input "
            f"({size + 2 * padding})")
    return out


def conv_transpose_formula(size: int, kernel: int, stride: int, padding: int,
                           output_padding: int, dilation: int) -> str:
    return (f"({size}-1)*{stride} - 2*{padding} + {dilation}*({kernel}-1) + {output_padding} + 1")


def conv_transpose_output_size(size: int, kernel: int, stride: int = 1, padding: int = 0,
                               output_padding: int = 0, dilation: int = 1, *,
                               layer: str = "transposed conv") -> int:
    """`(i-1)s - 2p + d(k-1) + output_padding + 1`, as torch.nn.ConvTranspose2d computes it."""
    _check_positive(layer, input=size, kernel_size=kernel, stride=stride, dilation=dilation)
    _check_non_negative(layer, padding=padding, output_padding=output_padding)
    if output_padding >= max(stride, dilation):
        raise LayerDoesNotFit(
            f"{layer}: output_padding ({output_padding}) must be smaller than the stride "
            f"({stride}) or the dilation ({dilation})")
    out = window_extent(size, kernel, stride, dilation) - 2 * padding + output_padding
    if out < 1:
        raise LayerDoesNotFit(
            f"{layer} does not fit its input of size {size}: "
            f"{conv_transpose_formula(size, kernel, stride, padding, output_padding, dilation)}"
            f" = {out}; the padding ({padding}) crops away the whole output")
    return out


def pool_formula(size: int, kernel: int, stride: int, padding: int, dilation: int,
                 ceil_mode: bool) -> str:
    rounding = "ceil" if ceil_mode else "floor"
    return (f"{rounding}(({size} + 2*{padding} - {dilation}*({kernel}-1) - 1)/{stride}) + 1")


def pool_output_size(size: int, kernel: int, stride: int | None = None, padding: int = 0,
                     dilation: int = 1, ceil_mode: bool = False, *,
                     layer: str = "pool") -> int:
    """Pooling's output size, including torch's ceil_mode rule: the last window must start
    inside the input or the left padding, never in the right padding alone
    (i=5, k=2, s=2, p=1 with ceil_mode gives 3, not 4)."""
    stride = kernel if stride is None else stride
    _check_positive(layer, input=size, kernel_size=kernel, stride=stride, dilation=dilation)
    _check_non_negative(layer, padding=padding)
    if 2 * padding > kernel:
        raise LayerDoesNotFit(
            f"{layer}: padding ({padding}) must be at most half the kernel size ({kernel}); "
            "a window made only of padding has no value to pool")
    out = window_count(size, kernel, stride, padding, padding, dilation, ceil_mode)
    if out < 1:
        raise LayerDoesNotFit(
            f"{layer} does not fit its input of size {size}: "
            f"{pool_formula(size, kernel, stride, padding, dilation, ceil_mode)} = {out}; the "
            f"{effective_kernel(kernel, dilation)}-wide window is larger than the padded input "
            f"({size + 2 * padding})")
    return out


def dropped_by_stride(size: int, kernel: int, stride: int = 1, padding: int = 0,
                      dilation: int = 1) -> int:
    """How many of the last rows (or columns) no window reaches: `(i + 2p - d(k-1) - 1) % s`.

    They are silently ignored by floor rounding; counted in the padded input, so some of them
    may be padding. 0 means the windows cover the input evenly."""
    span = size + 2 * padding - effective_kernel(kernel, dilation)
    return span % stride if span >= 0 else 0


def coverage_warning(size: int, kernel: int, stride: int = 1, padding: int = 0,
                     dilation: int = 1, axis: str = "") -> str | None:
    """A sentence warning that the last rows/columns are dropped, or None when none are.

    `axis` is "H", "W", "H and W" or "" (unnamed). The sentence says how many of the dropped
    rows are real input: when they are all padding, nothing of the image is lost."""
    dropped = dropped_by_stride(size, kernel, stride, padding, dilation)
    if not dropped:
        return None
    what = {"H": "row", "W": "column", "H and W": "row and column"}.get(axis, "row")
    if dropped == 1:
        verb = "are" if what == "row and column" else "is"
        last = f"the last {what} of the padded input {verb} never seen"
    else:
        plural = "rows and columns" if what == "row and column" else what + "s"
        last = f"the last {dropped} {plural} of the padded input are never seen"
    lost = min(dropped - padding, size)
    consequence = ("only padding, so no input pixel is lost" if lost <= 0 else
                   "real input is lost" if lost == dropped else
                   f"{lost} of them real input")
    return (f"uneven coverage{' along ' + axis if axis else ''}: "
            f"({size} + 2*{padding} - {dilation}*({kernel}-1) - 1) % {stride} = {dropped}, so "
            f"{last} ({consequence})")


def gap_warning(kernel: int, stride: int, dilation: int, axis: str = "") -> str | None:
    """Strides longer than the window skip input between windows, not only at the end."""
    window = effective_kernel(kernel, dilation)
    if stride <= window:
        return None
    return (f"stride {stride} is longer than the {window}-wide window"
            f"{' along ' + axis if axis else ''}: {stride - window} of every {stride} "
            "input positions fall between windows and are never seen")


def coverage_warnings(sizes: tuple[int, int], kernel, stride, padding, dilation) -> list[str]:
    """The warnings of a 2-D window, one sentence when both axes behave the same way."""
    per_axis = list(zip("HW", sizes, kernel, stride, padding, dilation, strict=True))
    if len({values[1:] for values in per_axis}) == 1:
        _, size, k, s, p, d = per_axis[0]
        axes = [("H and W", size, k, s, p, d)]
    else:
        axes = per_axis
    messages = [coverage_warning(size, k, s, p, d, axis) for axis, size, k, s, p, d in axes]
    messages += [gap_warning(k, s, d, axis) for axis, _, k, s, _, d in axes]
    return [message for message in messages if message]
