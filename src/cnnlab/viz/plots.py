"""Plots of runs, drawn with matplotlib's object API (no pyplot, so no global state and no
display needed): training curves, the confusion matrix, and accuracy against speed with the
Pareto front marked."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from cnnlab.evaluate.pareto import Point, pareto_front
from cnnlab.files import write_atomically


def _figure(width: float, height: float):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=100, layout="constrained")


PLOT_FORMATS = ("png", "svg", "pdf")


def encoded(figure, format: str = "png") -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(figure)
    buffer = io.BytesIO()
    # No timestamps in the metadata, so the same run always gives the same file.
    metadata = {"Software": None} if format == "png" else \
        {"Date": None} if format == "svg" else {"CreationDate": None}
    figure.savefig(buffer, format=format, metadata=metadata)
    return buffer.getvalue()


def png_bytes(figure) -> bytes:
    return encoded(figure, "png")


def plot_format(path: str | Path) -> str:
    """png, svg or pdf, from the file's extension; a command checks it before it computes."""
    format = Path(path).suffix.lower().lstrip(".")
    if format not in PLOT_FORMATS:
        raise ValueError(f"{path}: a plot is written as .png, .svg or .pdf, got "
                         f"{Path(path).suffix or 'no extension'!r}")
    return format


def save(figure, path: str | Path) -> Path:
    """Write `figure` as PNG, SVG or PDF, chosen by the file's extension."""
    path = Path(path)
    write_atomically(path, encoded(figure, plot_format(path)))
    return path


_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2",
            "#17becf", "#bcbd22", "#7f7f7f")


def curves_figure(runs: list[tuple[str, list[dict]]] | list[dict], title: str):
    """Loss and accuracy per epoch, training and validation (validation only where a run kept
    a validation split). `runs` is one run's history, or (name, history) pairs overlaid: one
    colour per run, training solid and validation dashed."""
    if runs and isinstance(runs[0], dict):
        runs = [("", runs)]
    empty = [name or "the run" for name, history in runs if not history]
    if not runs or empty:
        raise ValueError(f"{', '.join(empty) or 'the run'} has no finished epoch to plot "
                         "(metrics.jsonl is empty)")
    single = len(runs) == 1
    figure = _figure(9, 3.6 if single else 4.2)
    loss_axes, accuracy_axes = figure.subplots(1, 2)
    for axes, key, label in ((loss_axes, "loss", "cross-entropy loss"),
                             (accuracy_axes, "acc", "accuracy")):
        longest = 0
        for number, (name, history) in enumerate(runs):
            epochs = [row["epoch"] for row in history]
            longest = max(longest, len(epochs))
            training, validation = (("training", "validation") if single else
                                    (f"{name} training", f"{name} validation"))
            colour = _COLOURS[number % len(_COLOURS)]
            axes.plot(epochs, [row[f"train_{key}"] for row in history], "o-",
                      label=training, color="#1f77b4" if single else colour)
            values = [row.get(f"val_{key}") for row in history]
            if any(value is not None for value in values):
                axes.plot(epochs, [np.nan if v is None else v for v in values],
                          "s-" if single else "s--", label=validation,
                          color="#d62728" if single else colour)
        axes.set_xlabel("epoch")
        axes.set_ylabel(label)
        axes.grid(alpha=0.3)
        axes.legend(fontsize=None if single else 7)
        if longest <= 20:
            axes.set_xticks(range(1, longest + 1))
    figure.suptitle(title)
    return figure


def confusion_figure(confusion: np.ndarray, classes: list[str], title: str):
    """Counts in each cell; colour is the share of the true class (a row sums to 1), so a
    class's recall reads off the diagonal whatever the class sizes."""
    confusion = np.asarray(confusion)
    n = len(classes)
    if confusion.shape != (n, n):
        raise ValueError(f"a confusion matrix for {n} classes must be {n}x{n}, got "
                         f"{confusion.shape}")
    totals = confusion.sum(axis=1, keepdims=True)
    shares = np.divide(confusion, totals, out=np.zeros(confusion.shape), where=totals > 0)
    size = max(5.0, 0.55 * n + 2.5)
    figure = _figure(size + 1.0, size)
    axes = figure.subplots()
    image = axes.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    for row in range(n):
        for col in range(n):
            axes.text(col, row, str(int(confusion[row, col])), ha="center", va="center",
                      fontsize=8, color="white" if shares[row, col] > 0.5 else "black")
    axes.set_xticks(range(n), classes, rotation=45, ha="right")
    axes.set_yticks(range(n), classes)
    axes.set_xlabel("predicted class")
    axes.set_ylabel("true class")
    axes.set_title(title)
    figure.colorbar(image, ax=axes, label="share of the true class")
    return figure


def pareto_figure(points: list[Point], speed_label: str, title: str):
    """Accuracy against speed, the front marked; `title` says which split it was measured
    on."""
    if not points:
        raise ValueError("no runs to plot")
    front = pareto_front(points)
    figure = _figure(8, 5.5)
    axes = figure.subplots()
    others = [p for p in points if p not in front]
    axes.scatter([p.speed for p in others], [p.accuracy for p in others], color="#8c8c8c",
                 label="dominated", zorder=2)
    axes.scatter([p.speed for p in front], [p.accuracy for p in front], color="#d62728",
                 s=60, label="Pareto front", zorder=3)
    # The front as a staircase: everything below and left of it is beaten by some point on it.
    xs, ys = [], []
    for point in sorted(front, key=lambda p: -p.speed):
        if xs:
            xs.append(point.speed)
            ys.append(ys[-1])
        xs.append(point.speed)
        ys.append(point.accuracy)
    axes.plot(xs, ys, color="#d62728", linewidth=1.2, zorder=1)
    for point in points:
        axes.annotate(point.name, (point.speed, point.accuracy), textcoords="offset points",
                      xytext=(5, 5), fontsize=8)
    if max(p.speed for p in points) > 10 * min(p.speed for p in points):
        axes.set_xscale("log")
    axes.set_xlabel(speed_label)
    axes.set_ylabel("top-1 accuracy")
    axes.grid(alpha=0.3)
    axes.legend(loc="lower left")
    axes.set_title(title)
    return figure
