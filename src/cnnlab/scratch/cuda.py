"""`scratch.cuda.is_available()` is False: the scratch engine computes with NumPy on the CPU."""


def is_available() -> bool:
    return False


def device_count() -> int:
    return 0
