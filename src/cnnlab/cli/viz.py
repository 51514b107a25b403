"""The `cnnlab viz` and `cnnlab report` commands: parsing only; the work is in cnnlab.viz."""

from __future__ import annotations

from cnnlab.cli.options import add_target_options, load_target, output_file


def _model(args):
    """The model a figure looks into (an .onnx file is refused before anything loads)."""
    from cnnlab.viz.run_figures import refuse_onnx

    refuse_onnx(args.run)
    return load_target(args, args.run)


_MODEL = ("a run folder, a checkpoint, a zoo model or path/to/net.py:Name (with --weights, "
          "--dataset and --normalize)")


def _kernels(args) -> int:
    from cnnlab.viz.canvas import save_png
    from cnnlab.viz.run_figures import run_kernels

    grid = run_kernels(_model(args), layer=args.layer, max_kernels=args.max_kernels)
    save_png(grid.image, args.output)
    print(f"wrote {args.output}: {grid.title}")
    return 0


def _features(args) -> int:
    from cnnlab.viz.canvas import save_png
    from cnnlab.viz.run_figures import run_features

    figure = run_features(_model(args), args.image, args.blocks, args.channels,
                          args.data_dir)
    save_png(figure.image, args.output)
    print(f"wrote {args.output}: test image {args.image} through {figure.through()}")
    return 0


def _animate(args) -> int:
    from pathlib import Path

    from cnnlab.arithmetic.explain import parse_size
    from cnnlab.viz.animate import animate
    from cnnlab.viz.arithmetic_plan import conv_plan, parse_values, pool_plan
    from cnnlab.viz.canvas import save_png

    still = Path(args.output).suffix.lower() == ".png"
    if args.frames is not None and not still:
        raise ValueError("--frames applies to a still strip (-o FILE.png)")
    if args.what == "pool":
        given = [flag for flag, value in (("--input", args.input),
                                          ("--transposed", args.transposed),
                                          ("--output-padding", args.output_padding),
                                          ("--kernel-values", args.kernel_values))
                 if value not in (None, False)]
        if given:
            raise ValueError(f"{', '.join(given)} appl{'ies' if len(given) == 1 else 'y'} to "
                             "`viz animate conv` (pooling takes --values, --kernel, --stride, "
                             "--padding, --dilation, --mode)")
        if args.values is None or args.kernel is None:
            raise ValueError("viz animate pool needs --values (rows split by '/', e.g. "
                             "3,3,2/0,0,1/3,1,2) and --kernel K")
        plan = pool_plan(parse_values(args.values), args.kernel, args.stride,
                         args.padding or 0, args.mode or "max", args.ceil_mode,
                         args.dilation or 1)
    else:
        if args.mode is not None or args.ceil_mode:
            raise ValueError(f"{'--mode' if args.mode is not None else '--ceil-mode'} applies "
                             "to `viz animate pool`")
        values = parse_values(args.values) if args.values is not None else None
        weights = parse_values(args.kernel_values, "--kernel-values") \
            if args.kernel_values is not None else None
        size = parse_size(args.input) if args.input is not None else \
            (tuple(values.shape) if values is not None else None)
        kernel = args.kernel if args.kernel is not None else \
            (weights.shape if weights is not None else None)
        if size is None or kernel is None:
            raise ValueError("viz animate conv needs --input N (or --values) and --kernel K "
                             "(or --kernel-values), e.g. --input 5 --kernel 3 --stride 2 "
                             "--padding 1")
        plan = conv_plan(size, kernel, args.stride or 1, args.padding or 0, args.dilation or 1,
                         args.transposed, args.output_padding or 0, values, weights)
    animation = animate(plan, args.frame_ms)
    out_h, out_w = plan.out_shape
    if still:
        shown = animation.strip_frames(args.frames)
        save_png(animation.strip(args.frames), args.output)
        print(f"wrote {args.output}: {len(shown)} of the {len(animation.frames)} steps side by "
              f"side (one per output position, {out_h}x{out_w}); {'; '.join(plan.formulas)}")
        return 0
    animation.save(args.output)
    print(f"wrote {args.output}: {len(animation.frames)} frames of {args.frame_ms} ms, one per "
          f"output position ({out_h}x{out_w}); {'; '.join(plan.formulas)}")
    return 0



def _gallery(args) -> int:
    from cnnlab.viz.gallery import write_gallery

    written = write_gallery(args.output, args.data_dir)
    for path in written:
        print(f"wrote {path}")
    return 0


def _curves(args) -> int:
    from pathlib import Path

    from cnnlab.runs import folder as layout
    from cnnlab.viz import plots

    plots.plot_format(args.output)  # a wrong extension, before anything is computed
    runs = []
    for given in args.runs:
        config = layout.read_config(given)
        runs.append((f"{Path(given).name} ({config.model})", layout.history(given), config))
    datasets = sorted({config.dataset for _, _, config in runs})
    title = (f"{runs[0][2].model} on {datasets[0]}" if len(runs) == 1 else
             f"{len(runs)} runs on {', '.join(datasets)}")
    figure = plots.curves_figure([(name, history) for name, history, _ in runs], title)
    print(f"wrote {plots.save(figure, args.output)}")
    return 0


def _confusion(args) -> int:
    from cnnlab.viz import plots, run_data
    from cnnlab.viz.run_figures import load_run

    plots.plot_format(args.output)  # a wrong extension, before anything is computed
    target = load_run(_model(args))
    result = run_data.evaluation(target, args.split, args.data_dir)
    accuracy = result["accuracy"]
    figure = plots.confusion_figure(
        accuracy["confusion"], [row["class"] for row in accuracy["per_class"]],
        f"{result['model']}, {result['split']} split: top-1 {100 * accuracy['top1']:.2f}%")
    print(f"wrote {plots.save(figure, args.output)}")
    return 0


def _pareto(args) -> int:
    from cnnlab.viz import plots, run_data

    plots.plot_format(args.output)  # a wrong extension, before anything is computed
    points, label, split = run_data.pareto_points(args.runs, args.speed, args.split,
                                                  args.data_dir)
    figure = plots.pareto_figure(points, label,
                                 f"accuracy against speed at batch size 4, {split} split")
    print(f"{len(points)} run{'s' * (len(points) != 1)}, every accuracy measured on the "
          f"{split} split")
    print(f"wrote {plots.save(figure, args.output)}")
    for point in plots.pareto_front(points):
        print(f"on the front: {point.name}: top-1 {100 * point.accuracy:.2f}%, "
              f"{point.speed:,.4g} {'images/s' if args.speed == 'images' else 'x reference'}")
    return 0


def _gradcam(args) -> int:
    from cnnlab.viz.canvas import save_png
    from cnnlab.viz.run_figures import run_attribution

    figure, found = run_attribution(_model(args), args.image, args.layer, args.target_class,
                                    args.data_dir)
    save_png(figure, args.output)
    print(f"wrote {args.output}: Grad-CAM at {found.layer} and saliency for class "
          f"{found.target_class} (p = {found.probabilities[found.target_class]:.3f}) on test "
          f"image {args.image}")
    return 0


def _report(args) -> int:
    from cnnlab.viz.report import write_report

    output_file(args.output, "report.html")
    path = write_report(_model(args), args.output, split=args.split,
                        image=args.image, data_dir=args.data_dir)
    print(f"wrote {path}")
    return 0


def _image_figure(figures, name: str, help: str, description: str):
    """A figure of one model on one test image: the model and --image."""
    parser = figures.add_parser(name, help=help, description=description)
    parser.add_argument("run", metavar="MODEL", help=_MODEL)
    parser.add_argument("--image", type=int, default=0, help="test-set index (default 0)")
    return parser


def add_viz(commands) -> None:
    viz = commands.add_parser(
        "viz", help="figures: kernels, feature maps, Grad-CAM, arithmetic animations, plots",
        description="Regenerate the course's figures from real computations: a run's kernels "
                    "and feature maps, animations of convolution and pooling for any "
                    "parameters, the whole gallery, and plots of runs.")
    figures = viz.add_subparsers(dest="figure", required=True, parser_class=type(viz))

    kernels = figures.add_parser("kernels", help="a conv layer's kernels as a grid",
                                 description="A convolution layer's kernels (the first by "
                                             "default) of a trained model as an image grid "
                                             "(AlexNet Fig. 3).")
    kernels.add_argument("run", metavar="MODEL", help=_MODEL)
    kernels.add_argument("--layer", help="which convolution: its number in the forward pass "
                                         "(3, or CONV3) or its module's name (default: the "
                                         "first)")
    kernels.add_argument("--max-kernels", type=int, metavar="K",
                         help="draw the first K kernels (default: a first layer's whole bank "
                              "up to 96; 16 of a deeper layer's, each a row of its first 16 "
                              "input channels)")
    add_target_options(kernels)
    kernels.add_argument("-o", "--output", required=True, help="the .png to write")
    kernels.set_defaults(handler=_kernels)

    features = _image_figure(
        figures, "features", "one test image's feature maps through the first blocks",
        "A test image and the maps of every convolution, activation, pooling, norm and sum the "
        "first blocks compute, each call its own row (F.relu and a pooling layer's 2nd call "
        "too); an activation's input and output side by side.")
    features.add_argument("--blocks", type=int, default=2,
                          help="conv blocks to follow (default 2)")
    features.add_argument("--channels", type=int, default=8,
                          help="maps shown per layer (default 8)")
    add_target_options(features)
    features.add_argument("-o", "--output", required=True, help="the .png to write")
    features.set_defaults(handler=_features)

    gradcam = _image_figure(
        figures, "gradcam", "why the model chose a class: Grad-CAM and saliency on a test image",
        "A test image, Grad-CAM's map of a layer's evidence for a class over it (Selvaraju et "
        "al. 2017), and the gradient saliency (Simonyan et al. 2014).")
    gradcam.add_argument("--layer", help="the call whose maps are weighed, as `cnnlab shapes "
                                         "--all` names it (pool, F.relu, pool (2nd call)); "
                                         "default: the last whose output has positions")
    gradcam.add_argument("--class", dest="target_class", type=int, metavar="N",
                         help="the class explained (default: the predicted one)")
    add_target_options(gradcam)
    gradcam.add_argument("-o", "--output", required=True, help="the .png to write")
    gradcam.set_defaults(handler=_gradcam)

    animate = figures.add_parser(
        "animate", help="animate a convolution or pooling, one frame per output position",
        description="The window sliding over the (padded, dilated or zero-inserted) input, in "
                    "the visual language of Dumoulin & Visin's guide, with the output-size "
                    "formula in the title. Writes .gif (or .mp4 when ffmpeg is installed).")
    animate.add_argument("what", choices=["conv", "pool"])
    animate.add_argument("--input", help="input size N or HxW (conv)")
    pair = "K, or HxW for each axis (3x5)"
    animate.add_argument("--kernel", help=pair)
    animate.add_argument("--stride", help=f"{pair}; default 1 (conv), the kernel (pool)")
    animate.add_argument("--padding", help=f"{pair}, or same (conv)")
    animate.add_argument("--dilation", help=f"{pair} (conv and max pooling)")
    animate.add_argument("--transposed", action="store_true", help="a transposed convolution")
    animate.add_argument("--output-padding", help="with --transposed")
    animate.add_argument("--values", help="the input's numbers, rows split by '/': "
                                          "3,3,2/0,0,1/3,1,2 (required for pool)")
    animate.add_argument("--kernel-values", help="the kernel's numbers, same format (conv)")
    animate.add_argument("--mode", choices=["max", "avg", "sum"], help="pool only (default max)")
    animate.add_argument("--ceil-mode", action="store_true",
                         help="pool only: round the output size up, as torch's ceil_mode")
    animate.add_argument("--frame-ms", type=int, default=700,
                         help="milliseconds a frame stays up (default 700; the last one at "
                              "least 2500)")
    animate.add_argument("--frames", type=int,
                         help="with -o FILE.png: how many steps the strip shows, evenly "
                              "spaced (default all, at most 16)")
    animate.add_argument("-o", "--output", required=True,
                         help="the .gif or .mp4 to write, or a .png: a still strip of the "
                              "steps (for slides)")
    animate.set_defaults(handler=_animate)

    gallery = figures.add_parser("gallery", help="the course's whole set of figures",
                                 description="Write every arithmetic animation of the course, "
                                             "its worked examples and ReLU on a feature map, "
                                             "with an index.html.")
    gallery.add_argument("-o", "--output", required=True, help="the folder to write")
    gallery.add_argument("--data-dir", help="where Fashion-MNIST is (for the ReLU figure)")
    gallery.set_defaults(handler=_gallery)

    curves = figures.add_parser("curves", help="runs' loss and accuracy per epoch",
                                description="Loss and accuracy per epoch of one run, or of "
                                            "several overlaid (a colour each; training "
                                            "solid, validation dashed).")
    curves.add_argument("runs", nargs="+", metavar="RUN", help="run folder(s)")
    curves.add_argument("-o", "--output", required=True, help=".png, .svg or .pdf")
    curves.set_defaults(handler=_curves)

    confusion = figures.add_parser("confusion", help="a run's confusion matrix",
                                   description="The confusion matrix from the run's eval.json "
                                               "(evaluated first when missing).")
    confusion.add_argument("run", metavar="MODEL", help=_MODEL)
    confusion.add_argument("--split", choices=["val", "test"])
    add_target_options(confusion)
    confusion.add_argument("-o", "--output", required=True, help=".png, .svg or .pdf")
    confusion.set_defaults(handler=_confusion)

    pareto = figures.add_parser("pareto", help="accuracy against speed of several runs",
                                description="Top-1 accuracy against speed at batch size 4, "
                                            "the Pareto front marked, every run measured on "
                                            "the same split (written on the figure): a run "
                                            "evaluated on another split than --split is "
                                            "evaluated again, and runs measured on "
                                            "different images are refused.")
    pareto.add_argument("runs", nargs="+", metavar="RUN", help="run folders or eval.json files")
    pareto.add_argument("--split", choices=["val", "test"],
                        help="evaluate every run on this split (default: the one their "
                             "eval.json files share)")
    pareto.add_argument("--data-dir", help="folder holding the dataset files")
    pareto.add_argument("--speed", choices=["images", "ratio"], default="images",
                        help="images/s, or the ratio to the LeNet-5 reference (comparable "
                             "between machines)")
    pareto.add_argument("-o", "--output", required=True, help=".png, .svg or .pdf")
    pareto.set_defaults(handler=_pareto)

    report = commands.add_parser(
        "report", help="one self-contained HTML page about a run",
        description="A single HTML file (images embedded, opens offline): configuration, "
                    "layer table, curves, accuracy and per-class table, confusion matrix, "
                    "speed with its environment, kernels and feature maps. Evaluates the run "
                    "first when it has no eval.json.")
    report.add_argument("run", metavar="MODEL", help=_MODEL)
    report.add_argument("-o", "--output", help="default: report.html in the run folder")
    report.add_argument("--split", choices=["val", "test"],
                        help="the split to report (default: eval.json's, else val)")
    report.add_argument("--image", type=int, default=0, help="test image for the feature maps")
    add_target_options(report)
    report.set_defaults(handler=_report)



