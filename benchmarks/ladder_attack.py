"""The boosting attack of Blum & Hardt (ICML 2015, section 3.1) on a task's public half, with
and without the Ladder (issue 35, point 6): how much a student gains on the public half by
submitting many random variants of their predictions and keeping, image by image, the choice
of the variants that scored above the rest; measured as the attack's public-half accuracy
over its private-half accuracy, beside the same gap of the model it started from.

Each variant picks, for every image, the model's first or second most likely class at random
(a binary choice per image, as in the paper's attack). Without the Ladder the student sees
every variant's public score and combines the better half of them by majority vote; that
vector scores well on the public half and no better than chance between the two classes on
the private half. With the Ladder (leaderboard.ladder) a variant's score is shown only when
it beats the student's best by more than the standard error, so there is nothing to select.

    .venv/bin/python benchmarks/ladder_attack.py MODEL.onnx [--variants 100,300,1000]
"""

from __future__ import annotations

import argparse

import numpy as np

from cnnlab.data import datasets
from cnnlab.data.splits import stratified_split
from cnnlab.evaluate.predictors import OnnxPredictor, predict_all
from cnnlab.leaderboard.ladder import ladder
from cnnlab.leaderboard.tasks import SPLIT_SEED


def attack(top2: np.ndarray, labels: np.ndarray, public: np.ndarray, variants: int,
           with_ladder: bool, rng) -> np.ndarray:
    """The attacker's final predictions: each variant picks, for every image, its first or
    second most likely class at random; the choices of the variants seen to score well are
    combined by majority vote, image by image."""
    base = top2[:, 0]
    choices = rng.integers(0, 2, (variants, len(labels)))
    predicted = np.where(choices == 1, top2[:, 1], top2[:, 0])
    correct = predicted[:, public] == labels[public]
    if with_ladder:  # a score is shown only when it beats the best by its standard error
        steps = ladder([base[public] == labels[public], *correct])
        chosen = np.array([step.accepted for step in steps[1:]])
    else:  # every score is shown: the better half of the variants
        scores = correct.mean(axis=1)
        chosen = scores > np.median(scores)
    if not chosen.any():  # nothing was shown to select by: the model's own predictions
        return base
    return np.where(choices[chosen].mean(axis=0) > 0.5, top2[:, 1], top2[:, 0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="an ONNX file of a Fashion-MNIST model")
    parser.add_argument("--variants", default="100,300,1000")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    images, labels = datasets.load(datasets.FASHION_MNIST, allow_download=False)["test"]
    with open(args.model, "rb") as file:
        data = file.read()
    logits = predict_all(OnnxPredictor(data, 1), images.astype(np.float32) / 255.0)
    top2 = np.argsort(-logits, axis=1)[:, :2]
    private, public = stratified_split(labels, len(labels) // 2, SPLIT_SEED)

    def gap(predicted: np.ndarray) -> tuple[float, float]:
        return (float(np.mean(predicted[public] == labels[public])),
                float(np.mean(predicted[private] == labels[private])))

    base_public, base_private = gap(top2[:, 0])
    print(f"the model: public half {base_public:.2%}, private half {base_private:.2%} "
          f"({len(public):,} images each); each variant picks its first or "
          "second class for every image at random")
    print(f"{'variants':>8} {'Ladder':>7} {'public':>8} {'private':>8} {'public - private':>17} "
          f"{'vs the model':>13}")
    rng = np.random.default_rng(args.seed)
    for variants in map(int, args.variants.split(",")):
        for with_ladder in (False, True):
            pub, priv = gap(attack(top2, labels, public, variants, with_ladder, rng))
            over = 100 * ((pub - priv) - (base_public - base_private))
            print(f"{variants:>8} {'yes' if with_ladder else 'no':>7} {pub:>8.2%} {priv:>8.2%} "
                  f"{100 * (pub - priv):>+16.2f}p {over:>+12.2f}p", flush=True)


if __name__ == "__main__":
    main()
