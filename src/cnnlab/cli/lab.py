"""`cnnlab lab`: serve the interactive lab on loopback and say where."""

from __future__ import annotations

import argparse

from cnnlab.cli.options import add_target_options, load_target

_EXTRA = ("fastapi", "uvicorn")


def _port(text: str) -> int:
    if not text.isdigit() or not 0 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"a TCP port is a number from 0 to 65535 (0: any free "
                                         f"one), got {text!r}")
    return int(text)


def _lab(args) -> int:
    import importlib.util

    missing = [name for name in _EXTRA if importlib.util.find_spec(name) is None]
    if missing:
        raise ImportError(f"the lab needs its web stack: pip install 'cnnlab[lab]' "
                          f"({', '.join(missing)} missing)")
    import socket

    import uvicorn

    from cnnlab.lab.app import create_app
    from cnnlab.lab.explorer import Explorer
    from cnnlab.viz.run_figures import refuse_onnx

    for given in args.models:
        refuse_onnx(given)  # before anything loads: an .onnx file has no layers to look into
    # Bound and listening before the models load, so that a port in use is said at once and
    # the URL printed is the one that answers (port 0: any free port).
    listener = socket.socket(socket.AF_INET6 if ":" in args.host else socket.AF_INET)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind((args.host, args.port))
    except OSError as error:
        raise ValueError(f"cannot listen on {args.host}:{args.port}: {error.strerror}"
                         + (" (another program uses that port; try --port 0)"
                            if error.errno == 98 else "")) from None
    listener.listen(128)
    targets = [load_target(args, given) for given in args.models]
    for given, target in zip(args.models, targets, strict=True):
        print(f"cnnlab lab: loading {given} ({target.config.model} on {target.spec.name})",
              flush=True)
    explorer = Explorer(targets, args.data_dir)
    port = listener.getsockname()[1]
    host = f"[{args.host}]" if ":" in args.host else args.host
    print(f"cnnlab lab: open http://{host}:{port}/ (the explorer: /explorer, the playground: "
          "/playground; Ctrl-C stops it)", flush=True)
    server = uvicorn.Server(uvicorn.Config(create_app(explorer), log_level="warning"))
    server.run(sockets=[listener])
    return 0


def add_lab(commands) -> None:
    lab = commands.add_parser(
        "lab", help="the interactive lab in your browser: the convolution playground and "
                    "the network explorer of your runs",
        description="Serve the interactive lab on this machine and print its URL: the "
                    "convolution arithmetic playground (every setting of a convolution, "
                    "transposed convolution or pooling layer, its output size with the formula "
                    "in your numbers, parameters, multiply-adds, receptive field, and the "
                    "animation, with values you can edit), and the network explorer of the "
                    "models named (layer table, kernels of any convolution, feature maps of a "
                    "test image or your own, probabilities, Grad-CAM and saliency, the "
                    "confusion matrix and the misclassified test images), and the run "
                    "folders side by side (curves overlaid, settings and results, accuracy "
                    "against speed on one split). Everything is served by the lab itself; it "
                    "works offline.")
    lab.add_argument("models", nargs="*", metavar="MODEL",
                     help="run folders (or checkpoints), or zoo models / path/to/net.py:Name "
                          "with --dataset, --normalize and --weights")
    add_target_options(lab)
    lab.add_argument("--host", default="127.0.0.1",
                     help="the address to listen on (default 127.0.0.1: this machine only)")
    lab.add_argument("--port", type=_port, default=8765, help="default 8765; 0 for any free one")
    lab.set_defaults(handler=_lab)
