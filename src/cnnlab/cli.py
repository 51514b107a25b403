"""The `cnnlab` command. Thin: it parses arguments and calls the modules that do the work."""

from __future__ import annotations

import argparse
import json
import os
import sys

_CONV_ONLY = ("kernel", "stride", "padding", "dilation", "transposed", "output_padding", "pool",
              "ceil_mode")


def _train(args: argparse.Namespace) -> int:
    from cnnlab.train.config import TrainConfig, read_toml, resolve
    from cnnlab.train.loop import resume, start

    flags = {name: getattr(args, name) for name in TrainConfig.__dataclass_fields__
             if getattr(args, name, None) is not None}
    if args.resume:
        extra = sorted(set(flags) - {"epochs"})
        if extra or args.config:
            raise ValueError("--resume continues a run with its saved configuration; only "
                             "--epochs may change (got " + ", ".join(
                                 f"--{name.replace('_', '-')}" for name in extra
                                 or ["config"]) + ")")
        run = resume(args.resume, flags.get("epochs"))
    else:
        file_values = read_toml(args.config) if args.config else {}
        if "model" not in flags and "model" not in file_values:
            raise ValueError("name a model: cnnlab train MODEL (see cnnlab models)")
        run = start(resolve(file_values, flags))
        processes = f", {run.cluster.world} processes" if run.cluster.distributed else ""
        run.report(f"{run.config.model} on {run.config.dataset} ({run.config.engine} engine"
                   f"{processes}): {len(run.data.train[0])} training and "
                   f"{len(run.data.val[0])} validation images, batch {run.config.batch_size}, "
                   f"{run.config.optimizer} lr {run.config.lr}, {run.config.schedule} "
                   f"schedule; run folder {run.folder}")
    try:
        result = run.run()
    finally:
        from cnnlab.train.distributed import leave

        leave()
    if result is None:
        return 130
    if run.cluster.is_main:
        print(f"trained in {result['train_seconds']:.1f} s")
        print(f"test accuracy: {result['test_accuracy']:.4f}")
    return 0


def _add_train(commands) -> None:
    train = commands.add_parser(
        "train", help="train a zoo model on a dataset",
        description="Train a zoo model with the course's parameters. Checkpoints after every "
                    "epoch; --resume continues exactly where a run stopped.")
    train.add_argument("model", nargs="?", help="a zoo model (see `cnnlab models`)")
    train.add_argument("--dataset", choices=["fashion-mnist", "mnist", "cifar10"])
    train.add_argument("--epochs", type=int)
    train.add_argument("--batch-size", type=int)
    train.add_argument("--lr", type=float, help="(peak) learning rate")
    train.add_argument("--optimizer", choices=["sgd", "adam", "adamw"])
    train.add_argument("--momentum", type=float)
    train.add_argument("--nesterov", action="store_true", default=None)
    train.add_argument("--weight-decay", type=float)
    train.add_argument("--dropout", type=float, help="the model's dropout probability")
    train.add_argument("--label-smoothing", type=float)
    train.add_argument("--schedule", choices=["onecycle", "cosine", "step", "none"])
    train.add_argument("--augment", help="comma-separated: crop, flip, cutout")
    train.add_argument("--train-size", type=int,
                       help="train on a class-balanced subset of this many images")
    train.add_argument("--val-size", type=int,
                       help="images held out of the training set for validation (default 5000)")
    train.add_argument("--seed", type=int)
    train.add_argument("--engine", choices=["torch", "scratch"])
    train.add_argument("--threads", type=int, help="torch threads (default: torch's choice)")
    train.add_argument("--out", help="run folder (default runs/MODEL-DATASET-seedN)")
    train.add_argument("--data-dir", help="folder holding the dataset files")
    train.add_argument("--config", help="a TOML file with the same keys; flags win")
    train.add_argument("--resume", metavar="RUN", help="continue the run in this folder")
    train.set_defaults(handler=_train)


def _shapes(args: argparse.Namespace) -> int:
    if args.model == "conv":
        return _shapes_conv(args)
    given = [f"--{name.replace('_', '-')}" for name in _CONV_ONLY
             if getattr(args, name) not in (None, False)]
    if given:
        raise ValueError(f"{', '.join(given)} only appl{'ies' if len(given) == 1 else 'y'} to "
                         "`cnnlab shapes conv`")
    from cnnlab.models.summary import model_table

    table = model_table(args.model, args.input, args.engine, args.num_classes)
    if args.json:
        print(json.dumps(table.as_dict(), indent=2))
    else:
        print(table.text(every_layer=args.all), end="")
    return 0


def _shapes_conv(args: argparse.Namespace) -> int:
    from cnnlab.arithmetic.explain import explain, parse_size

    if args.input is None or args.kernel is None:
        raise ValueError("shapes conv needs --input HxW and --kernel K "
                         "(e.g. --input 5x5 --kernel 3 --stride 2 --padding 1)")
    text = explain(parse_size(args.input), args.kernel,
                   1 if args.stride is None else args.stride,
                   0 if args.padding is None else args.padding,
                   1 if args.dilation is None else args.dilation,
                   args.transposed, 0 if args.output_padding is None else args.output_padding,
                   args.pool, args.ceil_mode)
    print(text, end="")
    return 0


def _models(args: argparse.Namespace) -> int:
    from cnnlab.models.registry import list_models, model_info

    names = list_models(args.pattern)
    if not names:
        raise ValueError(f"no model matches {args.pattern!r}")
    width = max(map(len, names))
    for name in names:
        info = model_info(name)
        size = f"{info.input_size}x{info.input_size}x{info.in_channels}"
        print(f"{name:<{width}}  {size:<9}  {info.summary}")
    return 0


class _Parser(argparse.ArgumentParser):
    """Usage mistakes get one line, like every other error of the command."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def _add_shapes(commands) -> None:
    shapes = commands.add_parser(
        "shapes", help="per-layer output shapes, parameters, MACs and receptive fields",
        description="Print one row per layer of a zoo model or of your own network (traced "
                    "with a real forward pass): what it is, its output as HxWxC, parameters, "
                    "multiply-adds and receptive field, with totals. `cnnlab shapes conv` "
                    "explains a single convolution or pooling layer instead.")
    shapes.add_argument("model", metavar="MODEL",
                        help="a zoo name (see `cnnlab models`), path/to/net.py:ClassName, "
                             "package.module:factory, or `conv` for one layer")
    shapes.add_argument("--input", help="input size: CxHxW for a model (3x227x227; HxW keeps "
                                        "the model's channels), HxW for `conv`")
    shapes.add_argument("--engine", choices=["torch", "scratch"], default=None,
                        help="build the zoo model on this engine (default torch)")
    shapes.add_argument("--num-classes", type=int, default=None)
    shapes.add_argument("--json", action="store_true", help="print the table as JSON")
    shapes.add_argument("--all", action="store_true",
                        help="also list activations, dropout and reshapes")
    layer = shapes.add_argument_group("one layer (`cnnlab shapes conv`)")
    layer.add_argument("--kernel", type=int)
    layer.add_argument("--stride", type=int)
    layer.add_argument("--padding", type=int)
    layer.add_argument("--dilation", type=int)
    layer.add_argument("--transposed", action="store_true", help="a transposed convolution")
    layer.add_argument("--output-padding", type=int, help="with --transposed")
    layer.add_argument("--pool", choices=["max", "avg", "sum"], help="a pooling layer")
    layer.add_argument("--ceil-mode", action="store_true", help="with --pool")
    shapes.set_defaults(handler=_shapes)

    models = commands.add_parser("models", help="list the zoo",
                                 description="List the zoo's models and their published input.")
    models.add_argument("pattern", nargs="?", default="*",
                        help="shell-style pattern, e.g. 'resnet*'")
    models.set_defaults(handler=_models)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="cnnlab", description="A lab for convolutional networks.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    _add_shapes(commands)
    _add_train(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except (ValueError, TypeError, FileNotFoundError, FloatingPointError, ImportError) as error:
        print(f"cnnlab {args.command}: {error}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `cnnlab shapes vgg16 | head`: the reader left, nothing to say
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - stays open until exit
        return 0
    except KeyboardInterrupt:
        print(f"cnnlab {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
