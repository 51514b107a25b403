"""`cnnlab viz gradcam` and `cnnlab.viz.grad_cam`: the figure's panels are the image, the
attribution's own overlay and saliency, pixel for pixel; any call site can be weighed; a bad
class or layer is one clear line."""

import numpy as np
import pytest
from PIL import Image

import cnnlab
from cnnlab.cli import main
from cnnlab.data import datasets
from cnnlab.data.contract import unit_pixels
from cnnlab.evaluate.targets import load_target
from cnnlab.viz.attribution import attribute
from cnnlab.viz.cam_figure import GAP, LABEL_SIZE, MARGIN, TITLE_SIZE


def test_the_figure_shows_the_image_the_overlay_and_the_saliency(trained_run, tmp_path,
                                                                  capsys):
    out = tmp_path / "cam.png"
    assert main(["viz", "gradcam", str(trained_run), "--image", "3", "--layer", "2",
                 "--class", "1", "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith(f"wrote {out}: Grad-CAM at 2 and saliency for class 1 (p = ")
    target = load_target(str(trained_run))
    pixels = datasets.load(target.spec)["test"][0][3]
    found = attribute(target.build(), target.contract.received(pixels[None])[0], 1, "2")
    display = unit_pixels(pixels)[0]
    figure = np.asarray(Image.open(out).convert("RGB"))
    scale = 224 // 28
    slot = (figure.shape[1] - 2 * MARGIN - 2 * GAP) // 3
    top = MARGIN + TITLE_SIZE + 10
    left = MARGIN + slot + GAP + (slot - 28 * scale) // 2
    overlay = figure[top:top + 28 * scale:scale, left:left + 28 * scale:scale]
    assert np.array_equal(overlay, found.overlay_rgb8(display))
    saliency_left = MARGIN + 2 * (slot + GAP) + (slot - 28 * scale) // 2
    saliency = figure[top:top + 28 * scale:scale, saliency_left:saliency_left + 28 * scale:scale]
    assert np.array_equal(saliency, found.saliency_rgb8())
    assert figure.shape[0] == top + 28 * scale + LABEL_SIZE + 14 + MARGIN


def test_from_python_the_layer_is_any_call_site(trained_run):
    picture = cnnlab.viz.grad_cam(trained_run, image=5, layer="1")
    assert picture.title == "Grad-CAM at 1" and picture._repr_png_().startswith(b"\x89PNG")
    assert cnnlab.viz.grad_cam(trained_run, image=5).title == "Grad-CAM at 5"


@pytest.mark.parametrize("argv, expected", [
    (["--class", "10"], "--class 10 is out of range: fashion-mnist has classes 0 to 9"),
    (["--layer", "9"], "layer '9' has no output maps with positions to weigh; Grad-CAM takes "
                       "one of 0, 1, 2, 3, 4, 5"),
    (["--image", "10000"], "--image 10000 is out of range"),
])
def test_a_bad_class_layer_or_image_is_one_line(trained_run, tmp_path, capsys, argv, expected):
    assert main(["viz", "gradcam", str(trained_run), *argv, "-o", str(tmp_path / "c.png")]) == 2
    err = capsys.readouterr().err
    assert expected in err and err.count("\n") == 1, err
    assert not (tmp_path / "c.png").exists()
