"""Training and batch-4 evaluation on each device, side by side: one epoch of LeNet-5 and one
of ResNet-20 on the real Fashion-MNIST, then `cnnlab eval` of each run at batch size 4 on the
same device (validation split, speed protocol with the interleaved reference).

    python benchmarks/devices.py                      # every device torch sees here
    python benchmarks/devices.py --devices cpu,cuda --amp bf16

It prints seconds per epoch, test accuracy, images/s at batch size 4 and the ratio of each
device to the first one. On a machine without a GPU it says so and times the CPU alone.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import tempfile
from pathlib import Path

import torch

from cnnlab.cli import main as cnnlab
from cnnlab.runs import folder as layout

RECIPES = {  # one epoch each; the rest of the settings are the defaults
    "lenet5": ["--batch-size", "128"],
    "resnet20": ["--batch-size", "128", "--optimizer", "sgd", "--lr", "0.2", "--momentum",
                 "0.9", "--nesterov", "--weight-decay", "5e-4"],
}


def available() -> list[str]:
    devices = ["cpu"]
    if torch.cuda.is_available():
        devices.append("cuda")
    if torch.backends.mps.is_available():
        devices.append("mps")
    return devices


def measure(model: str, device: str, amp: str | None, folder: Path, repeats: int) -> dict:
    out = folder / f"{model}-{device}"
    extra = ["--amp", amp] if amp else []
    with contextlib.redirect_stdout(io.StringIO()):  # the commands' own tables
        assert cnnlab(["train", model, "--dataset", "fashion-mnist", "--epochs", "1",
                       "--device", device, "--out", str(out), *RECIPES[model], *extra]) == 0
        assert cnnlab(["eval", str(out), "--device", device, "--repeats", str(repeats),
                       *extra]) == 0
    result = layout.training_result(out)
    evaluation = layout.read_evaluation(out)
    speed = evaluation["speed"]
    return {"model": model, "device": device,
            "device_name": evaluation["environment"]["device_name"],
            "epoch_seconds": result["train_seconds"], "test_accuracy": result["test_accuracy"],
            "images_per_second": speed["images_per_second"]["median"],
            "p50_ms": speed["ms_per_batch"]["p50"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", help="comma-separated (default: every one here)")
    parser.add_argument("--models", default="lenet5,resnet20")
    parser.add_argument("--amp", choices=["bf16", "fp16"])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    devices = args.devices.split(",") if args.devices else available()
    if "cuda" not in devices:
        print(f"no CUDA GPU here (torch {torch.__version__}); timing {', '.join(devices)}")
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for model in args.models.split(","):
            for device in devices:
                rows.append(measure(model, device, args.amp, Path(folder), args.repeats))
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    print(f"\n{'model':<9} {'device':<7} {'s/epoch':>8} {'x first':>8} {'test acc':>8} "
          f"{'img/s bs4':>10} {'x first':>8} {'p50 ms':>7}  name")
    for row in rows:
        first = next(r for r in rows if r["model"] == row["model"])
        print(f"{row['model']:<9} {row['device']:<7} {row['epoch_seconds']:>8.1f} "
              f"{first['epoch_seconds'] / row['epoch_seconds']:>8.2f} "
              f"{row['test_accuracy']:>8.4f} {row['images_per_second']:>10.0f} "
              f"{row['images_per_second'] / first['images_per_second']:>8.2f} "
              f"{row['p50_ms']:>7.3f}  {row['device_name']}")


if __name__ == "__main__":
    main()
