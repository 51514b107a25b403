"""Reading files torch.save wrote, without running code from them.

`torch.load(weights_only=True)` reads tensors, numbers and containers only. When it refuses a
file, torch's message suggests loading it again with `weights_only=False`: for a file from
someone else that is the one thing never to do (unpickling runs whatever code the file names).
These messages say what the file is, that it was not loaded, and how to convert weights you
trust into safetensors instead.
"""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path

from cnnlab.errors import first_line

_PICKLE_PROTOCOLS = (b"\x80\x02", b"\x80\x03", b"\x80\x04", b"\x80\x05")
_ZIP = b"PK\x03\x04"


def load_torch_file(path: str | Path, what: str):
    """What torch.load(weights_only=True) reads from `path`; ValueError naming the file and
    `what` it should have been ("a checkpoint", "a state-dict file") otherwise."""
    import torch

    path = Path(path)
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        if "Weights only load failed" in str(error) and _looks_like_torch(path):
            raise ValueError(
                f"{path} was not loaded: it holds Python objects other than tensors, and "
                f"unpickling a file runs code it names, so only tensors are read. If it "
                f"holds weights you trust, convert them once to safetensors on your own "
                f"machine: python -c \"import torch; from safetensors.torch import save_file; "
                f"save_file(torch.load('{path}', weights_only=False), '{path.stem}"
                f".safetensors')\" and give the .safetensors file instead") from None
        raise ValueError(f"{path} is not {what}: it is neither a torch.save archive nor a "
                         "pickle of tensors") from None
    except (RuntimeError, EOFError, ValueError, IndexError, KeyError, TypeError,
            AttributeError, zipfile.BadZipFile) as error:
        raise ValueError(f"{path} is not {what} torch.load can read ({type(error).__name__}: "
                         f"{first_line(error)})") from None


def _looks_like_torch(path: Path) -> bool:
    """A torch.save archive or a pickle, as opposed to bytes that merely fail to unpickle."""
    with path.open("rb") as handle:
        head = handle.read(4)
    return head.startswith(_ZIP) or head[:2] in _PICKLE_PROTOCOLS
