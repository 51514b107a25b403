"""Is the speed protocol stable? The same model measured ten times in a row, each time with the
full protocol (warm-up, repeated passes at batch size 4, interleaved LeNet-5 reference).

Prints each measurement, then the spread over the ten of the raw figure (images/s) and of the
reference ratio. The ratio is the figure meant to be compared across machines and days; its
spread should stay under 5% on a 2-core machine where the raw figure wanders more.

    .venv/bin/python benchmarks/speed_protocol.py [--model resnet20] [--dataset cifar10]
        [--engine torch] [--runs 10] [--images 1000] [--repeats 5] [--threads 1]
"""

from __future__ import annotations

import argparse
import statistics

from cnnlab.evaluate.bench import bench, bench_input
from cnnlab.evaluate.environment import environment
from cnnlab.evaluate.speed import spread


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="resnet20")
    parser.add_argument("--dataset", default="cifar10")
    parser.add_argument("--engine", default="torch", choices=["torch", "onnx", "scratch"])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()

    given = bench_input(args.model, args.dataset)
    env = environment(args.engine, args.threads)
    print(f"{args.model} ({'x'.join(map(str, given.shape))}) on {args.engine}, "
          f"{args.threads} thread(s), {args.images} images per pass, {args.repeats} passes "
          f"per measurement; {env['cpu']}, {env['logical_cpus']} logical CPUs")
    print(f"{'run':>3}  {'images/s':>9}  {'ratio':>7}  {'in-run spread':>13}")
    raw, ratios = [], []
    for run in range(1, args.runs + 1):
        summary = bench(args.model, args.engine, given, args.threads, args.repeats,
                        args.images).summary()
        raw.append(summary["images_per_second"]["median"])
        ratios.append(summary["reference"]["ratio"])
        print(f"{run:>3}  {raw[-1]:>9.1f}  {ratios[-1]:>7.4f}  "
              f"{summary['reference']['ratio_spread']:>13.1%}", flush=True)
    for name, values in (("images/s", raw), ("ratio to lenet5", ratios)):
        print(f"{name:<16} median {statistics.median(values):.4g}   spread (max-min)/median "
              f"{spread(values):.1%}   coefficient of variation "
              f"{statistics.stdev(values) / statistics.mean(values):.1%}")


if __name__ == "__main__":
    main()
