"""`cnnlab viz gallery`: the course's whole set of arithmetic figures, regenerated: the
convolution cases of Dumoulin & Visin's guide (padding none, same, full and arbitrary, strides,
dilation, transposed), its worked 5x5 example with kernel and values, the course's own two
worked examples (the binary-image convolution and the 3x3 max pooling, as animations and as
still strips), and ReLU on a feature map, with an index page."""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np

from cnnlab import scratch
from cnnlab.data import datasets
from cnnlab.data.contract import unit_pixels
from cnnlab.files import write_atomically
from cnnlab.scratch.nn import functional as F
from cnnlab.viz import canvas
from cnnlab.viz.animate import animate
from cnnlab.viz.arithmetic_plan import conv_plan, parse_values, pool_plan
from cnnlab.viz.features import feature_figure
from cnnlab.viz.layers import Stage

# Dumoulin & Visin (2016), Figure 1.1: this input and kernel give [[12,12,17],[10,17,19],
# [9,6,14]]; the same input under 3x3 max pooling at stride 1 gives [[3,3,3],[3,3,3],[3,2,3]]
# (the course's pooling example).
WORKED_INPUT = "3,3,2,1,0/0,0,1,3,1/3,1,2,2,3/2,0,0,2,2/2,0,0,0,1"
WORKED_KERNEL = "0,1,2/2,2,0/0,1,2"
# The course's convolution example (as in the UFLDL tutorial): a 5x5 binary image and the
# 1,0,1 / 0,1,0 / 1,0,1 kernel give [[4,3,4],[2,4,3],[2,3,4]].
COURSE_INPUT = "1,1,1,0,0/0,1,1,1,0/0,0,1,1,1/0,0,1,1,0/0,1,1,0,0"
COURSE_KERNEL = "1,0,1/0,1,0/1,0,1"
EDGE_KERNEL = np.array([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])  # Sobel, x

ANIMATIONS = (
    ("no_padding_no_strides.gif", "No padding, unit strides: i=4, k=3, s=1, p=0",
     lambda: conv_plan((4, 4), 3)),
    ("arbitrary_padding.gif", "Arbitrary padding, unit strides: i=5, k=4, s=1, p=2",
     lambda: conv_plan((5, 5), 4, padding=2)),
    ("same_padding_no_strides.gif", "Half (same) padding, unit strides: i=5, k=3, s=1, p=1 "
                                    "keeps the size",
     lambda: conv_plan((5, 5), 3, padding=1)),
    ("full_padding_no_strides.gif", "Full padding, unit strides: i=5, k=3, s=1, p=2 grows it "
                                    "by k-1",
     lambda: conv_plan((5, 5), 3, padding=2)),
    ("no_padding_strides.gif", "No padding, strides: i=5, k=3, s=2, p=0",
     lambda: conv_plan((5, 5), 3, stride=2)),
    ("padding_strides.gif", "Padding, strides: i=5, k=3, s=2, p=1",
     lambda: conv_plan((5, 5), 3, stride=2, padding=1)),
    ("transposed_stride2.gif", "Transposed convolution: i=5, k=3, s=2, p=0",
     lambda: conv_plan((5, 5), 3, stride=2, transposed=True)),
    ("transposed_stride2_padding1.gif", "Transposed convolution: i=5, k=3, s=2, p=1",
     lambda: conv_plan((5, 5), 3, stride=2, padding=1, transposed=True)),
    ("dilation.gif", "Dilated convolution: i=7, k=3, d=2, s=1, p=0",
     lambda: conv_plan((7, 7), 3, dilation=2)),
    ("convolution_worked_example.gif", "The worked example: a 5x5 input, a 3x3 kernel",
     lambda: conv_plan((5, 5), 3, values=parse_values(WORKED_INPUT),
                       weights=parse_values(WORKED_KERNEL, "kernel"))),
    ("max_pool_worked_example.gif", "The course's pooling example: 3x3 max pooling at "
                                    "stride 1 over the same input",
     lambda: pool_plan(parse_values(WORKED_INPUT), 3, 1, mode="max")),
    ("convolution_course_example.gif", "The course's convolution example: a 5x5 binary image "
                                       "and the 1,0,1 / 0,1,0 / 1,0,1 kernel",
     lambda: conv_plan((5, 5), 3, values=parse_values(COURSE_INPUT),
                       weights=parse_values(COURSE_KERNEL, "kernel"))),
)
# Written as still strips too, for slides
STRIPS = ("max_pool_worked_example.gif", "convolution_course_example.gif")


def _feature_map_image(data_dir: str | None) -> tuple[np.ndarray, str]:
    """A real image when Fashion-MNIST is installed, else a drawn one: (H, W) in [0, 1]."""
    try:
        images, labels = datasets.load(datasets.FASHION_MNIST, data_dir,
                                       allow_download=False)["test"]
        return unit_pixels(images[0, 0], np.float64), (f"Fashion-MNIST test image 0 "
                                      f"({datasets.FASHION_MNIST.classes[labels[0]]})")
    except (FileNotFoundError, ValueError):
        rows, cols = np.indices((28, 28))
        disc = ((rows - 10) ** 2 + (cols - 9) ** 2 <= 36).astype(float)
        square = ((rows >= 14) & (rows <= 23) & (cols >= 14) & (cols <= 24)).astype(float)
        return np.maximum(disc, 0.6 * square), "a drawn disc and square"


def relu_figure(data_dir: str | None = None):
    """An edge detector's feature map before and after ReLU: negative responses (edges from
    light to dark) become 0."""
    image, what = _feature_map_image(data_dir)
    x = scratch.tensor(image[None, None].astype(np.float32))
    feature_map = F.conv2d(x, scratch.tensor(EDGE_KERNEL[None, None].astype(np.float32)),
                           padding=1)
    rectified = F.relu(feature_map)
    before, after = feature_map.numpy()[0], rectified.numpy()[0]
    stages = [Stage("RELU", "Sobel x", "relu", after, before)]
    return feature_figure(image[None], stages, f"ReLU on a feature map: {what}, "
                          "convolved with a vertical-edge (Sobel) kernel", tile_target=168)


def write_gallery(folder: str | Path, data_dir: str | None = None) -> list[Path]:
    folder = Path(folder)
    written, entries = [], []
    for name, caption, plan in ANIMATIONS:
        animation = animate(plan())
        animation.save(folder / name)
        written.append(folder / name)
        entries.append((name, caption))
        if name in STRIPS:
            still = folder / name.replace(".gif", "_steps.png")
            written.append(canvas.save_png(animation.strip(), still))
            entries.append((still.name, f"{caption}, every step (for slides)"))
    figure = relu_figure(data_dir)
    written.append(canvas.save_png(figure.image, folder / "relu_feature_map.png"))
    entries.append(("relu_feature_map.png", "ReLU on a feature map: its input and output "
                                            "side by side"))
    items = "".join(f"<figure><img src=\"{html.escape(name)}\" alt=\"{html.escape(caption)}\">"
                    f"<figcaption>{html.escape(caption)}</figcaption></figure>"
                    for name, caption in entries)
    page = ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>cnnlab "
            "gallery: convolution arithmetic</title><style>body{font:15px system-ui,sans-serif;"
            "max-width:1100px;margin:2em auto}figure{margin:2em 0}img{max-width:100%}"
            "</style></head><body><h1>Convolution arithmetic, regenerated by cnnlab</h1>"
            f"{items}</body></html>\n")
    write_atomically(folder / "index.html", page.encode("utf-8"))
    written.append(folder / "index.html")
    return written
