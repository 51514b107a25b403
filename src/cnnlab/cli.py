"""The `cnnlab` command. Thin: it parses arguments and calls the modules that do the work."""

from __future__ import annotations

import argparse
import sys


def _demo(args: argparse.Namespace) -> int:
    from cnnlab.train.scratch_job import JobConfig, run

    config = JobConfig(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                       optimizer=args.optimizer, train_size=args.train_size, seed=args.seed,
                       data_dir=args.data_dir)
    result = run(config)
    print(f"trained in {result['train_seconds']:.1f} s")
    print(f"test accuracy: {result['test_accuracy']:.4f}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cnnlab", description="A lab for convolutional "
                                     "networks.")
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser(
        "demo", help="train LeNet-5 with the scratch NumPy engine on Fashion-MNIST",
        description="Train LeNet-5 with cnnlab's from-scratch NumPy engine on the real "
                    "Fashion-MNIST training set and print the test accuracy.")
    demo.add_argument("--epochs", type=int, default=1)
    demo.add_argument("--batch-size", type=int, default=32)
    demo.add_argument("--lr", type=float, default=0.002, help="learning rate (default 0.002)")
    demo.add_argument("--optimizer", choices=["sgd", "adam"], default="adam",
                      help="Adam, or SGD with momentum 0.9 (default adam)")
    demo.add_argument("--train-size", type=int, default=None,
                      help="train on a random subset of this many images")
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--data-dir", default=None, help="folder holding the Fashion-MNIST files")
    demo.set_defaults(handler=_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except (ValueError, TypeError, FileNotFoundError, FloatingPointError) as error:
        print(f"cnnlab {args.command}: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"cnnlab {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
