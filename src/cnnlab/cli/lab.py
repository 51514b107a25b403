"""`cnnlab lab`: serve the interactive lab on loopback and say where."""

from __future__ import annotations

import argparse

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

    # Bound here, so that the URL printed is the one that answers (port 0: any free port).
    listener = socket.socket(socket.AF_INET6 if ":" in args.host else socket.AF_INET)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind((args.host, args.port))
    except OSError as error:
        raise ValueError(f"cannot listen on {args.host}:{args.port}: {error.strerror}"
                         + (" (another program uses that port; try --port 0)"
                            if error.errno == 98 else "")) from None
    port = listener.getsockname()[1]
    host = f"[{args.host}]" if ":" in args.host else args.host
    print(f"cnnlab lab: open http://{host}:{port}/ (Ctrl-C stops it)", flush=True)
    server = uvicorn.Server(uvicorn.Config(create_app(), log_level="warning"))
    server.run(sockets=[listener])
    return 0


def add_lab(commands) -> None:
    lab = commands.add_parser(
        "lab", help="the interactive lab in your browser: the convolution playground",
        description="Serve the interactive lab on this machine and print its URL: the "
                    "convolution arithmetic playground (every setting of a convolution, "
                    "transposed convolution or pooling layer, its output size with the formula "
                    "in your numbers, parameters, multiply-adds, receptive field, and the "
                    "animation, with values you can edit). Everything is served by the lab "
                    "itself; it works offline.")
    lab.add_argument("--host", default="127.0.0.1",
                     help="the address to listen on (default 127.0.0.1: this machine only)")
    lab.add_argument("--port", type=_port, default=8765, help="default 8765; 0 for any free one")
    lab.set_defaults(handler=_lab)
