"""Learning-rate schedules as plain functions of the step, so both engines share them and a
checkpoint only needs the step count to resume them exactly."""

from __future__ import annotations

import math


def learning_rate(schedule: str, peak: float, step: int, total_steps: int) -> float:
    """The learning rate for optimizer step `step` (0-based) of `total_steps`.

    onecycle: warm up over the first 30% of steps from peak/25 to peak along a cosine, then
    anneal to peak/25e4 (Smith & Topin 2019, torch's OneCycleLR defaults); cosine: from peak
    to 0; step: divide by 10 after each third of the run; none: constant."""
    progress = step / max(1, total_steps - 1)
    if schedule == "none":
        return peak
    if schedule == "cosine":
        return peak * 0.5 * (1 + math.cos(math.pi * step / max(1, total_steps)))
    if schedule == "step":
        return peak * 0.1 ** min(2, int(3 * step / max(1, total_steps)))
    if schedule == "onecycle":
        start, end, warm = peak / 25, peak / 25e4, 0.3
        if progress <= warm:
            return _cosine_between(start, peak, progress / warm)
        return _cosine_between(peak, end, (progress - warm) / (1 - warm))
    raise ValueError(f"unknown schedule {schedule!r}")


def _cosine_between(start: float, end: float, fraction: float) -> float:
    return end + (start - end) * 0.5 * (1 + math.cos(math.pi * fraction))
