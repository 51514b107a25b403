"""Inference at batch size 4 for every zoo model, on every engine: torch eager, ONNX Runtime
and the NumPy scratch engine, under the protocol of `cnnlab eval` (one thread by default).

Each model runs at its dataset's input size: LeNet-5 on Fashion-MNIST (1x28x28), the CIFAR
ResNets on CIFAR-10 (3x32x32), the ImageNet architectures at their published 224x224 (227 for
the course's AlexNet) with 1000 classes. Prints images/s per engine and the ratio of ONNX
Runtime and scratch to torch eager, measured one after the other in the same run (without the
interleaved LeNet-5 reference: the lenet5 row is that reference).

It also prints the ceiling of those ratios: this core's float32 multiply-adds per second in a
large matrix product (the faster of torch's BLAS and ONNX Runtime's), and per model its
multiply-adds per image (as `cnnlab shapes` counts them), the rate torch reaches, and
`ceiling`, the peak over torch's rate: the largest speed-up over torch eager that any engine
doing the same multiply-adds in float32 can have. Beyond it only fewer or cheaper operations
help (int8: `benchmarks/int8_speed.py`).

    .venv/bin/python benchmarks/inference_bs4.py [--models lenet5,resnet20] [--images 8]
        [--repeats 3] [--threads 1] [--engines torch,onnx,scratch]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from cnnlab.evaluate.bench import bench, bench_input
from cnnlab.evaluate.environment import environment
from cnnlab.evaluate.predictors import OnnxPredictor, fixed_threads
from cnnlab.models.summary import model_table
from cnnlab.models.zoo import list_models

DATASET = {"lenet5": "fashion-mnist", "resnet20": "cifar10", "resnet56": "cifar10"}
PEAK_SIZE = 2048  # big enough that a matrix product runs at the core's arithmetic peak


def best_seconds(fn, repeats: int = 5) -> float:
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def matmul_peak(threads: int) -> dict[str, float]:
    """Float32 multiply-adds per second of a PEAK_SIZE-square matrix product, per library."""
    import onnx
    from onnx import TensorProto, helper

    n = PEAK_SIZE
    a, b = (np.random.default_rng(i).random((n, n), dtype=np.float32) for i in (0, 1))
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["a", "b"], ["c"])], "matmul",
        [helper.make_tensor_value_info("a", TensorProto.FLOAT, [n, n])],
        [helper.make_tensor_value_info("c", TensorProto.FLOAT, [n, n])],
        [onnx.numpy_helper.from_array(b, "b")])
    session = OnnxPredictor(helper.make_model(graph).SerializeToString(), threads)
    ta, tb = torch.from_numpy(a), torch.from_numpy(b)
    with fixed_threads(threads):
        seconds = {"torch": best_seconds(lambda: torch.mm(ta, tb)),
                   "onnx": best_seconds(lambda: session(a))}
    return {name: n ** 3 / s for name, s in seconds.items()}


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
    ceiling = "torch" in engines
    if ceiling:
        peaks = matmul_peak(args.threads)
        peak = max(peaks.values())
        print(f"float32 peak, a {PEAK_SIZE}x{PEAK_SIZE} matrix product: " + ", ".join(
            f"{name} {rate / 1e9:.1f}" for name, rate in peaks.items()) + " G multiply-adds/s")
        header += f" {'MMAC/image':>11} {'torch GMAC/s':>13} {'of peak':>8} {'ceiling':>8}"
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
        if ceiling:
            macs = model_table(model, "x".join(map(str, given.shape)),
                               num_classes=given.num_classes).macs
            reached = macs * rate["torch"]
            row += (f" {macs / 1e6:>11.1f} {reached / 1e9:>13.1f} {reached / peak:>8.0%}"
                    f" {peak / reached:>8.2f}")
        print(row, flush=True)


if __name__ == "__main__":
    main()
