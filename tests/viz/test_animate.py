"""Animations of convolution arithmetic: the geometry against PyTorch, the published worked
examples, and the frames read back from the written GIF."""

import itertools
import shutil

import numpy as np
import pytest
import torch
from PIL import Image

from cnnlab.arithmetic.explain import explain
from cnnlab.cli import main
from cnnlab.viz import animate as anim
from cnnlab.viz.arithmetic_plan import INPUT, conv_plan, parse_values, pool_plan
from cnnlab.viz.gallery import (
    ANIMATIONS,
    COURSE_INPUT,
    COURSE_KERNEL,
    STRIPS,
    WORKED_INPUT,
    WORKED_KERNEL,
    write_gallery,
)

# Dumoulin & Visin, "A guide to convolution arithmetic for deep learning" (2016), Fig. 1.1/1.6
WORKED_CONV_RESULT = [[12, 12, 17], [10, 17, 19], [9, 6, 14]]
WORKED_MAX_POOL_RESULT = [[3, 3, 3], [3, 3, 3], [3, 2, 3]]
# The course's convolution example (UFLDL's "Feature extraction using convolution")
COURSE_CONV_RESULT = [[4, 3, 4], [2, 4, 3], [2, 3, 4]]


def _frames(path) -> list[np.ndarray]:
    image = Image.open(path)
    frames = []
    for index in range(image.n_frames):
        image.seek(index)
        frames.append(np.asarray(image.convert("RGB")).astype(int))
    return frames


def _fill(frame: np.ndarray, box) -> np.ndarray:
    """A cell's fill colour: a patch near its top-left corner, clear of border and text."""
    left, top = box[0], box[1]
    return np.median(frame[top + 5:top + 9, left + 5:left + 9].reshape(-1, 3), axis=0)


def _close(colour, expected, tolerance=12) -> bool:
    return bool(np.abs(np.asarray(colour) - np.asarray(expected)).max() <= tolerance)


CASES = [  # (input, kernel, stride, padding, dilation, transposed, output_padding)
    (4, 3, 1, 0, 1, False, 0), (5, 4, 1, 2, 1, False, 0), (5, 3, 2, 1, 1, False, 0),
    (7, 3, 1, 0, 2, False, 0), (6, 3, 2, 2, 2, False, 0), (5, 3, 2, 0, 1, True, 0),
    (5, 3, 2, 1, 1, True, 0), (4, 3, 2, 1, 1, True, 1), (3, 2, 3, 0, 1, True, 2),
    (4, 3, 1, 1, 2, True, 0), (3, 3, 2, 3, 1, True, 1), (4, 5, 1, 3, 1, True, 0),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: "i{}k{}s{}p{}d{}{}op{}".format(*c))
def test_every_window_computes_what_pytorch_computes(case):
    """Multiplying the cells each frame shades by the weights it shows gives PyTorch's output:
    the drawn geometry (padding, dilation, zero insertion, flipped kernel) is the real one."""
    size, kernel, stride, padding, dilation, transposed, output_padding = case
    rng = np.random.default_rng(sum(case))
    values = rng.integers(-3, 4, size=(size, size)).astype(float)
    weights = rng.integers(-2, 3, size=(kernel, kernel)).astype(float)
    plan = conv_plan((size, size), kernel, stride, padding, dilation, transposed,
                     output_padding, values, weights)
    x, w = torch.tensor(values)[None, None], torch.tensor(weights)[None, None]
    if transposed:
        expected = torch.nn.functional.conv_transpose2d(x, w, stride=stride, padding=padding,
                                                        output_padding=output_padding,
                                                        dilation=dilation)[0, 0].numpy()
    else:
        expected = torch.nn.functional.conv2d(x, w, stride=stride, padding=padding,
                                              dilation=dilation)[0, 0].numpy()
    assert plan.out_shape == expected.shape
    assert len(plan.windows) == expected.size
    for window in plan.windows:
        drawn = sum(plan.values[t.row, t.col] * t.weight for t in window.taps)
        assert drawn == pytest.approx(expected[window.out_row, window.out_col])
        assert window.value == pytest.approx(expected[window.out_row, window.out_col])
    # every input value appears in the grid once, in order (a transposed padding beyond
    # d(k-1) crops the outer cells of the stretched input, which never reach the output)
    kept = np.arange(size)
    if transposed:
        near = dilation * (kernel - 1) - padding
        stretched = size + (size - 1) * (stride - 1)
        shown_from, shown_to = max(0, -near), stretched - max(0, -(near + output_padding))
        kept = kept[(kept * stride >= shown_from) & (kept * stride < shown_to)]
    np.testing.assert_array_equal(plan.values[plan.kinds == INPUT],
                                  values[np.ix_(kept, kept)].ravel())


def test_the_worked_examples_give_the_published_results():
    values = parse_values(WORKED_INPUT)
    conv = conv_plan((5, 5), 3, values=values, weights=parse_values(WORKED_KERNEL))
    np.testing.assert_array_equal(conv.output, WORKED_CONV_RESULT)
    assert conv.windows[0].expression == \
        "3\u00d70 + 3\u00d71 + 2\u00d72 + 0\u00d72 + 0\u00d72 + 1\u00d70 + 3\u00d70 + " \
        "1\u00d71 + 2\u00d72 = 12"
    pool = pool_plan(values, 3, 1, mode="max")
    np.testing.assert_array_equal(pool.output, WORKED_MAX_POOL_RESULT)
    assert pool.windows[-1].expression == "max(2, 2, 3, 0, 2, 2, 0, 0, 1) = 3"
    assert pool_plan(values, 3, 2, padding=1, mode="avg").windows[0].expression == \
        "(3 + 3 + 0 + 0 + 0 + 0 + 0 + 0 + 0) / 9 = 0.667"
    assert pool_plan(values, 2, 2, mode="sum").output.tolist() == [[6, 7], [6, 6]]


def test_each_frame_shades_its_window_and_outlines_its_output_cell(tmp_path):
    stride, padding, dilation, size, kernel = 2, 1, 2, 6, 3
    path = tmp_path / "conv.gif"
    assert main(["viz", "animate", "conv", "--input", str(size), "--kernel", str(kernel),
                 "--stride", str(stride), "--padding", str(padding), "--dilation",
                 str(dilation), "-o", str(path)]) == 0
    plan = conv_plan((size, size), kernel, stride, padding, dilation)
    layout = anim.animate(plan).layout
    frames = _frames(path)
    out = (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1
    assert len(frames) == out * out == 4  # one frame per output position, no more
    rows, cols = plan.grid_shape
    for index, frame in enumerate(frames):
        out_row, out_col = divmod(index, out)
        taps = {(out_row * stride + a * dilation, out_col * stride + b * dilation)
                for a in range(kernel) for b in range(kernel)}
        for row, col in itertools.product(range(rows), range(cols)):
            shaded = _close(_fill(frame, layout.input_box(row, col)), anim.TAP_FILL)
            assert shaded == ((row, col) in taps), (index, row, col)
        for position in range(out * out):
            box = layout.output_box(*divmod(position, out))
            expected = anim.OUTPUT_DONE if position <= index else anim.OUTPUT_PENDING
            assert _close(_fill(frame, box), expected), (index, position)
            outlined = _close(frame[box[1] + 1, (box[0] + box[2]) // 2], anim.CURRENT)
            assert outlined == (position == index)


def test_the_pool_animation_ends_on_the_worked_example(tmp_path, capsys):
    path = tmp_path / "pool.gif"
    assert main(["viz", "animate", "pool", "--values", WORKED_INPUT, "--kernel", "3",
                 "--stride", "1", "-o", str(path)]) == 0
    assert "9 frames" in capsys.readouterr().out
    frames = _frames(path)
    assert len(frames) == 9
    layout = anim.animate(pool_plan(parse_values(WORKED_INPUT), 3, 1)).layout
    last = frames[-1]
    # shaded by value, darkest for the largest: eight cells hold 3, the bottom middle 2
    for row, col in itertools.product(range(3), range(3)):
        expected = anim.OUTPUT_LIGHT if (row, col) == (2, 1) else anim.OUTPUT_DARK
        assert _close(_fill(last, layout.output_box(row, col)), expected), (row, col)
    # the digits drawn in the eight "3" cells are one and the same picture, unlike the "2"
    crops = {(r, c): last[b[1] + 6:b[3] - 6, b[0] + 6:b[2] - 6]
             for r, c in itertools.product(range(3), range(3))
             for b in [layout.output_box(r, c)]}
    assert all(np.array_equal(crops[0, 0], crop) for key, crop in crops.items()
               if key != (2, 1))
    assert not np.array_equal(crops[0, 0], crops[2, 1])
    image = Image.open(path)
    image.seek(8)
    assert image.info["duration"] == anim.HOLD_MS  # the result stays up


def test_parameters_that_do_not_fit_get_the_shapes_conv_error(capsys):
    with pytest.raises(ValueError) as expected:
        explain((3, 3), 5)
    assert main(["viz", "animate", "conv", "--input", "3", "--kernel", "5", "-o",
                 "never.gif"]) == 2
    assert capsys.readouterr().err.strip() == f"cnnlab viz: {expected.value}"
    with pytest.raises(ValueError) as expected:
        explain((5, 5), 3, 2, transposed=True, output_padding=2)
    assert main(["viz", "animate", "conv", "--input", "5", "--kernel", "3", "--stride", "2",
                 "--transposed", "--output-padding", "2", "-o", "never.gif"]) == 2
    assert capsys.readouterr().err.strip() == f"cnnlab viz: {expected.value}"


@pytest.mark.parametrize(("arguments", "message"), [
    (["pool", "--values", "3,3/1", "--kernel", "1"], "every row needs the same number"),
    (["pool", "--values", "3,x/1,2", "--kernel", "1"], "row 1 has 'x', which is not a number"),
    (["pool", "--values", "1,2//3,4", "--kernel", "1"], "expected rows of numbers"),
    (["pool", "--values", "1,nan/3,4", "--kernel", "1"], "not finite"),
    (["pool", "--kernel", "2"], "needs --values"),
    (["pool", "--values", "1,2/3,4", "--kernel", "3"], "does not fit its input"),
    (["pool", "--values", "1,2/3,4", "--kernel", "1", "--dilation", "2", "--mode", "avg"],
     "--dilation applies to max pooling only"),
    (["conv", "--kernel", "3"], "needs --input"),
    (["conv", "--input", "5", "--kernel", "3", "--output-padding", "1"],
     "--output-padding applies to transposed convolutions only"),
    (["conv", "--input", "5", "--kernel", "3", "--mode", "max"], "--mode applies to"),
    (["conv", "--input", "4", "--kernel", "3", "--values", "1,2/3,4"], "--values is 2x2"),
    (["conv", "--input", "40", "--kernel", "3"], "at most 400 positions"),
    (["conv", "--input", "5x", "--kernel", "3"], "expected a size like 5 or 5x5"),
])
def test_bad_input_gets_one_clear_line(arguments, message, tmp_path, capsys):
    out = tmp_path / "a.gif"
    assert main(["viz", "animate", *arguments, "-o", str(out)]) == 2
    error = capsys.readouterr().err.strip()
    assert message in error and len(error.splitlines()) == 1
    assert not out.exists()


@pytest.mark.skipif(shutil.which("ffmpeg") is None,
                    reason="ffmpeg is not installed (make test installs it)")
def test_mp4_through_ffmpeg(tmp_path):
    path = tmp_path / "conv.mp4"
    assert main(["viz", "animate", "conv", "--input", "4", "--kernel", "3", "-o",
                 str(path)]) == 0
    data = path.read_bytes()
    assert data[4:8] == b"ftyp" and len(data) > 1000


def test_gallery_writes_the_courses_set(tmp_path):
    written = write_gallery(tmp_path / "gallery")
    names = {path.name for path in written}
    strips = {name.replace(".gif", "_steps.png") for name in STRIPS}
    assert {name for name, _, _ in ANIMATIONS} | strips | {"relu_feature_map.png",
                                                           "index.html"} == names
    plans = {name: plan() for name, _, plan in ANIMATIONS}
    np.testing.assert_array_equal(plans["convolution_course_example.gif"].output,
                                  COURSE_CONV_RESULT)
    np.testing.assert_array_equal(plans["max_pool_worked_example.gif"].output,
                                  WORKED_MAX_POOL_RESULT)
    sizes = {name: plans[name].out_shape for name in (
        "same_padding_no_strides.gif", "full_padding_no_strides.gif", "no_padding_strides.gif",
        "padding_strides.gif")}
    assert sizes == {"same_padding_no_strides.gif": (5, 5),  # D&V's figures 2.3, 2.4, 2.6, 2.7
                     "full_padding_no_strides.gif": (7, 7), "no_padding_strides.gif": (2, 2),
                     "padding_strides.gif": (3, 3)}
    for name in strips:  # every step, four to a row
        assert Image.open(tmp_path / "gallery" / name).width == \
            4 * Image.open(tmp_path / "gallery" / name.replace("_steps.png", ".gif")).width
    for name, _, plan in ANIMATIONS:
        positions = np.prod(plan().out_shape)
        assert Image.open(tmp_path / "gallery" / name).n_frames == positions, name
    index = (tmp_path / "gallery" / "index.html").read_text()
    assert all(f'src="{name}"' in index for name in names - {"index.html"})


def test_the_course_convolution_example_matches_torch():
    plan = conv_plan((5, 5), 3, values=parse_values(COURSE_INPUT),
                     weights=parse_values(COURSE_KERNEL, "kernel"))
    expected = torch.nn.functional.conv2d(torch.tensor(parse_values(COURSE_INPUT))[None, None],
                                          torch.tensor(parse_values(COURSE_KERNEL))[None, None])
    np.testing.assert_array_equal(plan.output, expected[0, 0].numpy())
    np.testing.assert_array_equal(plan.output, COURSE_CONV_RESULT)


@pytest.mark.parametrize("mode", ["max", "avg", "sum"])
@pytest.mark.parametrize(("size", "kernel", "stride", "padding"),
                         [(5, 2, 2, 0), (5, 2, 2, 1), (6, 3, 2, 1), (7, 3, 3, 0)])
def test_ceil_mode_pooling_is_torchs(mode, size, kernel, stride, padding):
    """The extra window ceil mode adds hangs past the padded input: its cells count for
    nothing, and the average divides by the cells inside, as torch's avg_pool2d does."""
    values = np.random.default_rng(size * kernel).integers(-4, 5, (size, size)).astype(float)
    plan = pool_plan(values, kernel, stride, padding, mode, ceil_mode=True)
    x = torch.tensor(values)[None, None]
    if mode == "sum":
        expected = torch.nn.functional.avg_pool2d(x, kernel, stride, padding, ceil_mode=True,
                                                  divisor_override=1)
    else:
        pool = {"max": torch.nn.functional.max_pool2d, "avg": torch.nn.functional.avg_pool2d}
        expected = pool[mode](x, kernel, stride, padding, ceil_mode=True)
    np.testing.assert_allclose(plan.output, expected[0, 0].numpy())
    assert plan.formulas[0].startswith("o = ceil(")
    for window in plan.windows:  # each frame's arithmetic gives its cell's value
        assert _worked_out(window.expression) == pytest.approx(window.value)


def _worked_out(expression: str) -> float:
    """The left side of a frame's "max(3, 1) = 3", "3 + 1 = 4" or "(3 + 1) / 2 = 2"."""
    left = expression.rsplit(" = ", 1)[0]
    if left.startswith("max("):
        return max(float(term) for term in left[4:-1].split(","))
    divisor = 1.0
    if " / " in left:
        left, divided = left.split(" / ")
        left, divisor = left.strip("()"), float(divided)
    return sum(float(term) for term in left.split(" + ")) / divisor


def test_frame_ms_and_a_still_strip_for_slides(tmp_path, capsys):
    path = tmp_path / "fast.gif"
    assert main(["viz", "animate", "conv", "--input", "4", "--kernel", "3", "--frame-ms",
                 "100", "-o", str(path)]) == 0
    assert "4 frames of 100 ms" in capsys.readouterr().out
    image = Image.open(path)
    assert image.info["duration"] == 100
    image.seek(3)
    assert image.info["duration"] == anim.HOLD_MS
    strip = tmp_path / "steps.png"
    assert main(["viz", "animate", "conv", "--input", "5", "--kernel", "3", "--stride", "2",
                 "--transposed", "--frames", "6", "-o", str(strip)]) == 0
    assert "6 of the 121 steps" in capsys.readouterr().out
    plan = conv_plan((5, 5), 3, stride=2, transposed=True)
    animation = anim.animate(plan)
    assert animation.strip_frames(6) == [0, 24, 48, 72, 96, 120]  # first and last among them
    frame_w, frame_h = animation.frames[0].size
    assert Image.open(strip).size == (4 * frame_w, 2 * (frame_h + 22))
    # the strip's last tile is the animation's last frame
    tile = np.asarray(Image.open(strip).convert("RGB"))[frame_h + 44:, frame_w:2 * frame_w]
    np.testing.assert_array_equal(tile, np.asarray(animation.frames[-1].convert("RGB")))
    for arguments, message in (
            (["--frame-ms", "5"], "--frame-ms must be from 20 to 60000"),
            (["--frames", "3"], "--frames applies to a still strip"),
            (["--ceil-mode"], "--ceil-mode applies to `viz animate pool`")):
        assert main(["viz", "animate", "conv", "--input", "4", "--kernel", "3", *arguments,
                     "-o", str(tmp_path / "x.gif")]) == 2
        assert message in capsys.readouterr().err


def test_each_max_pooling_frame_outlines_the_winning_cell(tmp_path):
    """The cell the output takes: torch's index for each window (the first of equal maxima
    in the window's row-major order), outlined in every frame, and no other cell."""
    values = parse_values(WORKED_INPUT)
    plan = pool_plan(values, 3, 1)
    animation = anim.animate(plan)
    animation.save(tmp_path / "pool.gif")
    frames = _frames(tmp_path / "pool.gif")
    _, indices = torch.nn.functional.max_pool2d(torch.tensor(values)[None, None], 3, 1,
                                                return_indices=True)
    rows, cols = plan.grid_shape
    for index, (frame, window) in enumerate(zip(frames, plan.windows, strict=True)):
        expected = divmod(int(indices.flatten()[index]), values.shape[1])
        assert window.winner == expected
        for row, col in itertools.product(range(rows), range(cols)):
            box = animation.layout.input_box(row, col)
            outlined = _close(frame[box[1] + 1, (box[0] + box[2]) // 2], anim.CURRENT)
            assert outlined == ((row, col) == expected), (index, row, col)
    assert all(window.winner is None for window in pool_plan(values, 3, 1, mode="avg").windows)
