"""Options several commands share, spelled once: what a model is pointed at, what it
receives, and where it runs."""

from __future__ import annotations

from cnnlab.data.names import DATASETS, NORMALIZATIONS

__all__ = ["DATASETS", "NORMALIZATIONS", "TARGET", "add_device_options", "add_target_options",
           "load_target", "output_file", "threads"]

TARGET = ("a run folder, a checkpoint, an .onnx file, a zoo model, path/to/net.py:Name or "
          "package.module:factory")


def add_target_options(parser, dataset_help: str = "the dataset (a run knows its own)") -> None:
    """--dataset, --weights and --normalize: what a model named bare is for and receives."""
    parser.add_argument("--dataset", choices=DATASETS, help=dataset_help)
    parser.add_argument("--weights", help="state-dict file for a model named bare "
                                          "(.safetensors, or torch.save's)")
    parser.add_argument("--normalize", choices=NORMALIZATIONS,
                        help="what a model named bare receives: the [0, 1] pixels normalised "
                             "by the dataset's mean and std, or the pixels themselves; "
                             "required there, since only you know what its weights were "
                             "trained on (a run records its own)")
    parser.add_argument("--data-dir", help="folder holding the dataset files")


def add_device_options(parser, amp: bool = True, default: str | None = "auto",
                       amp_off: bool = False) -> None:
    """--device, and --amp unless `amp` is False; `amp_off` adds --amp none, which turns
    off the mixed precision a --config file or a recipe asks for."""
    parser.add_argument("--device", default=default,
                        help="cpu, cuda, cuda:N, mps, or auto: a GPU when there is one "
                             "(default auto); the scratch engine and ONNX Runtime run on "
                             "the CPU")
    if amp:
        parser.add_argument("--amp", choices=["bf16", "fp16", *(["none"] if amp_off else [])],
                            help="mixed precision on torch models (default: float32"
                                 + ("; none: float32 even where a --config file or a recipe "
                                    "asks for mixed precision)" if amp_off else ")"))


def output_file(path: str | None, example: str, flag: str = "-o") -> str | None:
    """A file a command is about to write: refused when it names a folder; a missing folder
    is made, and the command says so (a typo in the path shows at once)."""
    if path is None:
        return None
    from pathlib import Path

    target = Path(path)
    if target.is_dir():
        raise ValueError(f"{flag} {path} is a folder; give the file to write in it, e.g. "
                         f"{target / example}")
    if not target.parent.exists():
        print(f"creating folder {target.parent}")
    return path


def threads(value: int) -> int:
    if value < 1:
        raise ValueError(f"--threads must be at least 1, got {value}")
    return value


def load_target(args, target: str | None = None):
    """What the command is pointed at (cnnlab.evaluate.targets)."""
    from cnnlab.evaluate.targets import load_target as resolve

    return resolve(target or args.target, getattr(args, "dataset", None),
                   getattr(args, "weights", None), getattr(args, "normalize", None))
