"""`cnnlab eval`, `cnnlab export` and `cnnlab bench`: parsing only; the work is in
cnnlab.evaluate."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from cnnlab.cli.options import (
    DATASETS,
    TARGET,
    add_device_options,
    add_target_options,
    load_target,
    output_file,
    threads,
)
from cnnlab.models.engines import RUNTIMES

ENGINES = RUNTIMES


def _eval(args: argparse.Namespace) -> int:
    from cnnlab.evaluate.evaluation import evaluate

    target = load_target(args)
    result = evaluate(target, args.split, args.engine, threads(args.threads), args.repeats,
                      speed=not args.no_speed, data_dir=args.data_dir, out=args.out,
                      device=args.device, amp=args.amp)
    if args.json:
        print(json.dumps(result.as_dict(), indent=2))
        return 0
    print(result.text(), end="")
    print(f"wrote {args.out or target.result_path()}")
    return 0


def _export(args: argparse.Namespace) -> int:
    from cnnlab.evaluate.exporting import export_target

    output_file(args.output, "model.onnx")
    target = load_target(args)
    report = export_target(target, args.output, args.data_dir, args.quantize)
    if target.kind == "model":
        what = f"{target.name} with " + (f"weights {target.weights_file}" if target.weights
                                         else "its initial (random) weights")
    elif target.kind == "pretrained":  # shipped with cnnlab: its name says where from
        what = f"{target.name} (pretrained:{Path(target.weights_file).stem})"
    else:
        what = f"{target.name} from {target.path}"
    info = report.info
    print(f"exported {what} to {args.output} ({info.size_bytes / 2**20:.2f} MiB, opset "
          f"{info.opset}, {info.nodes} nodes)")
    print(report.text(), end="")
    return 0


def _bench(args: argparse.Namespace) -> int:
    from cnnlab.evaluate.bench import bench, bench_input, table
    from cnnlab.evaluate.environment import environment

    engines = [name.strip() for name in args.engine.split(",") if name.strip()] \
        if args.engine is not None else [None]
    if not engines:
        raise ValueError(f"--engine: expected one or more of {', '.join(ENGINES)} "
                         f"(comma-separated), got {args.engine!r}")
    unknown = [name for name in engines if name not in (None, *ENGINES)]
    if unknown:
        raise ValueError(f"--engine: unknown {', '.join(unknown)}; choose from "
                         f"{', '.join(ENGINES)} (comma-separated)")
    rows = []
    for model in args.models:
        given = bench_input(model, args.dataset, args.input, args.num_classes)
        for engine in engines:
            rows.append((model, given, bench(model, engine, given, threads(args.threads),
                                             args.repeats, args.images, device=args.device,
                                             amp=args.amp)))
    if args.json:
        print(json.dumps([{"model": model, "input": list(given.shape),
                           "num_classes": given.num_classes, **report.summary(),
                           "environment": environment(report.engine, report.threads,
                                                      report.device)}
                          for model, given, report in rows], indent=2))
        return 0
    print(table(rows), end="")
    env = environment(",".join(row[2].engine for row in rows), args.threads)
    print(f"batch size 4, {args.images} random images, median of {args.repeats} passes; "
          f"{env['cpu']}, {args.threads} thread{'s' * (args.threads > 1)}")
    return 0


def add_evaluate(commands) -> None:
    evaluate = commands.add_parser(
        "eval", help="accuracy and speed at batch size 4 of a trained model",
        description="Evaluate a run folder, checkpoint, .onnx file, or a model named bare "
                    "with --weights, on a whole split: top-1 and top-5 accuracy, per-class "
                    "precision/recall/F1 and the confusion matrix, with the speed measured "
                    "during that validation at batch size 4 (fixed threads, warm-up, "
                    "repeated passes, interleaved LeNet-5 reference, the device synchronised "
                    "around every timed batch). Writes eval.json in the run folder.")
    evaluate.add_argument("target", help=TARGET)
    add_target_options(evaluate, "default: the one the run trained on (needed otherwise)")
    evaluate.add_argument("--split", choices=["val", "test"], default="val",
                          help="default val (the run's own validation split)")
    evaluate.add_argument("--engine", choices=ENGINES,
                          help="default: the model's own (onnx for an .onnx file); onnx runs "
                               "the run's export")
    add_device_options(evaluate)
    evaluate.add_argument("--threads", type=int, default=1, help="fixed thread count "
                                                                  "(default 1)")
    evaluate.add_argument("--repeats", type=int, default=5, help="timed passes (default 5)")
    evaluate.add_argument("--no-speed", action="store_true", help="accuracy only")
    evaluate.add_argument("--out", help="where to write the results (default: eval.json in "
                                        "the run folder)")
    evaluate.add_argument("--json", action="store_true", help="print the results as JSON")
    evaluate.set_defaults(handler=_eval)

    export = commands.add_parser(
        "export", help="write a model as a self-contained .onnx file",
        description="Export a run, a checkpoint, a zoo model or your own network (with "
                    "--weights and --normalize) to ONNX: float32 pixels in [0, 1] in, logits "
                    "out, the model's preprocessing (the dataset's normalisation, or none) "
                    "inside the graph, a dynamic batch dimension. Before anything is "
                    "written the file is checked, its logits compared with torch's, and its "
                    "accuracy on real validation images compared with the torch model's; "
                    "a file that differs by more than half a point is not written.")
    export.add_argument("target", help=TARGET.replace("an .onnx file, ", ""))
    export.add_argument("-o", "--output", required=True, help="the .onnx file to write")
    export.add_argument("--quantize", choices=["int8"],
                        help="write the int8 form (static QDQ, standard ONNX: weights int8 per "
                             "channel, activations uint8 calibrated on 512 training images), "
                             "its accuracy printed beside the float file's")
    add_target_options(export, "the input shape, classes and normalisation (a run knows its "
                               "own)")
    export.set_defaults(handler=_export)

    bench = commands.add_parser(
        "bench", help="time models at batch size 4 on random input",
        description="Time zoo models or your own networks at batch size 4 on random pixels "
                    "of the right shape, under the speed protocol of `cnnlab eval` (no "
                    "dataset needed).")
    bench.add_argument("models", nargs="+", metavar="MODEL",
                       help="zoo model name(s), path/to/net.py:Name, package.module:factory")
    bench.add_argument("--engine",
                       help="torch, onnx, scratch, or several comma-separated (default: each "
                            "model's own)")
    bench.add_argument("--dataset", choices=DATASETS,
                       help="take that dataset's input shape and classes")
    bench.add_argument("--input", help="CxHxW (default: the model's published input)")
    bench.add_argument("--num-classes", type=int)
    add_device_options(bench)
    bench.add_argument("--threads", type=int, default=1, help="fixed thread count (default 1)")
    bench.add_argument("--repeats", type=int, default=3, help="timed passes (default 3)")
    bench.add_argument("--images", type=int, default=200,
                       help="random images per pass (default 200)")
    bench.add_argument("--json", action="store_true", help="print the results as JSON")
    bench.set_defaults(handler=_bench)
