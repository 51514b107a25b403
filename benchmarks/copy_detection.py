"""Near-copy detection, measured (issue 35, point 1): how much a copy of a classmate's model,
disguised each way, agrees with the original on the hidden images, against how much models
trained honestly with different seeds agree; and which the leaderboard flags (on the images
either model gets wrong, the same prediction at least leaderboard.near_copies.
NEAR_ERROR_AGREEMENT of the time, or the same fingerprint). Plain agreement is printed
beside it: it depends on the models' accuracy, the error agreement much less.

Give it ONNX files of honestly trained models (`cnnlab export RUN -o FILE`): the first is the
original the copies are made of; every pair of them is an honest pair. The images are
Fashion-MNIST's test set (what a task without an imported set ranks on).

    .venv/bin/python benchmarks/copy_detection.py lenet-0.onnx lenet-1.onnx lenet-2.onnx \\
        [--run RUN_OF_THE_FIRST] [--steps 10,100]

With --run (the run folder the first file was exported from) it also fine-tunes that run's
model N steps on training images and exports it: the "fine-tuned a few steps" copy.
"""

from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path

import numpy as np

from cnnlab.data import datasets
from cnnlab.evaluate.predictors import OnnxPredictor, predict_all
from cnnlab.leaderboard.copies import model_fingerprint
from cnnlab.leaderboard.near_copies import NEAR_ERROR_AGREEMENT, encoded, error_agreement

# The disguises are the tests' own, so that what is measured here is what the tests check
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.onnx_models import (
    noised,
    one_weight,
    other_opset,
    padded_graph,
    permuted,
)


def fine_tuned(run: Path, steps: int) -> bytes:
    import torch

    from cnnlab.evaluate.exporting import torch_model
    from cnnlab.evaluate.onnx_export import export_bytes
    from cnnlab.evaluate.targets import load_target

    target = load_target(run)
    model = torch_model(target).train()
    images, labels = datasets.load(target.spec, allow_download=False)["train"]
    contract = target.contract
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    rng = np.random.default_rng(0)
    for _ in range(steps):
        batch = rng.choice(len(images), 128, replace=False)
        x = contract.images(torch.from_numpy(images[batch]))
        loss = torch.nn.functional.cross_entropy(model(x), torch.from_numpy(labels[batch]))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    return export_bytes(model, contract, target.spec.shape, len(target.spec.classes))[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+", help="ONNX files of honestly trained models")
    parser.add_argument("--run", help="the run folder the first file was exported from")
    parser.add_argument("--steps", default="10,100", help="fine-tuning steps (with --run)")
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
              "another opset": other_opset(original)}
    if args.run:
        for steps in map(int, args.steps.split(",")):
            copies[f"fine-tuned {steps} steps"] = fine_tuned(Path(args.run), steps)
    print(f"original: {next(iter(files))}; flagged at an error agreement >= "
          f"{NEAR_ERROR_AGREEMENT:.0%} on {len(labels):,} images, or by fingerprint")
    print(f"{'copy':<30} {'agreement':>10} {'on errors':>10} {'accuracy':>9} "
          f"{'fingerprint':>12} {'flagged':>8}")
    fingerprint = model_fingerprint(original)
    for name, data in copies.items():
        ours = predictions(data)
        share, on_errors = compared(ours, theirs)
        same = model_fingerprint(data) == fingerprint
        flagged = same or on_errors >= NEAR_ERROR_AGREEMENT
        print(f"{name:<30} {share:>10.2%} {on_errors:>10.2%} {np.mean(ours == labels):>9.2%} "
              f"{'same' if same else 'other':>12} {'yes' if flagged else 'NO':>8}", flush=True)
    print(f"\n{'honest pair':<30} {'agreement':>10} {'on errors':>10} {'flagged':>8}")
    predicted = {name: predictions(data) for name, data in files.items()}
    for a, b in itertools.combinations(predicted, 2):
        share, on_errors = compared(predicted[a], predicted[b])
        print(f"{a + ' / ' + b:<30} {share:>10.2%} {on_errors:>10.2%} "
              f"{'YES' if on_errors >= NEAR_ERROR_AGREEMENT else 'no':>8}", flush=True)


if __name__ == "__main__":
    main()
