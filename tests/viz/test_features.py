"""Feature maps: the right layers, the right values, and ReLU outputs that show no negatives."""

import numpy as np
import torch
from PIL import Image

from cnnlab.cli import main
from cnnlab.data import datasets
from cnnlab.evaluate.targets import load_target
from cnnlab.viz import canvas
from cnnlab.viz.features import signed_grey
from cnnlab.viz.layers import trace_stages
from cnnlab.viz.run_figures import run_features

ZERO_GREY = 128  # rint(0.5 * 255): where 0 sits on the signed grey scale


def test_lenet_stages_and_their_values_match_an_independent_forward_pass(trained_run):
    figure = run_features(str(trained_run), index=3)
    stages = list(dict.fromkeys(panel.stage for panel in figure.panels))
    assert stages == ["INPUT", "CONV1", "RELU1", "POOL1", "CONV2", "RELU2", "POOL2"]
    target = load_target(str(trained_run))
    model = target.build()
    images, _ = datasets.load(target.spec, allow_download=False)["test"]
    x = (torch.from_numpy(images[3:4]).float() / 255 - target.spec.mean[0]) / target.spec.std[0]
    with torch.no_grad():
        conv1 = model[0](x)[0].numpy()
        pool1 = model[2](model[1](model[0](x)))[0].numpy()
    assert [p.channel for p in figure.find("CONV1")] == list(range(6))
    for panel in figure.find("CONV1"):
        np.testing.assert_allclose(panel.values, conv1[panel.channel], atol=1e-5)
    for panel in figure.find("RELU1", "before"):
        np.testing.assert_allclose(panel.values, conv1[panel.channel], atol=1e-5)
    for panel in figure.find("POOL1"):
        np.testing.assert_allclose(panel.values, pool1[panel.channel], atol=1e-5)
    assert len(figure.find("CONV2")) == 8  # 16 maps, the first 8 shown


def test_relu_output_tiles_have_no_negative_pixels_and_inputs_do(trained_run, tmp_path):
    figure = run_features(str(trained_run), index=0)
    path = canvas.save_png(figure.image, tmp_path / "features.png")
    pixels = np.asarray(Image.open(path).convert("L")).astype(int)
    darker_before = 0
    for stage in ("RELU1", "RELU2"):
        for panel in figure.find(stage, "after"):
            left, top, right, bottom = panel.box
            assert pixels[top:bottom, left:right].min() >= ZERO_GREY - 1, panel
        for panel in figure.find(stage, "before"):
            left, top, right, bottom = panel.box
            darker_before += int((pixels[top:bottom, left:right] < ZERO_GREY - 1).sum())
    assert darker_before > 0  # the conv outputs did have negatives for the ReLU to remove


def test_signed_grey_puts_zero_in_the_middle():
    np.testing.assert_allclose(signed_grey(np.array([-2.0, 0.0, 1.0, 2.0])),
                               [0.0, 0.5, 0.75, 1.0])
    np.testing.assert_allclose(signed_grey(np.zeros(3)), 0.5)


def test_an_in_place_relu_is_seen_before_it_overwrites_its_input():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.ReLU(inplace=True),
                                torch.nn.Conv2d(4, 4, 3), torch.nn.ReLU(inplace=True))
    stages = trace_stages(model, np.random.default_rng(0).normal(size=(1, 9, 9)), blocks=1)
    assert [s.label for s in stages] == ["CONV1", "RELU1"]  # stops before block 2's conv
    relu = stages[1]
    assert relu.before.min() < 0 and relu.output.min() >= 0
    np.testing.assert_allclose(relu.output, np.maximum(relu.before, 0))


def test_cli_features_and_an_image_out_of_range(trained_run, tmp_path, capsys):
    out = tmp_path / "f.png"
    assert main(["viz", "features", str(trained_run), "--image", "7", "-o", str(out)]) == 0
    assert "through CONV1: 0; RELU1: 1; POOL1: 2; CONV2: 3; RELU2: 4; POOL2: 5\n" in \
        capsys.readouterr().out
    assert Image.open(out).size[0] > 500
    assert main(["viz", "features", str(trained_run), "--image", "10000", "-o",
                 str(tmp_path / "g.png")]) == 2
    error = capsys.readouterr().err.strip()
    assert error == ("cnnlab viz: --image 10000 is out of range: the fashion-mnist test set "
                     "has images 0 to 9999")
    assert not (tmp_path / "g.png").exists()
