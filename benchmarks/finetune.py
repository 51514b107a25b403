"""What pre-training buys: a network pre-trained on five Fashion-MNIST classes, then fine-tuned
on the five others with 100 training images per class, against the same network trained on
those 500 images from scratch, and against the pre-trained features kept frozen (only the
fully connected layers train). Test accuracy on the five classes' 5,000 test images, per seed.

    .venv/bin/python benchmarks/finetune.py [--model lenet5] [--seeds 0,1,2]
        [--pretrain-epochs 5] [--epochs 30] [--out runs/finetune]

Every arm uses the same recipe (cnnlab train's defaults: Adam, one-cycle, lr 0.003) and the
same 500 images per seed (one class-balanced draw with that seed), so the only difference is
where the weights start. Each run keeps its folder under --out (default: a temporary folder,
removed at the end).
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from pathlib import Path

import cnnlab

PRETRAIN = [0, 1, 2, 3, 4]  # T-shirt/top, Trouser, Pullover, Dress, Coat
TARGET = [5, 6, 7, 8, 9]  # Sandal, Shirt, Sneaker, Bag, Ankle boot
FROZEN = {"lenet5": ["0", "3"], "resnet20": ["conv1", "bn1", "layer1", "layer2", "layer3"]}


def _result(folder: Path) -> dict:
    return json.loads((folder / "result.json").read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="lenet5", choices=sorted(FROZEN))
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--pretrain-epochs", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--per-class", type=int, default=100)
    parser.add_argument("--out")
    args = parser.parse_args()
    seeds = [int(seed) for seed in args.seeds.split(",")]
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(args.out or scratch)
        arms = {"from scratch": {}, "pre-trained, fine-tuned": {},
                "pre-trained, features frozen": {}}
        for seed in seeds:
            pretrained = out / f"pretrain-seed{seed}"
            cnnlab.train(args.model, "fashion-mnist", classes=PRETRAIN, seed=seed,
                         epochs=args.pretrain_epochs, out=str(pretrained), quiet=True)
            common = dict(classes=TARGET, seed=seed, epochs=args.epochs, quiet=True,
                          train_size=args.per_class * len(TARGET), val_size=1000,
                          batch_size=64)
            runs = {"from scratch": {},
                    "pre-trained, fine-tuned": {"init": str(pretrained)},
                    "pre-trained, features frozen": {"init": str(pretrained),
                                                     "freeze": FROZEN[args.model]}}
            for arm, options in runs.items():
                folder = out / f"{arm.replace(' ', '-').replace(',', '')}-seed{seed}"
                cnnlab.train(args.model, "fashion-mnist", out=str(folder), **common,
                             **options)
                arms[arm][seed] = float(_result(folder)["test_accuracy"])
            print(f"seed {seed}: pre-trained on classes {PRETRAIN} to "
                  f"{_result(pretrained)['test_accuracy']:.4f}; "
                  + "; ".join(f"{arm} {arms[arm][seed]:.4f}" for arm in arms), flush=True)
        print(f"\n{args.model}: pre-trained on Fashion-MNIST classes 0-4 ({args.pretrain_epochs}"
              f" epochs), then {args.per_class} images per class of classes 5-9, "
              f"{args.epochs} epochs; test accuracy on their 5,000 test images")
        print(f"{'':30}" + "".join(f"{'seed ' + str(s):>9}" for s in seeds) + "     mean")
        for arm, by_seed in arms.items():
            values = [by_seed[s] for s in seeds]
            print(f"{arm:30}" + "".join(f"{v:9.4f}" for v in values)
                  + f"{statistics.mean(values):9.4f}")


if __name__ == "__main__":
    main()
