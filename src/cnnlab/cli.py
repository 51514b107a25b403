"""The `cnnlab` command. Thin: it parses arguments and calls the modules that do the work."""

from __future__ import annotations

import argparse
import json
import os
import sys

# The names cnnlab.data.datasets knows (kept here so `cnnlab --help` stays quick to start).
_DATASETS = ("fashion-mnist", "mnist", "cifar10")
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
    train.add_argument("--dataset", choices=_DATASETS)
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


def _threads(value: int) -> int:
    if value < 1:
        raise ValueError(f"--threads must be at least 1, got {value}")
    return value


def _eval(args: argparse.Namespace) -> int:
    from cnnlab.evaluate.evaluation import RESULT, evaluate
    from cnnlab.evaluate.targets import load_target

    target = load_target(args.target, args.dataset)
    engine = args.engine or ("onnx" if target.is_onnx else "torch")
    result = evaluate(target, args.split, engine, _threads(args.threads), args.repeats,
                      speed=not args.no_speed, data_dir=args.data_dir, out=args.out)
    if args.json:
        print(json.dumps(result.as_dict(), indent=2))
        return 0
    print(f"{target.name} on the {target.spec.name} {args.split} split "
          f"({result.metrics.images} images), {engine} engine")
    print()
    print(result.metrics.text())
    if result.speed:
        print(result.speed.text())
        env = result.environment
        print(f"measured on {env['cpu']} ({env['logical_cpus']} logical CPUs), "
              f"{env['threads']} thread{'s' * (env['threads'] > 1)}, "
              + ", ".join(f"{k} {v}" for k, v in env["versions"].items()
                          if v and k != "cnnlab"))
    print(f"wrote {args.out or target.folder / RESULT}")
    return 0


def _export(args: argparse.Namespace) -> int:
    from cnnlab.evaluate.onnx_export import export_onnx, model_to_export

    model, spec, what = model_to_export(args.target, args.dataset, args.weights)
    info, difference = export_onnx(model, spec.shape, spec.mean, spec.std, args.output,
                                   len(spec.classes))
    print(f"exported {what} to {args.output} ({info.size_bytes / 2**20:.2f} MiB, opset "
          f"{info.opset}, {info.nodes} nodes)")
    print(f"input  {info.input_name}: float32 {tuple(info.input_shape)}, pixels in [0, 1]; "
          f"the {spec.name} normalisation is inside")
    print(f"output {info.output_name}: float32 {tuple(info.output_shape)}")
    print(f"ONNX Runtime's logits match torch's to {difference:.2g} (max abs difference)")
    return 0


def _bench(args: argparse.Namespace) -> int:
    from cnnlab.evaluate.bench import bench, bench_input, table
    from cnnlab.evaluate.environment import environment

    engines = [name.strip() for name in args.engine.split(",") if name.strip()]
    rows = []
    for model in args.models:
        given = bench_input(model, args.dataset, args.input, args.num_classes)
        for engine in engines:
            rows.append((model, given, bench(model, engine, given, _threads(args.threads),
                                             args.repeats, args.images)))
    if args.json:
        print(json.dumps([{"model": model, "input": list(given.shape),
                           "num_classes": given.num_classes, **report.summary(),
                           "environment": environment(report.engine, report.threads)}
                          for model, given, report in rows], indent=2))
        return 0
    print(table(rows), end="")
    env = environment(",".join(engines), args.threads)
    print(f"batch size 4, {args.images} random images, median of {args.repeats} passes; "
          f"{env['cpu']}, {args.threads} thread{'s' * (args.threads > 1)}")
    return 0


def _add_evaluate(commands) -> None:
    evaluate = commands.add_parser(
        "eval", help="accuracy and speed at batch size 4 of a trained model",
        description="Evaluate a run folder, checkpoint or .onnx file on a whole split: top-1 "
                    "and top-5 accuracy, per-class precision/recall/F1 and the confusion "
                    "matrix, with the speed measured during that validation at batch size 4 "
                    "(fixed threads, warm-up, repeated passes, interleaved LeNet-5 reference). "
                    "Writes eval.json in the run folder.")
    evaluate.add_argument("target", help="a run folder, a checkpoint, or an .onnx file")
    evaluate.add_argument("--dataset", choices=_DATASETS,
                          help="default: the one the run trained on (needed for .onnx)")
    evaluate.add_argument("--split", choices=["val", "test"], default="val")
    evaluate.add_argument("--engine", choices=["torch", "onnx", "scratch"],
                          help="default torch (onnx for an .onnx file)")
    evaluate.add_argument("--threads", type=int, default=1, help="fixed thread count "
                                                                  "(default 1)")
    evaluate.add_argument("--repeats", type=int, default=5, help="timed passes (default 5)")
    evaluate.add_argument("--no-speed", action="store_true", help="accuracy only")
    evaluate.add_argument("--data-dir", help="folder holding the dataset files")
    evaluate.add_argument("--out", help="where to write the results (default: eval.json in "
                                        "the run folder)")
    evaluate.add_argument("--json", action="store_true", help="print the results as JSON")
    evaluate.set_defaults(handler=_eval)

    export = commands.add_parser(
        "export", help="write a model as a self-contained .onnx file",
        description="Export a run, a checkpoint, a zoo model or your own network "
                    "(path/to/net.py:ClassName with --weights) to ONNX: float32 pixels in "
                    "[0, 1] in, logits out, the dataset's normalisation folded into the graph, "
                    "a dynamic batch dimension. The file is checked and its logits compared "
                    "with torch's before it is written.")
    export.add_argument("target", help="a run folder, a checkpoint, a zoo model name, or "
                                       "path/to/net.py:ClassName")
    export.add_argument("-o", "--output", required=True, help="the .onnx file to write")
    export.add_argument("--dataset", choices=_DATASETS,
                        help="the input shape, classes and normalisation (a run knows its own)")
    export.add_argument("--weights", help="state-dict file for a zoo model or your network "
                                          "(.safetensors or torch.save)")
    export.set_defaults(handler=_export)

    bench = commands.add_parser(
        "bench", help="time zoo models at batch size 4 on random input",
        description="Time zoo models at batch size 4 on random pixels of the right shape, "
                    "under the speed protocol of `cnnlab eval` (no dataset needed).")
    bench.add_argument("models", nargs="+", metavar="MODEL", help="zoo model name(s)")
    bench.add_argument("--engine", default="torch",
                       help="torch, onnx, scratch, or several comma-separated (default torch)")
    bench.add_argument("--dataset", choices=_DATASETS,
                       help="take that dataset's input shape and classes")
    bench.add_argument("--input", help="CxHxW (default: the model's published input)")
    bench.add_argument("--num-classes", type=int)
    bench.add_argument("--threads", type=int, default=1, help="fixed thread count (default 1)")
    bench.add_argument("--repeats", type=int, default=3, help="timed passes (default 3)")
    bench.add_argument("--images", type=int, default=200,
                       help="random images per pass (default 200)")
    bench.add_argument("--json", action="store_true", help="print the results as JSON")
    bench.set_defaults(handler=_bench)


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
    _add_evaluate(commands)
    from cnnlab.cli_leaderboard import add_leaderboard
    from cnnlab.cli_viz import add_viz

    add_viz(commands)
    add_leaderboard(commands)
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
