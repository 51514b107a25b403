"""Latency of each interaction of the lab, as the page makes it: HTTP requests to the real app
on loopback, one at a time, on LeNet-5 and ResNet-20 (Fashion-MNIST's shapes). Prints p50 and
p95 per interaction beside the issue's targets (playground under 100 ms at p95, feature maps and
Grad-CAM under 300 ms), after a warm-up; the first prediction of the whole test set (the
confusion matrix, computed once per model) is timed on its own.

    .venv/bin/python benchmarks/lab_latency.py [--repeats 40] [--threads 2] [RUN ...]

Without runs it times the zoo's LeNet-5 and ResNet-20 with their initial weights (latency
depends on the layers, not on what the weights learned); with run folders, those.
"""

from __future__ import annotations

import argparse
import io
import itertools
import time
import urllib.parse
import urllib.request

import numpy as np
import torch
from PIL import Image

from cnnlab.evaluate.targets import load_target
from cnnlab.lab.app import create_app
from cnnlab.lab.explorer import Explorer
from cnnlab.lab.playground import EXAMPLES
from cnnlab.serving import loopback

TARGETS_MS = {"playground": 100, "feature maps": 300, "Grad-CAM": 300}
# The playground's settings timed beside its examples: the largest drawn input, a long
# transposed animation, and a layer too big to draw (sizes only).
HEAVY = ({"input": "40x40", "kernel": "3", "padding": "same"},
         {"layer": "transposed", "input": "12", "kernel": "3", "stride": "2", "padding": "1",
          "output_padding": "1"},
         {"input": "224", "kernel": "7", "stride": "2", "padding": "3", "in_channels": "3",
          "out_channels": "64"})


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def timed(url: str, data: bytes | None = None) -> float:
    start = time.perf_counter()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "image/jpeg"})
    with urllib.request.urlopen(request, timeout=600) as response:
        response.read()
        assert response.status == 200, url
    return 1000 * (time.perf_counter() - start)


def measure(urls, repeats: int, warmup: int = 3, data: bytes | None = None) -> list[float]:
    cycle = itertools.cycle(urls)
    for _ in range(warmup):
        timed(next(cycle), data)
    return [timed(next(cycle), data) for _ in range(repeats)]


def photo_jpeg() -> bytes:
    """A 640x480 phone-sized photo to upload."""
    generator = np.random.default_rng(0)
    pixels = generator.integers(0, 256, (480, 640, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="*", help="run folders (default: the zoo's LeNet-5 and "
                                                "ResNet-20 with initial weights)")
    parser.add_argument("--repeats", type=int, default=40)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    targets = [load_target(run) for run in args.runs] or \
        [load_target(name, "fashion-mnist", normalize="dataset")
         for name in ("lenet5", "resnet20")]
    explorer = Explorer(targets)
    rows = []
    with loopback(create_app(explorer)) as url:
        queries = [urllib.parse.urlencode(settings)
                   for settings in [s for _, _, s in EXAMPLES] + list(HEAVY)]
        rows.append(("playground", "-", measure(
            [f"{url}/api/playground?{query}" for query in queries], args.repeats)))
        photo = photo_jpeg()
        for key, model in explorer.models.items():
            base = f"{url}/api/explorer/{key}"
            images = [f"test:{i}" for i in range(0, 1000, 37)]
            stages = [stage.label for stage in model.stages]
            pairs = list(zip(itertools.cycle(images), stages * 3, strict=False))
            rows.append(("feature maps", key, measure(
                [f"{base}/features?image={i}&stage={s}" for i, s in pairs], args.repeats)))
            rows.append(("Grad-CAM", key, measure(
                [f"{base}/attribution?image={i}&class={c % 10}"
                 for c, i in enumerate(images)], args.repeats)))
            rows.append(("kernels", key, measure(
                [f"{base}/kernels?layer={conv.number}" for conv in model.convs],
                args.repeats)))
            rows.append(("upload 640x480 JPEG", key,
                         measure([f"{base}/upload"], args.repeats, data=photo)))
            rows.append(("layer table", key, measure([base], args.repeats)))
            start = time.perf_counter()
            timed(f"{base}/confusion")
            first = 1000 * (time.perf_counter() - start)
            rows.append((f"confusion matrix (first: {first / 1000:.1f} s, "
                         f"{len(model.images):,} images)", key,
                         measure([f"{base}/confusion"], args.repeats)))
            rows.append(("confusion cell's images", key, measure(
                [f"{base}/gallery?true={t}&predicted={p}" for t in range(10)
                 for p in range(10)], args.repeats)))
    print(f"{args.repeats} timed requests per row after 3 warm-up ones, one at a time, "
          f"torch threads {args.threads}; milliseconds")
    print(f"{'interaction':54} {'model':9} {'p50':>8} {'p95':>8} {'target':>7}")
    for name, key, values in rows:
        target = TARGETS_MS.get(name)
        p95 = percentile(values, 0.95)
        verdict = "" if target is None else f"{target:>5} {'ok' if p95 < target else 'OVER'}"
        print(f"{name:54} {key:9} {percentile(values, 0.5):8.1f} {p95:8.1f} {verdict}")


if __name__ == "__main__":
    main()
