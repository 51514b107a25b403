"""Inference at batch size 4 for every zoo model, on every engine: torch eager, ONNX Runtime
and the NumPy scratch engine, under the protocol of `cnnlab eval` (one thread by default).

Each model runs at its dataset's input size: LeNet-5 on Fashion-MNIST (1x28x28), the CIFAR
ResNets on CIFAR-10 (3x32x32), the ImageNet architectures at their published 224x224 (227 for
the course's AlexNet) with 1000 classes. Prints images/s per engine and the ratio of ONNX
Runtime and scratch to torch eager, measured one after the other in the same run (without the
interleaved LeNet-5 reference: the lenet5 row is that reference).

    .venv/bin/python benchmarks/inference_bs4.py [--models lenet5,resnet20] [--images 8]
        [--repeats 3] [--threads 1] [--engines torch,onnx,scratch]
"""

from __future__ import annotations

import argparse

from cnnlab.evaluate.bench import bench, bench_input
from cnnlab.evaluate.environment import environment
from cnnlab.models.zoo import list_models

DATASET = {"lenet5": "fashion-mnist", "resnet20": "cifar10", "resnet56": "cifar10"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(list_models()))
    parser.add_argument("--engines", default="torch,onnx,scratch")
    parser.add_argument("--images", type=int, default=8,
                        help="images per pass at 224x224 (models below 64 px get 100x)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    engines = args.engines.split(",")
    env = environment(args.engines, args.threads)
    print(f"batch size 4, {args.threads} thread(s), median of {args.repeats} passes; "
          f"{env['cpu']}; torch {env['versions']['torch']}, onnxruntime "
          f"{env['versions']['onnxruntime']}")
    header = f"{'model':<10} {'input':<10}" + "".join(f" {e + ' img/s':>13}" for e in engines)
    header += "".join(f" {e + '/torch':>14}" for e in engines if e != "torch")
    print(header)
    for model in args.models.split(","):
        given = bench_input(model, DATASET.get(model))
        small = given.shape[1] < 64
        images = args.images * 100 if small else args.images
        summaries = {e: bench(model, e, given, args.threads, args.repeats, images,
                              with_reference=False).summary() for e in engines}
        rate = {e: s["images_per_second"]["median"] for e, s in summaries.items()}
        row = f"{model:<10} {'x'.join(map(str, given.shape)):<10}"
        row += "".join(f" {rate[e]:>13.1f}" for e in engines)
        if "torch" in rate:
            row += "".join(f" {rate[e] / rate['torch']:>14.2f}" for e in engines
                           if e != "torch")
        print(row, flush=True)


if __name__ == "__main__":
    main()
