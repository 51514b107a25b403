"""Output sizes against torch's own layers, and the errors for layers that do not fit."""

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from cnnlab.arithmetic.sizes import (
    LayerDoesNotFit,
    conv_output_size,
    conv_transpose_output_size,
    coverage_warning,
    coverage_warnings,
    dropped_by_stride,
    pool_output_size,
    same_padding_sides,
    stretched_size,
    transposed_border,
    window_count,
    window_extent,
)

geometry = st.fixed_dictionaries({
    "size": st.integers(1, 12), "kernel": st.integers(1, 6), "stride": st.integers(1, 4),
    "padding": st.integers(0, 3), "dilation": st.integers(1, 3)})


def _torch_size(run):
    try:
        return run().shape[-1]
    except RuntimeError:
        return None


def _ours(compute):
    try:
        return compute()
    except LayerDoesNotFit:
        return None


@settings(max_examples=150, deadline=None)
@given(geometry)
def test_conv_output_size_is_torchs(g):
    x, w = torch.zeros(1, 1, 1, g["size"]), torch.zeros(1, 1, 1, g["kernel"])
    theirs = _torch_size(lambda: F.conv2d(x, w, stride=g["stride"], padding=(0, g["padding"]),
                                          dilation=g["dilation"]))
    ours = _ours(lambda: conv_output_size(g["size"], g["kernel"], g["stride"], g["padding"],
                                          g["dilation"]))
    assert ours == theirs


@settings(max_examples=150, deadline=None)
@given(geometry, st.integers(0, 3))
def test_transposed_output_size_is_torchs(g, output_padding):
    x, w = torch.zeros(1, 1, 1, g["size"]), torch.zeros(1, 1, 1, g["kernel"])
    theirs = _torch_size(lambda: F.conv_transpose2d(
        x, w, stride=(1, g["stride"]), padding=(0, g["padding"]),
        output_padding=(0, output_padding), dilation=(1, g["dilation"])))
    ours = _ours(lambda: conv_transpose_output_size(g["size"], g["kernel"], g["stride"],
                                                    g["padding"], output_padding,
                                                    g["dilation"]))
    assert ours == theirs


@settings(max_examples=200, deadline=None)
@given(geometry, st.booleans())
def test_pool_output_size_is_torchs_including_ceil_mode(g, ceil_mode):
    x = torch.zeros(1, 1, 1, g["size"])
    theirs = _torch_size(lambda: F.max_pool2d(x, (1, g["kernel"]), (1, g["stride"]),
                                              (0, g["padding"]), (1, g["dilation"]),
                                              ceil_mode=ceil_mode))
    ours = _ours(lambda: pool_output_size(g["size"], g["kernel"], g["stride"], g["padding"],
                                          g["dilation"], ceil_mode))
    assert ours == theirs


@settings(max_examples=150, deadline=None)
@given(geometry, st.integers(0, 3))
def test_a_window_count_with_uneven_padding_is_torchs(g, pad_after):
    """The count every size derives from, with the sides padded differently ('same' with an
    even kernel), against torch padding then convolving."""
    x = torch.zeros(1, 1, 1, g["size"])
    padded = F.pad(x, (g["padding"], pad_after))
    ours = window_count(g["size"], g["kernel"], g["stride"], g["padding"], pad_after,
                        g["dilation"])
    theirs = _torch_size(lambda: F.conv2d(padded, torch.zeros(1, 1, 1, g["kernel"]),
                                          stride=g["stride"], dilation=g["dilation"]))
    assert (ours if ours >= 1 else None) == theirs


@settings(max_examples=100, deadline=None)
@given(geometry)
def test_window_extent_is_what_the_last_window_reaches(g):
    count = window_count(g["size"], g["kernel"], g["stride"], g["padding"],
                         dilation=g["dilation"])
    if count >= 1:
        last_cell = (count - 1) * g["stride"] + (g["kernel"] - 1) * g["dilation"]
        assert window_extent(count, g["kernel"], g["stride"], g["dilation"]) == last_cell + 1
        assert last_cell < g["size"] + 2 * g["padding"]


@settings(max_examples=100, deadline=None)
@given(geometry)
def test_a_transposed_conv_is_a_stride_1_conv_over_the_stretched_bordered_input(g):
    border = transposed_border(g["kernel"], g["dilation"], g["padding"])
    grid = stretched_size(g["size"], g["stride"]) + 2 * border
    if grid >= window_extent(1, g["kernel"], 1, g["dilation"]):  # else it does not fit
        assert window_count(grid, g["kernel"], 1, 0, 0, g["dilation"]) == \
            conv_transpose_output_size(g["size"], g["kernel"], g["stride"], g["padding"],
                                       0, g["dilation"])


@pytest.mark.parametrize("kernel, dilation", [(3, 1), (4, 1), (2, 3), (5, 2)])
def test_same_padding_keeps_the_size_at_stride_1(kernel, dilation):
    before, after = same_padding_sides(kernel, dilation)
    assert after - before in (0, 1)  # the odd cell after, as torch puts it
    assert window_count(7, kernel, 1, before, after, dilation) == 7


def test_ceil_mode_last_window_must_start_inside_the_input_or_left_padding():
    assert pool_output_size(5, 2, 2, 1, ceil_mode=True) == 3  # not 4
    assert pool_output_size(5, 2, 2, 0, ceil_mode=True) == 3
    assert pool_output_size(5, 2, 2, 0, ceil_mode=False) == 2


def test_course_formulas():
    assert conv_output_size(227, 11, 4) == 55  # AlexNet CONV1
    assert pool_output_size(55, 3, 2) == 27
    assert conv_output_size(5, 3, 2, 1) == 3
    assert conv_transpose_output_size(5, 3, 2, 1, 1) == 10
    assert conv_output_size(7, 3, dilation=2) == 3


def test_a_layer_that_does_not_fit_names_itself_and_plugs_the_numbers_in():
    with pytest.raises(LayerDoesNotFit) as error:
        conv_output_size(5, 7, 1, 0, layer="CONV3")
    message = str(error.value)
    assert "CONV3" in message and "input of size 5" in message
    assert "floor((5 + 2*0 - 1*(7-1) - 1)/1) + 1 = -1" in message
    with pytest.raises(LayerDoesNotFit, match=r"ceil\(\(1 \+ 2\*0 - 1\*\(3-1\) - 1\)/2\) \+ 1 = 0"):
        pool_output_size(1, 3, 2, ceil_mode=True, layer="POOL")
    with pytest.raises(LayerDoesNotFit, match="output_padding"):
        conv_transpose_output_size(5, 3, 2, 0, output_padding=2)
    with pytest.raises(LayerDoesNotFit, match="stride must be a positive integer, got 0"):
        conv_output_size(5, 3, 0)
    with pytest.raises(LayerDoesNotFit, match="padding must be an integer >= 0"):
        conv_output_size(5, 3, 1, -1)
    with pytest.raises(LayerDoesNotFit, match="at most half the kernel size"):
        pool_output_size(9, 3, 1, 2)


@pytest.mark.parametrize("size, kernel, stride, padding, dilation", [
    (5, 3, 2, 0, 1), (6, 3, 2, 0, 1), (32, 3, 2, 1, 1), (56, 1, 2, 0, 1), (9, 3, 3, 1, 2)])
def test_dropped_rows_are_exactly_the_rows_no_window_touches(size, kernel, stride, padding,
                                                             dilation):
    out = conv_output_size(size, kernel, stride, padding, dilation)
    padded = size + 2 * padding
    last_seen = (out - 1) * stride + dilation * (kernel - 1)
    assert dropped_by_stride(size, kernel, stride, padding, dilation) == padded - 1 - last_seen


def test_coverage_warning_only_when_rows_are_dropped():
    assert coverage_warning(227, 11, 4) is None  # (227 - 11) % 4 == 0: AlexNet fits exactly
    message = coverage_warning(6, 3, 2, 0, axis="H")
    assert "(6 + 2*0 - 1*(3-1) - 1) % 2 = 1" in message and "real input is lost" in message
    assert "only padding" in coverage_warning(32, 3, 2, 1)
    assert coverage_warnings((6, 5), (3, 3), (2, 2), (0, 0), (1, 1)) == [
        coverage_warning(6, 3, 2, 0, 1, "H")]
    assert any("between windows" in m for m in
               coverage_warnings((8, 8), (2, 2), (3, 3), (0, 0), (1, 1)))


def test_arithmetic_needs_neither_torch_nor_numpy():
    import subprocess
    import sys

    code = ("import sys\n"
            "import cnnlab.arithmetic, cnnlab.arithmetic.explain\n"
            "print(cnnlab.arithmetic.conv_output_size(227, 11, 4))\n"
            "assert 'torch' not in sys.modules and 'numpy' not in sys.modules, "
            "sorted(m for m in sys.modules if m.startswith(('torch', 'numpy')))\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "55"
