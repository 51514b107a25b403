"""A verification's result as the database stores it: JSON without NaN, infinity or NUL
characters (PostgreSQL refuses them), an error cut to its column, a figure beyond its column
dropped and said."""

from __future__ import annotations

import math

MAX_ERROR = 2000  # Submission.error's length
MAX_FIGURE = 2**63 - 1  # the BigInteger columns (params, macs)


def _finite(value):
    """JSON the database takes: NaN and infinity become null (PostgreSQL refuses them), NUL
    characters go (no text column holds them)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, dict):
        return {str(key): _finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    return value


def storable(result: dict) -> dict:
    """The result as the columns hold it: a figure beyond them is dropped, and said."""
    result = _finite(result)
    if result.get("error"):
        result["error"] = result["error"][:MAX_ERROR]
    for key in ("params", "macs"):
        value = result.get(key)
        if isinstance(value, int) and not 0 <= value <= MAX_FIGURE:
            result[key] = None
            details = result.setdefault("details", {}) or {}
            details.setdefault("not_stored", {})[key] = (
                f"{value} is beyond what can be counted (0 to 2^63 - 1)")
            result["details"] = details
    return result
