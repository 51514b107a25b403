"""The scratch engine's one device: NumPy arrays live in the CPU's memory.

`device("cpu")` and `torch.device`-style strings are accepted wherever torch takes a device, so
the course's `device = torch.device("cuda:0" if torch.cuda.is_available() else "cpu")` runs
unchanged; asking for any other device is refused with the reason.
"""

from __future__ import annotations


class device:
    def __init__(self, type: str = "cpu", index: int | None = None):
        name = type.type if isinstance(type, device) else str(type)
        check_device(name, "device")
        self.type, self.index = "cpu", index

    def __eq__(self, other) -> bool:
        return isinstance(other, (device, str)) and str(other).split(":")[0] == "cpu"

    def __hash__(self) -> int:
        return hash("cpu")

    def __str__(self) -> str:
        return "cpu"

    def __repr__(self) -> str:
        return "device(type='cpu')"


def check_device(value, op: str) -> None:
    """None, "cpu" and device("cpu") pass; anything else is refused, naming the op."""
    if value is None or isinstance(value, device):
        return
    if str(value).split(":")[0] != "cpu":
        raise ValueError(f"{op}: the scratch engine runs on the CPU (NumPy), got "
                         f"device={str(value)!r}; use the torch engine for a GPU")
