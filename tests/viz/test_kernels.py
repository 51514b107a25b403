"""The kernel grid, read back pixel by pixel from the written PNG."""

import numpy as np
import pytest
import torch
from PIL import Image

from cnnlab.cli import main
from cnnlab.models.zoo import create_model
from cnnlab.viz import canvas
from cnnlab.viz.kernels import BORDER, kernel_grid
from cnnlab.viz.layers import first_conv


def _saved(grid, tmp_path) -> np.ndarray:
    path = canvas.save_png(grid.image, tmp_path / "kernels.png")
    return np.asarray(Image.open(path).convert("RGB")).astype(int)


def _expected_tile(kernel: np.ndarray) -> np.ndarray:
    """(kh, kw, 3) uint8, normalised here independently: min -> 0, max -> 255."""
    scaled = (kernel - kernel.min()) / (kernel.max() - kernel.min())
    if scaled.shape[0] == 1:
        scaled = np.repeat(scaled, 3, axis=0)
    return np.rint(np.moveaxis(scaled, 0, -1) * 255)


def test_alexnet_kernels_form_the_papers_grid_of_96_colour_tiles(tmp_path):
    torch.manual_seed(0)
    model = create_model("alexnet", "torch")
    conv = first_conv(model, (3, 227, 227))
    assert conv.weight.shape == (96, 3, 11, 11)
    grid = kernel_grid(conv.weight, "CONV1")
    pixels = _saved(grid, tmp_path)
    assert grid.columns == 16 and -(-96 // grid.columns) == 6
    assert "CONV1" in grid.title and "96 kernels of 11x11x3" in grid.title
    tiles = []
    for index in range(96):
        left, top, right, bottom = grid.tile_box(index)
        tile = pixels[top:bottom, left:right]
        expected = np.repeat(np.repeat(_expected_tile(conv.weight[index]), grid.scale, 0),
                             grid.scale, 1)
        assert np.abs(tile - expected).max() <= 1, f"tile {index} is not kernel {index}"
        tiles.append(tile)
        if index % grid.columns:  # the border to the left of every tile but the first
            assert (pixels[top:bottom, left - BORDER:left] == 255).all()
    # colour: the three channels of a tile differ; and no two tiles are the same picture
    assert all(np.abs(t[..., 0] - t[..., 1]).max() > 10 for t in tiles)
    flat = np.stack([t.ravel() for t in tiles])
    distances = np.abs(flat[:, None, :] - flat[None, :, :]).mean(axis=2)
    assert distances[~np.eye(96, dtype=bool)].min() > 5


def test_one_channel_kernels_render_grey_and_a_constant_kernel_mid_grey(tmp_path):
    weight = np.random.default_rng(1).normal(size=(6, 1, 5, 5))
    weight[3] = 0.25
    grid = kernel_grid(weight, "CONV1")
    pixels = _saved(grid, tmp_path)
    for index in range(6):
        left, top, right, bottom = grid.tile_box(index)
        tile = pixels[top:bottom, left:right]
        assert (tile[..., 0] == tile[..., 1]).all() and (tile[..., 1] == tile[..., 2]).all()
        if index == 3:
            assert (tile == 128).all()
        else:
            assert tile.min() == 0 and tile.max() == 255


def test_the_first_kernels_are_those_of_the_first_conv_applied_not_declared():
    class Backwards(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.late = torch.nn.Conv2d(8, 4, 3)  # declared first, applied second
            self.early = torch.nn.Conv2d(1, 8, 5)

        def forward(self, x):
            return self.late(self.early(x))

    assert first_conv(Backwards(), (1, 12, 12)).module == "early"


def test_a_model_without_convolution_is_refused_clearly():
    mlp = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 2))
    with pytest.raises(ValueError, match="no convolution layer"):
        first_conv(mlp, (1, 2, 2))


def test_cli_kernels_of_a_trained_run(trained_run, tmp_path, capsys):
    out = tmp_path / "kernels.png"
    assert main(["viz", "kernels", str(trained_run), "-o", str(out)]) == 0
    assert "CONV1" in capsys.readouterr().out
    image = np.asarray(Image.open(out).convert("RGB"))
    assert image.shape[0] > 40 and image.shape[1] > 6 * 40


def test_cli_refuses_an_onnx_file_and_a_wrong_extension(trained_run, tmp_path, capsys):
    onnx = tmp_path / "m.onnx"
    assert main(["export", str(trained_run), "-o", str(onnx)]) == 0
    capsys.readouterr()
    assert main(["viz", "kernels", str(onnx), "-o", str(tmp_path / "k.png")]) == 2
    error = capsys.readouterr().err.strip()
    assert "cannot be looked into layer by layer" in error and len(error.splitlines()) == 1
    assert main(["viz", "kernels", str(trained_run), "-o", str(tmp_path / "k.jpg")]) == 2
    assert "written as .png" in capsys.readouterr().err
    assert not (tmp_path / "k.jpg").exists()


def test_any_convolution_by_number_or_name(trained_run, tmp_path, capsys):
    """LeNet-5's CONV2 reads CONV1's 6 maps: 16 kernels of 5x5x6, one grey tile per input
    channel, each normalised on its own, read back from the PNG."""
    from cnnlab.evaluate.targets import load_target
    from cnnlab.viz.layers import conv_layers

    target = load_target(str(trained_run))
    layers = conv_layers(target.build(), target.spec.shape)
    assert [conv.label for conv in layers] == ["CONV1 (0)", "CONV2 (3)"]
    for given in ("2", "CONV2"):
        out = tmp_path / f"{given}.png"
        assert main(["viz", "kernels", str(trained_run), "--layer", given, "-o",
                     str(out)]) == 0
        assert "CONV2 (3)" in capsys.readouterr().out
    from cnnlab.viz.run_figures import run_kernels

    grid = run_kernels(target, layer="2")  # what the command drew
    assert grid.columns == 6 and len(grid.tiles) == 16 * 6
    assert grid.title.startswith("CONV2 (3) of ") and "16 kernels of 5x5x6" in grid.title
    pixels = np.asarray(Image.open(tmp_path / "2.png").convert("RGB")).astype(int)
    np.testing.assert_array_equal(pixels, np.asarray(grid.image.convert("RGB")))
    weight = layers[1].weight
    for index in (0, 7, 95):
        left, top, right, bottom = grid.tile_box(index)
        tile = pixels[top:bottom:grid.scale, left:right:grid.scale]
        kernel = weight[index // 6, index % 6][None]
        np.testing.assert_allclose(tile, _expected_tile(kernel), atol=1)
    assert main(["viz", "kernels", str(trained_run), "--layer", "3", "-o",
                 str(tmp_path / "x.png")]) == 2
    error = capsys.readouterr().err.strip()
    assert error.endswith("--layer '3': this model's convolutions are CONV1 (0), "
                          "CONV2 (3); give a number from 1 to 2 or a module name")


def test_a_layer_by_its_modules_name():
    from cnnlab.viz.layers import choose_conv, conv_layers

    torch.manual_seed(0)
    layers = conv_layers(create_model("resnet20", "torch"), (3, 32, 32))
    assert len(layers) == 19  # 1 + 3 stages x 3 blocks x 2; its shortcuts have no convolution
    assert layers[2].label == "CONV3 (layer1.0.conv2)"
    named = choose_conv(layers, layers[5].module)
    assert named is layers[5] and choose_conv(layers, "CONV6") is layers[5]


def test_a_zoo_model_with_a_weights_file(trained_run, tmp_path, capsys):
    out = tmp_path / "k.png"
    assert main(["viz", "kernels", "lenet5", "--weights", str(trained_run / "model.safetensors"),
                 "--dataset", "fashion-mnist", "--normalize", "dataset", "-o", str(out)]) == 0
    capsys.readouterr()
    assert main(["viz", "kernels", str(trained_run), "-o", str(tmp_path / "run.png")]) == 0
    np.testing.assert_array_equal(np.asarray(Image.open(out))[40:],  # below the titles
                                  np.asarray(Image.open(tmp_path / "run.png"))[40:])


def test_a_deep_layer_shows_its_first_kernels_one_to_a_row(tmp_path):
    """256 kernels of 3x3x384 would be 98,304 tiles of noise: by default 16 kernels, each a
    row of its first 16 input channels, and the title says what was left out."""
    weight = np.random.default_rng(0).standard_normal((256, 384, 3, 3)).astype(np.float32)
    grid = kernel_grid(weight, "CONV3")
    assert grid.title == ("CONV3: the first 16 of 256 kernels of 3x3x384 (one grey tile per "
                          "input channel (the first 16 of 384 per kernel), normalised per "
                          "tile)")
    assert (len(grid.tiles), grid.columns) == (16 * 16, 16)
    saved = _saved(grid, tmp_path)
    for kernel, channel in ((0, 0), (5, 15), (15, 7)):  # row = kernel, column = channel
        left, top, _, _ = grid.tile_box(kernel * 16 + channel)
        tile = saved[top:top + 3 * grid.scale:grid.scale, left:left + 3 * grid.scale:grid.scale]
        assert np.array_equal(tile, _expected_tile(weight[kernel, channel][None]))
    assert max(grid.image.size) < 1200  # readable on a screen
    fewer = kernel_grid(weight, "CONV3", max_kernels=4)
    assert len(fewer.tiles) == 4 * 16 and "the first 4 of 256 kernels" in fewer.title
    with pytest.raises(ValueError, match="--max-kernels must be at least 1, got 0"):
        kernel_grid(weight, "CONV3", max_kernels=0)


def test_a_first_layers_whole_bank_is_the_default():
    weight = np.zeros((96, 3, 11, 11), np.float32)
    grid = kernel_grid(weight, "CONV1")
    assert len(grid.tiles) == 96 and "first" not in grid.title
