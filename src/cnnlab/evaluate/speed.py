"""The speed protocol: batch size 4 over the evaluation images, already in memory as float32,
a fixed thread count, a warm-up, then repeated timed passes.

Machines are noisy and differ, so a fixed reference model (LeNet-5 on the same engine,
`reference.py`) runs interleaved with the model under test: every segment of a few tens of
milliseconds of the model is matched by as long a run of the reference, right after it or
right before it (alternately, ABBA, so slow drifts hit both alike). The median over segments of
the ratio of the two throughputs is the figure to compare across machines and days; the raw
images/s belongs to this machine at this moment.

On a GPU the batches are put in its memory before the clock starts, and the device is
synchronised before and after every timed batch: kernels run asynchronously, so without that
the clock would time their launch, not their work.
"""

from __future__ import annotations

import ctypes
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from cnnlab.evaluate.predictors import as_predictor

BATCH_SIZE = 4


def to_batches(pixels: np.ndarray, batch_size: int = BATCH_SIZE) -> list[np.ndarray]:
    """Contiguous batches; the last one holds the remainder (counted as the images it has)."""
    if len(pixels) == 0:
        raise ValueError("no images to time")
    return [np.ascontiguousarray(pixels[start : start + batch_size])
            for start in range(0, len(pixels), batch_size)]


def spread(values) -> float:
    """(max - min) / median: how far apart the repeats landed, as a fraction."""
    values = np.asarray(values, dtype=float)
    return float((values.max() - values.min()) / np.median(values))


@dataclass
class SpeedReport:
    engine: str
    threads: int
    batch_size: int
    images: int  # per pass
    batches: int  # per pass, the partial last one included
    images_per_second: list[float]  # one per repeat
    batch_seconds: np.ndarray = field(repr=False)  # every timed batch of every repeat
    reference_images_per_second: list[float] | None = None
    reference_name: str | None = None
    # Per repeat, one ratio per segment: (model images/s) / (reference images/s) measured
    # side by side within a few tens of milliseconds.
    segment_ratios: list[np.ndarray] | None = field(default=None, repr=False)
    device: str = "cpu"

    @property
    def ratios(self) -> list[float] | None:
        """Per repeat, the median of its segments' ratios."""
        if self.segment_ratios is None:
            return None
        return [float(np.median(r)) for r in self.segment_ratios]

    @property
    def ratio(self) -> float | None:
        """The median over every segment of every repeat: a burst of noise on the machine
        spoils a few segments, not the figure."""
        if self.segment_ratios is None:
            return None
        return float(np.median(np.concatenate(self.segment_ratios)))

    def summary(self) -> dict:
        ms = self.batch_seconds * 1e3
        result = {
            "engine": self.engine, "device": self.device, "threads": self.threads,
            "batch_size": self.batch_size,
            "images": self.images, "batches": self.batches,
            "repeats": len(self.images_per_second),
            "images_per_second": {"median": float(np.median(self.images_per_second)),
                                  "min": min(self.images_per_second),
                                  "max": max(self.images_per_second),
                                  "spread": spread(self.images_per_second),
                                  "repeats": list(self.images_per_second)},
            "ms_per_batch": {"p50": float(np.percentile(ms, 50)),
                             "p90": float(np.percentile(ms, 90)),
                             "p99": float(np.percentile(ms, 99)),
                             "mean": float(ms.mean())},
        }
        if self.ratios is not None:
            result["reference"] = {
                "model": self.reference_name,
                "images_per_second": float(np.median(self.reference_images_per_second)),
                "ratio": self.ratio, "ratio_spread": spread(self.ratios),
                "ratios": self.ratios,
            }
        return result

    def text(self) -> str:
        s = self.summary()
        ips, ms = s["images_per_second"], s["ms_per_batch"]
        lines = [f"speed ({s['engine']} on {s['device']}, {s['threads']} "
                 f"thread{'s' * (s['threads'] > 1)}, "
                 f"batch size {s['batch_size']}, {s['images']} images in {s['batches']} "
                 f"batches, median of {s['repeats']} timed passes)",
                 f"  images/s      {ips['median']:>10.1f}   (spread {ips['spread']:.1%}: "
                 f"{ips['min']:.1f} .. {ips['max']:.1f})",
                 f"  ms per batch  p50 {ms['p50']:.3f}   p90 {ms['p90']:.3f}   "
                 f"p99 {ms['p99']:.3f}"]
        if "reference" in s:
            ref = s["reference"]
            lines.append(f"  vs {ref['model']}  {ref['ratio']:>8.4f} x its images/s   "
                         f"(spread {ref['ratio_spread']:.1%}; {ref['model']} ran at "
                         f"{ref['images_per_second']:.1f} images/s)")
        return "\n".join(lines) + "\n"


def steady_allocator() -> bool:
    """Keep freed memory in the process between batches (glibc only; True when applied).

    glibc returns the top of its heap to the OS once more than the trim threshold is free, and
    its thresholds start small and only grow as big blocks are freed. In a fresh process, a
    model whose batch needs more than ~0.5 MiB of scratch memory would then page-fault that
    memory back in on every batch: ResNet-20's ratio to LeNet-5 read 10% low in the first
    measurement of four processes out of five, and normal once anything had freed a large
    block. Fixed thresholds make every measurement start in the steady state.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (musl, for one): nothing to set
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3
    return bool(mallopt(m_mmap_threshold, 32 << 20)) and bool(
        mallopt(m_trim_threshold, 512 << 20))


def _warm_up(predict, batches: list, minimum_batches: int, seconds: float,
             clock: Callable[[], float]) -> float:
    """Run batches (cycling) until both minimums are met; the seconds per batch of the second
    half, once caches, allocators and lazy initialisation have settled."""
    started, count, times = clock(), 0, []
    while count < minimum_batches or clock() - started < seconds:
        predict.synchronize()
        before = clock()
        predict(batches[count % len(batches)])
        predict.synchronize()
        times.append(clock() - before)
        count += 1
    return max(float(np.mean(times[len(times) // 2:])), 1e-9)


def measure(predict, pixels: np.ndarray, *, engine: str, threads: int,
            repeats: int = 5, batch_size: int = BATCH_SIZE,
            reference: tuple | None = None,
            warmup_batches: int = 3, warmup_seconds: float = 0.5,
            segment_seconds: float = 0.05,
            clock: Callable[[], float] = time.perf_counter,
            keep: list | None = None) -> SpeedReport:
    """Time `predict` (a predictor, or a bare function of a batch) over `pixels` (float32,
    N x C x H x W, in [0, 1]) at `batch_size`.

    `reference` is (name, predict, pixels) for the model timed interleaved with this one:
    each pass is cut into segments of about `segment_seconds`, and after each segment the
    reference runs for about as long (before it, every other segment), so both see the
    same moments of a noisy machine. Each figure counts only its own batches' time; the
    ratio is the median of the segments' ratios.
    `keep` receives the outputs of the first timed pass, batch by batch: the logits the
    accuracy is computed from, so the speed is measured during validation itself.
    Threads must already be fixed by the caller (`predictors.fixed_threads`).
    """
    if not isinstance(repeats, int) or repeats < 1:
        raise ValueError(f"repeats must be a positive integer, got {repeats!r}")
    steady_allocator()
    predict = as_predictor(predict)
    host_batches = to_batches(pixels, batch_size)
    images = sum(len(batch) for batch in host_batches)
    batches = [predict.prepare(batch) for batch in host_batches]  # on the device, untimed
    batch_seconds = _warm_up(predict, batches, warmup_batches, warmup_seconds, clock)
    segment = len(batches)
    if reference:
        name, reference_predict, reference_pixels = reference
        reference_predict = as_predictor(reference_predict)
        reference_batches = [reference_predict.prepare(batch)
                             for batch in to_batches(reference_pixels, batch_size)]
        reference_seconds = _warm_up(reference_predict, reference_batches, warmup_batches,
                                     warmup_seconds, clock)
        segment = max(1, round(segment_seconds / batch_seconds))
        reference_segment = max(1, round(segment * batch_seconds / reference_seconds))

    rates, reference_rates, all_batches, all_ratios = [], [], [], []
    next_reference = 0
    for repeat in range(repeats):
        per_batch = np.empty(len(batches))
        reference_time, reference_images, ratios = 0.0, 0, []
        for number, start in enumerate(range(0, len(batches), segment)):
            stop = min(start + segment, len(batches))
            kept = keep if repeat == 0 else None
            if not reference or number % 2 == 0:
                _time_batches(predict, batches, start, stop, per_batch, clock, kept)
            if reference:
                seconds, count, next_reference = _reference_segment(
                    reference_predict, reference_batches, next_reference, reference_segment,
                    clock)
                if number % 2 == 1:  # ABBA: the reference first every other time
                    _time_batches(predict, batches, start, stop, per_batch, clock, kept)
                reference_time, reference_images = reference_time + seconds, \
                    reference_images + count
                mine = sum(len(b) for b in host_batches[start:stop]) / max(
                    per_batch[start:stop].sum(), 1e-12)
                ratios.append(mine / (count / max(seconds, 1e-12)))
        rates.append(images / max(per_batch.sum(), 1e-12))
        all_batches.append(per_batch)
        if reference:
            reference_rates.append(reference_images / max(reference_time, 1e-12))
            all_ratios.append(np.array(ratios))
    if keep is not None:  # the logits come back from the device after the clock stops
        keep[:] = [predict.numpy(output) for output in keep]
    device = str(predict.device)
    if not reference:
        return SpeedReport(engine, threads, batch_size, images, len(batches), rates,
                           np.concatenate(all_batches), device=device)
    return SpeedReport(engine, threads, batch_size, images, len(batches), rates,
                       np.concatenate(all_batches), reference_rates, name, all_ratios,
                       device)


def _time_batches(predict, batches: list, start: int, stop: int, per_batch: np.ndarray,
                  clock: Callable[[], float], keep: list | None) -> None:
    """Time batches[start:stop] one by one into per_batch; outputs go to `keep` if given."""
    for index in range(start, stop):
        predict.synchronize()
        before = clock()
        output = predict(batches[index])
        predict.synchronize()
        per_batch[index] = clock() - before
        if keep is not None:
            keep.append(output)


def _reference_segment(predict, batches: list, first: int, count: int,
                       clock: Callable[[], float]) -> tuple[float, int, int]:
    """Run `count` reference batches from `first` on (cycling): (seconds, images, next)."""
    seconds, images = 0.0, 0
    for step in range(count):
        batch = batches[(first + step) % len(batches)]
        predict.synchronize()
        before = clock()
        predict(batch)
        predict.synchronize()
        seconds += clock() - before
        images += len(batch)
    return seconds, images, (first + count) % len(batches)
