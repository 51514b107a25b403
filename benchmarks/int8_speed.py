"""Batch-4 inference of the int8 form (`cnnlab export --quantize int8`) beside the float32 ONNX
file and torch eager, for zoo models, measured one after the other in the same run under the
protocol of `cnnlab eval` (1 thread by default).

The weights are random and the calibration images random pixels: this measures speed only
(accuracy is measured by `cnnlab export --quantize int8` on the user's trained model, on real
images). Inputs as in inference_bs4.py: LeNet-5 at 1x28x28, the CIFAR ResNets at 3x32x32, the
ImageNet architectures at their published size.

    .venv/bin/python benchmarks/int8_speed.py [--models lenet5,resnet20] [--images 400]
        [--repeats 3] [--threads 1]
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from cnnlab.evaluate.bench import bench_input, stand_in_contract
from cnnlab.evaluate.environment import environment
from cnnlab.evaluate.onnx_export import export_bytes
from cnnlab.evaluate.predictors import ModelPredictor, OnnxPredictor, fixed_threads
from cnnlab.evaluate.quantize import quantize_int8
from cnnlab.evaluate.speed import measure
from cnnlab.models.build import build_model

DATASET = {"lenet5": "fashion-mnist", "resnet20": "cifar10", "resnet56": "cifar10"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="lenet5,resnet20")
    parser.add_argument("--images", type=int, default=400,
                        help="images per pass below 64 px (the ImageNet sizes get 1/50)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    env = environment("torch,onnx", args.threads)
    print(f"batch size 4, {args.threads} thread(s), median of {args.repeats} passes; "
          f"{env['cpu']}; torch {env['versions']['torch']}, onnxruntime "
          f"{env['versions']['onnxruntime']}")
    print(f"{'model':<10} {'torch img/s':>12} {'float img/s':>12} {'int8 img/s':>12} "
          f"{'float/torch':>12} {'int8/torch':>11} {'int8/float':>11}")
    for model in args.models.split(","):
        given = bench_input(model, DATASET.get(model))
        images = args.images if given.shape[1] < 64 else max(8, args.images // 50)
        with torch.random.fork_rng():
            torch.manual_seed(0)
            net = build_model(model, given.shape, given.num_classes).eval()
        contract = stand_in_contract(given.shape[0])
        rng = np.random.default_rng(0)
        pixels = rng.random((images, *given.shape), dtype=np.float32)
        float_bytes = export_bytes(net, contract, given.shape)[0]
        int8_bytes = quantize_int8(float_bytes, rng.random((64, *given.shape),
                                                           dtype=np.float32))
        rate = {}
        with fixed_threads(args.threads):
            for name, predict in (("torch", ModelPredictor(net, contract)),
                                  ("float", OnnxPredictor(float_bytes, args.threads)),
                                  ("int8", OnnxPredictor(int8_bytes, args.threads))):
                report = measure(predict, pixels, engine=predict.name, threads=args.threads,
                                 repeats=args.repeats)
                rate[name] = report.summary()["images_per_second"]["median"]
        print(f"{model:<10} {rate['torch']:>12.1f} {rate['float']:>12.1f} {rate['int8']:>12.1f} "
              f"{rate['float'] / rate['torch']:>12.2f} {rate['int8'] / rate['torch']:>11.2f} "
              f"{rate['int8'] / rate['float']:>11.2f}", flush=True)


if __name__ == "__main__":
    main()
