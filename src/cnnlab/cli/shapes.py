"""`cnnlab shapes` and `cnnlab models`: parsing only; the work is in cnnlab.arithmetic and
cnnlab.models.summary."""

from __future__ import annotations

import argparse
import json

from cnnlab.cli.options import DATASETS
from cnnlab.models.engines import NAMES as ENGINE_NAMES

_CONV_ONLY = ("kernel", "stride", "padding", "dilation", "transposed", "output_padding", "pool",
              "ceil_mode", "in_channels", "out_channels", "groups", "no_bias")


def _shapes(args: argparse.Namespace) -> int:
    if args.model == "conv":
        return _shapes_conv(args)
    given = [f"--{name.replace('_', '-')}" for name in _CONV_ONLY
             if getattr(args, name) not in (None, False)]
    if given:
        raise ValueError(f"{', '.join(given)} only appl{'ies' if len(given) == 1 else 'y'} to "
                         "`cnnlab shapes conv`")
    from cnnlab.models.summary import model_table

    table = model_table(args.model, args.input, args.engine, args.num_classes, args.dataset)
    if args.json:
        print(json.dumps(table.as_dict(), indent=2))
    else:
        print(table.text(every_layer=args.all), end="")
    return 0


def _shapes_conv(args: argparse.Namespace) -> int:
    from cnnlab.arithmetic.explain import explain, explanation, parse_size

    if args.input is None or args.kernel is None:
        raise ValueError("shapes conv needs --input HxW and --kernel K "
                         "(e.g. --input 5x5 --kernel 3 --stride 2 --padding 1)")
    settings = (parse_size(args.input), args.kernel, args.stride,
                0 if args.padding is None else args.padding,
                1 if args.dilation is None else args.dilation,
                args.transposed, 0 if args.output_padding is None else args.output_padding,
                args.pool, args.ceil_mode)
    channels = {}
    if args.in_channels is not None or args.out_channels is not None or args.groups is not None \
            or args.no_bias:
        channels = {"in_channels": args.in_channels or 1, "out_channels": args.out_channels,
                    "groups": 1 if args.groups is None else args.groups, "bias": not args.no_bias}
    if args.json:
        print(json.dumps(explanation(*settings, **channels), indent=2))
    else:
        print(explain(*settings, **channels), end="")
    return 0


def _models(args: argparse.Namespace) -> int:
    from cnnlab.models.zoo import list_models, model_info

    names = list_models(args.pattern)
    if not names:
        raise ValueError(f"no model matches {args.pattern!r}")
    width = max(map(len, names))
    for name in names:
        info = model_info(name)
        size = f"{info.input_size}x{info.input_size}x{info.in_channels}"
        print(f"{name:<{width}}  {size:<9}  {info.summary}")
    return 0


def add_shapes(commands) -> None:
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
    shapes.add_argument("--dataset", choices=DATASETS,
                        help="take that dataset's input shape and classes")
    shapes.add_argument("--engine", choices=ENGINE_NAMES, default=None,
                        help="build the zoo model on this engine (default torch)")
    shapes.add_argument("--num-classes", type=int, default=None,
                        help="for a zoo model, or your network if it takes num_classes")
    shapes.add_argument("--json", action="store_true", help="print the table as JSON")
    shapes.add_argument("--all", action="store_true",
                        help="also list activations, dropout and reshapes")
    layer = shapes.add_argument_group("one layer (`cnnlab shapes conv`)")
    pair = "K, or HxW for each axis (3x5)"
    layer.add_argument("--kernel", help=pair)
    layer.add_argument("--stride", help=f"{pair} (default 1; pooling: the kernel, as torch)")
    layer.add_argument("--padding", help=f"{pair}, or same")
    layer.add_argument("--dilation", help=pair)
    layer.add_argument("--transposed", action="store_true", help="a transposed convolution")
    layer.add_argument("--output-padding", help="with --transposed")
    layer.add_argument("--in-channels", type=int,
                       help="with --out-channels and --groups: also count parameters and "
                            "multiply-adds")
    layer.add_argument("--out-channels", type=int)
    layer.add_argument("--groups", type=int)
    layer.add_argument("--no-bias", action="store_true", help="a convolution without bias")
    layer.add_argument("--pool", choices=["max", "avg", "sum"], help="a pooling layer")
    layer.add_argument("--ceil-mode", action="store_true", help="with --pool")
    shapes.set_defaults(handler=_shapes)

    models = commands.add_parser("models", help="list the zoo",
                                 description="List the zoo's models and their published input.")
    models.add_argument("pattern", nargs="?", default="*",
                        help="shell-style pattern, e.g. 'resnet*'")
    models.set_defaults(handler=_models)
