"""Near-copy detection, measured (issue 35, point 1): how much a copy of a classmate's model,
disguised each way, agrees with the original on the hidden images and how far its weights
are from the original's in canonical form, against the same figures for models trained
honestly with different seeds; and which the leaderboard flags (the same fingerprint; or on
the images either model gets wrong, the same prediction at least leaderboard.near_copies.
NEAR_ERROR_AGREEMENT of the time; or a weight distance at most NEAR_WEIGHT_DISTANCE). Plain
agreement is printed beside it: it depends on the models' accuracy, the error agreement
much less.

Give it ONNX files of honestly trained models (`cnnlab export RUN -o FILE`): the first is the
original the copies are made of; every pair of them is an honest pair. The images are
Fashion-MNIST's test set (what a task without an imported set ranks on).

    .venv/bin/python benchmarks/copy_detection.py lenet-0.onnx lenet-1.onnx lenet-2.onnx \\
        [--run RUN_OF_THE_FIRST] [--steps 10,100] [--lr 0.01]

With --run (the run folder the first file was exported from) it also fine-tunes that run's
model N steps on training images and exports it: the "fine-tuned a few steps" copy (a higher
--lr shows where retraining a copy takes it out of reach).
"""

from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path

import numpy as np

from cnnlab.data import datasets
from cnnlab.evaluate.predictors import OnnxPredictor, predict_all
from cnnlab.leaderboard.canonical_weights import canonical_layers, weight_distance
from cnnlab.leaderboard.copies import model_fingerprint
from cnnlab.leaderboard.near_copies import (
    NEAR_ERROR_AGREEMENT,
    NEAR_WEIGHT_DISTANCE,
    encoded,
    error_agreement,
    is_near,
)

# The disguises are the tests' own, so that what is measured here is what the tests check
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.onnx_models import (
    fine_tuned,
    noised,
    one_weight,
    other_opset,
    padded_graph,
    permuted,
    rescaled,
    split_linear,
    unfolded_batch_norm,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+", help="ONNX files of honestly trained models")
    parser.add_argument("--run", help="the run folder the first file was exported from")
    parser.add_argument("--steps", default="10,100", help="fine-tuning steps (with --run)")
    parser.add_argument("--lr", type=float, default=0.01, help="fine-tuning learning rate")
    args = parser.parse_args()
    images, labels = datasets.load(datasets.FASHION_MNIST, allow_download=False)["test"]
    pixels = images.astype(np.float32) / 255.0

    def predictions(data: bytes) -> np.ndarray:
        return predict_all(OnnxPredictor(data, 1), pixels).argmax(1)

    def compared(ours: np.ndarray, theirs: np.ndarray) -> tuple[float, float]:
        return float(np.mean(ours == theirs)), error_agreement(encoded(ours, labels),
                                                                encoded(theirs, labels))

    files = {Path(f).stem: Path(f).read_bytes() for f in args.files}
    original = next(iter(files.values()))
    theirs = predictions(original)
    copies = {"exact copy": original, "one weight + 1e-6": one_weight(original, 1e-6),
              "one weight + 1e-3": one_weight(original, 1e-3),
              "every weight + N(0, 1e-3)": noised(original, 1e-3),
              "every weight + N(0, 1e-2)": noised(original, 1e-2),
              "conv channels permuted": permuted(original),
              "Identity and add-zero nodes": padded_graph(original),
              "another opset": other_opset(original),
              "channels rescaled (ReLU)": rescaled(original),
              "batch norm unfolded": unfolded_batch_norm(original),
              "last linear layer split": split_linear(original)}
    if args.run:
        for steps in map(int, args.steps.split(",")):
            tuned = fine_tuned(Path(args.run), steps, args.lr)
            copies[f"fine-tuned {steps} steps"] = tuned
            copies[f"fine-tuned {steps}, permuted"] = permuted(tuned)
    print(f"original: {next(iter(files))}; flagged by fingerprint, at an error agreement >= "
          f"{NEAR_ERROR_AGREEMENT:.0%} on {len(labels):,} images, or a weight distance <= "
          f"{NEAR_WEIGHT_DISTANCE}")
    print(f"{'copy':<30} {'agreement':>10} {'on errors':>10} {'accuracy':>9} "
          f"{'weights':>8} {'fingerprint':>12} {'flagged':>8}")
    fingerprint = model_fingerprint(original)
    layers = canonical_layers(original)

    def distance(data: bytes) -> float | None:
        theirs = canonical_layers(data)
        return None if layers is None or theirs is None else weight_distance(layers, theirs)

    for name, data in copies.items():
        ours = predictions(data)
        share, on_errors = compared(ours, theirs)
        same = model_fingerprint(data) == fingerprint
        apart = distance(data)
        flagged = same or is_near(on_errors, apart)
        print(f"{name:<30} {share:>10.2%} {on_errors:>10.2%} {np.mean(ours == labels):>9.2%} "
              f"{_shown(apart):>8} {'same' if same else 'other':>12} "
              f"{'yes' if flagged else 'NO':>8}", flush=True)
    print(f"\n{'honest pair':<30} {'agreement':>10} {'on errors':>10} {'weights':>8} "
          f"{'flagged':>8}")
    predicted = {name: predictions(data) for name, data in files.items()}
    for a, b in itertools.combinations(predicted, 2):
        share, on_errors = compared(predicted[a], predicted[b])
        apart = weight_distance(canonical_layers(files[a]), canonical_layers(files[b]))
        print(f"{a + ' / ' + b:<30} {share:>10.2%} {on_errors:>10.2%} {_shown(apart):>8} "
              f"{'YES' if is_near(on_errors, apart) else 'no':>8}", flush=True)


def _shown(distance: float | None) -> str:
    return "-" if distance is None else f"{distance:.4f}"


if __name__ == "__main__":
    main()
